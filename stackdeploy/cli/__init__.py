"""Command-line entry point: a click group whose subcommands load lazily.

Each subcommand lives in its own module (``stackdeploy.cli.<module>``) and is imported only
when it is invoked, so ``stack-deploy --help`` and ``--version`` never import boto3, the
schemas or the SQL parser. Errors are turned into one line and an exit code here, in one
place; ``--debug`` (or ``STACK_DEPLOY_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from stackdeploy import __version__
from stackdeploy.cli.options import (
    DEFAULT_LOG_LEVEL,
    META_LOG_LEVEL,
    announce_ignored,
    configure_logging,
    log_level_option,
    record_ignored,
    takes_upstream_options,
    upstream_option_decorators,
)
from stackdeploy.errors import StackDeployError

# name -> (module, attribute, one-line help shown by ``--help`` without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "build": ("stackdeploy.cli.stack", "build", "Create or update the stack's resources."),
    "test": ("stackdeploy.cli.stack", "test", "Check every resource exists in its desired state."),
    "teardown": ("stackdeploy.cli.stack", "teardown", "Delete the stack's resources."),
    "plan": ("stackdeploy.cli.stack", "plan", "Show what build would change."),
    "query": ("stackdeploy.cli.query", "query", "Run awscc SQL against Cloud Control."),
    "describe": ("stackdeploy.cli.describe", "describe", "Describe a resource type's schema."),
    "permissions": (
        "stackdeploy.cli.permissions",
        "permissions",
        "List the IAM permissions a stack needs.",
    ),
    "init": ("stackdeploy.cli.init", "init", "Create a new stack folder from a template."),
    "info": (
        "stackdeploy.cli.info",
        "info",
        "Show versions, schemas, credentials source and sandbox state.",
    ),
    "shell": ("stackdeploy.cli.shell", "shell", "Interactive awscc SQL shell."),
    "upgrade": ("stackdeploy.cli.upgrade", "upgrade", "Say how to upgrade stack-deploy."),
    "import": (
        "stackdeploy.cli.importer",
        "import_resources",
        "Adopt existing resources into a stack.",
    ),
    "unlock": (
        "stackdeploy.cli.unlock",
        "unlock",
        "Break a stack lock left by a run that is gone.",
    ),
    "sandbox": (
        "stackdeploy.cli.sandbox",
        "sandbox",
        "Run and manage the local Cloud Control sandbox.",
    ),
}


def _apply_all(decorators: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    def apply(func: Any) -> Any:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def _debug_requested() -> bool:
    return os.environ.get("STACK_DEPLOY_DEBUG", "") not in ("", "0") or "--debug" in sys.argv


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._available(name))

    def _available(self, name: str) -> bool:
        module = COMMANDS[name][0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None or not self._available(cmd_name):
            return None
        module_name, attr, _ = entry
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text comes from the table above, so listing commands imports nothing.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StackDeployError as exc:
            if _debug_requested():
                raise
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            # stdout closed early (``| head``): not an error worth a message.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(0)
        except Exception as exc:
            # A bug, not a user error: still one line, with the way to the traceback.
            if _debug_requested():
                raise
            click.echo(
                f"Error: internal error: {type(exc).__name__}: {exc} "
                "(run with --debug for the traceback, and please report it)",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stack-deploy")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@log_level_option()
@_apply_all(upstream_option_decorators())
@click.pass_context
def main(ctx: click.Context, debug: bool, log_level: str | None, **upstream: Any) -> None:
    """Deploy stacks of AWS resources through the AWS Cloud Control API.

    A stack is a folder holding stackql_manifest.yml and optional resources/<name>.iql
    query files. Use --sandbox on any command to run against the embedded local Cloud
    Control emulator instead of AWS.

    --log-level and stackql-deploy's --custom-registry, --download-dir, --server and
    --port may be given here or after the command.
    """
    if debug:
        os.environ["STACK_DEPLOY_DEBUG"] = "1"
    if log_level:
        ctx.meta[META_LOG_LEVEL] = log_level
    configure_logging(log_level or DEFAULT_LOG_LEVEL)
    record_ignored(ctx, upstream)
    # A command that takes the upstream options itself prints the notice (once, with its
    # own); for any other command it is printed here.
    sub = ctx.invoked_subcommand
    command = ctx.command.get_command(ctx, sub) if sub else None  # type: ignore[attr-defined]
    if not takes_upstream_options(command):
        announce_ignored(ctx)


def _main_without_commands() -> click.Command:
    """The group's own usage and options without its commands, for documentation that
    shows each command on its own (mkdocs-click recurses into every subcommand of a group)."""
    return click.Command(
        "stack-deploy",
        params=list(main.params),
        help=main.help,
        options_metavar="[OPTIONS] COMMAND [ARGS]...",
        context_settings=main.context_settings,
    )


# docs/cli.md: ``::: mkdocs-click`` with ``:module: stackdeploy.cli``, ``:command: stack_deploy``.
stack_deploy = _main_without_commands()
