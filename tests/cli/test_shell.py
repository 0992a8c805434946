"""``shell``: the awscc SQL shell over the query engine, against the sandbox.

Batch mode (stdin not a terminal) through the real command; the interactive loop through
prompt_toolkit's pipe input; completion against the real table and column names; and one
session on a real pseudo-terminal (``python -m stackdeploy shell``), Tab completion included.
"""

from __future__ import annotations

import io
import json
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from stackdeploy.cli import main
from stackdeploy.query import catalog
from stackdeploy.query.shell import (
    ShellSession,
    completions,
    make_completer,
    run_interactive,
    statement_complete,
)
from stackdeploy.schema.registry import get_registry

REGION = "us-east-1"


def _shell(tmp_path: Path, text: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main,
        ["shell", "--sandbox", "--sandbox-state", str(tmp_path / "s.db"), *args],
        input=text,
    )
    return result.exit_code, result.stdout, result.stderr


def test_batch_runs_multi_line_statements_meta_commands_and_templates(tmp_path: Path) -> None:
    script = (
        "INSERT INTO awscc.sqs.queues (QueueName, region)\n"
        "SELECT '{{ prefix }}-a', 'us-east-1';\n"
        "INSERT INTO awscc.sqs.queues (QueueName, region) SELECT '{{ prefix }}-b', 'us-east-1';"
        "\n-- a comment; not the end\n"
        "SELECT queue_name\n"
        "FROM awscc.sqs.queues   -- trailing ; in a comment\n"
        "WHERE region = 'us-east-1'\n"
        "ORDER BY queue_name;\n"
        ".output json\n"
        "SELECT COUNT(*) AS n FROM awscc.sqs.queues WHERE region = 'us-east-1'\n"  # no ; at EOF
    )
    code, out, err = _shell(tmp_path, script, "-e", "prefix=jobs")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:4] == ["queue_name", "----------", "jobs-a", "jobs-b"]
    assert json.loads(lines[4]) == [{"n": 2}]
    assert err.count("CREATE AWS::SQS::Queue") == 2


def test_batch_errors_go_on_and_exit_1(tmp_path: Path) -> None:
    script = (
        "SELECT nope FROM awscc.sqs.queues WHERE region = 'us-east-1';\n.nosuch\nSELECT 1 AS one;\n"
    )
    code, out, err = _shell(tmp_path, script)
    assert code == 1
    assert out.splitlines() == ["one", "---", "1"]
    assert "Error: <shell>:1: unknown column 'nope' in awscc.sqs.queues" in err
    assert "Error: unknown command .nosuch (hint: .help lists the commands)" in err


def test_exit_stops_reading(tmp_path: Path) -> None:
    code, out, _ = _shell(tmp_path, "SELECT 1 AS a;\n.exit\nSELECT 2 AS b;\n")
    assert code == 0
    assert "b" not in out.split()


def test_stackql_show_and_describe(tmp_path: Path) -> None:
    script = (
        "SHOW SERVICES IN awscc LIKE 's3%';\n"
        "SHOW RESOURCES IN awscc.sqs LIKE 'queue_';\n"
        "DESCRIBE awscc.ec2.routes;\n"
        ".columns awscc.s3.buckets_list_only\n"
        ".tables awscc.sqs.*_list_only\n"
    )
    code, out, err = _shell(tmp_path, script)
    assert code == 0, err
    services = [s for s in catalog.services(REGION) if s.startswith("s3")]
    assert out.startswith("name\n" + "-" * max(4, *map(len, services)) + "\n")
    for service in services:
        assert f"\n{service}\n" in out
    assert "\nqueues\n" in out and "queue_policies" not in out.split("\nqueues\n")[0][-40:]
    assert re.search(r"\nregion\s+required\n", out)
    assert re.search(r"\nroute_table_id\s+pushed down\n", out)
    assert re.search(r"\nbucket_name\s*\n", out)
    assert "awscc.sqs.queues_list_only\nawscc.sqs.queue_policies_list_only" not in out
    assert "\nawscc.sqs.queues_list_only" in out


def test_read_runs_a_file(tmp_path: Path) -> None:
    sql = tmp_path / "q.sql"
    sql.write_text("SELECT 'x' AS v;\nSELECT 'y'\n  AS w;\n")
    code, out, err = _shell(tmp_path, f".read {sql}\n.read {tmp_path / 'missing.sql'}\n")
    assert code == 1
    assert out.splitlines() == ["v", "-", "x", "w", "-", "y"]
    assert "cannot read" in err


