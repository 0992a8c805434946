"""``stack-deploy init NAME``: create a stack folder from a template, ready to build.

Templates use stackql-deploy's layout, so its template folders work here as they are: every
file of the folder is copied; a file ending in ``.template`` is rendered first (Jinja, with
``stack_name`` and ``stack_env``) and written without the suffix. Text meant for the stack's
own rendering at deploy time is kept in ``{% raw %}...{% endraw %}``.

``--template`` takes a local folder or the name of a built-in template (the folders in
``stackdeploy/templates``, each of which builds in the sandbox). The stack name is normalised
as stackql-deploy does (lower case, ``_`` -> ``-``), so the generated names are valid
resource names.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import click

from stackdeploy.cli.options import logging_options
from stackdeploy.errors import UsageError

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_SUFFIX = ".template"
MANIFEST = "stackql_manifest.yml"
DEFAULT_TEMPLATE = "starter"
_STACK_NAME = re.compile(r"[a-z0-9][a-z0-9-]*\Z")


@dataclass(frozen=True)
class BuiltinTemplate:
    name: str
    description: str


BUILTIN_TEMPLATES: tuple[BuiltinTemplate, ...] = (
    BuiltinTemplate("starter", "an S3 bucket (query file) and an SQS queue (declarative)"),
    BuiltinTemplate("s3-bucket", "a private, versioned, encrypted S3 bucket with a lifecycle rule"),
    BuiltinTemplate("sqs-queue", "an SQS queue with a dead-letter queue"),
    BuiltinTemplate(
        "vpc-network",
        "VPC, public subnet, internet gateway, route table, default route, security group",
    ),
)

README = """\
# {name}

Created by `stack-deploy init` from the `{template}` template.

```bash
stack-deploy build {name} {env} --sandbox      # create it in the local sandbox
stack-deploy plan {name} {env} --sandbox       # nothing left to do
stack-deploy test {name} {env} --sandbox       # every resource in its desired state
stack-deploy teardown {name} {env} --sandbox   # delete it again
```

Drop `--sandbox` to deploy to AWS with your usual credentials.
"""


def normalise_stack_name(name: str) -> str:
    """stackql-deploy's rule: lower case, ``_`` -> ``-``; a usage error if still invalid."""
    normalised = name.strip().replace("_", "-").lower()
    if not _STACK_NAME.match(normalised):
        raise UsageError(
            f"stack name {name!r} may hold only letters, digits, '-' and '_'",
            hint="for example stack-deploy init my-stack",
        )
    return normalised


def resolve_template(template: str) -> tuple[str, Path]:
    """(display name, folder) of a built-in template name or a local folder."""
    folder = Path(template).expanduser()
    builtin = TEMPLATES_DIR / template
    if template in {t.name for t in BUILTIN_TEMPLATES} and builtin.is_dir():
        return template, builtin
    if folder.is_dir():
        if not any((folder / f"{MANIFEST}{s}").is_file() for s in ("", TEMPLATE_SUFFIX)):
            raise UsageError(
                f"template folder {template} has no {MANIFEST} or {MANIFEST}{TEMPLATE_SUFFIX}",
                hint="a template is a stack folder whose files may end in .template",
            )
        return str(folder), folder
    names = ", ".join(t.name for t in BUILTIN_TEMPLATES)
    if re.match(r"[a-z]+://", template):
        raise UsageError(
            f"template {template!r}: templates are not downloaded",
            hint=f"clone or download it and pass the folder, or use a built-in: {names}",
        )
    raise UsageError(
        f"no template {template!r}: not a folder nor a built-in template",
        hint=f"built-in templates: {names} (stack-deploy init --list-templates)",
    )


