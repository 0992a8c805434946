"""Find the live resources to adopt: by type and identifier, or by tag through the tagging API.

The tagging API answers ARNs; adoption needs a Cloud Control type and identifier. An ARN is
mapped without a table of ARN formats, from the registry alone:

1. its service (``ec2``) selects the taggable types of that service (``AWS::EC2::*``; a few
   services have other names in ARNs, see ``ARN_SERVICES``), preferring the types whose
   kebab-case name is the ARN's resource-type segment (``vpc``, ``security-group``);
2. for each, GetResource is tried with the identifier the ARN most likely holds (the ARN
   itself for types identified by an ARN, else its last ``/`` or ``:`` part), and accepted
   when the resource's own ARN property, if it has one, is that ARN;
3. failing that, the type is listed and the resource whose ARN property is that ARN is taken
   (an SQS queue's identifier is its URL, which the ARN does not hold).

ARNs no Cloud Control type matches (resources outside the registry) are reported, not
adopted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from stackdeploy.adopt.model import AdoptCloud, LiveResource
from stackdeploy.adopt.refs import arn_properties
from stackdeploy.errors import AdoptError, CloudControlError, StackDeployError
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.registry import get_registry, get_schema

log = logging.getLogger("stackdeploy.adopt")

# ARN service -> CloudFormation service segments, where the names differ.
ARN_SERVICES: dict[str, tuple[str, ...]] = {
    "elasticloadbalancing": ("ElasticLoadBalancingV2", "ElasticLoadBalancing"),
    "acm": ("CertificateManager",),
    "firehose": ("KinesisFirehose",),
    "states": ("StepFunctions",),
    "cognito-idp": ("Cognito",),
    "cognito-identity": ("Cognito",),
    "application-autoscaling": ("ApplicationAutoScaling",),
    "rds": ("RDS", "DocDB", "Neptune"),
    "es": ("OpenSearchService", "Elasticsearch"),
    "kinesisanalytics": ("KinesisAnalyticsV2", "KinesisAnalytics"),
    "catalog": ("ServiceCatalog",),
    "servicecatalog": ("ServiceCatalogAppRegistry",),
    "schemas": ("EventSchemas",),
    "apigateway": ("ApiGateway", "ApiGatewayV2"),
    "elasticmapreduce": ("EMR",),
    "emr-containers": ("EMRContainers",),
    "emr-serverless": ("EMRServerless",),
    "ssm-contacts": ("SSMContacts",),
    "ssm-incidents": ("SSMIncidents",),
    "execute-api": ("ApiGateway", "ApiGatewayV2"),
}

# Error codes that mean "this guess is not an identifier of this type", not a failure.
_GUESS_MISSES = frozenset(
    {"ResourceNotFoundException", "ValidationException", "InvalidRequestException"}
)


@dataclass(frozen=True)
class ArnParts:
    """``arn:partition:service:region:account:resource``."""

    arn: str
    service: str
    region: str
    account: str
    resource: str

    @property
    def segment(self) -> str | None:
        """The resource-type segment (``vpc`` in ``vpc/vpc-1``), None when there is none."""
        match = re.match(r"([^/:]+)[/:]", self.resource)
        return match.group(1).lower() if match else None

    @property
    def last(self) -> str:
        """The last ``/`` or ``:`` part, trailing ``:*`` removed (log groups)."""
        text = self.resource[:-2] if self.resource.endswith(":*") else self.resource
        return re.split(r"[/:]", text)[-1]

    @property
    def type_filter(self) -> str:
        """The tagging API ResourceTypeFilter for resources of this kind."""
        return f"{self.service}:{self.segment}" if self.segment else self.service


def parse_arn(arn: str) -> ArnParts | None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return ArnParts(arn, parts[2], parts[3], parts[4], parts[5])


def _kebab(name: str) -> str:
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1-\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", text).lower()


@lru_cache(maxsize=64)
def _service_types(region: str, service: str) -> tuple[str, ...]:
    """Registry types whose ARNs carry ``service`` (taggability checked later)."""
    segments = {s.lower() for s in ARN_SERVICES.get(service, ())}
    segments.add(service.replace("-", "").lower())
    out = []
    for type_name in get_registry(region).type_names():
        parts = type_name.split("::")
        if len(parts) == 3 and parts[0] == "AWS" and parts[1].lower() in segments:
            out.append(type_name)
    return tuple(sorted(out))


def candidate_types(region: str, parts: ArnParts, only: Sequence[str] = ()) -> list[str]:
    """Taggable types an ARN may belong to, the likeliest first."""
    names = list(only) if only else list(_service_types(region, parts.service))
    schemas = []
    for name in names:
        try:
            schema = get_schema(name, region)
        except StackDeployError:
            continue
        if schema.taggable and schema.has_handler("read"):
            schemas.append(schema)
    segment = parts.segment

    def rank(schema: ResourceSchema) -> tuple[int, str]:
        word = _kebab(schema.type_name.split("::")[-1])
        if segment is not None and word == segment:
            return 0, schema.type_name
        if segment is not None and (segment.endswith(word) or word.endswith(segment)):
            return 1, schema.type_name
        return 2 if segment is None else 3, schema.type_name

    return [s.type_name for s in sorted(schemas, key=rank)]


def read_resource(
    cloud: AdoptCloud, schema: ResourceSchema, identifier: str, region: str
) -> LiveResource:
    """GetResource, as a :class:`LiveResource`; absent is an :class:`AdoptError`."""
    live = cloud.get_resource(schema.type_name, identifier, region=region)
    if live is None:
        raise AdoptError(
            f"{schema.type_name} {identifier!r} does not exist in {region}",
            hint="check the identifier (stack-deploy describe "
            f"{schema.awscc_name} shows what identifies it) and --region",
        )
    return LiveResource(schema, identifier, live, own_arn(schema, live))


def own_arn(schema: ResourceSchema, live: Mapping[str, Any]) -> str | None:
    """The resource's ARN from its properties, when it has an ARN property."""
    for name in schema.primary_identifier:
        value = live.get(name)
        if isinstance(value, str) and value.startswith("arn:"):
            return value
    names = arn_properties(schema, live)
    return str(live[names[0]]) if names else None


