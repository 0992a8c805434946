"""A server killed with SIGKILL and restarted on the same state file keeps its requests:
in-flight ones end on time (measured from their submission), overdue ones are completed as the
server starts, request tokens and ClientTokens keep working.

Each test runs ``stack-deploy sandbox serve`` subprocesses; ``--clock-offset`` moves the
restarted server's clock forward instead of waiting for the latency to pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stackdeploy.sandbox.store import Store
from tests.conftest import SandboxProcess, start_sandbox_process, stop_sandbox_process
from tests.sandbox.helpers import get, unique, wait

LATENCY = 1000.0  # never reached in real time: the restarts move the clock instead


def _kill(server: SandboxProcess) -> None:
    """SIGKILL: no shutdown code runs, as when a machine or container dies."""
    for client in server._clients:
        client.close()
    server.process.kill()
    server.process.communicate(timeout=10)
    assert server.process.returncode == -9


def _create(cc: Any, desired: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    event = cc.create_resource(
        TypeName="AWS::EC2::VPC" if "CidrBlock" in desired else "AWS::S3::Bucket",
        DesiredState=json.dumps(desired),
        **kwargs,
    )
    return dict(event["ProgressEvent"])


def test_in_flight_request_survives_sigkill(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    first = start_sandbox_process(state, "--latency", str(LATENCY))
    cc = first.client()
    submitted = _create(cc, {"CidrBlock": "10.0.0.0/16"})  # AWS chooses the identifier
    token, vpc = submitted["RequestToken"], submitted["Identifier"]
    assert submitted["OperationStatus"] == "PENDING"
    _kill(first)

    # Restarted half-way through the latency: still in progress, same end time.
    second = start_sandbox_process(state, "--clock-offset", str(LATENCY / 2))
    try:
        cc = second.client()
        status = cc.get_resource_request_status(RequestToken=token)["ProgressEvent"]
        assert status["OperationStatus"] == "IN_PROGRESS"
        assert status["Identifier"] == vpc
        with pytest.raises(cc.exceptions.ResourceNotFoundException):
            cc.get_resource(TypeName="AWS::EC2::VPC", Identifier=vpc)
        listed = cc.list_resource_requests()["ResourceRequestStatusSummaries"]
        assert [e["RequestToken"] for e in listed] == [token]
    finally:
        _kill(second)

    # Restarted after the end: completed as the server starts, before any call.
    third = start_sandbox_process(state, "--clock-offset", str(LATENCY + 5))
    try:
        with Store(state) as store:  # a direct look: no call has settled anything yet
            assert [r.identifier for r in store.all_resources()] == [vpc]
        cc = third.client()
        final = cc.get_resource_request_status(RequestToken=token)["ProgressEvent"]
        assert final["OperationStatus"] == "SUCCESS"
        # The latency is measured from the submission, not from any restart.
        elapsed = final["EventTime"] - submitted["EventTime"]
        assert elapsed.total_seconds() == pytest.approx(LATENCY, abs=0.01)
        assert json.loads(final["ResourceModel"])["VpcId"] == vpc
        assert get(cc, "AWS::EC2::VPC", vpc)["CidrBlock"] == "10.0.0.0/16"
    finally:
        assert stop_sandbox_process(third) == 0


def test_request_ends_on_time_after_a_real_restart(tmp_path: Path) -> None:
    """No clock offset: a short request started before a SIGKILL ends by itself afterwards."""
    state = tmp_path / "s.db"
    first = start_sandbox_process(state, "--latency", "2")
    name = unique("bucket")
    submitted = _create(first.client(), {"BucketName": name})
    _kill(first)
    second = start_sandbox_process(state)
    try:
        cc = second.client()
        final = wait(cc, submitted, timeout=30)
        assert final["OperationStatus"] == "SUCCESS"
        elapsed = final["EventTime"] - submitted["EventTime"]
        assert elapsed.total_seconds() == pytest.approx(2.0, abs=0.01)
        assert get(cc, "AWS::S3::Bucket", name)["BucketName"] == name
    finally:
        assert stop_sandbox_process(second) == 0


def test_client_token_survives_sigkill(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    first = start_sandbox_process(state, "--latency", str(LATENCY))
    desired = {"CidrBlock": "10.1.0.0/16"}
    submitted = _create(first.client(), desired, ClientToken="run-42-vpc")
    _kill(first)
    second = start_sandbox_process(state)
    try:
        cc = second.client()
        # The client retries the same request with the same token: the original answers.
        again = _create(cc, desired, ClientToken="run-42-vpc")
        assert again["RequestToken"] == submitted["RequestToken"]
        assert again["Identifier"] == submitted["Identifier"]
        assert again["OperationStatus"] == "PENDING"  # the first fifth of its latency
        with pytest.raises(cc.exceptions.ClientTokenConflictException):
            _create(cc, {"CidrBlock": "10.2.0.0/16"}, ClientToken="run-42-vpc")
        assert len(cc.list_resource_requests()["ResourceRequestStatusSummaries"]) == 1
    finally:
        assert stop_sandbox_process(second) == 0
