"""``stack-deploy import``: adopt live resources into a stack folder.

Parses the arguments, reads the existing stack (if any), opens Cloud Control with the common
options and hands everything to :func:`stackdeploy.adopt.adopt`; then reports what was
written. The work itself is in :mod:`stackdeploy.adopt` (user doc: docs/import.md).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path

import click

from stackdeploy.cli.options import CloudOptions, EnvOptions, OutputOptions, common_options
from stackdeploy.errors import UsageError


def parse_tag_filters(pairs: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """``("app=shop", "team=a", "team=b", "owner")`` -> ``{app: (shop,), team: (a, b),
    owner: ()}``: values of one key are alternatives; a bare key matches any value."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not key:
            raise UsageError(f"--tag expects KEY=VALUE or KEY, got {pair!r}")
        values = out.setdefault(key, [])
        if sep and value not in values:
            values.append(value)
    return {k: tuple(v) for k, v in out.items()}


def _pairs(items: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if len(items) % 2:
        raise UsageError(
            f"TYPE IDENTIFIER come in pairs; {items[-1]!r} has no identifier",
            hint="stack-deploy import STACK_DIR STACK_ENV AWS::EC2::VPC vpc-0abc ...",
        )
    return tuple((items[i], items[i + 1]) for i in range(0, len(items), 2))


@click.command(name="import")
@click.argument("stack_dir", type=click.Path(dir_okay=True, file_okay=False))
@click.argument("stack_env")
@click.argument("resources", nargs=-1, metavar="[TYPE IDENTIFIER]...")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="Adopt every resource carrying this tag (repeatable: all must match; KEY alone "
    "matches any value).",
)
@click.option(
    "--type",
    "types",
    multiple=True,
    metavar="TYPE",
    help="With --tag: only resources of this type (repeatable; AWS::EC2::VPC or awscc.ec2.vpcs).",
)
@click.option("--name", default=None, help="Name of the adopted resource (one resource only).")
@click.option(
    "--style",
    type=click.Choice(["declarative", "query-file"]),
    default="declarative",
    show_default=True,
    help="Write declarative resources, or query files resources/<name>.iql.",
)
@click.option("-y", "--yes", is_flag=True, help="Tag the live resources without asking.")
@click.option(
    "--no-tag",
    is_flag=True,
    help="Do not add the stack tags to the live resources (then the first build adds them).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be written; change nothing.")
@common_options
def import_resources(
    stack_dir: str,
    stack_env: str,
    resources: tuple[str, ...],
    tags: tuple[str, ...],
    types: tuple[str, ...],
    name: str | None,
    style: str,
    yes: bool,
    no_tag: bool,
    dry_run: bool,
    env: EnvOptions,
    cloud: CloudOptions,
    output: OutputOptions,
) -> None:
    """Adopt existing resources into the stack in STACK_DIR (created if new).

    Give TYPE IDENTIFIER pairs (AWS::EC2::VPC vpc-0abc, awscc.s3.buckets my-bucket), or
    --tag KEY=VALUE to adopt every resource carrying the tags. Each becomes a resource of
    the manifest whose props are read from its live state, so the stack plans in sync.
    Taggable resources get the stack's tags (stackql:stack-name, stackql:stack-env,
    stackql:resource-name), after a confirmation (or --yes): that is how the stack finds
    them again.
    """
    from stackdeploy.adopt import ImportRequest, adopt, read_stack
    from stackdeploy.manifest.envfile import parse_env_overrides

    folder = Path(stack_dir)
    existing = read_stack(
        folder,
        stack_env,
        env_file=env.env_file,
        env_overrides=parse_env_overrides(list(env.pairs)),
    )
    region = cloud.region or (existing.region if existing is not None else None)
    if region and not cloud.region:
        cloud = dataclasses.replace(cloud, region=region)
    fast = {"poll_initial": 0.01, "poll_max": 0.5} if cloud.sandbox else {}

    def confirm(text: str) -> bool:
        if yes:
            return True
        click.echo(text, err=True)
        try:
            return click.confirm("Proceed?", default=False, err=True)
        except click.Abort:
            return False

    with cloud.open(**fast) as client:
        request = ImportRequest(
            stack_dir=folder,
            env=stack_env,
            region=region or client.default_region,
            style="query-file" if style == "query-file" else "declarative",
            resources=_pairs(resources),
            tag_filters=parse_tag_filters(tags),
            types=types,
            name=name,
            tag=not no_tag,
            dry_run=dry_run,
        )
        result = adopt(request, client, existing=existing, confirm=confirm)

    for note in result.skipped:
        click.echo(f"skipped: {note}", err=True)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if output.json:
        click.echo(json.dumps(result.to_json_dict(), indent=2))
        return
    if not result.resources:
        click.echo(f"nothing to adopt: {result.manifest_path} already holds what was found")
        return
    if dry_run:
        for path, text in result.files.items():
            before = path.read_text(encoding="utf-8") if path.is_file() else ""
            diff = difflib.unified_diff(
                before.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=str(path) if before else "/dev/null",
                tofile=str(path),
            )
            click.echo("".join(diff), nl=False)
        click.echo("(dry run: nothing was tagged or written)", err=True)
        return
    what = "created" if result.new_stack else "updated"
    click.echo(
        f"{what} {result.manifest_path}: {len(result.resources)} resource(s) adopted "
        f"({result.style})"
    )
    width = max(len(r.name) for r in result.resources)
    for r in result.resources:
        extra = f", tagged {len(r.tags_added)}" if r.tags_added else ""
        click.echo(
            f"  {r.name.ljust(width)}  {r.type_name} {r.identifier} (found by {r.found_by}{extra})"
        )
    click.echo(f"next: stack-deploy plan {stack_dir} {stack_env}")
