"""``stack-deploy sandbox``: run the local Cloud Control emulator and inspect or reset its state.

``serve`` prints ``Listening on http://HOST:PORT`` as its first line (flushed at once, so a
script or test can wait for it) and stops cleanly on SIGTERM or SIGINT. ``list`` and ``reset``
open the state file directly; they are safe while a server runs on the same file. A state
file that cannot be used (not SQLite, a directory, read-only) is one ``Error:`` line, exit 1.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import click

from stackdeploy.errors import UsageError

DEFAULT_STATE = str(Path(".stack-deploy") / "sandbox.db")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")

state_option = click.option(
    "--state",
    "state_path",
    default=DEFAULT_STATE,
    show_default=True,
    # Not click.Path(dir_okay=False): the store says what is wrong with a path, exit 1.
    type=click.Path(),
    help="SQLite state file of the sandbox.",
)


@click.group("sandbox")
def sandbox() -> None:
    """Run and manage the local Cloud Control sandbox."""


def _parse_fail(value: str) -> dict[str, Any]:
    parts = value.rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise UsageError(
            f"--fail {value!r}: expected TYPE:OPERATION:ERROR_CODE",
            hint="for example --fail 'AWS::S3::Bucket:CREATE:AccessDenied' (* is a wildcard)",
        )
    return {"type": parts[0], "operation": parts[1].upper(), "error_code": parts[2]}


def _parse_type_op(flag: str, value: str, example: str) -> dict[str, Any]:
    type_name, _, operation = value.rpartition(":")
    if not type_name or not operation or type_name.endswith(":"):
        raise UsageError(
            f"{flag} {value!r}: expected TYPE:OPERATION",
            hint=f"for example {flag} '{example}' (* is a wildcard)",
        )
    return {"type": type_name, "operation": operation.upper()}


def _parse_latency(default: float, overrides: tuple[str, ...]) -> dict[str, float]:
    latency = {"default": default}
    for item in overrides:
        key, sep, seconds = item.rpartition("=")
        try:
            latency[key] = float(seconds)
        except ValueError:
            key = ""
        if not sep or not key:
            raise UsageError(
                f"--latency-for {item!r}: expected KEY=SECONDS",
                hint="KEY is an operation (CREATE), a type, or TYPE:OPERATION",
            )
    return latency


@sandbox.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=4566, show_default=True, type=int, help="Port (0 picks a free one)."
)
@state_option
@click.option("--memory", is_flag=True, help="Keep the state in memory instead of the state file.")
@click.option(
    "--latency",
    default=0.0,
    show_default=True,
    type=float,
    help="Seconds each create/update/delete takes before it ends.",
)
@click.option(
    "--latency-for",
    multiple=True,
    metavar="KEY=SECONDS",
    help="Latency for an operation (CREATE), a type, or TYPE:OPERATION. Repeatable.",
)
@click.option("--account-id", default="123456789012", show_default=True)
@click.option(
    "--faults",
    "faults_source",
    metavar="JSON|PATH",
    help="Fault injection as JSON text or a JSON file (default: $STACK_DEPLOY_SANDBOX_FAULTS).",
)
@click.option("--throttle-rate", type=float, help="Share of calls answered ThrottlingException.")
@click.option(
    "--async-throttle-rate", type=float, help="Share of mutations ending FAILED/Throttling."
)
@click.option(
    "--fail",
    "fail_rules",
    multiple=True,
    metavar="TYPE:OP:CODE",
    help="Mutations of TYPE/OP end FAILED with ErrorCode CODE. Repeatable.",
)
@click.option(
    "--stuck",
    "stuck_rules",
    multiple=True,
    metavar="TYPE:OP",
    help="Mutations of TYPE/OP stay IN_PROGRESS for ever. Repeatable.",
)
@click.option(
    "--deny",
    "deny_rules",
    multiple=True,
    metavar="TYPE:OP",
    help="Calls of TYPE/OP (CREATE, READ, UPDATE, DELETE, LIST) are refused at once with "
    "AccessDeniedException. Repeatable.",
)
@click.option(
    "--reset-rate",
    type=float,
    help="Share of calls whose connection is reset before they are handled.",
)
@click.option(
    "--reset-after-rate",
    type=float,
    help="Share of calls whose connection is reset after they took effect (answer lost).",
)
@click.option("--fault-seed", type=int, help="Seed making the random faults reproducible.")
@click.option(
    "--list-mode",
    type=click.Choice(["identifiers", "full"]),
    default=None,
    help="What ListResources returns: primary identifiers only, as AWS does for many types "
    "(default, or $STACK_DEPLOY_SANDBOX_LIST_MODE), or full models.",
)
@click.option(
    "--clock-offset",
    type=float,
    default=0.0,
    metavar="SECONDS",
    help="Run the sandbox's clock this far ahead of real time (to see in-flight requests "
    "overdue, or ClientTokens past their 36 hours).",
)
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host.")
@click.option("--verbose", is_flag=True, help="Log every request on stderr.")
@click.option(
    "--request-log",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Append one JSON line per API call (arrival time, operation, type, HTTP status) to "
    "FILE, to count calls and request rates.",
)
def serve(
    host: str,
    port: int,
    state_path: str,
    memory: bool,
    latency: float,
    latency_for: tuple[str, ...],
    account_id: str,
    faults_source: str | None,
    throttle_rate: float | None,
    async_throttle_rate: float | None,
    fail_rules: tuple[str, ...],
    stuck_rules: tuple[str, ...],
    deny_rules: tuple[str, ...],
    reset_rate: float | None,
    reset_after_rate: float | None,
    fault_seed: int | None,
    list_mode: str | None,
    clock_offset: float,
    allow_remote: bool,
    verbose: bool,
    request_log: str | None,
) -> None:
    """Serve the Cloud Control API (and Tagging GetResources) locally."""
    from stackdeploy.sandbox.faults import Faults
    from stackdeploy.sandbox.server import SandboxServer

    if host not in _LOOPBACK and not allow_remote:
        raise UsageError(
            f"--host {host} is not a loopback address",
            hint="the sandbox has no authentication; pass --allow-remote if you really mean it",
        )
    faults = Faults.load(faults_source) if faults_source else Faults.from_env()
    extra: dict[str, Any] = {
        "fail": [_parse_fail(v) for v in fail_rules]
        + [
            {
                **_parse_type_op("--deny", v, "AWS::SSM::Parameter:CREATE"),
                "error_code": "AccessDenied",
                "sync": True,
            }
            for v in deny_rules
        ],
        "stuck": [_parse_type_op("--stuck", v, "AWS::EC2::VPC:DELETE") for v in stuck_rules],
    }
    for name, value in (
        ("throttle_rate", throttle_rate),
        ("async_throttle_rate", async_throttle_rate),
        ("reset_rate", reset_rate),
        ("reset_after_rate", reset_after_rate),
        ("seed", fault_seed),
    ):
        if value is not None:
            extra[name] = value
    faults.update(extra)
    clock = (lambda: time.time() + clock_offset) if clock_offset else None
    try:
        server = SandboxServer(
            None if memory else state_path,
            host=host,
            port=port,
            latency=_parse_latency(latency, latency_for),
            account_id=account_id,
            faults=faults,
            verbose=verbose,
            list_mode=list_mode,
            clock=clock,
            request_log=request_log,
        )
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="choose another --port (0 picks a free one)",
        ) from exc

    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server.start()
    click.echo(f"Listening on {server.url}")
    where = "memory" if memory else state_path
    listed = "full models" if server.list_mode == "full" else "primary identifiers only"
    click.echo(f"State: {where}; ListResources returns {listed}; stop with Ctrl-C", err=True)
    try:
        # wait() with a timeout so signals are handled promptly on every platform.
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    click.echo("Sandbox stopped.", err=True)


def _open_store(state_path: str) -> Any:
    """The store of an existing state file, or None; a StateFileError (exit 1) for a path
    that is not a usable sandbox state file."""
    from stackdeploy.sandbox.store import Store

    if not Path(state_path).exists():
        return None
    return Store(state_path)


@sandbox.command("list")
@state_option
@click.option("--type", "type_name", help="Only resources of this type (AWS::S3::Bucket).")
@click.option("--region", help="Only resources in this region.")
@click.option("--account", help="Only resources of this account.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_resources(
    state_path: str, type_name: str | None, region: str | None, account: str | None, output: str
) -> None:
    """List the resources the sandbox holds."""
    store = _open_store(state_path)
    rows = []
    if store is not None:
        with store:
            store.settle()
            rows = store.all_resources(account=account, region=region, type_name=type_name)
    if output == "json":
        data = [
            {
                "account": r.account,
                "region": r.region,
                "type": r.type_name,
                "identifier": r.identifier,
                "properties": r.properties,
            }
            for r in rows
        ]
        click.echo(json.dumps(data, indent=2))
        return
    if not rows:
        click.echo("The sandbox holds no resources.")
        return
    header = ("ACCOUNT", "REGION", "TYPE", "IDENTIFIER")
    table = [header, *((r.account, r.region, r.type_name, r.identifier) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        click.echo(
            "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True))
            + "  "
            + row[3]
        )
    click.echo(f"{len(rows)} resource(s)")


@sandbox.command("reset")
@state_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def reset(state_path: str, yes: bool) -> None:
    """Delete every resource and request the sandbox holds."""
    store = _open_store(state_path)
    if store is None:
        click.echo(f"Nothing to reset: {state_path} does not exist.")
        return
    with store:
        counts = store.counts()
        if not yes and not click.confirm(
            f"Delete {counts['resources']} resource(s) and {counts['requests']} request(s) "
            f"from {state_path}?",
            default=False,
        ):
            click.echo("Nothing deleted.")
            return
        store.reset()
    click.echo(f"Deleted {counts['resources']} resource(s) and {counts['requests']} request(s).")
