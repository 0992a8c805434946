"""From live models to props: what is kept, what is dropped, what becomes a placeholder."""

from __future__ import annotations

from stackdeploy.adopt.props import add_placeholders, clean_live, placeholder_variable
from stackdeploy.schema.registry import get_schema


def test_read_only_defaults_nulls_and_empties_are_dropped() -> None:
    schema = get_schema("AWS::IAM::Role")
    live = {
        "RoleName": "worker",
        "Arn": "arn:aws:iam::123456789012:role/worker",  # read-only
        "RoleId": "AROA123",  # read-only
        "Path": "/",  # the schema's default
        "Description": None,
        "ManagedPolicyArns": [],
        "MaxSessionDuration": 7200,
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
        "Unknown": "an endpoint's extra",
    }
    assert clean_live(schema, live) == {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17"},
        "MaxSessionDuration": 7200,
        "RoleName": "worker",
    }


def test_nested_read_only_and_write_only_paths_are_dropped() -> None:
    schema = get_schema("AWS::S3::Bucket")
    live = {
        "BucketName": "b",
        "AccessControl": "Private",  # write-only
        "LifecycleConfiguration": {
            "Rules": [
                {"Id": "r", "Status": "Enabled", "ExpirationInDays": 3, "Transition": {"x": 1}}
            ]
        },
        "MetadataTableConfiguration": {
            "S3TablesDestination": {
                "TableBucketArn": "arn:aws:s3tables:us-east-1:1:bucket/t",
                "TableName": "t",
                "TableNamespace": "ns",  # read-only, nested
                "TableArn": "arn:x",  # read-only, nested
            }
        },
    }
    assert clean_live(schema, live) == {
        "BucketName": "b",
        "LifecycleConfiguration": {
            "Rules": [{"Id": "r", "Status": "Enabled", "ExpirationInDays": 3}]
        },
        "MetadataTableConfiguration": {
            "S3TablesDestination": {
                "TableBucketArn": "arn:aws:s3tables:us-east-1:1:bucket/t",
                "TableName": "t",
            }
        },
    }


def test_stack_and_system_tags_are_dropped_in_both_tag_forms() -> None:
    listed = get_schema("AWS::EC2::VPC")
    live = {
        "CidrBlock": "10.0.0.0/16",
        "Tags": [
            {"Key": "Name", "Value": "main"},
            {"Key": "stackql:stack-name", "Value": "s"},
            {"Key": "stackql:stack-env", "Value": "dev"},
            {"Key": "stackql:resource-name", "Value": "vpc"},
            {"Key": "aws:cloudformation:stack-name", "Value": "cfn"},
        ],
    }
    assert clean_live(listed, live)["Tags"] == [{"Key": "Name", "Value": "main"}]
    only_stack = {**live, "Tags": live["Tags"][1:4]}
    assert "Tags" not in clean_live(listed, only_stack)

    mapped = get_schema("AWS::SSM::Parameter")
    assert mapped.tags_are_map
    model = {"Type": "String", "Value": "v", "Tags": {"team": "a", "stackql:stack-env": "dev"}}
    assert clean_live(mapped, model)["Tags"] == {"team": "a"}


def test_properties_come_in_schema_order_with_tags_last() -> None:
    schema = get_schema("AWS::EC2::Subnet")
    live = {"Tags": [{"Key": "a", "Value": "b"}], "VpcId": "vpc-1", "CidrBlock": "10.0.0.0/24"}
    assert list(clean_live(schema, live)) == [
        p for p in schema.properties if p in ("VpcId", "CidrBlock")
    ] + ["Tags"]


def test_required_write_only_values_become_placeholders() -> None:
    schema = get_schema("AWS::Lambda::Function")
    live = {"FunctionName": "fn", "Role": "arn:aws:iam::1:role/r", "Code": {}}
    props = clean_live(schema, live)
    assert "Code" not in props
    filled, holes = add_placeholders(schema, props, "fn")
    assert filled["Code"] == "{{ FN_CODE }}"
    assert [(h.pointer, h.variable, h.write_only) for h in holes] == [("/Code", "FN_CODE", True)]
    assert list(filled) == [p for p in schema.properties if p in filled]  # schema order kept


def test_nested_required_values_become_placeholders_where_they_belong() -> None:
    schema = get_schema("AWS::IAM::User")
    props = {"UserName": "u", "LoginProfile": {"PasswordResetRequired": True}}
    filled, holes = add_placeholders(schema, props, "user")
    assert filled["LoginProfile"] == {
        "PasswordResetRequired": True,
        "Password": "{{ USER_LOGIN_PROFILE_PASSWORD }}",
    }
    assert [(h.pointer, h.write_only) for h in holes] == [("/LoginProfile/Password", True)]


def test_nothing_to_fill_means_no_placeholder() -> None:
    schema = get_schema("AWS::SQS::Queue")
    props = {"QueueName": "q"}
    assert add_placeholders(schema, props, "q") == (props, ())


def test_placeholder_variables_are_upper_case_identifiers() -> None:
    assert placeholder_variable("db", "/MasterUserPassword") == "DB_MASTER_USER_PASSWORD"
    assert placeholder_variable("x", "/Items/0/SecretValue") == "X_ITEMS_0_SECRET_VALUE"
