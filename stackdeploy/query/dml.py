"""INSERT, UPDATE and DELETE on provider tables: Cloud Control mutations, polled to the end.

- ``INSERT INTO awscc.<svc>.<res> (Cols..., region) SELECT ... | VALUES (...)`` creates one
  resource per row. Columns are CloudFormation property names (snake_case accepted);
  ``region`` picks the region and ``ClientToken`` / ``RoleArn`` / ``TypeVersionId`` are API
  parameters, unless the type has a property of that name (see :func:`column_roles` for the
  order in which a column name is tried). Values: quoted JSON objects/arrays become JSON, bare
  ``true``/``false``/numbers keep their type and other strings are coerced by the schema; the
  desired state is normalised (nested snake_case keys too), pruned and validated before
  anything is sent.
- ``UPDATE ... SET PatchDocument = string('[...]') WHERE Identifier = ... AND region = ...``
  sends the patch after normalising each operation's path and value.
- ``DELETE FROM ... WHERE Identifier = ... AND region = ...``.

The ``aws`` provider's tables take the same statements with its spellings
(``data__Identifier``, ``data__PatchDocument``). Each statement is first *prepared* (every
check that needs no API call: table, columns, values, schema validation) and then run, so the
engine can check every statement of a query before the first one runs.

``RETURNING *`` (or named fields) yields the final ProgressEvent, flat (``Identifier``,
``OperationStatus``, ...) and again under ``ProgressEvent.<Field>`` names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from sqlglot import exp

from stackdeploy.cloud.protocol import CloudControlAPI
from stackdeploy.errors import QueryError, ValidationError
from stackdeploy.query.planner import conjuncts, key_values
from stackdeploy.query.tables import PROVIDERS, TableSpec, resolve_table, unknown_table_error
from stackdeploy.schema import desired
from stackdeploy.schema.model import ResourceSchema, match_name
from stackdeploy.schema.naming import property_lookup_key

Evaluator = Callable[[exp.Expression], Any]
# Runs (or, when checking, only compiles) the SELECT feeding an INSERT: its rows, or None
# when they are not known yet.
SelectRunner = Callable[[exp.Expression], "tuple[list[str], list[dict[str, Any]]] | None"]

# API parameters of the mutation calls, by their normalised column spelling.
_CLIENT_TOKEN = "clienttoken"
_ROLE_ARN = "rolearn"
_TYPE_VERSION = "typeversionid"
_API_PARAMS = (_CLIENT_TOKEN, _ROLE_ARN, _TYPE_VERSION)


def _norm(name: str) -> str:
    """A request field's normalised spelling: case, ``_`` and the aws provider's ``data__``
    prefix ignored (``data__PatchDocument`` -> ``patchdocument``)."""
    lowered = name.lower()
    if lowered.startswith("data__"):
        lowered = lowered[len("data__") :]
    return lowered.replace("_", "")


@dataclass
class DmlOutcome:
    """What a DML statement did: its last ProgressEvent and its RETURNING rows."""

    columns: list[str]
    rows: list[dict[str, Any]]
    progress_event: Any


# -- values -------------------------------------------------------------------------------


def _maybe_json(text: str) -> Any:
    """Quoted JSON objects/arrays become JSON; any other text stays text."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
        try:
            loaded = json.loads(stripped)
        except ValueError:
            return text
        if isinstance(loaded, dict | list):
            return loaded
    return text


def literal_value(node: exp.Expression, evaluate: Evaluator) -> Any:
    """The Python value of a constant INSERT/SET expression, keeping JSON and bare types."""
    while isinstance(node, exp.Alias | exp.Paren):
        node = node.this
    if isinstance(node, exp.Literal):
        if node.is_string:
            return _maybe_json(node.this)
        text = node.this
        try:
            return int(text)
        except ValueError:
            return float(text)
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and node.this.is_number:
        value = literal_value(node.this, evaluate)
        return -value
    if isinstance(node, exp.String) and not node.args.get("zone"):
        # string('...') is the identity function (stackql uses it to quote patch documents)
        return literal_value(node.this, evaluate)
    value = evaluate(node)
    return _maybe_json(value) if isinstance(value, str) else value


