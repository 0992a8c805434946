"""Value generation for the sandbox: real formats, schema validity, minimal desired states."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from stackdeploy.sandbox import formats, values
from stackdeploy.schema import desired
from stackdeploy.schema.registry import get_registry, get_schema

REGION = "us-east-1"
ACCOUNT = "123456789012"
EC2_ID = r"-0[0-9a-f]{16}$"  # 17 hex digits after the dash, the first one 0


def complete(type_name: str, state: dict[str, Any]) -> dict[str, Any]:
    schema = get_schema(type_name)
    model = values.complete_model(schema, state, region=REGION, account_id=ACCOUNT)
    assert desired.validate(schema, model, mode="model") == []
    return model


def arn_of(type_name: str, model: dict[str, Any]) -> str | None:
    return values.resource_arn(get_schema(type_name), model, region=REGION, account_id=ACCOUNT)


# ------------------------------------------------------------------ formats
def test_vpc_gets_real_ids_and_keeps_desired_state() -> None:
    state = {"CidrBlock": "10.1.0.0/16", "Tags": [{"Key": "env", "Value": "dev"}]}
    model = complete("AWS::EC2::VPC", state)
    assert state == {"CidrBlock": "10.1.0.0/16", "Tags": [{"Key": "env", "Value": "dev"}]}
    assert model["CidrBlock"] == "10.1.0.0/16" and model["Tags"] == state["Tags"]
    assert re.match(r"^vpc" + EC2_ID, model["VpcId"])
    assert re.match(r"^sg" + EC2_ID, model["DefaultSecurityGroup"])
    assert re.match(r"^acl" + EC2_ID, model["DefaultNetworkAcl"])
    assert arn_of("AWS::EC2::VPC", model) == (
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{model['VpcId']}"
    )


@pytest.mark.parametrize(
    ("type_name", "state", "key", "prefix"),
    [
        ("AWS::EC2::Subnet", {"VpcId": "vpc-0123456789abcdef0"}, "SubnetId", "subnet"),
        ("AWS::EC2::RouteTable", {"VpcId": "vpc-0123456789abcdef0"}, "RouteTableId", "rtb"),
        ("AWS::EC2::InternetGateway", {}, "InternetGatewayId", "igw"),
        ("AWS::EC2::SecurityGroup", {"GroupDescription": "web"}, "GroupId", "sg"),
        ("AWS::EC2::Instance", {}, "InstanceId", "i"),
    ],
)
def test_ec2_identifiers_have_real_prefixes(
    type_name: str, state: dict[str, Any], key: str, prefix: str
) -> None:
    model = complete(type_name, state)
    assert re.match(f"^{prefix}{EC2_ID}", model[key]), model[key]
    segment = values.tagging_resource_type(type_name).split(":")[1]
    assert arn_of(type_name, model) == f"arn:aws:ec2:{REGION}:{ACCOUNT}:{segment}/{model[key]}"


def test_generated_ids_are_unique() -> None:
    schema = get_schema("AWS::EC2::VPC")
    ids = {
        values.complete_model(schema, {"CidrBlock": "10.0.0.0/16"}, region=REGION,
                              account_id=ACCOUNT)["VpcId"]
        for _ in range(500)
    }  # fmt: skip
    assert len(ids) == 500


def test_route_cidr_block_is_derived_from_the_destination() -> None:
    schema = get_schema("AWS::EC2::Route")
    state = {"RouteTableId": "rtb-0123456789abcdef0", "DestinationCidrBlock": "0.0.0.0/0",
             "GatewayId": "igw-0123456789abcdef0"}  # fmt: skip
    model = complete("AWS::EC2::Route", state)
    assert model["CidrBlock"] == "0.0.0.0/0"
    assert schema.identifier_of(model) == "rtb-0123456789abcdef0|0.0.0.0/0"


def test_bucket_name_generated_and_domain_names() -> None:
    model = complete("AWS::S3::Bucket", {})
    name = model["BucketName"]
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name)
    assert model["Arn"] == f"arn:aws:s3:::{name}"
    assert model["DomainName"] == f"{name}.s3.amazonaws.com"
    assert model["RegionalDomainName"] == f"{name}.s3.{REGION}.amazonaws.com"
    assert model["DualStackDomainName"] == f"{name}.s3.dualstack.{REGION}.amazonaws.com"
    assert model["WebsiteURL"] == f"http://{name}.s3-website-{REGION}.amazonaws.com"
    given = complete("AWS::S3::Bucket", {"BucketName": "my-bucket"})
    assert given["BucketName"] == "my-bucket" and given["Arn"] == "arn:aws:s3:::my-bucket"
    assert arn_of("AWS::S3::Bucket", given) == "arn:aws:s3:::my-bucket"


def test_queue_url_and_arn() -> None:
    model = complete("AWS::SQS::Queue", {"QueueName": "jobs"})
    assert model["QueueUrl"] == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/jobs"
    assert model["Arn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"
    unnamed = complete("AWS::SQS::Queue", {"FifoQueue": True})
    assert unnamed["QueueName"].endswith(".fifo")
    assert unnamed["QueueUrl"].endswith("/" + unnamed["QueueName"])


def test_iam_role_name_id_and_arn() -> None:
    policy = {"Version": "2012-10-17", "Statement": []}
    model = complete("AWS::IAM::Role", {"AssumeRolePolicyDocument": policy, "Path": "/svc/"})
    assert re.fullmatch(r"AROA[A-Z0-9]{17}", model["RoleId"])
    assert model["RoleName"]
    assert model["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/svc/{model['RoleName']}"
    named = complete("AWS::IAM::Role", {"AssumeRolePolicyDocument": policy, "RoleName": "r"})
    assert named["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/r"


def test_sagemaker_cluster_arn_status_and_current_count() -> None:
    state = {
        "ClusterName": "train",
        "InstanceGroups": [
            {"InstanceGroupName": "workers", "InstanceType": "ml.c5.xlarge", "InstanceCount": 3,
             "ExecutionRole": f"arn:aws:iam::{ACCOUNT}:role/r",
             "LifeCycleConfig": {"SourceS3Uri": "s3://b/p", "OnCreate": "on_create.sh"}},
        ],
    }  # fmt: skip
    model = complete("AWS::SageMaker::Cluster", state)
    assert re.fullmatch(
        rf"arn:aws:sagemaker:{REGION}:{ACCOUNT}:cluster/[a-z0-9]{{12}}", model["ClusterArn"]
    )
    assert model["ClusterStatus"] == "InService"
    assert model["InstanceGroups"][0]["CurrentCount"] == 3
    assert "FailureMessage" not in model  # only set when something went wrong
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", model["CreationTime"])


def test_read_only_status_prefers_a_healthy_enum_value() -> None:
    schema = get_schema("AWS::SageMaker::Cluster")
    enum = schema.subschema(("ClusterStatus",))
    assert enum is not None and "InService" in enum["enum"]
    assert values._healthy_enum(["Creating", "Failed", "InService"]) == "InService"
    assert values._healthy_enum(["PENDING", "available"]) == "available"


@pytest.mark.parametrize(
    ("type_name", "expected"),
    [
        ("AWS::EC2::VPC", "ec2:vpc"),
        ("AWS::EC2::Subnet", "ec2:subnet"),
        ("AWS::EC2::SecurityGroup", "ec2:security-group"),
        ("AWS::EC2::RouteTable", "ec2:route-table"),
        ("AWS::EC2::InternetGateway", "ec2:internet-gateway"),
        ("AWS::EC2::NatGateway", "ec2:natgateway"),
        ("AWS::S3::Bucket", "s3:bucket"),
        ("AWS::SQS::Queue", "sqs:queue"),
        ("AWS::IAM::Role", "iam:role"),
        ("AWS::Lambda::Function", "lambda:function"),
        ("AWS::SageMaker::Cluster", "sagemaker:cluster"),
        ("AWS::StepFunctions::StateMachine", "states:statemachine"),
        ("AWS::RDS::DBInstance", "rds:db"),
    ],
)
def test_tagging_resource_types(type_name: str, expected: str) -> None:
    assert values.tagging_resource_type(type_name) == expected


def test_tagging_type_matches_the_arn_for_every_generated_model() -> None:
    """The Tagging API type is the ARN's service and resource-type segment."""
    for type_name in ("AWS::EC2::VPC", "AWS::SQS::Queue", "AWS::Lambda::Function",
                      "AWS::KMS::Key", "AWS::DynamoDB::Table", "AWS::ECS::Cluster"):  # fmt: skip
        schema = get_schema(type_name)
        state = values.minimal_desired_state(schema)
        assert state is not None
        model = values.complete_model(schema, state, region=REGION, account_id=ACCOUNT)
        arn = values.resource_arn(schema, model, region=REGION, account_id=ACCOUNT)
        assert arn is not None
        service = arn.split(":")[2]
        assert values.tagging_resource_type(type_name).split(":")[0] == service


