"""Finding live resources: ARNs from the tagging API mapped back to types and identifiers,
and the tag patch adoption sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stackdeploy.adopt import model
from stackdeploy.adopt.discover import find_tagged, parse_arn, resolve_arn
from stackdeploy.adopt.service import tag_patch
from stackdeploy.cloud.session import open_cloud
from stackdeploy.schema.registry import get_schema
from tests.adopt.conftest import ASSUME_LAMBDA, World


def test_the_stack_tags_are_the_engines() -> None:
    from stackdeploy.engine import discovery

    assert (model.TAG_STACK, model.TAG_ENV, model.TAG_RESOURCE) == (
        discovery.TAG_STACK,
        discovery.TAG_ENV,
        discovery.TAG_RESOURCE,
    )


def test_arn_parts() -> None:
    vpc = parse_arn("arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0abc")
    assert vpc is not None
    assert (vpc.service, vpc.segment, vpc.last, vpc.type_filter) == (
        "ec2",
        "vpc",
        "vpc-0abc",
        "ec2:vpc",
    )
    queue = parse_arn("arn:aws:sqs:us-east-1:123456789012:jobs")
    assert queue is not None and (queue.segment, queue.last, queue.type_filter) == (
        None,
        "jobs",
        "sqs",
    )
    group = parse_arn("arn:aws:logs:us-east-1:1:log-group:/app/x:*")
    assert group is not None and (group.segment, group.last) == ("log-group", "x")
    role = parse_arn("arn:aws:iam::1:role/service/worker")
    assert role is not None and role.last == "worker"
    assert parse_arn("not-an-arn") is None


@pytest.fixture
def cloud(world: World) -> Iterator[Any]:
    with open_cloud(endpoint_url=world.url, region="us-east-1") as client:
        yield client


KINDS: list[tuple[str, dict[str, Any]]] = [
    ("AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16"}),
    ("AWS::EC2::InternetGateway", {}),
    ("AWS::S3::Bucket", {"BucketName": "kinds-data"}),
    ("AWS::SQS::Queue", {"QueueName": "kinds-jobs"}),  # identified by its URL, not in the ARN
    ("AWS::SNS::Topic", {"TopicName": "kinds-topic"}),  # identified by its ARN
    ("AWS::Logs::LogGroup", {"LogGroupName": "/kinds/app"}),  # ARN ends in :*
    ("AWS::IAM::Role", {"RoleName": "kinds-role", "Path": "/svc/", "AssumeRolePolicyDocument": ASSUME_LAMBDA}),
    ("AWS::DynamoDB::Table", {
        "TableName": "kinds-items",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }),
    ("AWS::KMS::Key", {"Description": "kinds"}),
]  # fmt: skip


def test_tagged_arns_map_back_to_their_types_and_identifiers(world: World, cloud: Any) -> None:
    made = {}
    for type_name, props in KINDS:
        made[type_name] = world.create(type_name, {**props, "Tags": [{"Key": "k", "Value": "v"}]})
    world.create("AWS::EC2::VPC", {"CidrBlock": "10.9.0.0/16"})  # untagged: not found

    lives, skipped = find_tagged(cloud, "us-east-1", {"k": ("v",)})
    assert skipped == []
    assert {(r.type_name, r.identifier) for r in lives} == set(made.items())
    assert all(r.arn and r.arn.startswith("arn:aws:") for r in lives)

    only, _ = find_tagged(cloud, "us-east-1", {"k": ()}, [get_schema("awscc.sqs.queues")])
    assert [(r.type_name, r.identifier) for r in only] == [
        ("AWS::SQS::Queue", made["AWS::SQS::Queue"])
    ]


def test_an_arn_no_type_matches_is_not_a_resource(cloud: Any) -> None:
    assert resolve_arn(cloud, "us-east-1", "arn:aws:ec2:us-east-1:1:vpc/vpc-0missing") is None
    assert resolve_arn(cloud, "us-east-1", "arn:aws:nosuchservice:us-east-1:1:thing/x") is None


def test_tag_patch_adds_and_replaces_only_the_stack_tags() -> None:
    vpc = get_schema("AWS::EC2::VPC")
    wanted = model.stack_tags("s", "dev", "vpc")
    assert tag_patch(vpc, {}, wanted) == [
        {"op": "add", "path": "/Tags", "value": [{"Key": k, "Value": v} for k, v in wanted.items()]}
    ]
    live = {
        "Tags": [
            {"Key": "aws:cloudformation:stack-id", "Value": "x"},
            {"Key": "stackql:resource-name", "Value": "old"},
        ]
    }
    assert tag_patch(vpc, live, wanted) == [
        {"op": "replace", "path": "/Tags/1/Value", "value": "vpc"},
        {"op": "add", "path": "/Tags/-", "value": {"Key": "stackql:stack-name", "Value": "s"}},
        {"op": "add", "path": "/Tags/-", "value": {"Key": "stackql:stack-env", "Value": "dev"}},
    ]
    parameter = get_schema("AWS::SSM::Parameter")  # tags as a map
    assert tag_patch(parameter, {"Tags": {"a": "b"}}, {"stackql:stack-env": "dev"}) == [
        {"op": "add", "path": "/Tags/stackql:stack-env", "value": "dev"}
    ]