def _try_get(
    cloud: AdoptCloud, schema: ResourceSchema, identifier: str, region: str
) -> dict[str, Any] | None:
    try:
        return cloud.get_resource(schema.type_name, identifier, region=region)
    except CloudControlError as exc:
        if exc.error_code in _GUESS_MISSES:
            return None
        raise


def _arn_matches(schema: ResourceSchema, live: Mapping[str, Any], arn: str) -> bool | None:
    """True/False when the model says its ARN; None when it has no ARN property."""
    found = own_arn(schema, live)
    if found is None:
        return None
    return found == arn


# type name -> {ARN: (identifier, model)} of every resource of the type, read once per run.
Listings = dict[str, dict[str, tuple[str, dict[str, Any]]]]


def resolve_arn(
    cloud: AdoptCloud,
    region: str,
    arn: str,
    only: Sequence[str] = (),
    listings: Listings | None = None,
) -> LiveResource | None:
    """The live resource behind a tagging API ARN, or None when no type matches.

    ``listings`` caches the types listed so far: pass one dict for every ARN of a run, so a
    type whose identifier the ARN does not hold is listed once, not once per ARN.
    """
    parts = parse_arn(arn)
    if parts is None:
        return None
    listings = {} if listings is None else listings
    candidates = candidate_types(region, parts, only)
    for type_name in candidates:
        schema = get_schema(type_name, region)
        if type_name in listings:
            found = listings[type_name].get(arn)
            if found is not None:
                return LiveResource(schema, found[0], found[1], arn)
            continue
        guess = arn if _identified_by_arn(schema) else parts.last
        live = _try_get(cloud, schema, guess, region)
        if live is not None and _arn_matches(schema, live, arn) is not False:
            return LiveResource(schema, guess, live, arn)
    # Identifiers the ARN does not hold (an SQS queue URL): list the best-ranked types.
    for type_name in candidates[:2]:
        schema = get_schema(type_name, region)
        if type_name in listings or schema.list_required or not schema.has_handler("list"):
            continue
        index: dict[str, tuple[str, dict[str, Any]]] = {}
        for identifier, listed in cloud.list_resources(type_name, region=region):
            model = listed if own_arn(schema, listed) else None
            if model is None:
                model = _try_get(cloud, schema, identifier, region) or {}
            own = own_arn(schema, model)
            if own is not None:
                index[own] = (identifier, model)
        listings[type_name] = index
        if arn in index:
            return LiveResource(schema, index[arn][0], index[arn][1], arn)
    return None


def _identified_by_arn(schema: ResourceSchema) -> bool:
    return len(schema.primary_identifier) == 1 and schema.primary_identifier[0].lower().endswith(
        "arn"
    )


def find_tagged(
    cloud: AdoptCloud,
    region: str,
    tag_filters: Mapping[str, Sequence[str]],
    types: Iterable[ResourceSchema] = (),
) -> tuple[list[LiveResource], list[str]]:
    """Resources carrying every tag of ``tag_filters`` (``{key: [values]}``; an empty list
    matches any value), restricted to ``types`` when given. Returns the resources (sorted by
    type, then identifier) and the ARNs that could not be adopted (with why)."""
    wanted = list(types)
    type_filters = sorted({_type_filter(s, region) for s in wanted}) if wanted else None
    api_filters = [{"Key": k, "Values": list(v)} for k, v in tag_filters.items()]
    found = cloud.tagged_resources(
        region=region, tag_filters=api_filters, resource_type_filters=type_filters
    )
    out: list[LiveResource] = []
    skipped: list[str] = []
    only = [s.type_name for s in wanted]
    seen: set[tuple[str, str]] = set()
    listings: Listings = {}
    for item in found:
        arn = str(item.get("ResourceARN") or "")
        live = resolve_arn(cloud, region, arn, only, listings)
        if live is None:
            skipped.append(f"{arn}: no Cloud Control resource type found for it")
            continue
        key = (live.type_name, live.identifier)
        if key not in seen:
            seen.add(key)
            out.append(live)
    out.sort(key=lambda r: (r.type_name, r.identifier))
    return out, skipped


def _type_filter(schema: ResourceSchema, region: str) -> str:
    """The tagging API filter for a type: its ARN service (the narrowest filter that is
    right without knowing the type's ARN format)."""
    segment = schema.type_name.split("::")[1]
    for service, segments in ARN_SERVICES.items():
        if segment in segments:
            return service
    return segment.lower()


def arn_via_tags(
    cloud: AdoptCloud, live: LiveResource, region: str, tags: Mapping[str, str]
) -> str | None:
    """The tagging API's ARN for ``live``, found by ``tags`` it carries (its stack tags after
    adoption); None when the tagging API does not list it."""
    if not tags:
        return None
    found = cloud.tagged_resources(
        region=region, tag_filters=[{"Key": k, "Values": [v]} for k, v in tags.items()]
    )
    arns = [str(i.get("ResourceARN") or "") for i in found]
    matching = [
        a for a in arns if a == live.identifier or (parse_arn(a) and _tail_is(a, live.identifier))
    ]
    if live.arn and live.arn in arns:
        return live.arn
    return matching[0] if len(matching) == 1 else None


def _tail_is(arn: str, identifier: str) -> bool:
    parts = parse_arn(arn)
    return parts is not None and parts.last == identifier
