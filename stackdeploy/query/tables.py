"""The awscc tables: what each one is, which columns it has, how its rows are fetched.

A table reference (``awscc.ec2.vpcs``) resolves to a :class:`TableSpec`: its kind, its
columns (what SQLite will see), the key columns whose predicates can be pushed to the API and
those that must be given. :meth:`TableSpec.fetch` turns the pushed values into API calls and
returns rows ready for SQLite: nested values as compact JSON text that keeps the
CloudFormation keys, booleans as 1/0, absent and write-only properties as NULL.

Kinds (see docs/query.md):

- ``resource``: ``awscc.<svc>.<res>``; GetResource per Identifier, or ListResources then a
  GetResource per item, in parallel, when no Identifier is given;
- ``list_only``: ``awscc.<svc>.<res>_list_only``; ListResources (all pages);
- ``tagged``: ``awscc.tagging.tagged_resources``; the tagging API's GetResources;
- ``cc_resource`` / ``cc_resources``: ``awscc.cloud_control.resource(s)``, raw properties;
- ``cc_request`` / ``cc_requests``: ``awscc.cloud_control.resource_request(s)``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from stackdeploy.errors import QueryError, TypeNotFoundError
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.naming import to_column
from stackdeploy.schema.registry import get_registry

LIST_SUFFIX = "_list_only"

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
}


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

    @property
    def type_name(self) -> str | None:
        return self.schema.type_name if self.schema is not None else None

    def missing_keys(self, keys: Mapping[str, list[Any]]) -> list[str]:
        """Required key columns without a pushed-down value."""
        missing = [k for k in self.required if k not in keys]
        if self.kind == "resource" and "identifier" not in keys:
            # Listing first: the list handler's required properties become necessary.
            missing += [
                col
                for col, prop in self.list_model.items()
                if self.schema is not None and prop in self.schema.list_required and col not in keys
            ]
        return [self.key_names.get(k, k) for k in missing]

    # -- fetching --------------------------------------------------------------------------

    def fetch(
        self,
        cloud: Any,
        keys: Mapping[str, list[Any]],
        *,
        default_region: str,
        executor: Executor,
    ) -> list[dict[str, Any]]:
        """Rows for the pushed-down ``keys`` (column -> allowed values)."""
        regions = [str(r) for r in keys.get("region", [default_region])]
        if self.kind == "resource":
            return self._fetch_resources(cloud, keys, regions, executor)
        if self.kind == "view":
            full = self._fetch_resources(cloud, {}, regions, executor)
            return [{c: row.get(c) for c in self.columns} for row in full]
        if self.kind == "list_only":
            rows: list[dict[str, Any]] = []
            for region, model in itertools.product(regions, self._models(keys)):
                for identifier, props in cloud.list_resources(
                    self.type_name, region=region, resource_model=model or None
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

    def _fetch_resources(
        self,
        cloud: Any,
        keys: Mapping[str, list[Any]],
        regions: Sequence[str],
        executor: Executor,
    ) -> list[dict[str, Any]]:
        if "identifier" in keys:
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
                        self.type_name, region=region, resource_model=model or None
                    )
                )
        type_name = self.type_name

        def get(pair: tuple[str, str]) -> dict[str, Any] | None:
            region, identifier = pair
            props = cloud.get_resource(type_name, identifier, region=region)
            return None if props is None else self.resource_row(region, identifier, props)

        return [row for row in _parallel(executor, get, pairs) if row is not None]

    def resource_row(
        self, region: str, identifier: str, props: Mapping[str, Any]
    ) -> dict[str, Any]:
        """One ``awscc.<svc>.<res>`` row from a GetResource answer."""
        assert self.schema is not None
        schema = self.schema
        row: dict[str, Any] = {"region": region, "Identifier": identifier}
        for column, prop in schema.columns.items():
            if column in ("region", "identifier"):
                continue  # the pseudo-columns win; the property is rare and equal anyway
            value = None if schema.is_write_only((prop,)) else props.get(prop)
            row[column] = encode(value)
        return row

    def _list_row(
        self, region: str, identifier: str, props: Mapping[str, Any], model: Mapping[str, Any]
    ) -> dict[str, Any]:
        assert self.schema is not None
        parts = self.schema.identifier_parts(identifier) if identifier else {}
        row: dict[str, Any] = {"region": region}
        for name in self.schema.primary_identifier:
            leaf = name.split("/")[-1]
            value = props.get(leaf, parts.get(name))
            row[to_column(leaf)] = encode(value)
        for column, prop in self.list_model.items():
            if column not in row:
                row[column] = encode(props.get(prop, model.get(prop)))
        return row

    def _fetch_tagged(
        self, cloud: Any, keys: Mapping[str, list[Any]], regions: Sequence[str]
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
        cloud: Any,
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
        return {
            "region": region,
            "TypeName": type_name,
            "Identifier": ident,
            "Properties": encode(props),
        }

    def _fetch_requests(
        self,
        cloud: Any,
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
    """The spec of ``awscc.<svc>.<res>[_list_only]``; QueryError for an unknown table."""
    lowered = name.lower()
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
    service = lowered.split(".")[1] if lowered.count(".") == 2 else ""
    if service in ("tagging", "cloud_control"):
        known = sorted(n for n in SPECIAL_TABLES if n.startswith(f"awscc.{service}."))
        raise QueryError(
            f"unknown table {name}", hint=f"the {service} tables are {', '.join(known)}"
        )
    try:
        schema = get_registry(region).get(lowered)
    except TypeNotFoundError as exc:
        raise QueryError(f"unknown table {name}", hint=exc.hint) from exc
    list_model = _list_model(schema)
    if lowered.endswith(LIST_SUFFIX):
        columns = ["region", *schema.list_columns()]
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
    columns = ["region", "Identifier"]
    columns += [c for c in schema.columns if c not in ("region", "identifier")]
    return TableSpec(
        name=name,
        kind="resource",
        columns=columns,
        key_names=_key_map(["region", "Identifier", *list_model]),
        required=("region",),
        schema=schema,
        list_model=list_model,
    )


def _list_model(schema: ResourceSchema) -> dict[str, str]:
    """Column -> property for the list handler's ResourceModel properties."""
    handler = schema.handlers.get("list") or {}
    handler_schema = handler.get("handlerSchema") or {}
    names = list(handler_schema.get("properties") or {}) + list(schema.list_required)
    return {to_column(name): name for name in dict.fromkeys(names)}


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
