"""Run the SQL examples of a generated reference page against the sandbox.

For one type: take its page, fill the placeholders with valid values (made from the schema by
the sandbox's value generator), and run every example through the query engine in order:
the required-properties INSERT creates a resource, SELECT (get) finds it, SELECT (list) lists
it, UPDATE changes it (and SELECT shows the change), DELETE removes it (and SELECT no longer
finds it); then the all-properties INSERT creates another, SELECT finds it, DELETE removes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stackdeploy.reference import model as ref_model
from stackdeploy.reference import reference_of, render_type_page
from stackdeploy.sandbox import values
from stackdeploy.schema import desired
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.naming import to_column
from stackdeploy.schema.registry import get_schema
from tests.reference.helpers import code_blocks, fill_sql, placeholders

Values = dict[str, Any]
Blocks = dict[str, tuple[str, str]]
Runner = Callable[[str, Values], Any]


@dataclass
class Outcome:
    type_name: str
    ran: list[str] = field(default_factory=list)  # titles of the examples run
    problems: list[str] = field(default_factory=list)
    nulls: list[str] = field(default_factory=list)  # optional columns filled with NULL
    unchanged: bool = False  # UPDATE ran, but no value different from the live one was found


def required_values(schema: ResourceSchema) -> dict[str, Any] | None:
    """Values for the required-properties INSERT (property name -> value)."""
    minimal = values.minimal_desired_state(schema) or {}
    state: dict[str, Any] = {}
    for prop in ref_model.create_required(schema):
        value = minimal.get(prop)
        if value is None:
            value = values.example_value(schema, (prop,))
        if value is None:
            return None
        state[prop] = value
    if desired.validate(schema, state, mode="create"):
        # The branch the page chose may need what the generator put elsewhere: add it.
        state = {**minimal, **state}
        if desired.validate(schema, state, mode="create"):
            return None
    return state


def full_values(schema: ResourceSchema, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` plus a value for every other writable property that keeps it valid."""
    state = dict(base)
    for prop in ref_model.writable_properties(schema):
        if prop in state:
            continue
        for _ in range(3):
            value = values.example_value(schema, (prop,))
            if value is not None and not desired.validate(schema, {**state, prop: value}):
                state[prop] = value
                break
    return state


def _by_column(state: dict[str, Any]) -> dict[str, Any]:
    return {to_column(k): v for k, v in state.items()}


def _update_values(
    schema: ResourceSchema, state: dict[str, Any], live: dict[str, Any], props: tuple[str, ...]
) -> tuple[dict[str, Any], list[str]]:
    """A value for each patched property, valid together; changed where possible."""
    patched = dict(state)
    changed: list[str] = []
    for prop in props:
        chosen = None
        for _ in range(4):
            value = values.example_value(schema, (prop,))
            if value is None or value == live.get(prop):
                continue
            if not desired.validate(schema, {**patched, prop: value}, mode="update"):
                chosen = value
                changed.append(prop)
                break
        if chosen is None:
            chosen = live.get(prop, state.get(prop))
        if chosen is None:
            value = values.example_value(schema, (prop,))
            if value is not None and not desired.validate(
                schema, {**patched, prop: value}, mode="update"
            ):
                chosen = value
                changed.append(prop)
        if chosen is not None:
            patched[prop] = chosen
    return patched, changed


def _row_value(row: dict[str, Any], column: str) -> Any:
    value = row.get(column)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _contains(schema: ResourceSchema, path: tuple[Any, ...], sent: Any, got: Any) -> bool:
    """``got`` (read back) shows ``sent``: equal, allowing members AWS adds and ignoring
    write-only ones (never returned)."""
    if schema.is_write_only(path):
        return True
    if isinstance(sent, str) and isinstance(got, dict | list):
        try:
            sent = json.loads(sent)
        except ValueError:
            return False
    if isinstance(sent, bool):
        return got in (sent, int(sent))
    if isinstance(sent, dict) and isinstance(got, dict):
        return all(
            schema.is_write_only((*path, k))
            or (k in got and _contains(schema, (*path, k), v, got[k]))
            for k, v in sent.items()
        )
    if isinstance(sent, list) and isinstance(got, list) and len(sent) == len(got):
        item = (*path, "*")
        if not schema.insertion_order(path):
            return all(any(_contains(schema, item, s, g) for g in got) for s in sent)
        return all(_contains(schema, item, s, g) for s, g in zip(sent, got, strict=True))
    return bool(sent == got)


def _same(schema: ResourceSchema, prop: str, sent: Any, got: Any) -> bool:
    return _contains(schema, (prop,), sent, got)


