"""Fault injection: sync throttling, async Throttling failures, forced failures, stuck requests,
and the configuration paths (in process, JSON, environment variable, CLI flags)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stackdeploy.sandbox.faults import ENV_VAR, Faults
from tests.conftest import start_sandbox_process, stop_sandbox_process
from tests.sandbox.helpers import create, created, unique, wait


def test_sync_throttling(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.faults.throttle_rate = 1.0
    cc = client_for(sandbox_server.url, retries=1)
    with pytest.raises(cc.exceptions.ThrottlingException):
        cc.list_resources(TypeName="AWS::S3::Bucket")
    sandbox_server.faults.reset()
    assert cc.list_resources(TypeName="AWS::S3::Bucket")["ResourceDescriptions"] == []


def test_sync_throttling_rate_is_deterministic(sandbox_server: Any, client_for: Any) -> None:
    cc = client_for(sandbox_server.url, retries=1)

    def pattern() -> list[bool]:
        outcome = []
        for _ in range(40):
            try:
                cc.list_resources(TypeName="AWS::S3::Bucket")
                outcome.append(False)
            except cc.exceptions.ThrottlingException:
                outcome.append(True)
        return outcome

    sandbox_server.faults.update({"throttle_rate": 0.5, "seed": 11})
    first = pattern()
    sandbox_server.faults.reseed(11)
    assert pattern() == first
    assert 8 <= sum(first) <= 32


def test_botocore_retries_through_throttling(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.faults.update({"throttle_rate": 0.3, "seed": 3})
    cc = client_for(sandbox_server.url, retries=10)
    for _ in range(5):
        cc.list_resources(TypeName="AWS::S3::Bucket")


def test_async_throttling(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.faults.async_throttle_rate = 1.0
    cc = client_for(sandbox_server.url)
    name = unique("bucket")
    final = create(cc, "AWS::S3::Bucket", {"BucketName": name})
    assert final["OperationStatus"] == "FAILED"
    assert final["ErrorCode"] == "Throttling"
    with pytest.raises(cc.exceptions.ResourceNotFoundException):
        cc.get_resource(TypeName="AWS::S3::Bucket", Identifier=name)
    sandbox_server.faults.async_throttle_rate = 0.0
    assert created(cc, "AWS::S3::Bucket", {"BucketName": name}) == name  # a retry succeeds


def test_forced_failure_with_count(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.faults.fail("AWS::EC2::*", "CREATE", "ServiceLimitExceeded", count=1)
    cc = client_for(sandbox_server.url)
    first = create(cc, "AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16"})
    assert (first["OperationStatus"], first["ErrorCode"]) == ("FAILED", "ServiceLimitExceeded")
    assert "ServiceLimitExceeded" in first["StatusMessage"]
    assert created(cc, "AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16"})  # only once
    # Other types and operations are not affected.
    assert created(cc, "AWS::S3::Bucket", {"BucketName": unique("b")})


def test_forced_failure_of_delete(sandbox_server: Any, client_for: Any) -> None:
    cc = client_for(sandbox_server.url)
    name = created(cc, "AWS::S3::Bucket", {"BucketName": unique("b")})
    sandbox_server.faults.fail("AWS::S3::Bucket", "DELETE", "AccessDenied", message="no way")
    event = cc.delete_resource(TypeName="AWS::S3::Bucket", Identifier=name)["ProgressEvent"]
    final = wait(cc, event)
    assert (final["ErrorCode"], final["StatusMessage"]) == ("AccessDenied", "no way")
    cc.get_resource(TypeName="AWS::S3::Bucket", Identifier=name)  # still there


def test_stuck_request(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.faults.stick("AWS::S3::Bucket", "CREATE")
    cc = client_for(sandbox_server.url)
    event = cc.create_resource(
        TypeName="AWS::S3::Bucket", DesiredState=json.dumps({"BucketName": unique("b")})
    )["ProgressEvent"]
    with pytest.raises(AssertionError, match="still IN_PROGRESS"):
        wait(cc, event, timeout=0.3)
    status = cc.get_resource_request_status(RequestToken=event["RequestToken"])
    assert "RetryAfter" in status["ProgressEvent"]
    cancelled = cc.cancel_resource_request(RequestToken=event["RequestToken"])
    assert cancelled["ProgressEvent"]["OperationStatus"] == "CANCEL_COMPLETE"


def test_faults_from_json_and_env(tmp_path: Path) -> None:
    config = {
        "seed": 5,
        "throttle_rate": 0.25,
        "async_throttle_rate": 0.5,
        "fail": [{"type": "AWS::S3::Bucket", "operation": "create", "error_code": "AccessDenied"}],
        "stuck": [{"type": "AWS::EC2::VPC", "operation": "DELETE"}],
    }
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(config))
    for faults in (
        Faults.load(json.dumps(config)),
        Faults.load(str(path)),
        Faults.from_env({ENV_VAR: str(path)}),
    ):
        assert faults.to_dict()["throttle_rate"] == 0.25
        assert faults.async_failure("CREATE", "AWS::S3::Bucket") == (
            "AccessDenied",
            "Injected fault: CREATE of AWS::S3::Bucket failed with AccessDenied",
        )
        assert faults.is_stuck("DELETE", "AWS::EC2::VPC")
        assert not faults.is_stuck("CREATE", "AWS::EC2::VPC")
    assert Faults.from_env({}).to_dict()["fail"] == []
    with pytest.raises(ValueError):
        Faults.from_dict({"throttle_rate": 2})


def test_serve_with_fault_flags_and_env(tmp_path: Path, client_for: Any) -> None:
    env = {
        ENV_VAR: json.dumps({"fail": [{"type": "AWS::SQS::Queue", "error_code": "NotStabilized"}]})
    }
    server = start_sandbox_process(
        tmp_path / "s.db", "--fail", "AWS::S3::Bucket:CREATE:AccessDenied", env=env
    )
    try:
        cc = client_for(server.url)
        bucket = create(cc, "AWS::S3::Bucket", {"BucketName": unique("b")})
        queue = create(cc, "AWS::SQS::Queue", {"QueueName": unique("q")})
        assert bucket["ErrorCode"] == "AccessDenied"
        assert queue["ErrorCode"] == "NotStabilized"
    finally:
        assert stop_sandbox_process(server) == 0