@pytest.mark.parametrize(
    ("text", "complete"),
    [
        ("SELECT 1;", True),
        ("SELECT 1", False),
        ("SELECT ';'", False),
        ("SELECT 'it''s';", True),
        ("SELECT 1; -- done", True),
        ("SELECT 1 -- not done;", False),
        ("SELECT 1 /* ; */", False),
        ("SELECT 1 /* open ;", False),
        ('SELECT ";"', False),
        ("SELECT 1;\n\n", True),
    ],
)
def test_statement_complete(text: str, complete: bool) -> None:
    assert statement_complete(text) is complete


# -- completion against the real names -------------------------------------------------------


def test_completion_of_table_names() -> None:
    services = sorted({t.split(".")[1] for t in get_registry(REGION).awscc_index()})
    assert completions("SELECT * FROM aw", REGION) == ["awscc."]
    assert completions("SELECT * FROM awscc.", REGION) == [
        f"awscc.{s}." for s in sorted({*services, "cloud_control", "tagging"})
    ]
    assert completions("select * from awscc.s", REGION)[:2] == ["awscc.s3.", "awscc.s3express."]
    tables = completions("SELECT * FROM awscc.sqs.q", REGION)
    assert "awscc.sqs.queues" in tables and "awscc.sqs.queues_list_only" in tables
    assert all(t.startswith("awscc.sqs.q") for t in tables)
    assert "awscc.ec2.vpcs" in completions(".columns awscc.ec2.vp", REGION)
    assert completions("INSERT INTO awscc.tagging.", REGION) == ["awscc.tagging.tagged_resources"]


def test_completion_of_column_names() -> None:
    columns = catalog.columns("awscc.s3.buckets", REGION)
    assert "bucket_name" in columns
    found = completions("SELECT bucket_n", REGION, after=" FROM awscc.s3.buckets")
    assert found == [c for c in columns if c.startswith("bucket_n")]
    assert found[0] == "bucket_name"
    assert completions("SELECT v.cidr FROM awscc.ec2.vpcs AS v WHERE v.cid", REGION) == [
        "v.cidr_block",
        "v.cidr_block_associations",
    ]
    assert completions("SELECT awscc.ec2.vpcs.vpc_i", REGION, after=" FROM awscc.ec2.vpcs") == [
        "awscc.ec2.vpcs.vpc_id"
    ]
    assert completions("SELECT * FROM awscc.sqs.queues WHERE queue_u", REGION) == ["queue_url"]
    assert completions("sel", REGION) == ["SELECT"]
    assert completions(".ta", REGION) == [".tables"]


def test_prompt_toolkit_completer_uses_text_after_the_cursor() -> None:
    from prompt_toolkit.document import Document

    completer = make_completer(lambda: REGION)
    text = "SELECT queue_na FROM awscc.sqs.queues"
    document = Document(text, cursor_position=len("SELECT queue_na"))
    found = list(completer.get_completions(document, None))
    assert [c.text for c in found] == ["queue_name"]
    assert found[0].start_position == -len("queue_na")


# -- the interactive loop -------------------------------------------------------------------


@pytest.fixture
def sandbox_client(tmp_path: Path) -> Iterator[object]:
    from stackdeploy.cli.options import CloudOptions, open_cloud_from

    with open_cloud_from(
        CloudOptions(sandbox=True, sandbox_state=str(tmp_path / "s.db"))
    ) as client:
        yield client


