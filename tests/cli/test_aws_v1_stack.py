"""A stackql-deploy 1.x stack (tests/data/stacks/aws-v1: `providers: [aws]`, aws.* tables,
data__Identifier, <resource>_tags views, preflight/postdeploy anchors) through the real
commands against the embedded sandbox: build, test, a second build that changes nothing, an
update by data__PatchDocument, teardown to an empty sandbox.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from stackdeploy.cli import main

STACK = Path(__file__).resolve().parent.parent / "data" / "stacks" / "aws-v1"
NAMES = [
    "example_vpc",
    "example_subnet",
    "example_inet_gateway",
    "example_inet_gw_attachment",
    "example_route_table",
    "example_inet_route",
    "example_bucket",
]


@dataclass
class Stack:
    """The stack's commands with ``-e AWS_REGION=... --sandbox --sandbox-state <tmp>``."""

    state: Path

    def __call__(self, command: str, *extra: str, expect: int = 0) -> Result:
        argv = [command, str(STACK), "dev", "-e", "AWS_REGION=us-east-1", *extra]
        argv += ["--sandbox", "--sandbox-state", str(self.state)]
        result = CliRunner().invoke(main, argv, catch_exceptions=False)
        assert result.exit_code == expect, (
            f"exit {result.exit_code} for {argv}\n--- stdout\n{result.stdout}\n"
            f"--- stderr\n{result.stderr}"
        )
        # A 1.x stack is not second-class: no warning about its provider or its tables.
        warnings = [
            line
            for line in result.stderr.lower().splitlines()
            if "warning" in line and "statecheck does not render" not in line
        ]
        assert not warnings, result.stderr
        return result

    def actions(self, *extra: str) -> dict[str, str]:
        plan = json.loads(self("plan", "--output", "json", *extra).stdout)
        return {r["name"]: r["action"] for r in plan["resources"]}


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.chdir(tmp_path)
    return Stack(tmp_path / "sandbox.db")


def sandbox_types(state: Path) -> list[str]:
    result = CliRunner().invoke(
        main, ["sandbox", "list", "--state", str(state), "--output", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = data if isinstance(data, list) else data.get("resources", [])
    return sorted(str(r.get("type_name") or r.get("type") or r.get("TypeName")) for r in rows)


def test_a_1x_stack_runs_unchanged(run: Stack, tmp_path: Path) -> None:
    assert run.actions() == dict.fromkeys(NAMES, "create")

    out = tmp_path / "exports.json"
    built = run("build", "--output-file", str(out))
    assert "7 created" in built.stdout
    assert sandbox_types(run.state) == sorted(
        [
            "AWS::EC2::VPC",
            "AWS::EC2::Subnet",
            "AWS::EC2::InternetGateway",
            "AWS::EC2::VPCGatewayAttachment",
            "AWS::EC2::RouteTable",
            "AWS::EC2::Route",
            "AWS::S3::Bucket",
        ]
    )

    tested = run("test")
    assert "No drift: 7 resources in the desired state." in tested.stdout

    # Convergence: presence is found again through the _tags views, so nothing is created twice.
    again = run("build")
    assert "0 created, 0 updated, 0 replaced, 7 unchanged" in again.stdout
    assert run.actions() == dict.fromkeys(NAMES, "noop")

    # An update through UPDATE aws.s3.buckets SET data__PatchDocument = ...
    assert run.actions("-e", "VERSIONING=Suspended")["example_bucket"] == "update"
    updated = run("build", "-e", "VERSIONING=Suspended")
    assert "1 updated" in updated.stdout
    run("test", "-e", "VERSIONING=Suspended")
    drift = run("test", expect=1)  # the manifest's default (Enabled) no longer holds
    assert "example_bucket" in drift.stderr + drift.stdout

    gone = run("teardown")
    assert "7 deleted" in gone.stdout
    assert sandbox_types(run.state) == []
