"""What a run shows while it works, through the CLI against the sandbox server: ``--events``
(one JSON object per line, secrets masked) and the live view in a real pseudo-terminal,
read back through a terminal emulator (pyte) as a person would see the screen."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path
from typing import Any

import pyte

from tests.e2e.conftest import Cli, Sandbox, bucket, events_of, log_group, write_stack

SECRET = "sup3r-s3cret-parameter-value"
EVENT_KEYS = {
    "state",
    "resource",
    "action",
    "phase",
    "time",
    "message",
    "request_token",
    "operation",
    "type_name",
    "elapsed",
    "count",
}


def secret_stack(root: Path) -> Path:
    """p holds a protected value; lg's create fails with an error that quotes it."""
    parameter = (
        "- name: p\n  resource_type: awscc.ssm.parameters\n  protected: [value]\n  props:\n"
        "    - name: name\n      value: e2e-p\n    - name: type\n      value: String\n"
        f"    - name: value\n      value: {SECRET}\n"
    )
    return write_stack(root, "ev", parameter + bucket("b", depends_on=("p",)) + log_group("lg"))


def test_events_file_has_one_json_object_per_event_with_secrets_masked(
    sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    stack = secret_stack(tmp_path)
    sandbox.server.faults.fail(
        "AWS::Logs::LogGroup", "CREATE", "InvalidRequest", message=f"value {SECRET} is not allowed"
    )
    events_path = tmp_path / "events.jsonl"
    result = cli(
        "build", str(stack), "dev", "--on-failure", "ignore", "--events", str(events_path), expect=1
    )
    text = events_path.read_text(encoding="utf-8")
    assert SECRET not in text
    assert SECRET not in result.stdout + result.stderr
    events = events_of(events_path)
    assert len(events) == len(text.splitlines())
    for event in events:
        assert set(event) <= EVENT_KEYS and isinstance(event["time"], float), event
    states = [e["state"] for e in events]
    assert states[0] == "phase" and events[0]["phase"] == "planning"

    # Every request the server took is in the file, named by its resource and token.
    requests = {e["request_token"]: e for e in events if e["state"] == "request"}
    server = {r.token: r for r in sandbox.requests("CREATE")}
    assert set(requests) == set(server)
    names = {"e2e-p": "p", "e2e-b": "b", "e2e-lg": "lg"}
    for token, event in requests.items():
        assert event["resource"] == names[str(server[token].identifier)]
        assert event["operation"] == "CREATE" and event["type_name"] == server[token].type_name

    # Each resource's story, in order: started, request, request_done, done/failed.
    for name, last in (("p", "done"), ("b", "done"), ("lg", "failed")):
        story = [e for e in events if e.get("resource") == name and e.get("phase") != "planning"]
        assert [e["state"] for e in story if e["state"] != "planned"] == [
            "planning",
            "started",
            "request",
            "request_done",
            last,
        ], story
        started = next(e for e in story if e["state"] == "started")
        assert started["action"] == "create"
        assert story[-1]["time"] >= started["time"]
    failed = next(e for e in events if e["state"] == "failed")
    assert failed["resource"] == "lg"
    assert "value **** is not allowed" in failed["message"]
    done = next(e for e in events if e["state"] == "done" and e["resource"] == "p")
    assert done["message"] == "created" and done["elapsed"] >= 0


def test_events_to_stderr(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    stack = write_stack(tmp_path, "evs", bucket("a"))
    result = cli("build", str(stack), "dev", "--events", "-")
    objects = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [o["resource"] for o in objects if o["state"] == "request"] == ["a"]
    assert result.stdout.startswith("Build of evs (dev) complete: 1 created")


# -- a real terminal -------------------------------------------------------------------------

COLUMNS, LINES = 100, 40


class Terminal:
    """``python -m stackdeploy ARGS`` with a pseudo-terminal as its stdin, stdout and
    stderr (COLUMNS x LINES); every byte it writes is collected as it comes."""

    def __init__(self, args: list[str], cwd: Path, stdout: Any = None, **env: str) -> None:
        self._main, child = pty.openpty()
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        environ = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR", "COLUMNS")}
        environ.update({"TERM": "xterm-256color", **env})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stackdeploy", *args],
            cwd=cwd,
            stdin=child,
            stdout=child if stdout is None else stdout,
            stderr=child,
            env=environ,
            close_fds=True,
        )
        os.close(child)
        self.output = bytearray()
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._main, 65536)
            except OSError:  # EIO: the child closed the terminal
                data = b""
            with self._cond:
                self.output += data
                self._cond.notify_all()
            if not data:
                return

    def wait_for(self, pattern: bytes) -> None:
        """Until the output (colour codes left out) matches ``pattern``."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: (
                    re.search(pattern, re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", self.output))
                    or not self._reader.is_alive()
                ),
                timeout=60,
            )
        assert ok and self._reader.is_alive(), self.output.decode(errors="replace")

    def finish(self) -> tuple[int, bytes]:
        """Exit code and every byte written, once the process has ended."""
        try:
            code = self.process.wait(60)
            self._reader.join(60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(60)
            os.close(self._main)
        return code, bytes(self.output)


def run_in_terminal(args: list[str], cwd: Path, **env: str) -> tuple[int, bytes]:
    """Run ``python -m stackdeploy ARGS`` in a pseudo-terminal to its end."""
    return Terminal(args, cwd, **env).finish()


def screen_of(output: bytes) -> list[str]:
    """The terminal's lines once everything was written (trailing blanks dropped)."""
    screen = pyte.Screen(COLUMNS, LINES)
    stream = pyte.ByteStream(screen)
    stream.feed(output)
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def colours(output: bytes) -> list[str]:
    found = []
    for params in re.findall(rb"\x1b\[([0-9;]*)m", output):
        for p in params.split(b";"):
            if p and (30 <= int(p) <= 49 or 90 <= int(p) <= 107):
                found.append(p.decode())
    return found


