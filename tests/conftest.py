"""Shared test fixtures: the sandbox server and boto3 clients bound to it.

Importing this module points every AWS client at a dead local port with fake credentials, so
no test can reach real AWS by accident: a test that wants Cloud Control must use a sandbox
fixture's URL explicitly.

- ``sandbox`` (session): a ``python -m stackdeploy sandbox serve --port 0`` subprocess on a
  temporary state file; ``.url``, ``.state_path``, ``.client(service, ...)``.
- ``cloudcontrol`` / ``tagging``: boto3 clients (us-east-1, fake credentials) bound to it.
- ``sandbox_server`` (function): an in-process ``SandboxServer`` with its own state file, for
  fault injection and latency tests (``sandbox_server.faults``, ``sandbox_server.latency``).
- ``client_for``: ``client_for(url, service="cloudcontrol", *, account=None, region=...)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Set before boto3 is imported anywhere: fake identity, no profiles, no instance metadata, and
# a default endpoint where nothing listens.
_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
for _name in list(os.environ):
    if _name.startswith("AWS_ENDPOINT_URL_"):
        os.environ.pop(_name)
os.environ.update(_FAKE_ENV)

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0


def make_client(
    url: str,
    service: str = "cloudcontrol",
    *,
    account: str | None = None,
    region: str = "us-east-1",
    retries: int | None = None,
) -> Any:
    """A boto3 client for ``service`` at ``url``. ``account``: a 12-digit access key, which the
    sandbox takes as the account (separate state). ``retries``: total attempts (1 = none)."""
    import boto3
    from botocore.config import Config

    config = (
        Config(retries={"total_max_attempts": retries, "mode": "standard"}) if retries else None
    )
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=account or "testing",
        aws_secret_access_key="testing",
        config=config,
    )


@dataclass
class SandboxProcess:
    """A running ``stack-deploy sandbox serve`` subprocess."""

    url: str
    state_path: Path
    process: subprocess.Popen[str]
    _clients: list[Any] = field(default_factory=list)

    def client(self, service: str = "cloudcontrol", **kwargs: Any) -> Any:
        client = make_client(self.url, service, **kwargs)
        self._clients.append(client)
        return client


def start_sandbox_process(
    state_path: Path, *extra: str, env: dict[str, str] | None = None
) -> SandboxProcess:
    """Start ``python -m stackdeploy sandbox serve --port 0`` and wait for its Listening line."""
    cmd = [
        sys.executable,
        "-m",
        "stackdeploy",
        "sandbox",
        "serve",
        "--port",
        "0",
        "--state",
        str(state_path),
        *extra,
    ]
    process = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(STARTUP_TIMEOUT)
    first = line[0].strip() if line else ""
    if not first.startswith("Listening on http://"):
        process.kill()
        _, err = process.communicate(timeout=10)
        raise RuntimeError(f"sandbox did not start: stdout={first!r} stderr={err[-2000:]}")
    return SandboxProcess(first.split(" ", 2)[2], state_path, process)


def stop_sandbox_process(sandbox: SandboxProcess) -> int:
    """SIGTERM the server and wait for it; returns its exit code."""
    for client in sandbox._clients:
        client.close()
    sandbox.process.terminate()
    try:
        sandbox.process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        sandbox.process.kill()
        sandbox.process.communicate(timeout=5)
    return sandbox.process.returncode


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    state = tmp_path_factory.mktemp("sandbox") / "sandbox.db"
    server = start_sandbox_process(state)
    yield server
    stop_sandbox_process(server)


@pytest.fixture(scope="session")
def cloudcontrol(sandbox: SandboxProcess) -> Any:
    return sandbox.client("cloudcontrol")


@pytest.fixture(scope="session")
def tagging(sandbox: SandboxProcess) -> Any:
    return sandbox.client("resourcegroupstaggingapi")


@pytest.fixture
def sandbox_server(tmp_path: Path) -> Iterator[Any]:
    from stackdeploy.sandbox.server import SandboxServer

    server = SandboxServer(tmp_path / "sandbox.db")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client_for() -> Iterator[Callable[..., Any]]:
    """Factory of boto3 clients, closed at the end of the test."""
    made: list[Any] = []

    def factory(url: str, service: str = "cloudcontrol", **kwargs: Any) -> Any:
        client = make_client(url, service, **kwargs)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


def sandbox_resources(state_path: Path) -> list[dict[str, Any]]:
    """What a sandbox state file holds, every account and region (``sandbox list``)."""
    import json

    command = [sys.executable, "-m", "stackdeploy", "sandbox", "list", "--state"]
    out = subprocess.run(
        [*command, str(state_path), "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    ).stdout
    data = json.loads(out)
    return data if isinstance(data, list) else data.get("resources", [])


def resource_counts(state_path: Path) -> Counter[str]:
    """How many resources of each type a sandbox state file holds."""
    return Counter(str(r.get("type") or r.get("TypeName")) for r in sandbox_resources(state_path))
