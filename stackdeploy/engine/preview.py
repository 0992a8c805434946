"""Read a create query's desired state without running it.

The planner diffs a query-file resource the same way as a declarative one: the desired state
is what its ``/*+ create */`` INSERT would send. This module evaluates the INSERT's values
(with the query engine's parser and SQLite evaluator) and returns the prepared desired state,
without calling CreateResource.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stackdeploy.schema import desired as desired_state
from stackdeploy.schema.model import ResourceSchema


@dataclass(frozen=True)
class InsertPreview:
    """What an INSERT would create: the type's schema, the region and the desired state."""

    schema: ResourceSchema
    region: str
    desired: dict[str, Any]


def preview_insert(engine: Any, sql: str, *, file: str | None, line: int) -> InsertPreview | None:
    """The desired state of the first INSERT in ``sql`` (None when there is none).

    Raises the query engine's errors for SQL it cannot read (unknown table or column).
    """
    from sqlglot import exp

    from stackdeploy.query import dml
    from stackdeploy.query.engine import split_statements

    for statement in split_statements(sql, line=line, file=file):
        tree = engine._parse(statement, file)
        if not isinstance(tree, exp.Insert):
            continue
        spec, name = dml._target(tree.this, "INSERT", region=engine.region)
        schema = spec.schema
        if schema is None or not isinstance(tree.this, exp.Schema):
            return None
        columns = [ident.name for ident in tree.this.expressions]
        with engine._connection() as conn:
            evaluate = engine._evaluator(conn)
            current = statement

            def run_select(query: Any, conn: Any = conn, current: Any = current) -> Any:
                return engine._select(query, conn, current, file)

            rows = dml._insert_rows(tree.expression, evaluate, run_select)
        if len(rows) != 1 or len(rows[0]) != len(columns):
            return None
        state, _params, region = dml._desired_state(schema, columns, rows[0], name)
        return InsertPreview(schema, region, desired_state.prepare(schema, state))
    return None
