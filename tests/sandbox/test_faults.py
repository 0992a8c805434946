"""Fault injection: sync throttling, async Throttling failures, forced failures (async and sync,
such as AccessDeniedException), stuck requests, connection resets, and the configuration paths
(in process, JSON, environment variable, CLI flags) with their errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError
from click.testing import CliRunner

from stackdeploy.cli import main
from stackdeploy.sandbox.faults import ENV_VAR, FaultConfigError, Faults
from tests.conftest import start_sandbox_process, stop_sandbox_process
from tests.sandbox.helpers import create, created, list_all, unique, wait


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
    with pytest.raises(FaultConfigError, match="throttle_rate must be between 0 and 1"):
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


# ------------------------------------------------------------ connection resets
def test_reset_before_the_call_loses_it(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.faults.reset_connection("AWS::S3::Bucket", "CREATE", count=1)
    cc = client_for(sandbox_server.url, retries=1)
    name = unique("b")
    with pytest.raises(ConnectionClosedError):
        cc.create_resource(
            TypeName="AWS::S3::Bucket", DesiredState=json.dumps({"BucketName": name})
        )
    assert cc.list_resource_requests()["ResourceRequestStatusSummaries"] == []  # never happened
    assert created(cc, "AWS::S3::Bucket", {"BucketName": name}) == name  # the rule is used up


def test_reset_after_the_call_loses_only_the_answer(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.faults.update(
        {"reset": [{"type": "AWS::EC2::VPC", "operation": "CREATE", "when": "after", "count": 1}]}
    )
    cc = client_for(sandbox_server.url, retries=1)
    desired = json.dumps({"CidrBlock": "10.0.0.0/16"})
    with pytest.raises(ConnectionClosedError):
        cc.create_resource(TypeName="AWS::EC2::VPC", DesiredState=desired, ClientToken="t-1")
    # The request took effect: retrying with the same ClientToken finds it instead of making
    # a second VPC (what a client without tokens would do).
    [recorded] = cc.list_resource_requests()["ResourceRequestStatusSummaries"]
    retry = cc.create_resource(TypeName="AWS::EC2::VPC", DesiredState=desired, ClientToken="t-1")
    assert retry["ProgressEvent"]["RequestToken"] == recorded["RequestToken"]
    assert [i for i, _ in list_all(cc, "AWS::EC2::VPC")] == [recorded["Identifier"]]


def test_reset_rates_are_seeded_and_botocore_retries_them(
    sandbox_server: Any, client_for: Any
) -> None:
    cc = client_for(sandbox_server.url, retries=1)

    def pattern() -> list[bool]:
        outcome = []
        for _ in range(30):
            try:
                cc.list_resources(TypeName="AWS::S3::Bucket")
                outcome.append(False)
            except ConnectionClosedError:
                outcome.append(True)
        return outcome

    sandbox_server.faults.update({"reset_rate": 0.3, "reset_after_rate": 0.2, "seed": 4})
    first = pattern()
    sandbox_server.faults.reseed(4)
    assert pattern() == first
    assert 5 <= sum(first) <= 25
    patient = client_for(sandbox_server.url, retries=10)
    for _ in range(10):
        patient.list_resources(TypeName="AWS::S3::Bucket")
    sts = client_for(sandbox_server.url, "sts", retries=1)
    sandbox_server.faults.reset()
    sandbox_server.faults.reset_connection(operation="AssumeRole", count=1)
    with pytest.raises(ConnectionClosedError):
        sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="s1")
    sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="s1")


# ------------------------------------------------------------ permission failures
def test_sync_access_denied_per_type_and_operation(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.faults.deny("AWS::SSM::Parameter", "CREATE")
    sandbox_server.faults.fail(
        "AWS::S3::Bucket", "READ", "AccessDenied", message="no reads", sync=True
    )
    cc = client_for(sandbox_server.url, retries=1)
    desired = json.dumps({"Type": "String", "Value": "v", "Name": unique("p")})
    with pytest.raises(ClientError) as info:
        cc.create_resource(TypeName="AWS::SSM::Parameter", DesiredState=desired)
    error = info.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"].startswith(
        "User: arn:aws:iam::123456789012:user/sandbox is not authorized to perform: "
        "cloudformation:CreateResource on resource: AWS::SSM::Parameter"
    )
    assert cc.list_resource_requests()["ResourceRequestStatusSummaries"] == []
    # Other operations of the type, and other types, are allowed.
    cc.list_resources(TypeName="AWS::SSM::Parameter")
    name = created(cc, "AWS::S3::Bucket", {"BucketName": unique("b")})
    with pytest.raises(ClientError) as info:
        cc.get_resource(TypeName="AWS::S3::Bucket", Identifier=name)
    assert info.value.response["Error"] == {"Code": "AccessDeniedException", "Message": "no reads"}


def test_sync_denial_through_env_and_flag(tmp_path: Path, client_for: Any) -> None:
    env = {
        ENV_VAR: json.dumps(
            {
                "fail": [
                    {
                        "type": "AWS::SSM::Parameter",
                        "operation": "CREATE",
                        "error_code": "AccessDenied",
                        "sync": True,
                    }
                ]
            }
        )
    }
    server = start_sandbox_process(
        tmp_path / "s.db", "--deny", "AWS::SQS::Queue:DELETE", "--reset-rate", "0", env=env
    )
    try:
        cc = client_for(server.url, retries=1)
        with pytest.raises(ClientError) as info:
            cc.create_resource(
                TypeName="AWS::SSM::Parameter",
                DesiredState=json.dumps({"Type": "String", "Value": "v"}),
            )
        assert info.value.response["Error"]["Code"] == "AccessDeniedException"
        url = created(cc, "AWS::SQS::Queue", {"QueueName": unique("q")})
        with pytest.raises(ClientError) as info:
            cc.delete_resource(TypeName="AWS::SQS::Queue", Identifier=url)
        assert "cloudformation:DeleteResource" in info.value.response["Error"]["Message"]
    finally:
        assert stop_sandbox_process(server) == 0


# ------------------------------------------------------------ bad configurations
@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"throtle_rate": 0.1},
            "unknown key 'throtle_rate' in the fault configuration (did you mean 'throttle_rate'?)",
        ),
        (
            {"fail": [{"type": "AWS::S3::Bucket", "code": "X"}]},
            "unknown key 'code' in a 'fail' rule",
        ),
        ({"fail": {"type": "AWS::S3::Bucket"}}, "'fail' must be a list of objects"),
        ({"reset": [{"when": "during"}]}, "reset 'when' must be before or after"),
        ({"reset_rate": "often"}, "reset_rate must be a number between 0 and 1"),
        ({"fail": [{"count": -1}]}, "count must be a whole number >= 0"),
        ({"fail": [{"sync": "yes"}]}, "sync must be true or false"),
        ({"deny_assume_role": "arn:*"}, "deny_assume_role must be a list"),
    ],
)
def test_bad_fault_configurations(config: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultConfigError) as info:
        Faults.from_dict(config)
    assert message in str(info.value)


def test_bad_fault_env_is_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    state = str(tmp_path / "s.db")
    for value, expected in (
        ("{not json", f"{ENV_VAR}: the fault configuration is not valid JSON"),
        (str(tmp_path / "absent.json"), f"{ENV_VAR} file {tmp_path / 'absent.json'}: cannot read"),
        ('{"stuck": [{"type": "AWS::S3::Bucket", "op": "CREATE"}]}', "unknown key 'op'"),
    ):
        result = runner.invoke(main, ["sandbox", "serve", "--state", state], env={ENV_VAR: value})
        assert result.exit_code == 2, result.output
        assert expected in result.output
        assert "Traceback" not in result.output
    result = runner.invoke(main, ["sandbox", "serve", "--state", state, "--deny", "CREATE"])
    assert result.exit_code == 2
    assert "--deny 'CREATE': expected TYPE:OPERATION" in result.output


def test_sync_denial_of_tagging(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.faults.deny(operation="GetResources", count=1)
    tagging = client_for(sandbox_server.url, "resourcegroupstaggingapi", retries=1)
    with pytest.raises(ClientError) as info:
        tagging.get_resources()
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "tag:GetResources" in info.value.response["Error"]["Message"]
    assert tagging.get_resources()["ResourceTagMappingList"] == []
