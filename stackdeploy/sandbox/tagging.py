"""The Resource Groups Tagging API's GetResources, over what the sandbox holds.

Served on the same port as Cloud Control (``X-Amz-Target:
ResourceGroupsTaggingAPI_20170126.GetResources``, JSON 1.1), so tools that find their resources
by tag (as stackql-deploy does) work against the sandbox. Only resources of taggable types that
carry at least one tag are returned, each under its real ARN.

Filters behave as AWS documents: every TagFilter must match; a filter's Values match any of
them, and an empty Values list only needs the key; ResourceTypeFilters are ``service`` or
``service:resource-type`` (``ec2:vpc``); ResourceARNList selects ARNs directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stackdeploy.sandbox.handlers import Context, SandboxError, _decode_token, _encode_token
from stackdeploy.sandbox.store import Store
from stackdeploy.schema.model import ResourceSchema

DEFAULT_PAGE_SIZE = 50  # AWS's documented default for ResourcesPerPage
MAX_PAGE_SIZE = 100


def tags_of(schema: ResourceSchema, model: Mapping[str, Any]) -> dict[str, str]:
    """A resource's tags as a key -> value map, from a Key/Value list or a map."""
    if schema.tag_property is None:
        return {}
    raw = model.get(schema.tag_property)
    if isinstance(raw, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in raw.items()}
    tags: dict[str, str] = {}
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping) and "Key" in item:
                value = item.get("Value")
                tags[str(item["Key"])] = "" if value is None else str(value)
    return tags


def _type_matches(resource_type: str, filters: list[str]) -> bool:
    if not filters:
        return True
    service = resource_type.split(":", 1)[0]
    return any(f.lower() in (resource_type, service) for f in filters)


def _tags_match(tags: Mapping[str, str], tag_filters: list[Mapping[str, Any]]) -> bool:
    for tag_filter in tag_filters:
        key = str(tag_filter.get("Key"))
        if key not in tags:
            return False
        values = tag_filter.get("Values") or []
        if values and tags[key] not in values:
            return False
    return True


def get_resources(store: Store, params: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """GetResources for the caller's account and region."""
    from stackdeploy.errors import TypeNotFoundError
    from stackdeploy.sandbox import values
    from stackdeploy.schema.registry import get_registry

    tag_filters = list(params.get("TagFilters") or [])
    type_filters = [str(f) for f in params.get("ResourceTypeFilters") or []]
    arn_list = set(params.get("ResourceARNList") or [])
    if arn_list and (tag_filters or type_filters):
        raise SandboxError(
            "InvalidParameterException",
            "ResourceARNList cannot be combined with TagFilters or ResourceTypeFilters",
        )
    per_page = params.get("ResourcesPerPage") or DEFAULT_PAGE_SIZE
    if not isinstance(per_page, int) or not 1 <= per_page <= MAX_PAGE_SIZE:
        raise SandboxError(
            "InvalidParameterException", f"ResourcesPerPage must be 1 to {MAX_PAGE_SIZE}"
        )
    offset = 0
    if params.get("PaginationToken"):
        try:
            offset = int(_decode_token(params["PaginationToken"], "tagging").get("o", 0))
        except SandboxError as exc:
            raise SandboxError("InvalidParameterException", "Invalid PaginationToken") from exc
    try:
        registry = get_registry(ctx.region)
    except TypeNotFoundError:
        registry = get_registry("us-east-1")

    store.settle()
    mappings: list[dict[str, Any]] = []
    for row in store.all_resources(account=ctx.account, region=ctx.region):
        if row.type_name not in registry:
            continue
        if type_filters and not _type_matches(
            values.tagging_resource_type(row.type_name), type_filters
        ):
            continue
        schema = registry.get(row.type_name)
        if not schema.taggable:
            continue
        tags = tags_of(schema, row.properties)
        if not tags or not _tags_match(tags, tag_filters):
            continue
        arn = values.resource_arn(schema, row.properties, region=ctx.region, account_id=ctx.account)
        if arn is None or (arn_list and arn not in arn_list):
            continue
        mappings.append(
            {"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        )
    mappings.sort(key=lambda m: m["ResourceARN"])
    page = mappings[offset : offset + per_page]
    token = ""
    if offset + per_page < len(mappings):
        token = _encode_token({"k": "tagging", "o": offset + per_page})
    # AWS answers an empty string (not an absent member) on the last page.
    return {"PaginationToken": token, "ResourceTagMappingList": page}