def _render(text: str, *, stack_name: str, stack_env: str, file: str) -> str:
    from jinja2 import StrictUndefined, TemplateError
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(keep_trailing_newline=True, undefined=StrictUndefined)
    try:
        return env.from_string(text).render(stack_name=stack_name, stack_env=stack_env)
    except TemplateError as exc:
        from stackdeploy.errors import TemplateError as StackTemplateError
        from stackdeploy.templating import _template_line  # the failing template line

        line = getattr(exc, "lineno", None) or _template_line(exc)
        raise StackTemplateError(
            f"template file cannot be rendered: {exc}",
            file=file,
            line=line,
            hint="only stack_name and stack_env exist at init time; keep the stack's own "
            "templates in {% raw %}...{% endraw %}",
        ) from exc


def render_template(source: Path, target: Path, *, stack_name: str, stack_env: str) -> list[str]:
    """Write the stack for ``source`` into ``target`` (which must not exist); return the
    relative paths written. Nothing is left behind when a file fails to render."""
    planned: list[tuple[Path, bytes]] = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source)
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue
        if path.name.endswith(TEMPLATE_SUFFIX):
            text = _render(
                path.read_text(encoding="utf-8"),
                stack_name=stack_name,
                stack_env=stack_env,
                file=str(path),
            )
            relative = relative.with_name(path.name[: -len(TEMPLATE_SUFFIX)])
            planned.append((relative, text.encode("utf-8")))
        else:
            planned.append((relative, path.read_bytes()))
    written: list[str] = []
    target.mkdir(parents=True)
    try:
        for relative, data in planned:
            out = target / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            written.append(relative.as_posix())
    except OSError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return written


@click.command()
@click.argument("name", required=False)
@click.option(
    "-t",
    "--template",
    default=None,
    metavar="NAME|DIR",
    help=f"A built-in template or a template folder (default {DEFAULT_TEMPLATE}).",
)
@click.option(
    "-e",
    "--env",
    "stack_env",
    default="dev",
    show_default=True,
    help="Environment used in the generated README and templates (stack_env).",
)
@click.option(
    "-p",
    "--provider",
    default=None,
    help="stackql-deploy's starter choice: aws and awscc give the starter template.",
)
@click.option("--list-templates", is_flag=True, help="List the built-in templates and exit.")
@logging_options(short=False)
def init(
    name: str | None,
    template: str | None,
    stack_env: str,
    provider: str | None,
    list_templates: bool,
) -> None:
    """Create a new stack folder NAME from a template (lower case, '_' becomes '-')."""
    if list_templates:
        width = max(len(t.name) for t in BUILTIN_TEMPLATES)
        for builtin in BUILTIN_TEMPLATES:
            click.echo(f"{builtin.name.ljust(width)}  {builtin.description}")
        return
    if name is None:
        raise UsageError("init needs a stack NAME", hint="for example stack-deploy init my-stack")
    if provider is not None and template is not None:
        raise UsageError("--provider and --template cannot be used together")
    if provider is not None and provider.lower() not in ("aws", "awscc"):
        raise UsageError(
            f"provider {provider!r} is not supported: stack-deploy deploys AWS resources",
            hint="use --provider awscc (the default) or a --template",
        )
    if not stack_env.strip() or "/" in stack_env:
        raise UsageError(f"--env {stack_env!r} is not an environment name", hint="e.g. --env dev")
    given = Path(name)
    stack_name = normalise_stack_name(given.name)
    if stack_name != given.name:
        click.echo(f"stack name {given.name!r} normalised to {stack_name!r}", err=True)
    target = given.with_name(stack_name)
    if target.exists():
        raise UsageError(f"{target} already exists", hint="choose a new folder name")
    shown, source = resolve_template(template or DEFAULT_TEMPLATE)
    files = render_template(source, target, stack_name=stack_name, stack_env=stack_env)
    if "README.md" not in files:
        (target / "README.md").write_text(
            README.format(name=target.as_posix(), env=stack_env, template=shown)
        )
        files.append("README.md")
    click.echo(f"created {target}/ from the {shown} template: {', '.join(sorted(files))}")
    click.echo(f"next: stack-deploy build {target} {stack_env} --sandbox")
