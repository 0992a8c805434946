"""Full lifecycles through boto3 against the sandbox subprocess: create, get, list, update,
delete, get-after-delete, for the types the issue names."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.sandbox.helpers import created, delete, get, list_all, unique, update


def _contains(actual: Any, expected: Any) -> bool:
    """``actual`` holds everything in ``expected`` (the sandbox adds read-only values)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _contains(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


def _lifecycle(
    cc: Any,
    type_name: str,
    desired: dict[str, Any],
    patch: list[dict[str, Any]],
    expect_after: dict[str, Any],
    *,
    list_model: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    identifier = created(cc, type_name, desired)
    model = get(cc, type_name, identifier)
    assert _contains(model, desired), model
    kwargs = {"ResourceModel": json.dumps(list_model)} if list_model else {}
    assert identifier in [i for i, _ in list_all(cc, type_name, **kwargs)]

    final = update(cc, type_name, identifier, patch)
    assert final["OperationStatus"] == "SUCCESS", final
    assert json.loads(final["ResourceModel"]) == get(cc, type_name, identifier)
    after = get(cc, type_name, identifier)
    assert _contains(after, expect_after), after

    final = delete(cc, type_name, identifier)
    assert final["OperationStatus"] == "SUCCESS", final
    with pytest.raises(cc.exceptions.ResourceNotFoundException):
        cc.get_resource(TypeName=type_name, Identifier=identifier)
    assert identifier not in [i for i, _ in list_all(cc, type_name, **kwargs)]
    return identifier, model


def test_s3_bucket(cloudcontrol: Any) -> None:
    name = unique("bucket")
    identifier, model = _lifecycle(
        cloudcontrol,
        "AWS::S3::Bucket",
        {"BucketName": name, "Tags": [{"Key": "team", "Value": "a"}]},
        [{"op": "add", "path": "/VersioningConfiguration", "value": {"Status": "Enabled"}}],
        {"VersioningConfiguration": {"Status": "Enabled"}, "BucketName": name},
    )
    assert identifier == name
    assert model["Arn"] == f"arn:aws:s3:::{name}"


def test_ec2_vpc(cloudcontrol: Any) -> None:
    identifier, model = _lifecycle(
        cloudcontrol,
        "AWS::EC2::VPC",
        {"CidrBlock": "10.1.0.0/16"},
        # No leading slash: AWS's own examples write paths this way.
        [{"op": "add", "path": "EnableDnsHostnames", "value": True}],
        {"EnableDnsHostnames": True, "CidrBlock": "10.1.0.0/16"},
    )
    assert re.fullmatch(r"vpc-[0-9a-f]{8,17}", identifier)
    assert model["VpcId"] == identifier


def test_ec2_route(cloudcontrol: Any) -> None:
    vpc = created(cloudcontrol, "AWS::EC2::VPC", {"CidrBlock": "10.2.0.0/16"})
    rtb = created(cloudcontrol, "AWS::EC2::RouteTable", {"VpcId": vpc})
    assert rtb.startswith("rtb-")
    identifier, model = _lifecycle(
        cloudcontrol,
        "AWS::EC2::Route",
        {"RouteTableId": rtb, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-0abc1234"},
        [{"op": "replace", "path": "/GatewayId", "value": "igw-0def5678"}],
        {"GatewayId": "igw-0def5678"},
        list_model={"RouteTableId": rtb},
    )
    assert identifier == f"{rtb}|0.0.0.0/0"
    assert model["CidrBlock"] == "0.0.0.0/0"


def test_iam_role(cloudcontrol: Any) -> None:
    name = unique("role")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    identifier, model = _lifecycle(
        cloudcontrol,
        "AWS::IAM::Role",
        {"RoleName": name, "AssumeRolePolicyDocument": policy},
        [{"op": "add", "path": "/Description", "value": "updated"}],
        {"Description": "updated"},
    )
    assert identifier == name
    assert model["Arn"] == f"arn:aws:iam::123456789012:role/{name}"


def test_sqs_queue(cloudcontrol: Any) -> None:
    name = unique("queue")
    identifier, model = _lifecycle(
        cloudcontrol,
        "AWS::SQS::Queue",
        {"QueueName": name},
        [{"op": "add", "path": "/VisibilityTimeout", "value": 60}],
        {"VisibilityTimeout": 60},
    )
    assert identifier == f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}"
    assert model["Arn"] == f"arn:aws:sqs:us-east-1:123456789012:{name}"


def test_sagemaker_cluster(cloudcontrol: Any) -> None:
    name = unique("cluster")
    group = {
        "InstanceGroupName": "workers",
        "InstanceType": "ml.t3.medium",
        "InstanceCount": 1,
        "ExecutionRole": "arn:aws:iam::123456789012:role/sm",
        "LifeCycleConfig": {"SourceS3Uri": "s3://b/p", "OnCreate": "on_create.sh"},
    }
    identifier, model = _lifecycle(
        cloudcontrol,
        "AWS::SageMaker::Cluster",
        {"ClusterName": name, "InstanceGroups": [group]},
        [{"op": "replace", "path": "/InstanceGroups/0/InstanceCount", "value": 2}],
        {"ClusterName": name},
    )
    assert re.fullmatch(
        r"arn:aws:sagemaker:us-east-1:123456789012:cluster/[a-z0-9]+", identifier
    ), identifier
    assert model["ClusterArn"] == identifier
    assert model["InstanceGroups"][0]["CurrentCount"] >= 0  # nested read-only, filled in


def test_identifier_as_json_object(cloudcontrol: Any) -> None:
    vpc = created(cloudcontrol, "AWS::EC2::VPC", {"CidrBlock": "10.3.0.0/16"})
    rtb = created(cloudcontrol, "AWS::EC2::RouteTable", {"VpcId": vpc})
    route = created(
        cloudcontrol,
        "AWS::EC2::Route",
        {"RouteTableId": rtb, "DestinationCidrBlock": "10.9.0.0/16", "GatewayId": "igw-1"},
    )
    as_object = json.dumps({"RouteTableId": rtb, "CidrBlock": "10.9.0.0/16"})
    description = cloudcontrol.get_resource(TypeName="AWS::EC2::Route", Identifier=as_object)
    assert description["ResourceDescription"]["Identifier"] == route


def test_write_only_properties_never_returned(cloudcontrol: Any) -> None:
    name = unique("bucket")
    created(cloudcontrol, "AWS::S3::Bucket", {"BucketName": name, "AccessControl": "Private"})
    assert "AccessControl" not in get(cloudcontrol, "AWS::S3::Bucket", name)
    listed = dict(list_all(cloudcontrol, "AWS::S3::Bucket"))
    assert "AccessControl" not in listed[name]
    final = update(
        cloudcontrol, "AWS::S3::Bucket", name, [{"op": "add", "path": "/Tags", "value": []}]
    )
    assert "AccessControl" not in json.loads(final["ResourceModel"])


def test_update_remove_and_list_filter(cloudcontrol: Any) -> None:
    name = unique("queue")
    url = created(cloudcontrol, "AWS::SQS::Queue", {"QueueName": name, "DelaySeconds": 5})
    final = update(
        cloudcontrol, "AWS::SQS::Queue", url, [{"op": "remove", "path": "/DelaySeconds"}]
    )
    assert final["OperationStatus"] == "SUCCESS"
    assert "DelaySeconds" not in get(cloudcontrol, "AWS::SQS::Queue", url)