def _sqlite_value(value: Any) -> Any:
    """A value read back from SQLite (INSERT ... SELECT ... FROM ...)."""
    return _maybe_json(value) if isinstance(value, str) else value


# -- shared -------------------------------------------------------------------------------


def _target(node: exp.Expression | None, verb: str, *, region: str) -> tuple[TableSpec, str]:
    table = node.this if isinstance(node, exp.Schema) else node
    if not isinstance(table, exp.Table):
        raise QueryError(
            f"{verb} needs a table",
            hint="name the table awscc.<service>.<resource>, e.g. awscc.s3.buckets",
        )
    catalog = (table.catalog or "").lower()
    if not catalog or not table.db:
        name = ".".join(p for p in (table.db, table.name) if p)
        raise QueryError(
            f"{verb} needs an awscc table, not {name}",
            hint="name the table awscc.<service>.<resource>, e.g. awscc.s3.buckets",
        )
    name = f"{catalog}.{table.db}.{table.name}"
    if catalog not in PROVIDERS:
        raise unknown_table_error(name, region)
    spec = resolve_table(name, region=region)
    if spec.kind != "resource":
        raise QueryError(
            f"{verb} is not supported on {name}",
            hint=f"mutate {catalog}.<service>.<resource> tables (not _list_only, _tags or views)",
        )
    return spec, name


def _returning(
    tree: exp.Expression, events: Sequence[Any], table: str
) -> tuple[list[str], list[dict[str, Any]]]:
    returning = tree.args.get("returning")
    if not isinstance(returning, exp.Returning):
        return [], []
    rows = []
    for event in events:
        flat = event.as_row()
        flat["HooksRequestToken"] = getattr(event, "hooks_request_token", None)
        rows.append({**flat, **{f"ProgressEvent.{k}": v for k, v in flat.items()}})
    available = list(rows[0]) if rows else []
    wanted: list[tuple[str, str]] = []  # (output name, field)
    for item in returning.expressions:
        if isinstance(item, exp.Star):
            wanted.extend((k, k) for k in available)
            continue
        alias = item.alias if isinstance(item, exp.Alias) else None
        target = item.this if isinstance(item, exp.Alias) else item
        if not isinstance(target, exp.Column):
            raise QueryError(f"RETURNING supports * and field names, not {item.sql()}")
        field = ".".join(p.name for p in target.parts)
        match = next((k for k in available if k.lower() == field.lower()), None)
        if match is None:
            raise QueryError(
                f"unknown RETURNING field {field!r} for {table}",
                hint="fields are " + ", ".join(k for k in available if "." not in k),
            )
        wanted.append((alias or match, match))
    columns = [name for name, _ in wanted]
    return columns, [{name: row[src] for name, src in wanted} for row in rows]


def _validation_error(exc: ValidationError, table: str, verb: str) -> QueryError:
    return QueryError(f"{verb} {table}: {exc.message}", hint=exc.hint)


def _where_keys(
    tree: exp.Expression, evaluate: Evaluator, spec: TableSpec, verb: str, name: str
) -> dict[str, list[Any]]:
    where = tree.args.get("where")
    leftover: list[exp.Expression] = []
    ident = "data__Identifier" if spec.provider == "aws" else "Identifier"
    keys = spec.canonical_keys(
        key_values(
            conjuncts(where.this if where is not None else None),
            [ident, "region"],
            evaluate,
            alias=_alias(tree),
            leftover=leftover,
        )
    )
    if leftover:
        # Ignoring a predicate of a DELETE or UPDATE would act on what the user excluded.
        raise QueryError(
            f"{verb} on {name} accepts only {ident} and region in WHERE, not "
            f"{_describe_predicate(leftover[0])}",
            hint=f"find the {ident} with a SELECT first",
        )
    for key, label in (("identifier", ident), ("region", "region")):
        if not keys.get(key):
            raise QueryError(
                f"{verb} on {name} needs {label} = '...' in its WHERE clause",
                hint=f"add AND {label} = '...' (compound identifiers join their parts with |)",
            )
        if any(str(v).strip() == "" for v in keys[key]):
            raise QueryError(
                f"{verb} on {name}: {label} is empty",
                hint=f"check the value rendered into {label} = '...'",
            )
    return keys


