"""``stack-deploy describe TYPE``: what the registry schema says about a resource type.

Shows the awscc table name, identifiers, every top-level property with its awscc column,
JSON type and flags (required, read-only, create-only, write-only), tagging and the handler
permissions and time-outs, so a stack author can write props or SQL without the AWS docs.
"""

from __future__ import annotations

import json
from typing import Any

import click

_FLAGS = (("required", "R"), ("read_only", "RO"), ("create_only", "CO"), ("write_only", "WO"))


def describe_type(name: str, region: str) -> dict[str, Any]:
    """The describe document of a type (also the ``--output json`` shape)."""
    from stackdeploy.query.tables import column_of
    from stackdeploy.schema.registry import get_schema

    schema = get_schema(name, region)
    props = []
    for prop in schema.properties:
        types = sorted(schema.types_at((prop,)))
        props.append(
            {
                "name": prop,
                "column": column_of(schema, prop),
                "type": "|".join(types) if types else "any",
                "required": prop in schema.required,
                "read_only": schema.is_read_only((prop,)),
                "create_only": schema.is_create_only((prop,)),
                "write_only": schema.is_write_only((prop,)),
            }
        )
    return {
        "type_name": schema.type_name,
        "awscc": schema.awscc_name,
        "region": region,
        "primary_identifier": list(schema.primary_identifier),
        "additional_identifiers": [list(g) for g in schema.additional_identifiers],
        "list_requires": list(schema.list_required),
        "taggable": schema.taggable,
        "tag_property": schema.tag_property,
        "properties": props,
        "handlers": {
            op: {
                "timeout_minutes": schema.timeout_minutes(op),
                "permissions": schema.handler_permissions(op),
            }
            for op in ("create", "read", "update", "delete", "list")
        },
    }


def _text(doc: dict[str, Any]) -> str:
    lines = [
        f"{doc['type_name']}  ({doc['awscc']}, {doc['region']})",
        f"identifier: {' | '.join(doc['primary_identifier']) or '-'}",
    ]
    if doc["list_requires"]:
        lines.append(f"list needs: {', '.join(doc['list_requires'])}")
    lines.append(f"tags: {doc['tag_property'] if doc['taggable'] else 'not taggable'}")
    lines.append("")
    width = max((len(p["name"]) for p in doc["properties"]), default=4)
    cwidth = max((len(p["column"]) for p in doc["properties"]), default=6)
    lines.append(f"{'PROPERTY':<{width}}  {'COLUMN':<{cwidth}}  {'TYPE':<14} FLAGS")
    for p in doc["properties"]:
        flags = ",".join(short for key, short in _FLAGS if p[key])
        row = f"{p['name']:<{width}}  {p['column']:<{cwidth}}  {p['type']:<14} {flags}"
        lines.append(row.rstrip())
    lines.append("")
    lines.append(
        "flags: R required, RO read-only, CO create-only (change = replace), WO write-only"
    )
    for op, handler in doc["handlers"].items():
        perms = ", ".join(handler["permissions"]) or "(not in the bundled schema)"
        lines.append(f"{op}: timeout {handler['timeout_minutes']} min; permissions: {perms}")
    return "\n".join(lines)


@click.command()
@click.argument("type_name", metavar="TYPE")
@click.option("--region", default="us-east-1", show_default=True, help="Registry region.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def describe(type_name: str, region: str, output: str) -> None:
    """Describe a resource TYPE (AWS::S3::Bucket or awscc.s3.buckets) from its schema."""
    doc = describe_type(type_name, region)
    if output == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(_text(doc))
