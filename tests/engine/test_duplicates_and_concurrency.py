"""Stacks that hold duplicates are not stuck, and two runs of one stack never act at once.

Through the CLI against a sandbox server: duplicates made by hand (as an older tool or a
person would) are named by ``plan`` and ``test`` with their identifiers, ``build`` refuses
with the way out, and ``teardown`` deletes every copy. Two ``build`` processes started at
the same moment: one holds the stack lock, the other fails naming it (or, with
``--lock-timeout``, waits and then finds nothing to do); the account ends with exactly one of
each resource.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    REPO_ROOT,
    SandboxProcess,
    resource_counts,
    sandbox_resources,
    start_sandbox_process,
    stop_sandbox_process,
)

MIXED = Path(__file__).resolve().parent.parent / "data" / "stacks" / "mixed"
STACK_TAGS = [
    {"Key": "stackql:stack-name", "Value": "mixed"},
    {"Key": "stackql:stack-env", "Value": "dev"},
]


def run(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stackdeploy", *args, "--endpoint-url", url],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def start(*args: str, url: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stackdeploy", *args, "--endpoint-url", url],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def types(server: SandboxProcess) -> Counter[str]:
    return resource_counts(server.state_path)


def create(server: SandboxProcess, type_name: str, state: dict[str, Any]) -> str:
    client = server.client()
    event = client.create_resource(TypeName=type_name, DesiredState=json.dumps(state))
    token = event["ProgressEvent"]["RequestToken"]
    waiter = client.get_waiter("resource_request_success")
    waiter.wait(RequestToken=token, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    status = client.get_resource_request_status(RequestToken=token)
    return str(status["ProgressEvent"]["Identifier"])


@pytest.fixture
def server(tmp_path: Path) -> Any:
    sandbox = start_sandbox_process(tmp_path / "state.db")
    yield sandbox
    stop_sandbox_process(sandbox)


def test_duplicates_are_named_refused_and_torn_down(server: SandboxProcess, tmp_path: Path) -> None:
    built = run("build", str(MIXED), "dev", url=server.url, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    # A second security group (query file, found by its tags) and a second queue
    # (declarative) with the stack's tags: what an interrupted older tool leaves behind.
    vpc = next(
        r["identifier"]
        for r in sandbox_resources(server.state_path)
        if r["type"] == "AWS::EC2::VPC"
    )
    extra_sg = create(
        server,
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "copy",
            "VpcId": vpc,
            "Tags": [*STACK_TAGS, {"Key": "stackql:resource-name", "Value": "security_group"}],
        },
    )
    extra_queue = create(
        server,
        "AWS::SQS::Queue",
        {"Tags": [*STACK_TAGS, {"Key": "stackql:resource-name", "Value": "queue"}]},
    )
    for command in ("plan", "test", "build"):
        result = run(command, str(MIXED), "dev", url=server.url, cwd=tmp_path)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        error = result.stderr
        assert "duplicates" in error and extra_sg in error and extra_queue in error, error
        assert "stack-deploy teardown deletes" in error
        assert "Traceback" not in error
    assert types(server)["AWS::EC2::SecurityGroup"] == 3 and types(server)["AWS::SQS::Queue"] == 2
    down = run("teardown", str(MIXED), "dev", url=server.url, cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert types(server) == Counter()  # every copy deleted, the lock released


@pytest.mark.parametrize("trial", range(3))
def test_two_builds_at_once_never_duplicate(
    server: SandboxProcess, tmp_path: Path, trial: int
) -> None:
    first = start("build", str(MIXED), "dev", url=server.url, cwd=tmp_path)
    second = start("build", str(MIXED), "dev", url=server.url, cwd=tmp_path)
    results = [(p, *p.communicate(timeout=300)) for p in (first, second)]
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, 1], [(p.returncode, err) for p, _, err in results]
    loser = next(err for p, _, err in results if p.returncode == 1)
    assert "is locked by" in loser and "since" in loser, loser
    assert types(server) == Counter(
        {
            "AWS::EC2::VPC": 1,
            "AWS::EC2::Subnet": 1,
            "AWS::EC2::InternetGateway": 1,
            "AWS::EC2::VPCGatewayAttachment": 1,
            "AWS::EC2::RouteTable": 1,
            "AWS::EC2::SubnetRouteTableAssociation": 1,
            "AWS::EC2::Route": 1,
            "AWS::EC2::SecurityGroup": 2,
            "AWS::SQS::Queue": 1,
        }
    )


def test_a_second_build_waits_with_lock_timeout(server: SandboxProcess, tmp_path: Path) -> None:
    first, second = (
        start("build", str(MIXED), "dev", "--lock-timeout", "120", url=server.url, cwd=tmp_path)
        for _ in range(2)
    )
    out = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, out
    assert types(server)["AWS::EC2::VPC"] == 1 and types(server)["AWS::SQS::Queue"] == 1
    assert "AWS::SSM::Parameter" not in types(server)
    plan = run("plan", str(MIXED), "dev", "--detailed-exitcode", url=server.url, cwd=tmp_path)
    assert plan.returncode == 0, plan.stdout + plan.stderr