def _alias(tree: exp.Expression) -> str:
    target = tree.this
    return target.alias_or_name if isinstance(target, exp.Expression) else ""


def _describe_predicate(node: exp.Expression) -> str:
    """A predicate named by its columns only: its constants may be secrets."""
    columns = sorted({c.name for c in node.find_all(exp.Column)})
    if columns:
        return "a predicate on " + ", ".join(columns)
    return "a predicate without a column"


def _api_params(params: Mapping[str, Any], role_arn: str | None) -> str | None:
    """Check the per-statement API parameters; returns the ClientToken."""
    role = params.get(_ROLE_ARN)
    if role not in (None, "") and role != role_arn:
        raise QueryError(
            "a per-statement RoleArn is not supported",
            hint="run with the role configured for the whole session (CloudConfig role_arn)",
        )
    if params.get(_TYPE_VERSION) not in (None, ""):
        raise QueryError("TypeVersionId is not supported: the default type version is used")
    token = params.get(_CLIENT_TOKEN)
    return None if token in (None, "") else str(token)


def _session_role(cloud: object) -> str | None:
    return getattr(getattr(cloud, "config", None), "role_arn", None)


# -- INSERT -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnRole:
    """What one INSERT column stands for: a property, the request's region, or an API
    parameter (``clienttoken``, ``rolearn``, ``typeversionid``)."""

    column: str
    kind: str  # "property" | "region" | "param"
    target: str  # the property's exact name, "region", or the parameter's normalised name


def column_roles(schema: ResourceSchema, columns: Sequence[str], table: str) -> list[ColumnRole]:
    """How each INSERT column is read, first rule that applies:

    1. spelt exactly like a property (case-sensitive): that property. This is how the
       provider's request translation fills DesiredState, so ``Region``, ``ClientToken`` and
       ``RoleARN`` reach the desired state when the type has such a property;
    2. ``region`` in any case: the request's region;
    3. ``ClientToken`` / ``RoleArn`` / ``TypeVersionId`` (any case, ``_`` ignored) when no
       property of the type has that name loosely: the API parameter;
    4. a property named loosely (``cidr_block``, ``_region``): that property;
    5. anything else is an error naming the table and the closest properties.
    """
    roles: list[ColumnRole] = []
    loose_props = {property_lookup_key(p) for p in schema.properties}
    seen: dict[str, str] = {}
    for column in columns:
        key = _norm(column)
        if column in schema.properties:
            role = ColumnRole(column, "property", column)
        elif column.lower() == "region":
            role = ColumnRole(column, "region", "region")
        elif key in _API_PARAMS and key not in loose_props:
            role = ColumnRole(column, "param", key)
        else:
            prop = match_name(column, schema.properties)
            if prop is None:
                import difflib

                close = difflib.get_close_matches(column, list(schema.properties), n=3)
                raise QueryError(
                    f"unknown column {column!r} for {table} ({schema.type_name})",
                    hint=f"did you mean {', '.join(close)}?"
                    if close
                    else "INSERT columns are the type's CloudFormation property names",
                )
            role = ColumnRole(column, "property", prop)
        if role.target in seen:
            raise QueryError(
                f"column {column!r} is given twice in INSERT INTO {table} "
                f"(as {seen[role.target]!r} too)"
            )
        seen[role.target] = column
        roles.append(role)
    if "region" not in seen:
        raise QueryError(
            f"INSERT INTO {table} needs a region",
            hint="add region to the column list and the region's name to the values",
        )
    _check_shadowed(schema, roles, table)
    return roles