def run_type(engine: Any, schema: ResourceSchema, region: str) -> Outcome:
    """Run every SQL example of ``schema``'s page; problems are collected, not raised."""
    ref = reference_of(schema, region)
    page = render_type_page(ref)
    blocks = code_blocks(page)
    outcome = Outcome(schema.type_name)

    def run(title: str, filled: dict[str, Any]) -> Any:
        sql = fill_sql(blocks[title][1], filled)
        outcome.ran.append(title)
        return engine.execute(sql)

    required = required_values(schema)
    if required is None:
        outcome.problems.append("no values for the required properties")
        return outcome
    # Required INSERT: valid SQL even when no property is required.
    insert = blocks[ref_model.TITLE_INSERT_REQUIRED][1]
    if set(placeholders(insert)) != {to_column(p) for p in ref.create_required}:
        outcome.problems.append(f"required INSERT placeholders {placeholders(insert)}")
        return outcome
    result = run(ref_model.TITLE_INSERT_REQUIRED, _by_column(required))
    identifier = result.progress_event.identifier
    try:
        ident = {
            to_column(k.split("/")[-1]): v for k, v in schema.identifier_parts(identifier).items()
        }
        live = _check_get(engine, outcome, ref, blocks, ident, run)
        if ref.update_example is not None:
            _check_update(outcome, schema, ref, blocks, ident, required, live or {}, run)
    finally:
        _check_delete(outcome, ref, blocks, ident, run)

    full = full_values(schema, required)
    filled = {to_column(p): full.get(p) for p in ref.writable}
    outcome.nulls = [c for c, v in filled.items() if v is None]
    result = run(ref_model.TITLE_INSERT_ALL, filled)
    identifier = result.progress_event.identifier
    ident = {to_column(k.split("/")[-1]): v for k, v in schema.identifier_parts(identifier).items()}
    try:
        live = _check_get(engine, outcome, ref, blocks, ident, run)
        _check_list(outcome, ref, blocks, ident, {**full, **(live or {})}, run, identifier)
    finally:
        _check_delete(outcome, ref, blocks, ident, run)
    return outcome


def _check_get(
    engine: Any, outcome: Outcome, ref: Any, blocks: Blocks, ident: Values, run: Runner
) -> dict[str, Any] | None:
    if ref_model.TITLE_SELECT_GET not in blocks:
        return None
    rows = run(ref_model.TITLE_SELECT_GET, ident).rows
    if len(rows) != 1:
        outcome.problems.append(f"SELECT found {len(rows)} rows after INSERT")
        return None
    row = rows[0]
    schema = get_schema(ref.type_name, ref.region)
    by_column = {to_column(p): p for p in schema.properties}
    live = {}
    for column, value in row.items():
        prop = by_column.get(column)
        if prop is None or value is None:
            continue
        value = _row_value(row, column)
        if schema.types_at((prop,)) == {"boolean"} and value in (0, 1):
            value = bool(value)  # SQL booleans are 1/0
        live[prop] = value
    return live


def _check_list(
    outcome: Outcome,
    ref: Any,
    blocks: Blocks,
    ident: Values,
    known: Values,
    run: Runner,
    identifier: str,
) -> None:
    if ref_model.TITLE_SELECT_LIST not in blocks:
        return
    code = blocks[ref_model.TITLE_SELECT_LIST][1]
    filled = dict(ident)
    for name in placeholders(code):
        if name not in filled:
            prop = next((p for p in known if to_column(p) == name), None)
            filled[name] = known.get(prop) if prop else None
    rows = run(ref_model.TITLE_SELECT_LIST, filled).rows
    wanted = {c: str(v) for c, v in ident.items()}
    if not any(all(str(r.get(c)) == v for c, v in wanted.items()) for r in rows):
        outcome.problems.append(f"SELECT list does not find {identifier!r}")


def _check_update(
    outcome: Outcome,
    schema: ResourceSchema,
    ref: Any,
    blocks: Blocks,
    ident: Values,
    state: Values,
    live: Values,
    run: Runner,
) -> None:
    patched, changed = _update_values(schema, state, live, ref.updatable)
    filled = {**{to_column(p): patched.get(p) for p in ref.updatable}, **ident}
    missing = [p for p in ref.updatable if patched.get(p) is None]
    if missing:
        outcome.problems.append(f"no valid update value for {', '.join(missing)}")
        return
    run(ref_model.TITLE_UPDATE, filled)
    if ref_model.TITLE_SELECT_GET not in blocks:
        return
    rows = run(ref_model.TITLE_SELECT_GET, ident).rows
    visible = [p for p in changed if not schema.is_write_only((p,))]
    for prop in visible:
        got = _row_value(rows[0], to_column(prop)) if rows else None
        if not _same(schema, prop, patched[prop], got):
            outcome.problems.append(
                f"UPDATE of {prop} not visible: sent {patched[prop]!r}, got {got!r}"
            )
            break
    if not changed:
        outcome.unchanged = True


def _check_delete(outcome: Outcome, ref: Any, blocks: Blocks, ident: Values, run: Runner) -> None:
    if ref.delete_example is None:
        return
    run(ref_model.TITLE_DELETE, ident)
    if ref_model.TITLE_SELECT_GET in blocks:
        rows = run(ref_model.TITLE_SELECT_GET, ident).rows
        if rows:
            outcome.problems.append("SELECT still finds it after DELETE")
