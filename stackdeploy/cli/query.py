"""``stack-deploy query``: render awscc SQL with the stack template environment and run it.

The SQL comes from the argument, ``-`` (stdin) or ``--file`` (optionally one ``--anchor``
of a query file). It is rendered strictly with the same Jinja environment as the manifests
(``-e`` values are strings), split into statements and run in order by
:class:`~stackdeploy.query.engine.QueryEngine`. Results go to stdout: an aligned table per
statement (text), or with ``--output json`` exactly one JSON array, the rows of the LAST
statement. Logs and DML summaries go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from stackdeploy.cli.options import CloudOptions, EnvOptions, OutputOptions, common_options
from stackdeploy.errors import QueryError, StackDeployError, UsageError

log = logging.getLogger("stackdeploy.query")


def _source(
    sql: str | None, query_file: str | None, anchor: str | None
) -> tuple[str, str | None, int]:
    """The SQL text to render, the file it came from and the file line it starts on."""
    if sql is not None and query_file is not None:
        raise UsageError("give the SQL either as an argument or with --file, not both")
    if anchor is not None and query_file is None:
        raise UsageError("--anchor needs --file")
    if query_file is None:
        if sql is None:
            raise UsageError(
                "no SQL given",
                hint='stack-deploy query "SELECT ..." or --file PATH [--anchor NAME]',
            )
        if sql == "-":
            from stackdeploy.textfile import decode_text

            stream = sys.stdin
            data = (
                stream.buffer.read()
                if hasattr(stream, "buffer")
                else stream.read().encode("utf-8", "surrogateescape")
            )
            return decode_text(data, display="<stdin>", error=QueryError), "<stdin>", 1
        return sql, None, 1
    from stackdeploy.query.iql import parse_query_file
    from stackdeploy.textfile import read_text

    text = read_text(Path(query_file), error=QueryError)

    parsed = parse_query_file(text, file=query_file)
    if anchor is not None:
        found = parsed.get(anchor)
        if found is None:
            names = ", ".join(a.name for a in parsed) or "none"
            raise QueryError(
                f"no anchor {anchor!r} in the file", file=query_file, hint=f"its anchors: {names}"
            )
        return found.body, query_file, found.line
    anchors = list(parsed)
    if not anchors:
        return text, query_file, 1
    if len(anchors) == 1:
        return anchors[0].body, query_file, anchors[0].line
    raise UsageError(
        f"{query_file} has several anchors; choose one with --anchor",
        hint="anchors: " + ", ".join(a.name for a in anchors),
    )


@click.command()
@click.argument("sql", required=False)
@click.option(
    "--file",
    "query_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the SQL from a file (a query file's anchors: see --anchor).",
)
@click.option("--anchor", help="Run this anchor of the --file (exists, statecheck, create...).")
@common_options
def query(
    sql: str | None,
    query_file: str | None,
    anchor: str | None,
    env: EnvOptions,
    cloud: CloudOptions,
    output: OutputOptions,
) -> None:
    """Run awscc SQL against Cloud Control (SQL, or - for stdin).

    Statements separated by ; run in order, after all of them have been checked. Templates
    are rendered first ({{ var }} from -e and the env file; an undefined variable is an
    error). With --output json, stdout holds one JSON array: the rows of the last statement.
    A mutation that fails (a DELETE of an absent resource too) ends the command with exit
    code 1 and AWS's reason.
    """
    from stackdeploy.query.engine import QueryEngine, split_statements
    from stackdeploy.query.shell import table_lines
    from stackdeploy.templating import render

    text, file, line = _source(sql, query_file, anchor)
    rendered = render(text, env.variables(), file=file, line=line)
    statements = split_statements(rendered, line=line, file=file)
    if not statements:
        raise QueryError("no SQL statement to run", file=file, line=line)
    last_rows: list[dict[str, Any]] = []
    with cloud.open() as client:
        region = cloud.region or _default_region(client)
        engine = QueryEngine(client, region=region)
        # All or nothing where it can be known up front: a syntax error or an unknown table
        # in the last statement stops the script before the first one creates anything.
        for statement in statements:
            engine.check(statement, file=file)
        for index, statement in enumerate(statements):
            if output.show_queries:
                where = f"{file}:{statement.line}" if file else f"line {statement.line}"
                log.info("query (%s):\n%s", where, statement.text)
            result = engine.run_statement(statement, file=file)
            last_rows = result.rows
            event = result.progress_event
            if event is not None and event.status == "FAILED":
                # The client takes a DELETE of an absent resource as done (NotFound); asked
                # for explicitly here, it is a failure with AWS's reason.
                reason = ": ".join(x for x in (event.error_code, event.status_message) if x)
                raise QueryError(
                    f"{event.operation} {event.type_name} {event.identifier} failed"
                    + (f": {reason}" if reason else ""),
                    file=file,
                    line=statement.line,
                )
            if event is not None:
                click.echo(
                    f"{event.operation} {event.type_name} {event.identifier}: {event.status}",
                    err=True,
                )
                if event.status != "SUCCESS":
                    raise _failed(event, file, statement.line)
            if output.json or not result.columns:
                continue
            if index:
                click.echo("")
            for text_line in table_lines(result.columns, result.rows):
                click.echo(text_line)
    if output.json:
        click.echo(json.dumps(last_rows, default=str, ensure_ascii=False))


def _failed(event: Any, file: str | None, line: int) -> QueryError:
    """A mutation the API answered without SUCCESS (the engine returns a DELETE of an absent
    resource as its FAILED/NotFound event, since teardown counts that as done)."""
    from stackdeploy.query.engine import QueryCloudControlError

    reason = event.status_message or "no status message"
    code = event.error_code or event.status
    hint = None
    if event.operation == "DELETE" and event.error_code == "NotFound":
        hint = "check the Identifier and region; nothing was deleted"
    return QueryCloudControlError(
        f"{event.operation} {event.type_name} {event.identifier} failed: {code}: {reason}",
        file=file,
        line=line,
        hint=hint,
        error_code=event.error_code,
        status_message=event.status_message,
        request_token=event.request_token,
    )


def _default_region(client: Any) -> str:
    try:
        return str(client.default_region)
    except StackDeployError:  # no region configured: the engine needs one only for defaults
        return "us-east-1"
