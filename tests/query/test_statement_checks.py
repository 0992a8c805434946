"""Every statement of a query is checked before the first one runs, failures are one clear
line without the query's text or library internals, and a failed DELETE fails the command.

Through ``stack-deploy query`` (click's CliRunner, embedded sandbox) and the engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from stackdeploy.cli import main
from stackdeploy.cli.options import CloudOptions, open_cloud_from
from stackdeploy.errors import QueryError
from stackdeploy.query.engine import QueryEngine, split_statements

REGION = "us-east-1"
SECRET = "TOPSECRET-7f3a"
CREATE = "INSERT INTO awscc.s3.buckets (BucketName, region) SELECT 'checked-first', 'us-east-1'"


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "sandbox.db"


def query(state: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, ["query", "--sandbox", "--sandbox-state", str(state), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unexpected exception: {result.exception!r}\n{result.output}")
    return result


def buckets(state: Path) -> list[str]:
    result = query(
        state,
        "--output",
        "json",
        "SELECT bucket_name FROM awscc.s3.buckets_list_only WHERE region = 'us-east-1'",
    )
    assert result.exit_code == 0, result.output
    return [row["bucket_name"] for row in json.loads(result.stdout)]


def error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("later", "expected"),
    [
        ("SELEC 1", "'SELEC' does not start a statement (hint: did you mean SELECT?)"),
        (
            "SELECT nope FROM awscc.s3.buckets WHERE region = 'us-east-1'",
            "unknown column 'nope' in awscc.s3.buckets",
        ),
        ("SELECT bucket_name FROM awscc.s3.buckets", "needs region in the WHERE clause"),
        ("SELECT * FROM awscc.s3.bucketz WHERE region = 'us-east-1'", "unknown table"),
        (
            "INSERT INTO awscc.s3.buckets (BucketName, VersioningConfiguration, region) "
            "SELECT 'b2', '{\"Status\": 3}', 'us-east-1'",
            "/VersioningConfiguration/Status",
        ),
        (
            "INSERT INTO awscc.s3.buckets (BucketNam, region) SELECT 'b2', 'us-east-1'",
            "unknown column 'BucketNam'",
        ),
        (
            "INSERT INTO awscc.s3.buckets (BucketName, region) "
            "SELECT bucket_name, nope FROM awscc.s3.buckets WHERE region = 'us-east-1'",
            "unknown column 'nope'",
        ),
        (
            "UPDATE awscc.s3.buckets SET Tags = '[]' WHERE Identifier = 'a' AND region = 'us-east-1'",
            "sets PatchDocument, not Tags",
        ),
        ("DELETE FROM awscc.s3.buckets WHERE Identifier = 'a'", "needs region = '...'"),
        ("SELECT 1 +* 2", "syntax error at column 13: unexpected word near '2'"),
    ],
)
def test_a_bad_later_statement_stops_the_query_before_anything_runs(
    state: Path, later: str, expected: str
) -> None:
    result = query(state, f"{CREATE};\n{later}")
    assert result.exit_code == 1, result.output
    assert expected in error_line(result)
    assert "CREATE AWS::S3::Bucket" not in result.stderr
    assert buckets(state) == []


def test_later_statements_may_read_what_earlier_ones_create(state: Path) -> None:
    result = query(
        state,
        "--output",
        "json",
        f"{CREATE}; SELECT bucket_name FROM awscc.s3.buckets "
        "WHERE region = 'us-east-1' AND Identifier = 'checked-first'",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"bucket_name": "checked-first"}]


def test_delete_of_an_absent_resource_exits_1_with_aws_reason(state: Path) -> None:
    result = query(
        state,
        "DELETE FROM awscc.s3.buckets WHERE Identifier = 'never-made' AND region = 'us-east-1'",
    )
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert "DELETE AWS::S3::Bucket never-made failed: NotFound:" in line
    assert "was not found" in line  # AWS's StatusMessage


def test_engine_still_returns_an_absent_delete_as_its_event(tmp_path: Path) -> None:
    # Teardown counts a resource already gone as deleted: the engine reports, the CLI judges.

    with open_cloud_from(
        CloudOptions(sandbox=True, sandbox_state=str(tmp_path / "e.db"), region=REGION)
    ) as cloud:
        result = QueryEngine(cloud, region=REGION).execute(
            "DELETE FROM awscc.s3.buckets WHERE Identifier = 'gone' AND region = 'us-east-1'"
        )
    assert result.progress_event.status == "FAILED"
    assert result.progress_event.error_code == "NotFound"


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT a FROM t WHERE x = '{SECRET}' AND",
        f"SELECT '{SECRET}",
        f'SELECT "{SECRET}',
        f"SELECT 1 /* {SECRET}",
        f"SELECT 1 +* '{SECRET}'",
        f"SELECT * FROM (SELECT '{SECRET}'",
        f"SELECT CASE WHEN 1 THEN '{SECRET}' FROM",
        f"SELECT CAST('{SECRET}' AS)",
        f"INSERT INTO awscc.s3.buckets (BucketName, region) VALUES ('{SECRET}', ",
        f"INSERT INTO awscc.s3.buckets (BucketName, region) SELECT json('{SECRET}'), 'us-east-1'",
        f"UPDATE awscc.s3.buckets SET PatchDocument = '{SECRET}' "
        "WHERE Identifier = 'a' AND region = 'us-east-1'",
        f"DELETE FROM awscc.s3.buckets WHERE bucket_name = '{SECRET}' "
        "AND Identifier = 'a' AND region = 'us-east-1'",
        f"SELECT json_extract('{SECRET}', '$.a')",
    ],
)
def test_errors_quote_neither_the_query_nor_library_internals(state: Path, sql: str) -> None:
    result = query(state, sql)
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert SECRET not in result.output
    for internal in ("sqlglot", "<class", "Token", "expressions.", "Traceback"):
        assert internal not in line, line


def test_tokenizer_error_names_file_line_and_column(state: Path, tmp_path: Path) -> None:
    path = tmp_path / "q.iql"
    path.write_text(f"SELECT 1;\n\nSELECT x,\n  '{SECRET}\n", encoding="utf-8")
    result = query(state, "--file", str(path))
    assert result.exit_code == 1
    line = error_line(result)
    assert line.startswith(
        f"Error: {path}:4: cannot read the SQL: a string literal opened at column 3"
    )
    assert SECRET not in result.output


def test_parse_error_names_file_line_column_and_the_word(state: Path, tmp_path: Path) -> None:
    path = tmp_path / "q.iql"
    path.write_text(
        "/*+ exists */\nSELECT COUNT(*) as count\nFROM awscc.s3.buckets\nWHERE region = 'x' AND AND",
        encoding="utf-8",
    )
    result = query(state, "--file", str(path))
    line = error_line(result)
    assert line == f"Error: {path}:4: syntax error at column 24: incomplete expression near 'AND'"


def test_split_statements_keeps_each_start_column() -> None:
    first, second = split_statements("SELECT 1;   SELECT\n 2")
    assert (first.line, first.col) == (1, 1)
    assert (second.line, second.col) == (1, 13)


def test_a_string_literal_is_named_not_quoted(tmp_path: Path) -> None:

    with open_cloud_from(
        CloudOptions(sandbox=True, sandbox_state=str(tmp_path / "e.db"), region=REGION)
    ) as cloud:
        engine = QueryEngine(cloud, region=REGION)
        with pytest.raises(QueryError) as info:
            engine.execute(f"SELECT 1 FROM (SELECT 2) '{SECRET}' x")
    assert SECRET not in str(info.value)
