"""Read a create query's desired state without running it.

The planner diffs a query-file resource the same way as a declarative one: the desired state
is what its ``/*+ create */`` INSERT would send. This module evaluates the INSERT's values
(with the query engine's parser and SQLite evaluator) and returns the prepared desired state,
without calling CreateResource.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    found = engine.preview_insert(sql, file=file, line=line)
    if found is None:
        return None
    schema, region, state = found
    return InsertPreview(schema, region, state)
