"""References between adopted resources and the order they are written in."""

from __future__ import annotations

from stackdeploy.adopt.model import LiveResource
from stackdeploy.adopt.refs import dependency_order, export_columns, link
from stackdeploy.schema.registry import get_schema


def live(type_name: str, identifier: str, **props: object) -> LiveResource:
    return LiveResource(get_schema(type_name), identifier, props)


VPC = live("AWS::EC2::VPC", "vpc-0aaa1111", VpcId="vpc-0aaa1111")
QUEUE = live(
    "AWS::SQS::Queue",
    "https://sqs.us-east-1.amazonaws.com/1/jobs",
    Arn="arn:aws:sqs:us-east-1:1:jobs",
    QueueName="jobs",
)
BUCKET = live("AWS::S3::Bucket", "shop-data", Arn="arn:aws:s3:::shop-data")


def test_exports_are_the_identifier_then_the_arn() -> None:
    assert export_columns(VPC) == ("vpc_id",)
    assert export_columns(QUEUE) == ("queue_url", "arn")
    assert export_columns(BUCKET) == ("bucket_name", "arn")


def test_identifiers_and_arns_become_references_and_dependencies() -> None:
    subnet = live("AWS::EC2::Subnet", "subnet-0bbb", VpcId="vpc-0aaa1111")
    role = live("AWS::IAM::Role", "worker")
    role_props = {
        "RoleName": "worker",
        "Policies": [
            {
                "PolicyName": "p",
                "PolicyDocument": {
                    "Statement": [
                        {"Resource": "arn:aws:sqs:us-east-1:1:jobs"},
                        {"Resource": ["arn:aws:s3:::shop-data/*", "arn:aws:s3:::shop-data"]},
                        {"Resource": "arn:aws:s3:::shop-data-other"},  # not a prefix + separator
                    ]
                },
            }
        ],
        # Tags are data: a tag holding a name is not a dependency.
        "Tags": [{"Key": "vpc", "Value": "vpc-0aaa1111"}],
    }
    names = ["role", "subnet", "vpc", "queue", "bucket"]
    props, deps = link(
        names,
        [role, subnet, VPC, QUEUE, BUCKET],
        [role_props, {"VpcId": "vpc-0aaa1111"}, {"CidrBlock": "10.0.0.0/16"}, {}, {}],
    )
    statements = props[0]["Policies"][0]["PolicyDocument"]["Statement"]
    assert statements == [
        {"Resource": "{{ queue.arn }}"},
        {"Resource": ["{{ bucket.arn }}/*", "{{ bucket.arn }}"]},
        {"Resource": "arn:aws:s3:::shop-data-other"},
    ]
    assert props[0]["Tags"] == role_props["Tags"]
    assert props[1] == {"VpcId": "{{ vpc.vpc_id }}"}
    assert deps == [("queue", "bucket"), ("vpc",), (), (), ()]
    assert [names[i] for i in dependency_order(names, deps)] == [
        "vpc",
        "subnet",
        "queue",
        "bucket",
        "role",
    ]


def test_a_reference_that_would_close_a_cycle_keeps_its_value() -> None:
    a = live("AWS::EC2::SecurityGroup", "sg-0aaaaaaa")
    b = live("AWS::EC2::SecurityGroup", "sg-0bbbbbbb")
    props, deps = link(
        ["a", "b"],
        [a, b],
        [
            {"SecurityGroupIngress": [{"SourceSecurityGroupId": "sg-0bbbbbbb"}]},
            {"SecurityGroupIngress": [{"SourceSecurityGroupId": "sg-0aaaaaaa"}]},
        ],
    )
    assert props[0]["SecurityGroupIngress"][0]["SourceSecurityGroupId"] == "{{ b.id }}"
    assert props[1]["SecurityGroupIngress"][0]["SourceSecurityGroupId"] == "sg-0aaaaaaa"
    assert deps == [("b",), ()]


def test_self_references_and_short_values_are_left_alone() -> None:
    short = live("AWS::EC2::VPC", "v-1")
    props, deps = link(
        ["vpc", "other"],
        [VPC, short],
        [{"Description": "vpc-0aaa1111"}, {"X": "v-1"}],
    )
    assert props == [{"Description": "vpc-0aaa1111"}, {"X": "v-1"}]
    assert deps == [(), ()]