def test_arns_of_special_shapes() -> None:
    lam = complete("AWS::Lambda::Function", {"Code": {"ZipFile": "x"},
                                              "Role": f"arn:aws:iam::{ACCOUNT}:role/r",
                                              "FunctionName": "fn"})  # fmt: skip
    assert lam["Arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn"
    key = complete("AWS::KMS::Key", {})
    assert re.fullmatch(rf"arn:aws:kms:{REGION}:{ACCOUNT}:key/[0-9a-f-]{{36}}", key["Arn"])
    assert key["Arn"].endswith(key["KeyId"])


# ---------------------------------------------------------- regex strings
@pytest.mark.parametrize(
    "pattern",
    [
        r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:cluster/[a-z0-9]{12}$",
        r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$",  # ECMA unicode classes: Python rejects them
        r"^(?!aws:)[a-zA-Z+-=._:/]+$",
        r"^(([0-9]{1,3}\.){3}[0-9]{1,3})/([0-9]|[1-2][0-9]|3[0-2])$",
        r"cron\((\b[0-5]?[0-9]\b) (\b2[0-3]\b|\b[0-1]?[0-9]\b) (.*){1,5} (.*){1,5}\)",
    ],
)
def test_string_for_pattern_matches(pattern: str) -> None:
    rng = random.Random(7)
    text = formats.string_for_pattern(pattern, rng, min_length=1, max_length=64)
    assert text is not None
    compiled = formats.python_pattern(pattern)
    assert compiled is not None and compiled.search(text)
    assert 1 <= len(text) <= 64


def test_python_pattern_translates_ecma_syntax() -> None:
    assert formats.python_pattern(r"^[\w- ]+$") is not None
    assert formats.python_pattern(r"^(?!(?i)aws)[a-z]+$") is not None
    unicode = formats.python_pattern(r"^[\p{L}\p{N}]+$")
    assert unicode is not None and unicode.search("abc123") and not unicode.search("a b")


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (r"^[\p{Print}&&[^|:/]]+$", "a b-c", "a|b"),  # Java intersection: printable minus |:/
        (r"^[\p{L}||\p{N}]+$", "ab12", "a b"),  # '||' is literal in ECMA classes
        (r"^[a-z--]+$", "a-b", "A"),  # '--' after a range: literal dashes
        (r"^[[a-z]+$", "[ab", "A"),  # '[' inside a class is literal
    ],
)
def test_python_pattern_compiles_set_syntax_without_warnings(
    pattern: str, good: str, bad: str
) -> None:
    """pytest turns warnings into errors: the translation must not trigger re's
    FutureWarning about nested sets and set operations, and keep the ECMA/Java meaning."""
    compiled = formats.python_pattern(pattern)
    assert compiled is not None
    assert compiled.search(good) and not compiled.search(bad)
    text = formats.string_for_pattern(pattern, random.Random(3), min_length=1, max_length=32)
    assert text is not None and compiled.search(text)


