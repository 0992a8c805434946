"""Every error path of the sandbox, as botocore sees it (modelled exceptions, async ErrorCodes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.sandbox.helpers import create, created, delete, get, unique, update, wait

ROLE_POLICY = {"Version": "2012-10-17", "Statement": []}


def _create_error(cc: Any, type_name: str, desired: Any) -> Any:
    text = desired if isinstance(desired, str) else json.dumps(desired)
    with pytest.raises(cc.exceptions.ClientError) as info:
        cc.create_resource(TypeName=type_name, DesiredState=text)
    return info.value


def test_unknown_type(cloudcontrol: Any) -> None:
    for call in (
        lambda: cloudcontrol.create_resource(TypeName="AWS::Foo::Bar", DesiredState="{}"),
        lambda: cloudcontrol.get_resource(TypeName="AWS::Foo::Bar", Identifier="x"),
        lambda: cloudcontrol.list_resources(TypeName="AWS::Foo::Bar"),
        lambda: cloudcontrol.delete_resource(TypeName="AWS::Foo::Bar", Identifier="x"),
    ):
        with pytest.raises(cloudcontrol.exceptions.TypeNotFoundException, match="AWS::Foo::Bar"):
            call()


@pytest.mark.parametrize(
    ("type_name", "desired", "fragment"),
    [
        ("AWS::S3::Bucket", {"BucketName": 3}, "#/BucketName"),  # wrong type, not coerced
        ("AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16", "Colour": "red"}, "Colour"),  # unknown
        ("AWS::IAM::Role", {"RoleName": "r"}, "AssumeRolePolicyDocument"),  # required missing
        ("AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16", "VpcId": "vpc-1"}, "#/VpcId"),  # read-only
        ("AWS::SQS::Queue", {"VisibilityTimeout": "30"}, "#/VisibilityTimeout"),  # string != int
    ],
)
def test_create_validation(cloudcontrol: Any, type_name: str, desired: Any, fragment: str) -> None:
    error = _create_error(cloudcontrol, type_name, desired)
    assert error.response["Error"]["Code"] == "InvalidRequestException"
    message = error.response["Error"]["Message"]
    assert message.startswith("Model validation failed (")
    assert fragment in message


def test_nested_read_only_rejected(cloudcontrol: Any) -> None:
    group = {
        "InstanceGroupName": "g",
        "InstanceType": "ml.t3.medium",
        "InstanceCount": 1,
        "CurrentCount": 1,
        "ExecutionRole": "arn:aws:iam::123456789012:role/x",
        "LifeCycleConfig": {"SourceS3Uri": "s3://b/p", "OnCreate": "x.sh"},
    }
    error = _create_error(cloudcontrol, "AWS::SageMaker::Cluster", {"InstanceGroups": [group]})
    assert "#/InstanceGroups/0/CurrentCount" in error.response["Error"]["Message"]


def test_malformed_desired_state(cloudcontrol: Any) -> None:
    for text in ("{not json", "[1, 2]"):
        error = _create_error(cloudcontrol, "AWS::S3::Bucket", text)
        assert error.response["Error"]["Code"] == "InvalidRequestException"


def test_duplicate_identifier_ends_already_exists(cloudcontrol: Any) -> None:
    name = unique("bucket")
    created(cloudcontrol, "AWS::S3::Bucket", {"BucketName": name})
    final = create(cloudcontrol, "AWS::S3::Bucket", {"BucketName": name})
    assert final["OperationStatus"] == "FAILED"
    assert final["ErrorCode"] == "AlreadyExists"
    assert name in final["StatusMessage"]


def test_get_missing(cloudcontrol: Any) -> None:
    with pytest.raises(cloudcontrol.exceptions.ResourceNotFoundException) as info:
        cloudcontrol.get_resource(TypeName="AWS::S3::Bucket", Identifier="no-such-bucket")
    assert info.value.response["Error"]["Message"] == (
        "Resource of type 'AWS::S3::Bucket' with identifier 'no-such-bucket' was not found."
    )


def test_delete_missing_ends_not_found(cloudcontrol: Any) -> None:
    final = delete(cloudcontrol, "AWS::S3::Bucket", "no-such-bucket")
    assert final["OperationStatus"] == "FAILED"
    assert final["ErrorCode"] == "NotFound"


def test_update_missing(cloudcontrol: Any) -> None:
    with pytest.raises(cloudcontrol.exceptions.ResourceNotFoundException):
        cloudcontrol.update_resource(
            TypeName="AWS::S3::Bucket",
            Identifier="no-such-bucket",
            PatchDocument=json.dumps([{"op": "add", "path": "/Tags", "value": []}]),
        )


@pytest.fixture
def role(cloudcontrol: Any) -> str:
    return created(
        cloudcontrol,
        "AWS::IAM::Role",
        {"RoleName": unique("role"), "AssumeRolePolicyDocument": ROLE_POLICY, "Path": "/"},
    )


def _patch_error(cc: Any, identifier: str, patch: Any, type_name: str = "AWS::IAM::Role") -> Any:
    with pytest.raises(cc.exceptions.ClientError) as info:
        cc.update_resource(
            TypeName=type_name,
            Identifier=identifier,
            PatchDocument=patch if isinstance(patch, str) else json.dumps(patch),
        )
    return info.value.response["Error"]


def test_update_create_only_not_updatable(cloudcontrol: Any, role: str) -> None:
    error = _patch_error(cloudcontrol, role, [{"op": "replace", "path": "/Path", "value": "/x/"}])
    assert error["Code"] == "NotUpdatableException"
    assert error["Message"] == (
        "Invalid patch update: createOnlyProperties [/properties/Path] cannot be updated"
    )
    # Setting a create-only property to the value it already has changes nothing: accepted.
    final = update(
        cloudcontrol, "AWS::IAM::Role", role, [{"op": "replace", "path": "/Path", "value": "/"}]
    )
    assert final["OperationStatus"] == "SUCCESS"


def test_update_read_only_refused(cloudcontrol: Any, role: str) -> None:
    error = _patch_error(cloudcontrol, role, [{"op": "replace", "path": "/RoleId", "value": "X"}])
    assert error["Code"] == "InvalidRequestException"
    assert "readOnlyProperties [/properties/RoleId]" in error["Message"]


@pytest.mark.parametrize(
    "patch",
    [
        [{"op": "remove", "path": "/Description"}],  # nothing to remove
        [{"op": "test", "path": "/Path", "value": "/other/"}],  # failed test op
        [{"op": "jump", "path": "/Path"}],  # unknown op
        "{not json",
        json.dumps({"op": "add"}),  # not an array
    ],
)
def test_update_bad_patch(cloudcontrol: Any, role: str, patch: Any) -> None:
    assert _patch_error(cloudcontrol, role, patch)["Code"] == "InvalidRequestException"


def test_update_result_validated_without_coercion(cloudcontrol: Any, role: str) -> None:
    error = _patch_error(
        cloudcontrol, role, [{"op": "add", "path": "/MaxSessionDuration", "value": "3600"}]
    )
    assert error["Code"] == "InvalidRequestException"
    assert "#/MaxSessionDuration" in error["Message"]
    # A failed op leaves the resource untouched.
    assert "MaxSessionDuration" not in get(cloudcontrol, "AWS::IAM::Role", role)


def test_list_requires_handler_schema_properties(cloudcontrol: Any) -> None:
    with pytest.raises(cloudcontrol.exceptions.InvalidRequestException) as info:
        cloudcontrol.list_resources(TypeName="AWS::EC2::Route")
    assert info.value.response["Error"]["Message"] == (
        "Missing or invalid ResourceModel property in AWS::EC2::Route list handler request "
        "input.Required property: (#: required key [RouteTableId] not found)"
    )
    page = cloudcontrol.list_resources(
        TypeName="AWS::EC2::Route", ResourceModel=json.dumps({"RouteTableId": "rtb-none"})
    )
    assert page["ResourceDescriptions"] == []


def test_request_token_not_found(cloudcontrol: Any) -> None:
    with pytest.raises(cloudcontrol.exceptions.RequestTokenNotFoundException):
        cloudcontrol.get_resource_request_status(RequestToken="no-such-token")
    with pytest.raises(cloudcontrol.exceptions.RequestTokenNotFoundException):
        cloudcontrol.cancel_resource_request(RequestToken="no-such-token")


def test_cancel_finished_request(cloudcontrol: Any) -> None:
    event = cloudcontrol.create_resource(
        TypeName="AWS::S3::Bucket", DesiredState=json.dumps({"BucketName": unique("b")})
    )["ProgressEvent"]
    wait(cloudcontrol, event)
    with pytest.raises(cloudcontrol.exceptions.ConcurrentModificationException):
        cloudcontrol.cancel_resource_request(RequestToken=event["RequestToken"])


def test_client_token_idempotency(cloudcontrol: Any) -> None:
    token = unique("token")
    desired = json.dumps({"BucketName": unique("bucket")})
    first = cloudcontrol.create_resource(
        TypeName="AWS::S3::Bucket", DesiredState=desired, ClientToken=token
    )["ProgressEvent"]
    again = cloudcontrol.create_resource(
        TypeName="AWS::S3::Bucket", DesiredState=desired, ClientToken=token
    )["ProgressEvent"]
    assert again["RequestToken"] == first["RequestToken"]
    assert wait(cloudcontrol, again)["OperationStatus"] == "SUCCESS"  # not AlreadyExists
    with pytest.raises(cloudcontrol.exceptions.ClientTokenConflictException):
        cloudcontrol.create_resource(
            TypeName="AWS::S3::Bucket",
            DesiredState=json.dumps({"BucketName": unique("bucket")}),
            ClientToken=token,
        )


def test_state_separate_per_region_and_account(sandbox: Any) -> None:
    east = sandbox.client(account="210987654321")
    west = sandbox.client(account="210987654321", region="eu-west-1")
    other = sandbox.client(account="310987654321")
    name = unique("bucket")
    created(east, "AWS::S3::Bucket", {"BucketName": name})
    assert get(east, "AWS::S3::Bucket", name)["BucketName"] == name
    for client in (west, other):
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.get_resource(TypeName="AWS::S3::Bucket", Identifier=name)
    # The same name is free in another region.
    assert created(west, "AWS::S3::Bucket", {"BucketName": name}) == name


def test_unsupported_action(
    sandbox_server: Any, client_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stackdeploy.schema.registry import get_schema

    schema = get_schema("AWS::EC2::Route")
    monkeypatch.setattr(schema, "has_handler", lambda operation: operation != "update")
    cc = client_for(sandbox_server.url)
    with pytest.raises(cc.exceptions.UnsupportedActionException):
        cc.update_resource(
            TypeName="AWS::EC2::Route", Identifier="rtb-1|0.0.0.0/0", PatchDocument="[]"
        )
