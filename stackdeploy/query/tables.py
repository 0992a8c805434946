"""The provider tables: what each one is, which columns it has, how its rows are fetched.

A table reference (``awscc.ec2.vpcs``, ``aws.ec2.vpc_tags``) resolves to a
:class:`TableSpec`: its kind, its columns (what SQLite will see), the key columns whose
predicates can be pushed to the API and those that must be given. :meth:`TableSpec.fetch`
turns the pushed values into API calls and returns rows ready for SQLite: nested values as
compact JSON text that keeps the CloudFormation keys, booleans as 1/0, absent and write-only
properties as NULL.

Kinds (see docs/query.md):

- ``resource``: ``awscc.<svc>.<res>`` and the ``aws`` provider's ``aws.<svc>.<res>``
  (identifier column ``data__Identifier``); GetResource per identifier, or ListResources then
  a GetResource per item, in parallel, when no identifier is given (list results may carry
  only the primary identifier: rows always come from GetResource);
- ``tags``: the ``aws`` provider's ``aws.<svc>.<singular>_tags``: every resource of the type,
  one row per tag (``tag_key``, ``tag_value``) beside its other properties;
- ``list_only``: ``awscc.<svc>.<res>_list_only``; ListResources (all pages);
- ``tagged``: ``awscc.tagging.tagged_resources``; the tagging API's GetResources;
- ``cc_resource`` / ``cc_resources``: ``<provider>.cloud_control.resource(s)``, raw
  properties;
- ``cc_request`` / ``cc_requests``: ``awscc.cloud_control.resource_request(s)``.

Column names follow the provider's generator, with two collisions settled here (the rules are
in docs/query.md, "Name collisions"): a property whose column would be ``region`` is exposed as
``_region`` (``region`` is always the request's region), and a property named ``Identifier``
owns the ``identifier`` column (an ``Identifier = ...`` key predicate still addresses the
Cloud Control identifier).
"""

from __future__ import annotations

import difflib
import functools
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from stackdeploy.cloud.protocol import CloudControlAPI
from stackdeploy.errors import QueryError, TypeNotFoundError
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.naming import (
    awscc_service_name,
    awscc_singular_name,
    awscc_table,
    to_column,
)
from stackdeploy.schema.registry import get_registry

LIST_SUFFIX = "_list_only"
TAGS_SUFFIX = "_tags"
# Providers whose tables this engine serves. ``aws`` is the provider stackql-deploy 1.x stacks
# use: only its Cloud Control tables (the same types, other names) exist here.
PROVIDERS = ("awscc", "aws")
# The aws provider's identifier key, as its methods name the request field.
AWS_IDENTIFIER = "data__Identifier"
# A property whose column would shadow the request's region pseudo-column gets this prefix
# (the generator's own convention for SQL words: ``_values``, ``_schema``).
SHADOWED_PREFIX = "_"

PROGRESS_COLUMNS = (
    "TypeName",
    "Identifier",
    "RequestToken",
    "Operation",
    "OperationStatus",
    "EventTime",
    "ResourceModel",
    "StatusMessage",
    "ErrorCode",
    "RetryAfter",
    "HooksRequestToken",
)

SPECIAL_TABLES = {
    "awscc.tagging.tagged_resources": "tagged",
    "awscc.cloud_control.resource": "cc_resource",
    "awscc.cloud_control.resources": "cc_resources",
    "awscc.cloud_control.resource_request": "cc_request",
    "awscc.cloud_control.resource_requests": "cc_requests",
    "aws.cloud_control.resource": "cc_resource",
    "aws.cloud_control.resources": "cc_resources",
}

# Key spellings of the aws provider (request fields prefixed ``data__``) -> the key they mean.
_KEY_ALIASES = {"data__identifier": "identifier", "data__typename": "typename"}


@functools.lru_cache(maxsize=4096)
def property_columns(schema: ResourceSchema) -> dict[str, str]:
    """Column -> property of a type's tables (the provider's column names, collisions
    settled: ``Region`` is ``_region``). Cached per schema (schemas are shared and
    immutable); callers must not change the mapping."""
    columns: dict[str, str] = {}
    for name in schema.properties:
        column = to_column(name)
        if column == "region":
            column = SHADOWED_PREFIX + column
        columns[column] = name
    return columns