def test_interactive_session_with_pipe_input(tmp_path: Path, sandbox_client: object) -> None:
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    out, err = io.StringIO(), io.StringIO()
    session = ShellSession(sandbox_client, region=REGION, out=out, err=err, interactive=True)
    history = tmp_path / "state" / "stack-deploy" / "shell_history"
    with create_pipe_input() as keys:
        keys.send_text("INSERT INTO awscc.sqs.queues (QueueName, region)\r")
        keys.send_text("SELECT 'q1', 'us-east-1';\r")
        keys.send_text("SELECT abandoned\x03")  # Ctrl-C: the input is dropped
        keys.send_text("SELECT queue_name\rFROM awscc.sqs.queues\rWHERE region = 'us-east-1';\r")
        keys.send_text(".timer on\r.region eu-west-1\r")
        keys.send_text("\x04")  # Ctrl-D
        keys.send_text("SELECT 'after exit' AS never;\r")
        run_interactive(session, history_path=history, input=keys, output=DummyOutput())
    # The INSERT prints its Cloud Control outcome on stderr, no table.
    assert out.getvalue().splitlines() == [
        "queue_name",
        "----------",
        "q1",
        "(1 row)",
        "region: eu-west-1",
    ]
    assert "CREATE AWS::SQS::Queue" in err.getvalue()
    assert "abandoned" not in out.getvalue() + err.getvalue()
    entries = [
        block.strip()
        for block in re.split(r"^# .*$", history.read_text(), flags=re.M)
        if block.strip()
    ]
    assert entries[0] == (
        "+INSERT INTO awscc.sqs.queues (QueueName, region)\n+SELECT 'q1', 'us-east-1';"
    )
    assert entries[1].splitlines() == [
        "+SELECT queue_name",
        "+FROM awscc.sqs.queues",
        "+WHERE region = 'us-east-1';",
    ]
    assert len(entries) == 4  # plus .timer and .region; nothing after Ctrl-D


def test_history_is_loaded_into_a_new_session(tmp_path: Path, sandbox_client: object) -> None:
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    history = tmp_path / "history"
    history.write_text("\n# earlier\n+SELECT 'from history' AS h;\n")
    out = io.StringIO()
    session = ShellSession(
        sandbox_client, region=REGION, out=out, err=io.StringIO(), interactive=True
    )
    with create_pipe_input() as keys:
        keys.send_text("\x1b[A\r\x04")  # Up: the last statement of the history file
        run_interactive(session, history_path=history, input=keys, output=DummyOutput())
    assert out.getvalue().splitlines()[:3] == ["h", "------------", "from history"]


# -- a real terminal ------------------------------------------------------------------------


class _Terminal:
    """``python -m stackdeploy shell`` on a pseudo-terminal; reads with a deadline."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        import pty

        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stackdeploy", "shell", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self.seen = ""
        self.mark = 0

    def expect(self, pattern: str, timeout: float = 30.0) -> str:
        """Wait until ``pattern`` appears in what was written since the last expect."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, _plain(self.seen[self.mark :])):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"{pattern!r} not seen in:\n{_plain(self.seen)}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:  # the child closed the terminal
                    break
        screen = _plain(self.seen[self.mark :])
        self.mark = len(self.seen)
        return screen

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self, timeout: float = 30.0) -> int:
        """Wait for the exit, reading what the shell still writes (a full terminal blocks it)."""
        deadline = time.monotonic() + timeout
        try:
            while self.proc.poll() is None and time.monotonic() < deadline:
                ready, _, _ = select.select([self.master], [], [], 0.2)
                if ready:
                    try:
                        self.seen += os.read(self.master, 65536).decode("utf-8", "replace")
                    except OSError:
                        break
            return self.proc.wait(timeout=max(deadline - time.monotonic(), 1))
        finally:
            os.close(self.master)


def _plain(text: str) -> str:
    """Terminal output without escape sequences."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|\r", "", text)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_real_terminal_session_with_tab_completion(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path / "xdg"),
        "TERM": "xterm",
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }  # nothing answers cursor position requests
    term = _Terminal(["--sandbox", "--sandbox-state", str(tmp_path / "s.db")], env)
    # Input is sent only once the prompt shows: typed ahead, the terminal would still be
    # in line mode, where Ctrl-D means end-of-file to the kernel, not a key.
    term.expect(r"awscc=>")
    term.send(".tables awscc.sqs.queue_po\t")
    term.expect(r"queue_policies")
    term.send("\r\r")  # the first Enter takes the completion, the second runs the command
    screen = term.expect(r"\(2 tables\)[\s\S]*awscc=>")
    assert "awscc.sqs.queue_policies_list_only" in screen
    term.send("SELECT 1\r")  # no ';' yet: a continuation line
    term.expect(r"awscc->")
    term.send("  AS one;\r")
    term.expect(r"\(1 row\)[\s\S]*awscc=>")
    term.send("\x04")
    assert term.close() == 0
    history = (tmp_path / "xdg" / "stack-deploy" / "shell_history").read_text()
    assert "+SELECT 1\n+  AS one;" in history
