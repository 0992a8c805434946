"""The DML a plan would run, as text a user can read (and run with ``stack-deploy query``).

Query-file resources show their own rendered anchors; declarative resources show the awscc
statement equivalent to the Cloud Control call the engine makes (``INSERT`` for
CreateResource, ``UPDATE ... SET PatchDocument`` for UpdateResource, ``DELETE`` for
DeleteResource). A value known only after an earlier resource is applied stays
``<evaluated>`` in the text, and the statement says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from stackdeploy.manifest.stack import EVALUATED, UNKNOWN, has_placeholder
from stackdeploy.schema.model import ResourceSchema

UNKNOWN_NOTE = f"-- {EVALUATED}: known only after the resources it uses are applied"
UNRENDERED_NOTE = "-- rendered at apply: it uses this.* fields captured then"


def literal(value: Any) -> str:
    """A SQL literal: numbers and booleans bare, everything else quoted (JSON for objects
    and arrays), quotes doubled."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return "'" + text.replace("'", "''") + "'"


def noted(sql: str) -> str:
    """``sql`` with a note when it holds values known only after apply."""
    sql = sql.strip()
    if has_placeholder(sql) or UNKNOWN in sql:
        return f"{sql}\n{UNKNOWN_NOTE}"
    return sql


def insert_sql(schema: ResourceSchema, desired: Mapping[str, Any], region: str) -> str:
    names = list(desired)
    columns = "".join(f"  {name},\n" for name in names)
    values = "".join(f"  {literal(desired[name])},\n" for name in names)
    return noted(
        f"INSERT INTO {schema.awscc_name} (\n{columns}  region\n)\n"
        f"SELECT\n{values}  {literal(region)};"
    )


def update_sql(
    schema: ResourceSchema, identifier: str, patch: Sequence[Mapping[str, Any]], region: str
) -> str:
    document = json.dumps([dict(op) for op in patch], separators=(",", ":"))
    return noted(
        f"UPDATE {schema.awscc_name}\nSET PatchDocument = string({literal(document)})\n"
        f"WHERE Identifier = {literal(identifier)} AND region = {literal(region)};"
    )


def delete_sql(schema: ResourceSchema, identifier: str, region: str) -> str:
    return noted(
        f"DELETE FROM {schema.awscc_name}\n"
        f"WHERE Identifier = {literal(identifier)} AND region = {literal(region)};"
    )
