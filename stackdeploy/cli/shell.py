"""``stack-deploy shell``: an interactive awscc SQL shell (stackql-deploy's ``shell`` needs the
stackql binary; this one runs on stack-deploy's own query engine).

On a terminal it prompts (history, completion, multi-line statements; see
:mod:`stackdeploy.query.shell`). With stdin not a terminal, or ``--batch``, it reads
statements and ``.commands`` from stdin, prints results and exits 1 if any failed, so
``echo "SELECT ...;" | stack-deploy shell --sandbox`` works in scripts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from stackdeploy import __version__
from stackdeploy.cli.options import CloudOptions, EnvOptions, OutputOptions, common_options


def _where(cloud: CloudOptions, region: str) -> str:
    if cloud.sandbox:
        return f"the sandbox ({cloud.sandbox_state})"
    if cloud.endpoint_url:
        return cloud.endpoint_url
    return f"AWS ({region})"


@click.command()
@click.option(
    "--history-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where the input history is kept (default $XDG_STATE_HOME/stack-deploy/shell_history).",
)
@click.option("--no-history", is_flag=True, help="Keep no history file.")
@click.option("--batch", is_flag=True, help="Read statements from stdin even on a terminal.")
@common_options
def shell(
    history_file: str | None,
    no_history: bool,
    batch: bool,
    env: EnvOptions,
    cloud: CloudOptions,
    output: OutputOptions,
) -> None:
    """Interactive awscc SQL shell over Cloud Control (.help inside for its commands).

    Statements end with ';' and may span lines; Tab completes table and column names;
    Ctrl-D exits. Without a terminal, statements are read from stdin.
    """
    from stackdeploy.query.shell import ShellSession, default_history_path, run_interactive

    interactive = not batch and sys.stdin.isatty() and sys.stdout.isatty()
    variables = env.variables()
    with cloud.open() as client:
        region = cloud.region or _default_region(client)
        session = ShellSession(
            client,
            region=region,
            variables=variables,
            out=sys.stdout,
            err=sys.stderr,
            output=output.output,
            interactive=interactive,
            show_queries=output.show_queries,
        )
        if not interactive:
            session.run_lines(sys.stdin)
            if session.failures:
                sys.exit(1)
            return
        history: Path | None = None
        if not no_history:
            history = Path(history_file) if history_file else default_history_path()
        banner = (
            f"stack-deploy {__version__} shell: awscc SQL on {_where(cloud, region)}.\n"
            "End statements with ';'. Tab completes, .help lists commands, Ctrl-D exits."
        )
        run_interactive(session, history_path=history, banner=banner)


def _default_region(client: Any) -> str:
    from stackdeploy.errors import StackDeployError

    try:
        return str(client.default_region)
    except StackDeployError:
        return "us-east-1"