def _check_shadowed(schema: ResourceSchema, roles: Sequence[ColumnRole], table: str) -> None:
    """A required property that a request field's column name shadows (``region`` for a
    ``Region`` property) gets a clear error instead of "required property is missing"."""
    given = {r.target for r in roles if r.kind == "property"}
    for role in roles:
        if role.kind == "property":
            continue
        for prop in schema.required:
            if prop not in given and _norm(prop) == _norm(role.column):
                what = "the request's region" if role.kind == "region" else "an API parameter"
                raise QueryError(
                    f"INSERT INTO {table}: column {role.column!r} is {what}, and "
                    f"{schema.type_name} also needs its property {prop}",
                    hint=f"list {prop} (exact spelling) as a column of its own",
                )


def _desired_state(
    schema: ResourceSchema, roles: Sequence[ColumnRole], values: Sequence[Any]
) -> tuple[dict[str, Any], dict[str, Any], Any]:
    state: dict[str, Any] = {}
    params: dict[str, Any] = {}
    region: Any = None
    for role, value in zip(roles, values, strict=True):
        if role.kind == "region":
            region = value
        elif role.kind == "param":
            params[role.target] = value
        else:
            if isinstance(value, dict | list) and schema.types_at((role.target,)) == {"string"}:
                # A string property that holds JSON text (a policy, a definition): keep it.
                value = json.dumps(value, separators=(",", ":"))
            state[role.target] = value
    return state, params, region


@dataclass(frozen=True)
class CreateCall:
    """One CreateResource a row of an INSERT asks for (prepared and validated)."""

    type_name: str
    region: str
    desired: dict[str, Any]
    client_token: str | None
    timeout_minutes: float | None


@dataclass(frozen=True)
class InsertPlan:
    """A prepared INSERT: its table, and the calls (None while its SELECT has not run)."""

    spec: TableSpec
    name: str
    calls: list[CreateCall] | None


def prepare_insert(
    tree: exp.Insert,
    evaluate: Evaluator,
    run_select: SelectRunner,
    *,
    region: str,
    role_arn: str | None = None,
) -> InsertPlan:
    """Everything an INSERT needs checked before CreateResource: table, columns, one value
    per column, and each row's desired state validated against the schema."""
    spec, name = _target(tree.this, "INSERT", region=region)
    schema = spec.schema
    assert schema is not None
    if not isinstance(tree.this, exp.Schema) or not tree.this.expressions:
        raise QueryError(
            f"INSERT INTO {name} needs a column list",
            hint="INSERT INTO awscc.svc.res (Prop1, Prop2, region) SELECT 'v1', 'v2', 'us-east-1'",
        )
    columns = [ident.name for ident in tree.this.expressions]
    roles = column_roles(schema, columns, name)
    rows = _insert_rows(tree.expression, evaluate, run_select, len(columns), name)
    if rows is None:
        return InsertPlan(spec, name, None)
    calls = []
    for row in rows:
        state, params, row_region = _desired_state(schema, roles, row)
        if not isinstance(row_region, str) or not row_region:
            raise QueryError(
                f"INSERT INTO {name} gives no region value",
                hint="the region column needs a region's name, e.g. 'us-east-1'",
            )
        token = _api_params(params, role_arn)
        prepared = desired.prepare(schema, state)
        try:
            desired.check(schema, prepared, mode="create")
        except ValidationError as exc:
            raise _validation_error(exc, name, "INSERT INTO") from exc
        calls.append(
            CreateCall(
                schema.type_name, row_region, prepared, token, schema.timeout_minutes("create")
            )
        )
    return InsertPlan(spec, name, calls)


