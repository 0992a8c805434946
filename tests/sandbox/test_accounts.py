"""Accounts and regions are kept apart, and STS AssumeRole / GetCallerIdentity switch accounts.

Everything goes through boto3 clients (``sts``, ``cloudcontrol``, ``resourcegroupstaggingapi``)
whose ``endpoint_url`` is the sandbox's URL.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stackdeploy.sandbox.server import SandboxServer
from tests.conftest import start_sandbox_process, stop_sandbox_process
from tests.sandbox.helpers import created, get, list_all, unique

ROLE = "arn:aws:iam::222233334444:role/deployer"


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def _session(credentials: dict[str, Any], region: str = "us-east-1") -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def _assumed(url: str, sts: Any, role: str = ROLE, service: str = "cloudcontrol") -> Any:
    credentials = sts.assume_role(RoleArn=role, RoleSessionName="ci-run")["Credentials"]
    return _session(credentials).client(service, endpoint_url=url)


def test_accounts_do_not_see_each_other(sandbox_server: Any, client_for: Any) -> None:
    one = client_for(sandbox_server.url, account="111111111111")
    two = client_for(sandbox_server.url, account="222222222222")
    name = unique("bucket")
    created(one, "AWS::S3::Bucket", {"BucketName": name, "Tags": [{"Key": "k", "Value": "v"}]})
    assert [i for i, _ in list_all(one, "AWS::S3::Bucket")] == [name]
    assert list_all(two, "AWS::S3::Bucket") == []
    with pytest.raises(two.exceptions.ResourceNotFoundException):
        two.get_resource(TypeName="AWS::S3::Bucket", Identifier=name)
    # The same name is free in the other account, and the two resources stay apart.
    created(two, "AWS::S3::Bucket", {"BucketName": name})
    assert "Tags" in get(one, "AWS::S3::Bucket", name)
    assert "Tags" not in get(two, "AWS::S3::Bucket", name)
    # Request tokens are per account as well.
    token = one.list_resource_requests()["ResourceRequestStatusSummaries"][0]["RequestToken"]
    with pytest.raises(two.exceptions.RequestTokenNotFoundException):
        two.get_resource_request_status(RequestToken=token)
    tagging = client_for(sandbox_server.url, "resourcegroupstaggingapi", account="222222222222")
    assert tagging.get_resources()["ResourceTagMappingList"] == []


def test_regions_do_not_see_each_other(sandbox_server: Any, client_for: Any) -> None:
    east = client_for(sandbox_server.url, region="us-east-1")
    west = client_for(sandbox_server.url, region="eu-west-1")
    vpc = created(west, "AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16"})
    assert [i for i, _ in list_all(west, "AWS::EC2::VPC")] == [vpc]
    assert list_all(east, "AWS::EC2::VPC") == []
    with pytest.raises(east.exceptions.ResourceNotFoundException):
        east.get_resource(TypeName="AWS::EC2::VPC", Identifier=vpc)
    token = west.list_resource_requests()["ResourceRequestStatusSummaries"][0]["RequestToken"]
    with pytest.raises(east.exceptions.RequestTokenNotFoundException):
        east.get_resource_request_status(RequestToken=token)


def test_caller_identity_of_plain_credentials(sandbox_server: Any, client_for: Any) -> None:
    identity = client_for(sandbox_server.url, "sts", account="444455556666").get_caller_identity()
    assert identity["Account"] == "444455556666"
    assert identity["Arn"] == "arn:aws:iam::444455556666:user/sandbox"
    assert identity["UserId"].startswith("AIDA") and len(identity["UserId"]) == 21
    default = client_for(sandbox_server.url, "sts").get_caller_identity()  # key "testing"
    assert default["Account"] == sandbox_server.account_id == "123456789012"


def test_assume_role_acts_in_the_role_account(sandbox_server: Any, client_for: Any) -> None:
    sts = client_for(sandbox_server.url, "sts")
    answer = sts.assume_role(RoleArn=ROLE, RoleSessionName="ci-run", DurationSeconds=1800)
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA") and len(credentials["AccessKeyId"]) == 20
    assert len(credentials["SecretAccessKey"]) == 40 and credentials["SessionToken"]
    lifetime = credentials["Expiration"] - datetime.datetime.now(datetime.UTC)
    assert 1700 < lifetime.total_seconds() <= 1800
    user = answer["AssumedRoleUser"]
    assert user["Arn"] == "arn:aws:sts::222233334444:assumed-role/deployer/ci-run"
    assert user["AssumedRoleId"].startswith("AROA") and user["AssumedRoleId"].endswith(":ci-run")

    session = _session(credentials)
    identity = session.client("sts", endpoint_url=sandbox_server.url).get_caller_identity()
    assert identity["Account"] == "222233334444"
    assert identity["Arn"] == user["Arn"]
    assert identity["UserId"] == user["AssumedRoleId"]

    role_cc = session.client("cloudcontrol", endpoint_url=sandbox_server.url)
    name = unique("bucket")
    created(role_cc, "AWS::S3::Bucket", {"BucketName": name})
    assert list_all(role_cc, "AWS::S3::Bucket") == [(name, {"BucketName": name})]
    # Visible to the role's account through its plain key, not to the caller's account.
    assert [
        i
        for i, _ in list_all(
            client_for(sandbox_server.url, account="222233334444"), "AWS::S3::Bucket"
        )
    ] == [name]
    assert list_all(client_for(sandbox_server.url), "AWS::S3::Bucket") == []
    # The region still comes from each request.
    west = session.client("cloudcontrol", endpoint_url=sandbox_server.url, region_name="eu-west-1")
    assert list_all(west, "AWS::S3::Bucket") == []
    role_cc.close()
    west.close()


def test_role_chaining_and_path(sandbox_server: Any, client_for: Any) -> None:
    first = _assumed(sandbox_server.url, client_for(sandbox_server.url, "sts"), service="sts")
    second = first.assume_role(
        RoleArn="arn:aws:iam::333344445555:role/team/admin", RoleSessionName="chained"
    )
    assert second["AssumedRoleUser"]["Arn"] == (
        "arn:aws:sts::333344445555:assumed-role/admin/chained"
    )
    identity = (
        _session(second["Credentials"])
        .client("sts", endpoint_url=sandbox_server.url)
        .get_caller_identity()
    )
    assert identity["Account"] == "333344445555"
    first.close()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"RoleArn": "arn:aws:iam::2222:role/x"}, "is not a role ARN"),
        ({"RoleArn": "arn:aws:s3:::some-bucket-name"}, "is not a role ARN"),
        ({"RoleArn": ROLE, "RoleSessionName": "has space"}, "roleSessionName"),
        ({"RoleArn": ROLE, "DurationSeconds": 50000}, "durationSeconds"),
    ],
)
def test_assume_role_validation(
    sandbox_server: Any, client_for: Any, params: dict[str, Any], message: str
) -> None:
    sts = client_for(sandbox_server.url, "sts")
    # botocore checks lengths client-side; the rest is the server's to refuse.
    with pytest.raises(ClientError) as info:
        sts.assume_role(**{"RoleSessionName": "ok-name", **params})
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert message in error["Message"]


def test_denied_role(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.faults.update({"deny_assume_role": ["arn:aws:iam::*:role/locked-*"]})
    sts = client_for(sandbox_server.url, "sts", account="111111111111")
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn="arn:aws:iam::222233334444:role/locked-down", RoleSessionName="x1")
    error = info.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert error["Message"].startswith(
        "User: arn:aws:iam::111111111111:user/sandbox is not authorized to perform: "
        "sts:AssumeRole on resource: arn:aws:iam::222233334444:role/locked-down"
    )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    sts.assume_role(RoleArn=ROLE, RoleSessionName="x1")  # other roles still work


def test_unknown_sts_action(sandbox_server: Any, client_for: Any) -> None:
    sts = client_for(sandbox_server.url, "sts")
    with pytest.raises(ClientError) as info:
        sts.get_session_token()
    assert info.value.response["Error"]["Code"] == "InvalidAction"
    assert "AssumeRole and GetCallerIdentity" in info.value.response["Error"]["Message"]


def test_expired_and_forged_credentials(tmp_path: Path, client_for: Any) -> None:
    clock = Clock()
    with SandboxServer(tmp_path / "s.db", clock=clock) as server:
        sts = client_for(server.url, "sts")
        credentials = sts.assume_role(RoleArn=ROLE, RoleSessionName="short", DurationSeconds=900)[
            "Credentials"
        ]
        session = _session(credentials)
        role_sts = session.client("sts", endpoint_url=server.url)
        role_cc = session.client("cloudcontrol", endpoint_url=server.url)
        assert role_sts.get_caller_identity()["Account"] == "222233334444"
        # Without the session token the key is not recognised, as on AWS.
        forged = boto3.client(
            "cloudcontrol",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token="not-the-token",
        )
        with pytest.raises(ClientError) as info:
            forged.list_resources(TypeName="AWS::S3::Bucket")
        assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
        clock.now += 901
        with pytest.raises(ClientError) as info:
            role_cc.list_resources(TypeName="AWS::S3::Bucket")
        assert info.value.response["Error"]["Code"] == "ExpiredTokenException"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        with pytest.raises(ClientError) as info:
            role_sts.get_caller_identity()
        assert info.value.response["Error"]["Code"] == "ExpiredToken"
        for client in (role_sts, role_cc, forged):
            client.close()


def test_issued_credentials_survive_and_are_shared(tmp_path: Path, client_for: Any) -> None:
    """Keys issued by one server are honoured by another process on the same state file."""
    state = tmp_path / "shared.db"
    first = start_sandbox_process(state)
    second = start_sandbox_process(state)
    try:
        credentials = client_for(first.url, "sts").assume_role(
            RoleArn=ROLE, RoleSessionName="shared"
        )["Credentials"]
        session = _session(credentials)
        via_second = session.client("cloudcontrol", endpoint_url=second.url)
        name = unique("bucket")
        created(via_second, "AWS::S3::Bucket", {"BucketName": name})
        via_first = session.client("cloudcontrol", endpoint_url=first.url)
        assert [i for i, _ in list_all(via_first, "AWS::S3::Bucket")] == [name]
        identity = session.client("sts", endpoint_url=second.url).get_caller_identity()
        assert identity["Arn"].endswith(":assumed-role/deployer/shared")
        via_first.close()
        via_second.close()
    finally:
        assert stop_sandbox_process(first) == 0
    third = start_sandbox_process(state)  # and after a restart
    try:
        cc = _session(credentials).client("cloudcontrol", endpoint_url=third.url)
        assert (
            json.loads(
                cc.get_resource(TypeName="AWS::S3::Bucket", Identifier=name)["ResourceDescription"][
                    "Properties"
                ]
            )["BucketName"]
            == name
        )
        cc.close()
    finally:
        assert stop_sandbox_process(second) == 0
        assert stop_sandbox_process(third) == 0
