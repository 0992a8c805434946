"""``stack-deploy permissions STACK_DIR STACK_ENV``: the IAM actions a stack needs.

Lists, per resource type used by the stack (declarative ``resource_type`` or the awscc tables
its query files name), the handler permissions the registry schema declares for create,
read, update, delete and list, plus the Cloud Control and Tagging API actions stack-deploy
itself calls. ``--output json`` prints an IAM policy document.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

from stackdeploy.cli.options import EnvOptions, env_options

CLOUD_CONTROL_ACTIONS = [
    "cloudformation:CreateResource",
    "cloudformation:DeleteResource",
    "cloudformation:GetResource",
    "cloudformation:GetResourceRequestStatus",
    "cloudformation:ListResourceRequests",
    "cloudformation:ListResources",
    "cloudformation:UpdateResource",
    "cloudformation:CancelResourceRequest",
]
TAGGING_ACTIONS = ["tag:GetResources"]
_TABLE = re.compile(r"\bawscc\.([a-z0-9_]+)\.([a-z0-9_]+)", re.IGNORECASE)


def stack_types(stack: Any, region: str) -> tuple[list[str], bool]:
    """The CloudFormation types a stack uses, and whether it uses the Tagging API."""
    from stackdeploy.errors import TypeNotFoundError
    from stackdeploy.schema.registry import get_registry

    registry = get_registry(region)
    types: list[str] = []
    tagging = False
    for res in stack.resources:
        if res.resource_type:
            types.append(res.resource_type)
            tagging = tagging or registry.get(res.resource_type).taggable
        texts = [res.sql or ""]
        if res.query_file is not None and res.query_file.is_file():
            texts.append(res.query_file.read_text(encoding="utf-8"))
        for text in texts:
            for service, table in _TABLE.findall(text):
                if service.lower() == "tagging":
                    tagging = True
                    continue
                if service.lower() == "cloud_control":
                    continue
                try:
                    types.append(registry.resolve_type_name(f"awscc.{service}.{table}"))
                except TypeNotFoundError:
                    continue  # a custom view (vw_...), not a resource type
    return list(dict.fromkeys(types)), tagging


def permissions_document(stack: Any, region: str) -> dict[str, Any]:
    from stackdeploy.schema.registry import get_schema

    types, tagging = stack_types(stack, region)
    per_type: dict[str, dict[str, list[str]]] = {}
    from stackdeploy.engine.lock import LOCK_PERMISSIONS

    actions: list[str] = list(CLOUD_CONTROL_ACTIONS) + (TAGGING_ACTIONS if tagging else [])
    # The stack lock (an SSM parameter, through Cloud Control) of build and teardown.
    actions.extend(LOCK_PERMISSIONS)
    for type_name in types:
        schema = get_schema(type_name, region)
        ops = {
            op: schema.handler_permissions(op)
            for op in ("create", "read", "update", "delete", "list")
        }
        per_type[type_name] = ops
        for perms in ops.values():
            actions.extend(perms)
    return {
        "types": per_type,
        "lock": list(LOCK_PERMISSIONS),
        "policy": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": sorted(dict.fromkeys(actions)), "Resource": "*"}
            ],
        },
    }


@click.command()
@click.argument("stack_dir", type=click.Path(file_okay=False))
@click.argument("stack_env")
@click.option("--region", default=None, help="Registry region (default: the stack's region).")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@env_options
def permissions(
    stack_dir: str, stack_env: str, region: str | None, output: str, env: EnvOptions
) -> None:
    """List the IAM permissions the stack in STACK_DIR needs for STACK_ENV."""
    from stackdeploy.manifest.envfile import parse_env_overrides
    from stackdeploy.manifest.stack import load_stack

    stack = load_stack(
        stack_dir, stack_env, env_file=env.env_file, env_overrides=parse_env_overrides(env.pairs)
    )
    region = region or stack.region or "us-east-1"
    doc = permissions_document(stack, region)
    if output == "json":
        click.echo(json.dumps(doc["policy"], indent=2))
        return
    click.echo("Cloud Control and Tagging API (stack-deploy itself):")
    for action in CLOUD_CONTROL_ACTIONS:
        click.echo(f"  {action}")
    if any(a in doc["policy"]["Statement"][0]["Action"] for a in TAGGING_ACTIONS):
        click.echo(f"  {TAGGING_ACTIONS[0]}")
    click.echo("\nStack lock (build and teardown; an SSM parameter under /stack-deploy/locks/):")
    for action in doc["lock"]:
        click.echo(f"  {action}")
    for type_name, ops in doc["types"].items():
        click.echo(f"\n{type_name}:")
        for op, perms in ops.items():
            shown = ", ".join(perms) if perms else "(not in the bundled registry schema)"
            click.echo(f"  {op:<7} {shown}")
