"""The CLI entry point: help, version, lazy imports, describe, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from stackdeploy import __version__
from stackdeploy.cli import main


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_help_lists_commands_without_importing_heavy_modules() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from stackdeploy.cli import main; "
        "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output; "
        "print(r.output); "
        "heavy = [m for m in ('boto3', 'botocore', 'sqlglot', 'jsonschema', 'jinja2') "
        "if m in sys.modules]; print('HEAVY', heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "describe" in out and "sandbox" in out
    assert "HEAVY []" in out


def test_describe_text_and_json() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["describe", "awscc.ec2.routes"])
    assert result.exit_code == 0, result.output
    assert "identifier: RouteTableId | CidrBlock" in result.output
    assert "list needs: RouteTableId" in result.output
    result = runner.invoke(main, ["describe", "AWS::S3::Bucket", "--output", "json"])
    doc = json.loads(result.output)
    assert doc["awscc"] == "awscc.s3.buckets"
    arn = next(p for p in doc["properties"] if p["name"] == "Arn")
    assert arn["read_only"] and arn["column"] == "arn"


def test_unknown_type_is_one_line_error() -> None:
    result = CliRunner().invoke(main, ["describe", "awscc.s3.bukets"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: unknown resource type 'awscc.s3.bukets'")
    assert "did you mean awscc.s3.buckets" in lines[0]
