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
    for command in ("describe", "sandbox", "info", "shell", "upgrade", "init"):
        assert f"  {command} " in out
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


def test_init_scaffolds_a_stack_that_builds(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["init", "fresh"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fresh" / "stackql_manifest.yml").is_file()
    assert (tmp_path / "fresh" / "resources" / "bucket.iql").is_file()
    again = runner.invoke(main, ["init", "fresh"])
    assert again.exit_code == 2
    assert "fresh already exists" in again.stderr
    sandbox = ["--sandbox", "--sandbox-state", str(tmp_path / "s.db")]
    built = runner.invoke(main, ["build", "fresh", "dev", *sandbox])
    assert built.exit_code == 0, built.output
    plan = runner.invoke(main, ["plan", "fresh", "dev", "--detailed-exitcode", *sandbox])
    assert plan.exit_code == 0, plan.output


def test_permissions_lists_types_and_policy(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["init", "perm"]).exit_code == 0
    result = runner.invoke(main, ["permissions", "perm", "dev"])
    assert result.exit_code == 0, result.output
    assert "AWS::S3::Bucket:" in result.stdout and "AWS::SQS::Queue:" in result.stdout
    policy = json.loads(
        runner.invoke(main, ["permissions", "perm", "dev", "--output", "json"]).stdout
    )
    actions = policy["Statement"][0]["Action"]
    assert "cloudformation:CreateResource" in actions
    assert "tag:GetResources" in actions  # the declarative queue is found by its tags
