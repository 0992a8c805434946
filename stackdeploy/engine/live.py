"""Helpers between query rows, schemas and live resources.

- which identifier a captured ``exists`` row names (``identifier``, the aws provider's
  ``data__identifier``, or the primary identifier's columns such as ``vpc_id``, or compound
  parts such as ``route_table_id`` + ``cidr_block``);
- the row a declarative resource's exports are read from (every live property under its
  CloudFormation name and its awscc column name, plus ``identifier``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.naming import to_column


def _lookup(row: Mapping[str, Any], *names: str) -> Any:
    lowered = {str(k).lower(): v for k, v in row.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value not in (None, ""):
            return value
    return None


def identifier_from_row(schema: ResourceSchema, row: Mapping[str, Any]) -> str | None:
    """The Cloud Control identifier a captured row names, or None.

    ``identifier`` (or the aws provider's ``data__identifier``) names it directly, except for
    types with a property called ``Identifier`` (AWS::Rbin::Rule, AWS::DSQL::Cluster...):
    there the ``identifier`` column is that property, so the primary identifier's own columns
    are preferred and ``identifier`` counts only when it is the primary identifier."""
    own_property = "Identifier" in schema.properties
    columns = ("data__identifier",) if own_property else ("identifier", "data__identifier")
    value = _lookup(row, *columns)
    if value is not None:
        return str(value)
    parts = []
    for name in schema.primary_identifier:
        leaf = name.split("/")[-1]
        part = _lookup(row, leaf, to_column(leaf))
        if part is None:
            break
        parts.append(str(part))
    else:
        return "|".join(parts) if parts else None
    # An exists query that captures one value for a single-part identifier captures the
    # identifier under a name of its own (``id AS subnet_route_table_assn_id``).
    values = [v for v in row.values() if v not in (None, "")]
    if len(schema.primary_identifier) == 1 and len(values) == 1:
        return str(values[0])
    return None


def export_row(schema: ResourceSchema, live: Mapping[str, Any], identifier: str) -> dict[str, Any]:
    """Columns a declarative resource can export: each property as written in the schema
    and as its awscc column, objects/arrays as compact JSON text (as a query would give),
    plus ``identifier``."""
    row: dict[str, Any] = {"identifier": identifier, "Identifier": identifier}
    for name, value in live.items():
        if isinstance(value, dict | list):
            value = json.dumps(value, separators=(",", ":"))
        row[name] = value
        row.setdefault(to_column(name), value)
    return row


def resolve_export_columns(
    schema: ResourceSchema, row: dict[str, Any], columns: list[str]
) -> dict[str, Any]:
    """Add to ``row`` any requested column spelled loosely (``QueueUrl``, ``queue_url``,
    ``queueurl``) that is a schema property; properties absent from live become None
    (an export of a property AWS did not set is empty, not an error)."""
    from stackdeploy.schema.model import match_name

    for column in columns:
        if column in row:
            continue
        prop = match_name(column, schema.properties)
        if prop is not None:
            row[column] = row.get(prop)
    return row


def without_read_only(schema: ResourceSchema, value: Any, path: tuple[str | int, ...] = ()) -> Any:
    """A live model without its read-only properties, at any depth: what a plan compares
    (status fields and timestamps AWS changes by itself are left out)."""
    if isinstance(value, Mapping):
        return {
            k: without_read_only(schema, v, (*path, k))
            for k, v in value.items()
            if not schema.is_read_only((*path, k))
        }
    if isinstance(value, list):
        return [without_read_only(schema, v, (*path, i)) for i, v in enumerate(value)]
    return value
