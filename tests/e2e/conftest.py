"""End-to-end fixtures: a sandbox server with latency, stacks written on the fly, the CLI.

The sandbox runs in the test process (``SandboxServer``: faults and latency can be changed
while it serves, and its request log gives each request's start and end on the server's own
clock); the CLI talks to it over HTTP with ``--endpoint-url``, exactly as it talks to AWS.
Timing assertions use the server's request times, never the test's wall clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from stackdeploy.cli import main
from stackdeploy.sandbox.server import SandboxServer
from stackdeploy.sandbox.store import RequestRow

ACCOUNT = "123456789012"  # the sandbox's default account (fake credentials are not numbers)
REGION = "us-east-1"


def is_lock(identifier: str | None) -> bool:
    """The stack lock (an SSM parameter that build and teardown hold while they run)."""
    return bool(identifier) and str(identifier).startswith("/stack-deploy/locks/")


@dataclass
class Sandbox:
    """A served sandbox and what it saw."""

    server: SandboxServer

    @property
    def url(self) -> str:
        return self.server.url

    def requests(self, operation: str | None = None) -> list[RequestRow]:
        """Every mutation request on the stacks' resources, oldest first (``operation``:
        CREATE, UPDATE, DELETE); the stack lock's own requests are left out."""
        rows = reversed(self.server.store.list_requests(ACCOUNT, REGION))
        return [
            r
            for r in rows
            if (operation is None or r.operation == operation) and not is_lock(r.identifier)
        ]

    def request_of(self, operation: str, identifier: str) -> RequestRow:
        """The one ``operation`` request on ``identifier``."""
        found = [r for r in self.requests(operation) if r.identifier == identifier]
        assert len(found) == 1, f"{operation} requests on {identifier}: {found}"
        return found[0]

    def identifiers(self) -> set[str]:
        """Identifiers of every resource the sandbox holds."""
        self.server.store.settle()  # requests whose end has passed take effect
        return {
            r.identifier for r in self.server.store.all_resources() if not is_lock(r.identifier)
        }

    def status(self, request: RequestRow) -> str:
        """The request's status now, as GetResourceRequestStatus would answer."""
        current = self.server.store.get_request(request.token)
        assert current is not None
        return current.status_at(self.server.store.clock())


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    server = SandboxServer(None, list_mode="identifiers")
    server.start()
    try:
        yield Sandbox(server)
    finally:
        server.stop()


def write_stack(root: Path, name: str, resources: str) -> Path:
    """A stack folder named ``name`` holding a manifest with these ``resources`` (YAML)."""
    stack = root / name
    stack.mkdir(parents=True, exist_ok=True)
    body = textwrap.indent(textwrap.dedent(resources).strip("\n"), "  ")
    (stack / "stackql_manifest.yml").write_text(
        f"name: {name}\nproviders: [awscc]\nresources:\n{body}\n", encoding="utf-8"
    )
    return stack


def bucket(name: str, *, depends_on: tuple[str, ...] = (), extra: str = "") -> str:
    """A declarative S3 bucket resource (its identifier is ``e2e-<name>``)."""
    deps = f"\n  depends_on: [{', '.join(depends_on)}]" if depends_on else ""
    return (
        f"- name: {name}\n  resource_type: awscc.s3.buckets{deps}\n  props:\n"
        f"    - name: bucket_name\n      value: e2e-{name}\n{extra}"
    )


def log_group(name: str, *, depends_on: tuple[str, ...] = ()) -> str:
    """A declarative log group resource (identifier ``e2e-<name>``): another type, so a
    fault can target it alone."""
    deps = f"\n  depends_on: [{', '.join(depends_on)}]" if depends_on else ""
    return (
        f"- name: {name}\n  resource_type: awscc.logs.log_groups{deps}\n  props:\n"
        f"    - name: log_group_name\n      value: e2e-{name}\n"
    )


@dataclass
class Cli:
    """``stack-deploy`` in this process, against the sandbox at ``url``."""

    url: str

    def __call__(self, *args: str, expect: int | None = 0) -> Result:
        argv = [*args, "--endpoint-url", self.url]
        result = CliRunner().invoke(main, argv, catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, (
                f"exit {result.exit_code} (expected {expect}) for {argv}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def actions(self, stack: Path, *extra: str) -> dict[str, str]:
        """Each resource's planned action."""
        plan = json.loads(self("plan", str(stack), "dev", "--output", "json", *extra).stdout)
        return {r["name"]: r["action"] for r in plan["resources"]}


@pytest.fixture
def cli(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    # A scratch working folder: no stray ./.env, exports files land in tmp_path.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return Cli(sandbox.url)


def cli_process(*args: str, cwd: Path, **env: str) -> subprocess.Popen[str]:
    """``python -m stackdeploy ARGS`` as a child process with piped streams."""
    return subprocess.Popen(
        [sys.executable, "-m", "stackdeploy", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", **env},
    )


def overlapping(rows: list[RequestRow]) -> bool:
    """True when every request of ``rows`` was in flight at one same moment."""
    assert all(r.end_at is not None for r in rows)
    return max(r.created_at for r in rows) < min(float(r.end_at or 0) for r in rows)


def events_of(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of an ``--events`` file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
