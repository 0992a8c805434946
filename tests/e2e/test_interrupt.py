"""Ctrl-C and SIGTERM during ``build``: a real child process, a real signal, a real server.

The signal is sent only once the sandbox reports the requests IN_PROGRESS and the CLI has
said it submitted them, so nothing here depends on guessing how long anything takes.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_client
from tests.e2e.conftest import Cli, Sandbox, bucket, cli_process, write_stack

TIMEOUT = 60.0


class Child:
    """A ``stack-deploy`` child process whose stderr is read line by line as it comes."""

    started: list[Child] = []

    def __init__(self, *args: str, cwd: Path) -> None:
        self.process = cli_process(*args, cwd=cwd)
        Child.started.append(self)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for_line(self, pattern: str) -> str:
        """The first stderr line matching ``pattern``, waiting for it to be written."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + TIMEOUT
        with self._cond:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                if self.process.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"exited without {pattern!r}:\n" + "\n".join(self.lines))
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {pattern!r} in time:\n" + "\n".join(self.lines))
                self._cond.wait(0.5)

    def finish(self) -> tuple[int, str, str]:
        """Exit code, stdout and stderr once the process has ended."""
        code = self.process.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        assert self.process.stdout is not None and self.process.stderr is not None
        stdout = self.process.stdout.read()
        self.process.stdout.close()
        self.process.stderr.close()
        return code, stdout, "\n".join(self.lines)


@pytest.fixture(autouse=True)
def _no_child_left() -> Iterator[None]:
    """A test that fails half-way does not leave its child running."""
    yield
    while Child.started:
        child = Child.started.pop()
        if child.process.poll() is None:
            child.process.kill()
        child.process.communicate(timeout=TIMEOUT)


@pytest.fixture
def cloudcontrol(sandbox: Sandbox) -> Iterator[Any]:
    client = make_client(sandbox.url)
    yield client
    client.close()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (a state of the server, not a duration) until it holds."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def in_progress(client: Any) -> set[str]:
    """Tokens of the requests the sandbox reports IN_PROGRESS (ListResourceRequests)."""
    page = client.list_resource_requests(
        ResourceRequestStatusFilter={"OperationStatuses": ["IN_PROGRESS"]}
    )
    return {
        s["RequestToken"]
        for s in page["ResourceRequestStatusSummaries"]
        if s.get("TypeName") != "AWS::SSM::Parameter"  # the stack lock's own writes
    }


def start_build(
    sandbox: Sandbox, client: Any, tmp_path: Path
) -> tuple[Child, Path, dict[str, str]]:
    """Start ``build`` of a, b (independent) and c (needs a); return once both creates are
    IN_PROGRESS on the server and announced by the CLI: {resource: request token}."""
    stack = write_stack(
        tmp_path, "intr", bucket("a") + bucket("b") + bucket("c", depends_on=("a",))
    )
    child = Child("build", str(stack), "dev", "--endpoint-url", sandbox.url, cwd=tmp_path)
    tokens = {}
    for name in ("a", "b"):
        line = child.wait_for_line(rf"^{name}: create request \S+$")
        tokens[name] = line.rsplit(" ", 1)[1]
    wait_until(lambda: set(tokens.values()) <= in_progress(client), "both creates IN_PROGRESS")
    return child, stack, tokens


@pytest.mark.parametrize(
    ("signum", "code"),
    [
        pytest.param(signal.SIGINT, 130, id="SIGINT"),
        pytest.param(signal.SIGTERM, 143, id="SIGTERM"),
    ],
)
def test_interrupt_waits_for_requests_in_flight_then_exits(
    sandbox: Sandbox,
    cloudcontrol: Any,
    cli: Cli,
    tmp_path: Path,
    signum: signal.Signals,
    code: int,
) -> None:
    sandbox.server.latency = 2.0
    child, stack, tokens = start_build(sandbox, cloudcontrol, tmp_path)
    child.process.send_signal(signum)
    exit_code, stdout, stderr = child.finish()
    assert exit_code == code, stderr

    # It said what it was waiting for, by name.
    name = signum.name
    (said,) = [line for line in stderr.splitlines() if line.startswith(f"{name}:")]
    assert said.startswith(f"{name}: starting nothing new; waiting for 2 request(s) in flight: ")
    assert "a (create)" in said and "b (create)" in said
    # Both requests were followed to their end before it exited; c was never started.
    lines = stderr.splitlines()
    error = next(i for i, line in enumerate(lines) if line.startswith("Error: interrupted"))
    for resource in ("a", "b"):
        done = next(i for i, line in enumerate(lines) if f"] {resource}: created" in line)
        assert done < error
    assert f"c: not started: run {name}" in stderr
    assert "Traceback" not in stderr and stdout == ""
    creates = sandbox.requests("CREATE")
    assert {r.token: r.identifier for r in creates} == {
        tokens["a"]: "e2e-a",
        tokens["b"]: "e2e-b",
    }
    assert all(sandbox.status(r) == "SUCCESS" for r in creates)

    # An immediate re-run picks up where it stopped, and converges.
    sandbox.server.latency = 0.0
    result = cli("build", str(stack), "dev")
    assert "1 created" in result.stdout and "2 unchanged" in result.stdout
    assert cli.actions(stack) == dict.fromkeys("abc", "noop")


def test_second_interrupt_exits_at_once_naming_the_requests_in_flight(
    sandbox: Sandbox, cloudcontrol: Any, tmp_path: Path
) -> None:
    sandbox.server.latency = 10.0
    child, _, tokens = start_build(sandbox, cloudcontrol, tmp_path)
    child.process.send_signal(signal.SIGINT)
    child.wait_for_line(r"^SIGINT: starting nothing new")
    child.process.send_signal(signal.SIGINT)
    exit_code, _, stderr = child.finish()
    assert exit_code == 130, stderr
    # It did not wait: the server still has both requests in flight.
    assert set(tokens.values()) <= in_progress(cloudcontrol)
    (said,) = [line for line in stderr.splitlines() if "exiting at once" in line]
    assert said.startswith("SIGINT: exiting at once; requests still in flight: ")
    named = dict(part.split(": ") for part in said.split("in flight: ", 1)[1].split(", "))
    assert named == tokens
    assert len(sandbox.requests("CREATE")) == 2
