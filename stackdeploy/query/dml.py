"""INSERT, UPDATE and DELETE on awscc tables: Cloud Control mutations, polled to the end.

- ``INSERT INTO awscc.<svc>.<res> (Cols..., region) SELECT ... | VALUES (...)`` creates one
  resource per row. Columns are CloudFormation property names (snake_case accepted);
  ``region`` picks the region and ``ClientToken`` / ``RoleArn`` / ``TypeVersionId`` are API
  parameters. Values: quoted JSON objects/arrays become JSON, bare ``true``/``false``/numbers
  keep their type and other strings are coerced by the schema; the desired state is
  normalised (nested snake_case keys too), pruned and validated before anything is sent.
- ``UPDATE ... SET PatchDocument = string('[...]') WHERE Identifier = ... AND region = ...``
  sends the patch after normalising each operation's path and value.
- ``DELETE FROM ... WHERE Identifier = ... AND region = ...``.

``RETURNING *`` (or named fields) yields the final ProgressEvent, flat (``Identifier``,
``OperationStatus``, ...) and again under ``ProgressEvent.<Field>`` names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from sqlglot import exp

from stackdeploy.errors import QueryError, ValidationError
from stackdeploy.query.planner import conjuncts, key_values
from stackdeploy.query.tables import TableSpec, resolve_table
from stackdeploy.schema import desired
from stackdeploy.schema.model import ResourceSchema, match_name

Evaluator = Callable[[exp.Expression], Any]

# API parameters of the mutation calls, by their normalised column spelling.
_CLIENT_TOKEN = "clienttoken"
_ROLE_ARN = "rolearn"
_TYPE_VERSION = "typeversionid"


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


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
    if not isinstance(table, exp.Table) or (table.catalog or "").lower() != "awscc":
        name = table.sql() if isinstance(table, exp.Expression) else "?"
        raise QueryError(
            f"{verb} needs an awscc table, not {name}",
            hint="name the table awscc.<service>.<resource>, e.g. awscc.s3.buckets",
        )
    name = f"awscc.{table.db}.{table.name}"
    spec = resolve_table(name, region=region)
    if spec.kind != "resource":
        raise QueryError(
            f"{verb} is not supported on {name}",
            hint="mutate awscc.<service>.<resource> tables (not _list_only or views)",
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
    tree: exp.Expression, evaluate: Evaluator, alias: str, verb: str, name: str
) -> dict[str, list[Any]]:
    where = tree.args.get("where")
    leftover: list[exp.Expression] = []
    keys = key_values(
        conjuncts(where.this if where is not None else None),
        ["Identifier", "region"],
        evaluate,
        alias=alias,
        leftover=leftover,
    )
    if leftover:
        # Ignoring a predicate of a DELETE or UPDATE would act on what the user excluded.
        raise QueryError(
            f"{verb} on {name} accepts only Identifier and region in WHERE, not "
            f"{leftover[0].sql(dialect='sqlite')}",
            hint="find the Identifier with a SELECT first",
        )
    for key in ("identifier", "region"):
        if not keys.get(key):
            label = "Identifier" if key == "identifier" else "region"
            raise QueryError(
                f"{verb} on {name} needs {label} = '...' in its WHERE clause",
                hint=f"add AND {label} = '...' (compound identifiers join their parts with |)",
            )
    return keys


def _api_params(
    schema: ResourceSchema, params: Mapping[str, Any], role_arn: str | None
) -> str | None:
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


# -- statements ---------------------------------------------------------------------------


def run_insert(
    tree: exp.Insert,
    cloud: Any,
    evaluate: Evaluator,
    run_select: Callable[[exp.Expression], tuple[list[str], list[dict[str, Any]]]],
    *,
    region: str,
) -> DmlOutcome:
    """CreateResource for each row of an INSERT."""
    spec, name = _target(tree.this, "INSERT", region=region)
    schema = spec.schema
    assert schema is not None
    if not isinstance(tree.this, exp.Schema) or not tree.this.expressions:
        raise QueryError(
            f"INSERT INTO {name} needs a column list",
            hint="INSERT INTO awscc.svc.res (Prop1, Prop2, region) SELECT 'v1', 'v2', 'us-east-1'",
        )
    columns = [ident.name for ident in tree.this.expressions]
    rows = _insert_rows(tree.expression, evaluate, run_select)
    events = []
    for row in rows:
        if len(row) != len(columns):
            raise QueryError(
                f"INSERT INTO {name} lists {len(columns)} columns but gives {len(row)} values",
                hint="give one value per column, in the same order",
            )
        state, params, row_region = _desired_state(schema, columns, row, name)
        token = _api_params(
            schema, params, getattr(getattr(cloud, "config", None), "role_arn", None)
        )
        prepared = desired.prepare(schema, state)
        try:
            desired.check(schema, prepared, mode="create")
        except ValidationError as exc:
            raise _validation_error(exc, name, "INSERT INTO") from exc
        events.append(
            cloud.create_resource(
                schema.type_name,
                prepared,
                region=row_region,
                client_token=token,
                timeout_minutes=schema.timeout_minutes("create"),
            )
        )
    out_columns, out_rows = _returning(tree, events, name)
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
    run_select: Callable[[exp.Expression], tuple[list[str], list[dict[str, Any]]]],
    *,
    region: str,
) -> InsertPreview | None:
    """What a one-row INSERT would create, without creating it."""
    spec, name = _target(tree.this, "INSERT", region=region)
    schema = spec.schema
    if schema is None or not isinstance(tree.this, exp.Schema) or not tree.this.expressions:
        return None
    columns = [ident.name for ident in tree.this.expressions]
    rows = _insert_rows(tree.expression, evaluate, run_select)
    if len(rows) != 1 or len(rows[0]) != len(columns):
        return None
    state, _params, row_region = _desired_state(schema, columns, rows[0], name)
    return InsertPreview(schema, row_region, desired.prepare(schema, state))


def _insert_rows(
    source: exp.Expression | None,
    evaluate: Evaluator,
    run_select: Callable[[exp.Expression], tuple[list[str], list[dict[str, Any]]]],
) -> list[list[Any]]:
    if isinstance(source, exp.Values):
        rows = []
        for item in source.expressions:
            values = item.expressions if isinstance(item, exp.Tuple) else [item]
            rows.append([literal_value(v, evaluate) for v in values])
        return rows
    if (
        isinstance(source, exp.Select)
        and not source.args.get("from")
        and not source.args.get("from_")
        and not source.args.get("joins")
        and not source.args.get("where")
        and not any(isinstance(e, exp.Star) for e in source.expressions)
    ):
        return [[literal_value(e, evaluate) for e in source.expressions]]
    if isinstance(source, exp.Query):
        _, rows = run_select(source)
        return [[_sqlite_value(v) for v in row.values()] for row in rows]
    raise QueryError("INSERT needs SELECT or VALUES after its column list")


def _desired_state(
    schema: ResourceSchema, columns: Sequence[str], values: Sequence[Any], table: str
) -> tuple[dict[str, Any], dict[str, Any], str]:
    state: dict[str, Any] = {}
    params: dict[str, Any] = {}
    region: Any = None
    for column, value in zip(columns, values, strict=True):
        key = _norm(column)
        if key == "region" and column not in schema.properties:
            # The API region; a type's own property spelt exactly so (Region) is a property.
            region = value
            continue
        if key in (_CLIENT_TOKEN, _TYPE_VERSION) or (
            # A type's own RoleArn / RoleARN property is a property, not the API parameter.
            key == _ROLE_ARN and match_name(column, schema.properties) is None
        ):
            params[key] = value
            continue
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
        if prop in state:
            raise QueryError(f"column {column!r} is given twice in INSERT INTO {table}")
        if isinstance(value, dict | list) and schema.types_at((prop,)) == {"string"}:
            # A string property that holds JSON text (a policy, a definition): keep the text.
            value = json.dumps(value, separators=(",", ":"))
        state[prop] = value
    if not isinstance(region, str) or not region:
        raise QueryError(
            f"INSERT INTO {table} needs a region",
            hint="add region to the column list and the region's name to the values",
        )
    return state, params, region


def run_update(tree: exp.Update, cloud: Any, evaluate: Evaluator, *, region: str) -> DmlOutcome:
    """UpdateResource with the statement's PatchDocument."""
    spec, name = _target(tree.this, "UPDATE", region=region)
    schema = spec.schema
    assert schema is not None
    patch: Any = None
    params: dict[str, Any] = {}
    for assignment in tree.expressions:
        if not isinstance(assignment, exp.EQ) or not isinstance(assignment.left, exp.Column):
            raise QueryError(f"cannot read the SET clause {assignment.sql()!r}")
        column = _norm(assignment.left.name)
        value = literal_value(cast(exp.Expression, assignment.right), evaluate)
        if column == "patchdocument":
            patch = value
        elif column in (_CLIENT_TOKEN, _ROLE_ARN, _TYPE_VERSION):
            params[column] = value
        else:
            raise QueryError(
                f"UPDATE on {name} sets PatchDocument, not {assignment.left.name}",
                hint='SET PatchDocument = string(\'[{"op":"replace","path":"/Prop",...}]\')',
            )
    if patch is None:
        raise QueryError(f"UPDATE on {name} needs SET PatchDocument = '...'")
    if isinstance(patch, str):
        try:
            patch = json.loads(patch)
        except ValueError as exc:
            raise QueryError(f"the PatchDocument of UPDATE on {name} is not JSON: {exc}") from exc
    if isinstance(patch, dict):
        patch = [patch]
    try:
        ops = desired.prepare_patch(schema, patch)
    except ValidationError as exc:
        raise _validation_error(exc, name, "UPDATE") from exc
    token = _api_params(schema, params, getattr(getattr(cloud, "config", None), "role_arn", None))
    keys = _where_keys(tree, evaluate, tree.this.alias_or_name, "UPDATE", name)
    events = [
        cloud.update_resource(
            schema.type_name,
            str(ident),
            ops,
            region=str(reg),
            client_token=token,
            timeout_minutes=schema.timeout_minutes("update"),
        )
        for reg in keys["region"]
        for ident in keys["identifier"]
    ]
    columns, rows = _returning(tree, events, name)
    return DmlOutcome(columns, rows, events[-1])


def run_delete(tree: exp.Delete, cloud: Any, evaluate: Evaluator, *, region: str) -> DmlOutcome:
    """DeleteResource for the statement's Identifier(s)."""
    spec, name = _target(tree.this, "DELETE", region=region)
    schema = spec.schema
    assert schema is not None
    keys = _where_keys(tree, evaluate, tree.this.alias_or_name, "DELETE", name)
    events = [
        cloud.delete_resource(
            schema.type_name,
            str(ident),
            region=str(reg),
            timeout_minutes=schema.timeout_minutes("delete"),
        )
        for reg in keys["region"]
        for ident in keys["identifier"]
    ]
    columns, rows = _returning(tree, events, name)
    return DmlOutcome(columns, rows, events[-1])