def run_insert(
    tree: exp.Insert,
    cloud: CloudControlAPI,
    evaluate: Evaluator,
    run_select: SelectRunner,
    *,
    region: str,
) -> DmlOutcome:
    """CreateResource for each row of an INSERT."""
    plan = prepare_insert(tree, evaluate, run_select, region=region, role_arn=_session_role(cloud))
    events = [
        cloud.create_resource(
            call.type_name,
            call.desired,
            region=call.region,
            client_token=call.client_token,
            timeout_minutes=call.timeout_minutes,
        )
        for call in plan.calls or []
    ]
    out_columns, out_rows = _returning(tree, events, plan.name)
    return DmlOutcome(out_columns, out_rows, events[-1] if events else None)


class InsertPreview(NamedTuple):
    """What an INSERT would create: the type's schema, the region and the desired state
    (prepared as CreateResource would receive it)."""

    schema: ResourceSchema
    region: str
    desired: dict[str, Any]


def preview_insert(
    tree: exp.Insert,
    evaluate: Evaluator,
    run_select: SelectRunner,
    *,
    region: str,
) -> InsertPreview | None:
    """What a one-row INSERT would create, without creating it."""
    spec, name = _target(tree.this, "INSERT", region=region)
    schema = spec.schema
    if schema is None or not isinstance(tree.this, exp.Schema) or not tree.this.expressions:
        return None
    columns = [ident.name for ident in tree.this.expressions]
    roles = column_roles(schema, columns, name)
    rows = _insert_rows(tree.expression, evaluate, run_select, len(columns), name)
    if rows is None or len(rows) != 1:
        return None
    state, _params, row_region = _desired_state(schema, roles, rows[0])
    return InsertPreview(schema, str(row_region), desired.prepare(schema, state))


def _insert_rows(
    source: exp.Expression | None,
    evaluate: Evaluator,
    run_select: SelectRunner,
    width: int,
    table: str,
) -> list[list[Any]] | None:
    """The rows an INSERT gives (None when they come from a SELECT not run yet), each with
    exactly ``width`` values."""
    rows: list[list[Any]] | None
    if isinstance(source, exp.Values):
        rows = []
        for item in source.expressions:
            values = item.expressions if isinstance(item, exp.Tuple) else [item]
            rows.append([literal_value(v, evaluate) for v in values])
    elif (
        isinstance(source, exp.Select)
        and not source.args.get("from")
        and not source.args.get("from_")
        and not source.args.get("joins")
        and not source.args.get("where")
        and not any(isinstance(e, exp.Star) for e in source.expressions)
    ):
        rows = [[literal_value(e, evaluate) for e in source.expressions]]
    elif isinstance(source, exp.Query):
        if isinstance(source, exp.Select) and not any(
            isinstance(e, exp.Star) for e in source.expressions
        ):
            _check_width(len(source.expressions), width, table)
        result = run_select(source)
        if result is None:
            return None
        rows = [[_sqlite_value(v) for v in row.values()] for row in result[1]]
    else:
        raise QueryError("INSERT needs SELECT or VALUES after its column list")
    for row in rows:
        _check_width(len(row), width, table)
    return rows


def _check_width(given: int, width: int, table: str) -> None:
    if given != width:
        raise QueryError(
            f"INSERT INTO {table} lists {width} columns but gives {given} values",
            hint="give one value per column, in the same order",
        )


# -- UPDATE / DELETE ------------------------------------------------------------------------


@dataclass(frozen=True)
class MutationCall:
    """One UpdateResource or DeleteResource a statement asks for."""

    type_name: str
    region: str
    identifier: str
    patch: list[dict[str, Any]] | None
    client_token: str | None
    timeout_minutes: float | None


@dataclass(frozen=True)
class MutationPlan:
    """A prepared UPDATE or DELETE: the table and its calls."""

    name: str
    calls: list[MutationCall]