# ---------------------------------------------------------- minimal states
def test_minimal_states_of_known_types() -> None:
    role = values.minimal_desired_state(get_schema("AWS::IAM::Role"))
    assert role is not None and set(role) == {"AssumeRolePolicyDocument"}
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == "sts:AssumeRole"
    assert values.minimal_desired_state(get_schema("AWS::S3::Bucket")) == {}
    subnet = values.minimal_desired_state(get_schema("AWS::EC2::Subnet"))
    assert subnet is not None and re.match(r"^vpc" + EC2_ID, subnet["VpcId"])


def test_minimal_state_picks_a_one_of_branch() -> None:
    # DataZone::Owner: Owner is oneOf {Group} / {User}, each additionalProperties false.
    schema = get_schema("AWS::DataZone::Owner")
    state = values.minimal_desired_state(schema)
    assert state is not None and len(state["Owner"]) == 1
    assert desired.validate(schema, state) == []


def test_every_registry_type_gets_a_valid_minimal_state_and_model() -> None:
    registry = get_registry(REGION)
    failures: list[str] = []
    made = 0
    for type_name in registry.type_names():
        schema = registry.get(type_name)
        state = values.minimal_desired_state(schema)
        if state is None:
            failures.append(f"{type_name}: no minimal state")
            continue
        made += 1
        if any(schema.is_read_only((name,)) for name in state):
            failures.append(f"{type_name}: read-only property in the minimal state")
        problems = desired.validate(schema, state, mode="create")
        if problems:
            failures.append(f"{type_name}: minimal state invalid: {problems[0]}")
        model = values.complete_model(schema, state, region=REGION, account_id=ACCOUNT)
        if schema.primary_identifier and schema.identifier_of(model) is None:
            failures.append(f"{type_name}: no identifier")
        problems = desired.validate(schema, model, mode="model")
        if problems:
            failures.append(f"{type_name}: model invalid: {problems[0]}")
    # Known, explained exceptions: a schema whose oneOf both identifier forms satisfy once
    # AWS fills the read-only one, and a type without a primary identifier.
    allowed = {"AWS::S3Vectors::VectorBucketPolicy", "AWS::CDK::Metadata"}
    unexpected = [f for f in failures if f.split(": ", 1)[0] not in allowed]
    assert made >= len(registry.type_names()) - 5
    assert unexpected == []


def test_gateway_attachment_type_follows_the_gateway() -> None:
    from stackdeploy.sandbox.values import complete_model
    from stackdeploy.schema.registry import get_schema

    schema = get_schema("AWS::EC2::VPCGatewayAttachment")
    vpc = "vpc-0123456789abcdef0"
    igw = complete_model(
        schema,
        {"VpcId": vpc, "InternetGatewayId": "igw-0123456789abcdef0"},
        region="us-east-1",
        account_id="123456789012",
    )
    assert schema.identifier_of(igw) == f"IGW|{vpc}"
    vgw = complete_model(
        schema,
        {"VpcId": vpc, "VpnGatewayId": "vgw-0123456789abcdef0"},
        region="us-east-1",
        account_id="123456789012",
    )
    assert vgw["AttachmentType"] == "VGW"
