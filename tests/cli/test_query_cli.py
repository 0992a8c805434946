"""``stack-deploy query`` through click's CliRunner, on the embedded sandbox (--sandbox).

stdout carries only results (a table, or one JSON array); logs, DML summaries and errors go
to stderr as single lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from stackdeploy.cli import main
from stackdeploy.sandbox.server import SandboxServer


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default env file is ./.env: run where there is none unless a test writes one.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def state(tmp_path: Path) -> str:
    return str(tmp_path / "state" / "sandbox.db")


def query(*args: str, state: str | None = None, stdin: str | None = None) -> Result:
    base = ["query"]
    if state is not None:
        base += ["--sandbox", "--sandbox-state", state]
    result = CliRunner().invoke(main, [*base, *args], input=stdin)
    # Only our own errors may end a command; anything else is a bug (a traceback).
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unexpected exception: {result.exception!r}\n{result.output}")
    return result


def explain(result: Result) -> str:
    return f"exit={result.exit_code}\nstdout={result.stdout}\nstderr={result.stderr}"


INSERT = (
    "INSERT INTO awscc.s3.buckets (BucketName, Tags, region) "
    'SELECT \'{{ name }}\', \'[{"Key":"env","Value":"{{ env }}"}]\', \'us-east-1\' '
    "RETURNING Identifier, OperationStatus"
)
SELECT = (
    "SELECT bucket_name, json_extract(tags, '$[0].Value') AS env FROM awscc.s3.buckets "
    "WHERE region = 'us-east-1' AND Identifier = '{{ name }}'"
)


def test_two_invocations_share_the_sandbox_state(state: str) -> None:
    created = query(INSERT, "-e", "name=shared-bucket", "-e", "env=dev", state=state)
    assert created.exit_code == 0, explain(created)
    assert created.stdout.splitlines() == [
        "Identifier     OperationStatus",
        "-------------  ---------------",
        "shared-bucket  SUCCESS",
    ]
    assert "CREATE AWS::S3::Bucket shared-bucket: SUCCESS" in created.stderr
    assert Path(state).is_file()

    read = query(SELECT, "-e", "name=shared-bucket", "--output", "json", state=state)
    assert read.exit_code == 0, explain(read)
    assert json.loads(read.stdout) == [{"bucket_name": "shared-bucket", "env": "dev"}]


def test_json_output_is_one_array_with_the_last_statements_rows(state: str) -> None:
    sql = (
        "INSERT INTO awscc.s3.buckets (BucketName, region) SELECT 'json-a', 'us-east-1';"
        "INSERT INTO awscc.s3.buckets (BucketName, region) SELECT 'json-b', 'us-east-1';"
        "SELECT bucket_name FROM awscc.s3.buckets_list_only WHERE region = 'us-east-1' "
        "ORDER BY bucket_name"
    )
    result = query(sql, "--output", "json", state=state)
    assert result.exit_code == 0, explain(result)
    assert json.loads(result.stdout) == [{"bucket_name": "json-a"}, {"bucket_name": "json-b"}]
    assert result.stdout.count("\n") == 1  # exactly one JSON document on one line


def test_text_output_aligns_columns_and_shows_null_as_empty(state: str) -> None:
    query(
        "INSERT INTO awscc.s3.buckets (BucketName, region) SELECT 'tbl', 'us-east-1'", state=state
    )
    result = query(
        "SELECT bucket_name, NULL AS missing, 12 AS n FROM awscc.s3.buckets "
        "WHERE region = 'us-east-1' AND Identifier = 'tbl'",
        state=state,
    )
    assert result.exit_code == 0, explain(result)
    assert result.stdout.splitlines() == [
        "bucket_name  missing  n",
        "-----------  -------  --",
        "tbl                   12",
    ]


def test_env_file_and_e_override(state: str, tmp_path: Path) -> None:
    (tmp_path / "vars.env").write_text("name=from-file\nenv=file\n")
    result = query(
        INSERT, "--env-file", "vars.env", "-e", "env=cli", "--output", "json", state=state
    )
    assert result.exit_code == 0, explain(result)
    read = query(SELECT, "--env-file", "vars.env", "--output", "json", state=state)
    assert json.loads(read.stdout) == [{"bucket_name": "from-file", "env": "cli"}]


def test_default_env_file_is_read_from_the_working_directory(state: str, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("greeting=hello\n")
    result = query("SELECT '{{ greeting }}' AS g", "--output", "json", state=state)
    assert json.loads(result.stdout) == [{"g": "hello"}]


def test_file_and_anchor(state: str, tmp_path: Path) -> None:
    iql = tmp_path / "bucket.iql"
    iql.write_text(
        "/*+ create */\n"
        "INSERT INTO awscc.s3.buckets (BucketName, region)\n"
        "SELECT '{{ name }}', 'us-east-1';\n"
        "\n"
        "/*+ exists */\n"
        "SELECT count(*) AS count FROM awscc.s3.buckets\n"
        "WHERE region = 'us-east-1' AND Identifier = '{{ name }}';\n"
    )
    ok = query("--file", str(iql), "--anchor", "create", "-e", "name=anchored", state=state)
    assert ok.exit_code == 0, explain(ok)
    exists = query(
        "--file", str(iql), "--anchor", "exists", "-e", "name=anchored", "--output", "json",
        state=state,
    )  # fmt: skip
    assert json.loads(exists.stdout) == [{"count": 1}]

    several = query("--file", str(iql), "-e", "name=x", state=state)
    assert several.exit_code == 2
    assert "choose one with --anchor" in several.stderr

    missing = query("--file", str(iql), "--anchor", "delete", state=state)
    assert missing.exit_code == 1
    assert "no anchor 'delete'" in missing.stderr and "create, exists" in missing.stderr


def test_error_locations_point_into_the_file(state: str, tmp_path: Path) -> None:
    iql = tmp_path / "bad.iql"
    iql.write_text(
        "/*+ exists */\nSELECT vpcid\nFROM awscc.ec2.vpcs\nWHERE region = '{{ region }}';\n"
    )
    result = query("--file", str(iql), "-e", "region=us-east-1", state=state)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"Error: {iql}:2: unknown column 'vpcid' in awscc.ec2.vpcs (hint: did you mean vpc_id?)"
    ]


def test_undefined_variable_is_one_line(state: str) -> None:
    result = query(SELECT, state=state)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "name" in lines[0] and lines[0].startswith("Error: ")


def test_show_queries_logs_to_stderr(state: str) -> None:
    result = query("SELECT 1 AS one", "--show-queries", "--output", "json", state=state)
    assert json.loads(result.stdout) == [{"one": 1}]
    assert "SELECT 1 AS one" in result.stderr


def test_sql_from_stdin(state: str) -> None:
    result = query("-", "--output", "json", state=state, stdin="SELECT 'piped' AS p")
    assert json.loads(result.stdout) == [{"p": "piped"}]


def test_usage_errors(state: str, tmp_path: Path) -> None:
    assert query(state=state).exit_code == 2  # no SQL
    both = query("SELECT 1", "--sandbox", "--endpoint-url", "http://127.0.0.1:1")
    assert both.exit_code == 2 and "cannot be used together" in both.stderr
    bad_e = query("SELECT 1", "-e", "novalue", state=state)
    assert bad_e.exit_code == 2 and "KEY=VALUE" in bad_e.stderr
    assert query("SELECT 1", "--anchor", "x", state=state).exit_code == 2
    missing_env = query("SELECT 1", "--env-file", "nope.env", state=state)
    assert missing_env.exit_code == 2


def test_endpoint_url(sandbox_server: SandboxServer) -> None:
    created = query(
        "INSERT INTO awscc.s3.buckets (BucketName, region) SELECT 'remote', 'us-east-1'",
        "--endpoint-url",
        sandbox_server.url,
    )
    assert created.exit_code == 0, explain(created)
    listed: Any = query(
        "SELECT bucket_name FROM awscc.s3.buckets_list_only WHERE region = 'us-east-1'",
        "--endpoint-url",
        sandbox_server.url,
        "--output",
        "json",
    )
    assert json.loads(listed.stdout) == [{"bucket_name": "remote"}]


def test_old_split_table_spelling_works_with_one_notice(state: str) -> None:
    from stackdeploy.schema import registry

    registry._noticed.discard("awscc.appsync.graph_ql_apis")
    old = query(
        "INSERT INTO awscc.appsync.graph_ql_apis (Name, AuthenticationType, region) "
        "SELECT 'legacy-api', 'API_KEY', 'us-east-1'",
        state=state,
    )
    assert old.exit_code == 0, explain(old)
    notices = [line for line in old.stderr.splitlines() if "graph_ql_apis" in line]
    assert notices == [
        "WARNING awscc.appsync.graph_ql_apis is spelt awscc.appsync.graphql_apis by stackql; "
        "use that name"
    ]
    new = query(
        "SELECT name FROM awscc.appsync.graphql_apis WHERE region = 'us-east-1'",
        "--output",
        "json",
        state=state,
    )
    assert new.exit_code == 0, explain(new)
    assert json.loads(new.stdout) == [{"name": "legacy-api"}]
    assert "WARNING" not in new.stderr


def test_sql_that_is_not_utf8_is_one_line(state: str, tmp_path: Path) -> None:
    path = tmp_path / "latin1.iql"
    path.write_bytes("SELECT 1;\nSELECT 'caf\xe9'".encode("latin-1"))
    result = query("--file", str(path), state=state)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {path}:2: not UTF-8 text: byte 0xe9 at column 12 cannot be decoded "
        "(Latin-1 or another encoding?) (hint: save the file as UTF-8 text)"
    )
    piped = CliRunner().invoke(
        main, ["query", "--sandbox", "--sandbox-state", state, "-"], input=b"SELECT \xff"
    )
    assert piped.exit_code == 1
    assert "<stdin>:1: not UTF-8 text: byte 0xff at column 8" in piped.stderr