def prepare_update(
    tree: exp.Update, evaluate: Evaluator, *, region: str, role_arn: str | None = None
) -> MutationPlan:
    """Check an UPDATE and normalise its patch; no API call."""
    spec, name = _target(tree.this, "UPDATE", region=region)
    schema = spec.schema
    assert schema is not None
    patch: Any = None
    params: dict[str, Any] = {}
    label = "data__PatchDocument" if spec.provider == "aws" else "PatchDocument"
    for assignment in tree.expressions:
        if not isinstance(assignment, exp.EQ) or not isinstance(assignment.left, exp.Column):
            raise QueryError(f"UPDATE on {name} sets {label} = '...', nothing else")
        column = _norm(assignment.left.name)
        value = literal_value(cast(exp.Expression, assignment.right), evaluate)
        if column == "patchdocument":
            patch = value
        elif column in _API_PARAMS:
            params[column] = value
        else:
            raise QueryError(
                f"UPDATE on {name} sets {label}, not {assignment.left.name}",
                hint=f'SET {label} = string(\'[{{"op":"replace","path":"/Prop",...}}]\')',
            )
    if patch is None:
        raise QueryError(f"UPDATE on {name} needs SET {label} = '...'")
    if isinstance(patch, str):
        try:
            patch = json.loads(patch)
        except json.JSONDecodeError as exc:
            raise QueryError(
                f"the {label} of UPDATE on {name} is not JSON "
                f"(line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
    if isinstance(patch, dict):
        patch = [patch]
    try:
        ops = desired.prepare_patch(schema, patch)
    except ValidationError as exc:
        raise _validation_error(exc, name, "UPDATE") from exc
    token = _api_params(params, role_arn)
    keys = _where_keys(tree, evaluate, spec, "UPDATE", name)
    calls = [
        MutationCall(
            schema.type_name, str(reg), str(ident), ops, token, schema.timeout_minutes("update")
        )
        for reg in keys["region"]
        for ident in keys["identifier"]
    ]
    return MutationPlan(name, calls)


def run_update(
    tree: exp.Update, cloud: CloudControlAPI, evaluate: Evaluator, *, region: str
) -> DmlOutcome:
    """UpdateResource with the statement's PatchDocument."""
    plan = prepare_update(tree, evaluate, region=region, role_arn=_session_role(cloud))
    events = [
        cloud.update_resource(
            call.type_name,
            call.identifier,
            call.patch or [],
            region=call.region,
            client_token=call.client_token,
            timeout_minutes=call.timeout_minutes,
        )
        for call in plan.calls
    ]
    columns, rows = _returning(tree, events, plan.name)
    return DmlOutcome(columns, rows, events[-1])


def prepare_delete(tree: exp.Delete, evaluate: Evaluator, *, region: str) -> MutationPlan:
    """Check a DELETE; no API call."""
    spec, name = _target(tree.this, "DELETE", region=region)
    schema = spec.schema
    assert schema is not None
    keys = _where_keys(tree, evaluate, spec, "DELETE", name)
    calls = [
        MutationCall(
            schema.type_name, str(reg), str(ident), None, None, schema.timeout_minutes("delete")
        )
        for reg in keys["region"]
        for ident in keys["identifier"]
    ]
    return MutationPlan(name, calls)


def run_delete(
    tree: exp.Delete, cloud: CloudControlAPI, evaluate: Evaluator, *, region: str
) -> DmlOutcome:
    """DeleteResource for the statement's identifier(s). A resource already gone comes back
    as its FAILED/NotFound event (callers that must fail on it check the event)."""
    plan = prepare_delete(tree, evaluate, region=region)
    events = [
        cloud.delete_resource(
            call.type_name,
            call.identifier,
            region=call.region,
            timeout_minutes=call.timeout_minutes,
        )
        for call in plan.calls
    ]
    columns, rows = _returning(tree, events, plan.name)
    return DmlOutcome(columns, rows, events[-1])