def column_of(schema: ResourceSchema, prop: str) -> str:
    """The column of one top-level property (see :func:`property_columns`)."""
    column = to_column(prop)
    return SHADOWED_PREFIX + column if column == "region" else column


def encode(value: Any) -> Any:
    """A JSON value as SQLite sees it: containers as compact JSON text, booleans as 1/0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if value is None or isinstance(value, int | float | str):
        return value
    return str(value)


def _json_arg(value: Any, what: str) -> Any:
    """A pushed-down value that holds JSON text (TagFilters, ResourceModel, ...)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise QueryError(f"{what} must be JSON text, got {value!r}") from exc


@dataclass
class TableSpec:
    """What an awscc table reference stands for."""

    name: str
    kind: str
    columns: list[str]
    # lower-cased key column -> how it is named in messages (the column's spelling)
    key_names: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    schema: ResourceSchema | None = None
    # lower-cased list-model column -> CloudFormation property (ResourceModel for listing)
    list_model: dict[str, str] = field(default_factory=dict)
    # The column holding the Cloud Control identifier, or None when the type's own
    # ``Identifier`` property owns that name: a pushed ``Identifier = ...`` predicate is then
    # settled by the API call alone (see :attr:`consumes_identifier`).
    identifier_column: str | None = "Identifier"
    provider: str = "awscc"

    @property
    def type_name(self) -> str | None:
        return self.schema.type_name if self.schema is not None else None

    @property
    def resource_type(self) -> str:
        """The CloudFormation type of a table that reads resources (every kind but the
        special tables, which have no schema)."""
        if self.schema is None:
            raise QueryError(f"{self.name} is not a resource table")
        return self.schema.type_name

    @property
    def consumes_identifier(self) -> bool:
        """True when a pushed identifier predicate must not reach SQLite, because there the
        name means the type's ``Identifier`` property (every fetched row satisfies it)."""
        return self.kind == "resource" and self.identifier_column is None

    @property
    def exact_keys(self) -> dict[str, str]:
        """Key columns that count only when spelt exactly (lower-cased -> spelling): on a
        type with an ``Identifier`` property, ``Identifier = ...`` is the Cloud Control key
        and ``identifier = ...`` filters on the property."""
        return {"identifier": "Identifier"} if self.consumes_identifier else {}

    def canonical_keys(self, keys: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
        """Pushed keys under the names :meth:`fetch` knows (``data__identifier`` ->
        ``identifier``)."""
        return {_KEY_ALIASES.get(k, k): v for k, v in keys.items()}

    def missing_keys(self, keys: Mapping[str, list[Any]]) -> list[str]:
        """Required key columns without a pushed-down value (``keys`` canonical)."""
        names = {_KEY_ALIASES.get(k, k): k for k in self.key_names}
        missing = [k for k in self.required if k not in keys]
        if self.kind in ("resource", "tags") and "identifier" not in keys:
            # Listing first: the list handler's required properties become necessary.
            missing += [
                col
                for col, prop in self.list_model.items()
                if self.schema is not None and prop in self.schema.list_required and col not in keys
            ]
        return [self.key_names.get(names.get(k, k), k) for k in missing]

    # -- fetching --------------------------------------------------------------------------

    def fetch(
        self,
        cloud: CloudControlAPI,
        keys: Mapping[str, list[Any]],
        *,
        default_region: str,
        executor: Executor,
    ) -> list[dict[str, Any]]:
        """Rows for the pushed-down ``keys`` (column -> allowed values)."""
        regions = [str(r) for r in keys.get("region", [default_region])]
        if self.kind == "resource":
            return [
                self.resource_row(*found) for found in self._get(cloud, keys, regions, executor)
            ]
        if self.kind == "tags":
            found = self._get(
                cloud, {k: v for k, v in keys.items() if k != "identifier"}, regions, executor
            )
            return [row for item in found for row in self._tag_rows(*item)]
        if self.kind == "view":
            full = [self.resource_row(*found) for found in self._get(cloud, {}, regions, executor)]
            return [{c: row.get(c) for c in self.columns} for row in full]
        if self.kind == "list_only":
            rows: list[dict[str, Any]] = []
            for region, model in itertools.product(regions, self._models(keys)):
                for identifier, props in cloud.list_resources(
                    self.resource_type, region=region, resource_model=model or None
                ):
                    rows.append(self._list_row(region, identifier, props, model))
            return rows
        if self.kind == "tagged":
            return self._fetch_tagged(cloud, keys, regions)
        if self.kind in ("cc_resource", "cc_resources"):
            return self._fetch_cc_resources(cloud, keys, regions, executor)
        return self._fetch_requests(cloud, keys, regions, executor)

    def _models(self, keys: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
        """Every ResourceModel combination the list-model predicates ask for."""
        names = [col for col in self.list_model if col in keys]
        if not names:
            return [{}]
        combos = itertools.product(*(keys[col] for col in names))
        return [
            {
                self.list_model[col]: self._model_value(self.list_model[col], value)
                for col, value in zip(names, combo, strict=True)
            }
            for combo in combos
        ]

    def _model_value(self, prop: str, value: Any) -> Any:
        """A predicate's value as the list handler expects it: JSON text of an object
        property (``_schema = '{"SchemaName": ...}'``) becomes the object, numbers numbers."""
        if self.schema is None:
            return value
        from stackdeploy.schema.desired import coerce_value

        return coerce_value(self.schema, self.schema.subschema((prop,)), value)

    def _get(
        self,
        cloud: CloudControlAPI,
        keys: Mapping[str, list[Any]],
        regions: Sequence[str],
        executor: Executor,
    ) -> list[tuple[str, str, Mapping[str, Any]]]:
        """(region, identifier, properties) of every resource the keys select, each read
        with GetResource: a list result may carry only the primary identifier."""
        if "identifier" in keys:
            _check_identifiers(keys["identifier"], self.name)
            pairs = [
                (region, str(ident))
                for region, ident in itertools.product(regions, keys["identifier"])
            ]
        else:
            pairs = []
            for region, model in itertools.product(regions, self._models(keys)):
                pairs.extend(
                    (region, identifier)
                    for identifier, _ in cloud.list_resources(
                        self.resource_type, region=region, resource_model=model or None
                    )
                )
        type_name = self.resource_type

        def get(pair: tuple[str, str]) -> tuple[str, str, Mapping[str, Any]] | None:
            region, identifier = pair
            props = cloud.get_resource(type_name, identifier, region=region)
            return None if props is None else (region, identifier, props)

        return [found for found in _parallel(executor, get, pairs) if found is not None]

    def resource_row(
        self, region: str, identifier: str, props: Mapping[str, Any]
    ) -> dict[str, Any]:
        """One ``<provider>.<svc>.<res>`` row from a GetResource answer."""
        assert self.schema is not None
        schema = self.schema
        row: dict[str, Any] = {"region": region}
        if self.identifier_column is not None:
            row[self.identifier_column] = identifier
        for column, prop in property_columns(schema).items():
            value = None if schema.is_write_only((prop,)) else props.get(prop)
            row[column] = encode(value)
        return row

    def _tag_rows(
        self, region: str, identifier: str, props: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """One row per tag of a resource (none when it has no tags), as the aws provider's
        ``_tags`` views expand ``Tags`` with ``json_each``."""
        base = self.resource_row(region, identifier, props)
        base.pop("tags", None)
        tags = props.get("Tags")
        if isinstance(tags, Mapping):
            pairs = [(k, v) for k, v in tags.items()]
        elif isinstance(tags, list):
            pairs = [(t.get("Key"), t.get("Value")) for t in tags if isinstance(t, Mapping)]
        else:
            pairs = []
        return [{**base, "tag_key": encode(k), "tag_value": encode(v)} for k, v in pairs]

    def _list_row(
        self, region: str, identifier: str, props: Mapping[str, Any], model: Mapping[str, Any]
    ) -> dict[str, Any]:
        assert self.schema is not None
        parts = self.schema.identifier_parts(identifier) if identifier else {}
        row: dict[str, Any] = {"region": region}
        for name in self.schema.primary_identifier:
            leaf = name.split("/")[-1]
            value = props.get(leaf, parts.get(name))
            row[column_of(self.schema, leaf)] = encode(value)
        for column, prop in self.list_model.items():
            if column not in row:
                row[column] = encode(props.get(prop, model.get(prop)))
        return row

    def _fetch_tagged(
        self, cloud: CloudControlAPI, keys: Mapping[str, list[Any]], regions: Sequence[str]
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        tag_texts = keys.get("tagfilters", [None])
        type_texts = keys.get("resourcetypefilters", [None])
        for region, tag_text, type_text in itertools.product(regions, tag_texts, type_texts):
            tag_filters = _json_arg(tag_text, "TagFilters") if tag_text is not None else None
            type_filters = _json_arg(type_text, "ResourceTypeFilters") if type_text else None
            if isinstance(type_filters, str):
                type_filters = [type_filters]
            for item in cloud.tagged_resources(
                region=region, tag_filters=tag_filters, resource_type_filters=type_filters
            ):
                rows.append(
                    {
                        "region": region,
                        "ResourceARN": item.get("ResourceARN"),
                        "Tags": encode(item.get("Tags", [])),
                        "ComplianceDetails": encode(item.get("ComplianceDetails")),
                        "TagFilters": tag_text,
                        "ResourceTypeFilters": type_text,
                    }
                )
        return rows

    def _fetch_cc_resources(
        self,
        cloud: CloudControlAPI,
        keys: Mapping[str, list[Any]],
        regions: Sequence[str],
        executor: Executor,
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for region, type_name in itertools.product(regions, keys["typename"]):
            type_name = str(type_name)
            try:
                resolved = get_registry(region).resolve_type_name(type_name)
            except TypeNotFoundError as exc:
                raise QueryError(exc.message, hint=exc.hint) from exc
            if self.kind == "cc_resource":
                idents = [str(i) for i in keys["identifier"]]

                def get(ident: str, region: str = region, tn: str = resolved) -> Any:
                    return ident, cloud.get_resource(tn, ident, region=region)

                for ident, props in _parallel(executor, get, idents):
                    if props is not None:
                        rows.append(self._cc_row(region, resolved, ident, props))
                continue
            for model_text in keys.get("resourcemodel", [None]):
                model = _json_arg(model_text, "ResourceModel") if model_text else None
                for ident, props in cloud.list_resources(
                    resolved, region=region, resource_model=model
                ):
                    row = self._cc_row(region, resolved, ident, props)
                    row["ResourceModel"] = model_text
                    rows.append(row)
        return rows

    @staticmethod
    def _cc_row(region: str, type_name: str, ident: str, props: Any) -> dict[str, Any]:
        # Both providers' spellings: each table keeps only its own columns.
        return {
            "region": region,
            "TypeName": type_name,
            "data__TypeName": type_name,
            "Identifier": ident,
            "data__Identifier": ident,
            "Properties": encode(props),
        }

    def _fetch_requests(
        self,
        cloud: CloudControlAPI,
        keys: Mapping[str, list[Any]],
        regions: Sequence[str],
        executor: Executor,
    ) -> list[dict[str, Any]]:
        events: list[tuple[str, Any]] = []
        if "requesttoken" in keys:
            pairs = list(itertools.product(regions, (str(t) for t in keys["requesttoken"])))

            def status(pair: tuple[str, str]) -> tuple[str, Any]:
                return pair[0], cloud.request_status(pair[1], region=pair[0])

            events = list(_parallel(executor, status, pairs))
        else:
            ops = [str(v) for v in keys.get("operation", [])] or None
            statuses = [str(v) for v in keys.get("operationstatus", [])] or None
            for region in regions:
                events.extend(
                    (region, event)
                    for event in cloud.list_resource_requests(
                        region=region, operations=ops, statuses=statuses
                    )
                )
        rows = []
        for region, event in events:
            row: dict[str, Any] = {"region": region, **event.as_row()}
            row["HooksRequestToken"] = getattr(event, "hooks_request_token", None)
            rows.append(row)
        return rows


def _check_identifiers(values: Sequence[Any], table: str) -> None:
    """An empty identifier is a rendering mistake (an export or variable that came out
    empty), not a resource that may be absent: say so instead of reading it as no rows."""
    if any(str(v).strip() == "" for v in values):
        raise QueryError(
            f"an empty Identifier for {table} names no resource",
            hint="check the value rendered into the Identifier predicate",
        )


def _parallel(executor: Executor, func: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[func(i) for i in items]`` on the executor, in order; the first failure is raised
    and the calls not yet started are cancelled (an error must never read as fewer rows)."""
    if len(items) <= 1:
        return [func(item) for item in items]
    futures = [executor.submit(func, item) for item in items]
    try:
        return [future.result() for future in futures]
    except BaseException:
        for future in futures:
            future.cancel()
        raise


def _key_map(names: Iterable[str]) -> dict[str, str]:
    return {name.lower(): name for name in names}


# Custom views of the awscc provider: name -> (type, columns). A view lists every resource of
# the type in the region, reads each one, and shows these columns (plus region).
VIEWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "awscc.ec2.vw_subnet_route_table_associations": (
        "AWS::EC2::SubnetRouteTableAssociation",
        ("id", "route_table_id", "subnet_id"),
    ),
}


def resolve_table(name: str, *, region: str) -> TableSpec:
    """The spec of a provider table (``awscc.<svc>.<res>[_list_only]``, ``aws.<svc>.<res>``,
    ``aws.<svc>.<singular>_tags``, the special tables); QueryError for anything else, naming
    the provider and the closest awscc table."""
    lowered = name.lower()
    parts = lowered.split(".")
    provider = parts[0] if len(parts) == 3 else ""
    if provider not in PROVIDERS:
        raise unknown_table_error(name)
    view = VIEWS.get(lowered)
    if view is not None:
        type_name, view_columns = view
        return TableSpec(
            name=name,
            kind="view",
            columns=["region", *view_columns],
            key_names=_key_map(["region"]),
            required=("region",),
            schema=get_registry(region).get(type_name),
        )
    kind = SPECIAL_TABLES.get(lowered)
    if kind is not None:
        return _special(lowered, kind)
    service = parts[1]
    if service in ("tagging", "cloud_control"):
        known = sorted(n for n in SPECIAL_TABLES if n.startswith(f"{provider}.{service}."))
        raise QueryError(
            f"unknown table {name}",
            hint=f"the {provider}.{service} tables are {', '.join(known)}"
            if known
            else f"{provider} has no {service} tables here; see docs/query.md",
        )
    if provider == "aws":
        return _aws_table(name, lowered, region)
    try:
        schema = get_registry(region).get(lowered)
    except TypeNotFoundError as exc:
        raise QueryError(f"unknown table {name}", hint=exc.hint) from exc
    list_model = _list_model(schema)
    if lowered.endswith(LIST_SUFFIX):
        columns = [
            "region",
            *(column_of(schema, p.split("/")[-1]) for p in schema.primary_identifier),
        ]
        columns += [col for col in list_model if col not in columns]
        return TableSpec(
            name=name,
            kind="list_only",
            columns=columns,
            key_names=_key_map(["region", *list_model]),
            required=("region", *(c for c, p in list_model.items() if p in schema.list_required)),
            schema=schema,
            list_model=list_model,
        )
    props = property_columns(schema)
    # The type's own Identifier property owns the column name (docs/query.md, "Name
    # collisions"); the Cloud Control identifier is then only a key.
    ident = None if "identifier" in props else "Identifier"
    return TableSpec(
        name=name,
        kind="resource",
        columns=["region", *([ident] if ident else []), *props],
        key_names=_key_map(["region", "Identifier", *list_model]),
        required=("region",),
        schema=schema,
        list_model=list_model,
        identifier_column=ident,
    )


def _aws_table(name: str, lowered: str, region: str) -> TableSpec:
    """A table of the ``aws`` provider: the Cloud Control types under ``aws.<svc>.<res>``
    (key ``data__Identifier``) and their ``<singular>_tags`` views."""
    registry = get_registry(region)
    type_name = _aws_tag_type(lowered, region)
    if type_name is not None:
        schema = registry.get(type_name)
        list_model = _list_model(schema)
        props = [c for c, p in property_columns(schema).items() if p != "Tags"]
        return TableSpec(
            name=name,
            kind="tags",
            columns=["region", "tag_key", "tag_value", *props],
            key_names=_key_map(["region", *list_model]),
            required=("region",),
            schema=schema,
            list_model=list_model,
            identifier_column=None,
            provider="aws",
        )
    awscc_name = "awscc." + lowered.split(".", 1)[1]
    if lowered.endswith(LIST_SUFFIX):
        raise unknown_table_error(name)
    try:
        schema = registry.get(awscc_name)
    except TypeNotFoundError:
        raise unknown_table_error(name) from None
    list_model = _list_model(schema)
    return TableSpec(
        name=name,
        kind="resource",
        columns=["region", AWS_IDENTIFIER, *property_columns(schema)],
        key_names=_key_map(["region", AWS_IDENTIFIER, *list_model]),
        required=("region",),
        schema=schema,
        list_model=list_model,
        identifier_column=AWS_IDENTIFIER,
        provider="aws",
    )


def aws_tag_views(region: str) -> dict[str, str]:
    """``aws.<svc>.<singular>_tags`` -> type name, for every type with a ``Tags`` property
    (the aws provider generates a tag view for exactly those)."""
    registry = get_registry(region)
    views: dict[str, str] = {}
    for type_name in registry.type_names():
        name = _tag_view_name(type_name)
        if _aws_tag_type(name, region) == type_name:
            views[name] = type_name
    return views


def _tag_view_name(type_name: str) -> str:
    return f"aws.{awscc_service_name(type_name)}.{awscc_singular_name(type_name)}{TAGS_SUFFIX}"


@functools.lru_cache(maxsize=1024)
def _aws_tag_type(lowered: str, region: str) -> str | None:
    """The type whose tag view ``lowered`` names, or None. Only the types of that service are
    read (reading every schema would cost a second)."""
    if not lowered.endswith(TAGS_SUFFIX):
        return None
    service = lowered.split(".")[1]
    registry = get_registry(region)
    for type_name in registry.type_names():
        if awscc_service_name(type_name) != service or _tag_view_name(type_name) != lowered:
            continue
        if "Tags" in registry.get(type_name).properties:
            return type_name
    return None


# Words of other clouds' table names -> the awscc word they correspond to, so an unknown table
# is answered with a useful neighbour (google.compute.instances -> awscc.ec2.instances).
_SYNONYMS = {
    "compute": "ec2",
    "network": "ec2",
    "storage": "s3",
    "virtual_machines": "instances",
    "virtual_networks": "vpcs",
    "networks": "vpcs",
    "subnetworks": "subnets",
    "firewalls": "security_groups",
    "network_security_groups": "security_groups",
    "storage_accounts": "buckets",
    "sql": "rds",
    "resources": "resourcegroups",
    "resource_groups": "groups",
    "databases": "db_instances",
    "functions": "lambda",
    "cloudfunctions": "lambda",
    "container": "eks",
    "managed_clusters": "clusters",
    "keyvault": "kms",
    "dns": "route53",
    "pubsub": "sns",
    "topics": "topics",
    "monitor": "cloudwatch",
    "logging": "logs",
}


def closest_awscc_table(name: str, region: str = "us-east-1") -> str:
    """The awscc table whose name is nearest to ``name`` (any provider's table name)."""
    parts = name.lower().split(".")
    service, resource = (parts[-2], parts[-1]) if len(parts) >= 2 else ("", parts[-1])
    if resource.endswith(TAGS_SUFFIX) and not resource.endswith("_tags_tags"):
        resource = resource[: -len(TAGS_SUFFIX)]
    service = _SYNONYMS.get(service, service)
    resource = _SYNONYMS.get(resource, resource)
    index = get_registry(region).awscc_index()
    wanted = f"{service}.{resource}"
    candidates = [table.split(".", 1)[1] for table in index]
    same_service = [c for c in candidates if c.split(".")[0] == service]
    for pool in (same_service, candidates):
        if wanted in pool:
            return "awscc." + wanted
        plural = awscc_table("AWS::X::" + "".join(w.title() for w in resource.split("_")))
        if f"{service}.{plural.split('.')[-1]}" in pool:
            return f"awscc.{service}.{plural.split('.')[-1]}"
    pool = same_service or candidates
    by_resource = difflib.get_close_matches(
        resource, [c.split(".")[1] for c in pool], n=1, cutoff=0.5
    )
    if by_resource:
        match = next(c for c in pool if c.split(".")[1] == by_resource[0])
        return "awscc." + match
    best = difflib.get_close_matches(wanted, pool, n=1, cutoff=0.0)
    return "awscc." + (best[0] if best else "s3.buckets")


def unknown_table_error(name: str, region: str = "us-east-1") -> QueryError:
    """One line for a table no supported provider has: the provider and the nearest awscc
    table."""
    parts = name.split(".")
    provider = parts[0].lower() if len(parts) == 3 else ""
    closest = closest_awscc_table(name, region)
    if provider == "aws":
        return QueryError(
            f"unknown table {name}: the aws provider's tables here are its Cloud Control ones "
            f"(aws.<service>.<resource> and <resource>_tags views)",
            hint=f"the closest awscc table is {closest}",
        )
    if provider:
        return QueryError(
            f"unknown table {name}: the {provider} provider is not supported "
            "(stack-deploy runs awscc, and the aws provider's Cloud Control tables)",
            hint=f"the closest awscc table is {closest}",
        )
    return QueryError(
        f"unknown table {name}",
        hint=f"tables are named awscc.<service>.<resource>; the closest is {closest}",
    )


def _list_model(schema: ResourceSchema) -> dict[str, str]:
    """Column -> property for the list handler's ResourceModel properties."""
    handler = schema.handlers.get("list") or {}
    handler_schema = handler.get("handlerSchema") or {}
    names = list(handler_schema.get("properties") or {}) + list(schema.list_required)
    return {column_of(schema, name): name for name in dict.fromkeys(names)}


def _special(name: str, kind: str) -> TableSpec:
    if kind == "tagged":
        return TableSpec(
            name=name,
            kind=kind,
            columns=[
                "region",
                "ResourceARN",
                "Tags",
                "ComplianceDetails",
                "TagFilters",
                "ResourceTypeFilters",
            ],
            key_names=_key_map(["region", "TagFilters", "ResourceTypeFilters"]),
            required=("region",),
        )
    if name.startswith("aws."):
        # The aws provider names the request fields data__TypeName / data__Identifier.
        keys = ["region", "data__TypeName"] + (
            ["data__Identifier"] if kind == "cc_resource" else []
        )
        return TableSpec(
            name=name,
            kind=kind,
            columns=[*keys, "Identifier", "Properties"],
            key_names=_key_map(keys),
            required=("typename", "identifier") if kind == "cc_resource" else ("typename",),
            provider="aws",
        )
    if kind == "cc_resource":
        return TableSpec(
            name=name,
            kind=kind,
            columns=["region", "TypeName", "Identifier", "Properties"],
            key_names=_key_map(["region", "TypeName", "Identifier"]),
            required=("typename", "identifier"),
        )
    if kind == "cc_resources":
        return TableSpec(
            name=name,
            kind=kind,
            columns=["region", "TypeName", "Identifier", "Properties", "ResourceModel"],
            key_names=_key_map(["region", "TypeName", "ResourceModel"]),
            required=("typename",),
        )
    columns = ["region", *PROGRESS_COLUMNS]
    if kind == "cc_request":
        return TableSpec(
            name=name,
            kind=kind,
            columns=columns,
            key_names=_key_map(["region", "RequestToken"]),
            required=("requesttoken",),
        )
    return TableSpec(
        name=name,
        kind=kind,
        columns=columns,
        key_names=_key_map(["region", "Operation", "OperationStatus"]),
    )
