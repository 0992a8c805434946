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
@click.argument("type_name", metavar="[TYPE]", required=False)
@click.option("--region", default="us-east-1", show_default=True, help="Registry region.")
@click.option(
    "--format",
    "--output",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text: a summary; json: the describe document; markdown: the reference page "
    "(fields, methods, SQL examples, manifest snippets, permissions).",
)
@click.option(
    "--all",
    "all_types",
    is_flag=True,
    help="Write the Markdown reference page of every type of the region (needs --out).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, writable=True),
    help="Folder for --all: DIR/<service>/<resource>.md and DIR/index.md.",
)
def describe(
    type_name: str | None, region: str, fmt: str, all_types: bool, out_dir: str | None
) -> None:
    """Describe a resource TYPE (AWS::S3::Bucket or awscc.s3.buckets) from its schema.

    With --format markdown, print the type's reference page; with --all --out DIR, write
    the reference pages of every registry type.
    """
    from stackdeploy.errors import UsageError

    if all_types:
        if type_name:
            raise UsageError("give either TYPE or --all, not both")
        if not out_dir:
            raise UsageError("--all needs --out DIR", hint="stack-deploy describe --all --out ref")
        _write_all(out_dir, region)
        return
    if out_dir:
        raise UsageError("--out is for --all", hint="redirect stdout to save one page")
    if not type_name:
        raise UsageError(
            "missing TYPE", hint="stack-deploy describe AWS::S3::Bucket (or --all --out DIR)"
        )
    if fmt == "markdown":
        from stackdeploy.reference import type_page

        click.echo(type_page(type_name, region), nl=False)
        return
    doc = describe_type(type_name, region)
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(_text(doc))


def _write_all(out_dir: str, region: str) -> None:
    import time

    from stackdeploy.reference import write_pages

    started = time.monotonic()
    paths = write_pages(out_dir, region=region)
    elapsed = time.monotonic() - started
    click.echo(
        f"wrote {len(paths) - 1} reference pages and index.md to {out_dir} in {elapsed:.1f}s",
        err=True,
    )