def test_live_view_in_a_terminal(sandbox: Sandbox, tmp_path: Path) -> None:
    stack = write_stack(tmp_path, "tty", bucket("a") + bucket("b") + bucket("c", depends_on=("a",)))
    sandbox.server.latency = 0.6
    code, output = run_in_terminal(
        ["build", str(stack), "dev", "--endpoint-url", sandbox.url], tmp_path
    )
    text = output.decode("utf-8")
    assert code == 0, text
    # While requests were in flight, the live area showed them and the counts.
    bare = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert re.search(r"a +creating +\d+\.\ds +request [0-9a-f-]{36}", bare), bare
    assert "applying: 2 in flight, 0 done, 0 failed, 0 skipped, 1 to go" in bare
    assert colours(output), "a terminal without NO_COLOR gets colours"

    # What stays on the screen: one line per resource, then the result; the live area is gone.
    lines = screen_of(output)
    assert lines[0] == "applying: 3 to change"
    assert [re.sub(r"\d+\.\ds$", "Ns", line) for line in lines[1:4]] in (
        ["✓ a  created  Ns", "✓ b  created  Ns", "✓ c  created  Ns"],
        ["✓ b  created  Ns", "✓ a  created  Ns", "✓ c  created  Ns"],
    )
    assert lines[4].startswith("Build of tty (dev) complete: 3 created, 0 updated, 0 replaced")
    assert len(lines) == 5, lines
    assert not any("in flight" in line for line in lines)

    # NO_COLOR: the same view, without a single colour.
    code, output = run_in_terminal(
        ["teardown", str(stack), "dev", "--endpoint-url", sandbox.url], tmp_path, NO_COLOR="1"
    )
    assert code == 0, output.decode()
    assert colours(output) == []
    lines = screen_of(output)
    assert lines[0] == "deleting: 3 to delete"
    # c (which needs a) and b first, together; then a.
    steps = [re.sub(r"\d+\.\ds$", "Ns", line) for line in lines[1:4]]
    assert sorted(steps[:2]) == ["✓ b  deleted  Ns", "✓ c  deleted  Ns"]
    assert steps[2] == "✓ a  deleted  Ns"
    assert lines[-1].startswith("Teardown of tty (dev) complete: 3 deleted")
    assert sandbox.identifiers() == set()


def test_interrupt_in_a_terminal_leaves_a_clean_screen(sandbox: Sandbox, tmp_path: Path) -> None:
    # The interrupt handler's message is written while the live area is redrawn from
    # another thread: it must come out whole, above the area, and the area must go.
    stack = write_stack(tmp_path, "sig", bucket("a") + bucket("b") + bucket("c", depends_on=("a",)))
    sandbox.server.latency = 1.5
    terminal = Terminal(["build", str(stack), "dev", "--endpoint-url", sandbox.url], tmp_path)
    terminal.wait_for(rb"b +creating +\S+ +request ")
    terminal.wait_for(rb"a +creating +\S+ +request ")
    terminal.process.send_signal(signal.SIGINT)
    code, output = terminal.finish()
    assert code == 130, output.decode()
    lines = screen_of(output)
    assert lines[0] == "applying: 3 to change"
    said = " ".join(lines[1:3])
    assert said.startswith("SIGINT: starting nothing new; waiting for 2 request(s) in flight: ")
    assert said.endswith("Interrupt again to exit at once.")
    rest = [re.sub(r"\d+\.\ds$", "Ns", line) for line in lines[3:]]
    assert sorted(rest[:2]) == ["✓ a  created  Ns", "✓ b  created  Ns"]
    assert rest[2] == "- c  not started  run SIGINT"
    # The error comes after the view ended: a plain line, which the terminal wraps.
    assert "".join(rest[3:]) == (
        "Error: interrupted (SIGINT): nothing new was started; requests already in flight "
        "were followed to their end"
    )


def test_results_stay_on_stdout_when_only_stderr_is_a_terminal(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    stack = write_stack(tmp_path, "out", bucket("a"))
    sandbox.server.latency = 0.3
    with (tmp_path / "plan.json").open("w") as out:
        terminal = Terminal(
            ["build", str(stack), "dev", "--endpoint-url", sandbox.url, "--output", "json"],
            tmp_path,
            stdout=out,
        )
        code, output = terminal.finish()
    assert code == 0, output.decode()
    assert json.loads((tmp_path / "plan.json").read_text())["summary"]["create"] == 1
    assert b"summary" not in output
    assert screen_of(output)[-1].startswith("✓ a  created  ")
