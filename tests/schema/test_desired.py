"""Desired-state helpers on real schemas: key normalisation, coercion, pruning, validation,
patch preparation."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from stackdeploy.errors import ValidationError
from stackdeploy.schema import desired, validation
from stackdeploy.schema.desired import Violation
from stackdeploy.schema.registry import get_schema

# The AWS::SageMaker::Cluster manifest from the awscc provider's documentation page,
# rendered with example values. Jinja renders every
# placeholder to text, so numbers arrive as strings; `- {}` and the nulls are as published.
SEED_MANIFEST_PROPS = """
- name: vpc_config
  value:
    security_group_ids:
      - 'sg-0123456789abcdef0'
    subnets:
      - 'subnet-0123456789abcdef0'
- name: node_recovery
  value: 'Automatic'
- name: instance_groups
  value:
    - instance_group_name: 'workers'
      instance_storage_configs:
        - {}
      life_cycle_config:
        source_s3_uri: 's3://my-bucket/lifecycle'
        on_create: 'on_create.sh'
      threads_per_core: '1'
      override_vpc_config: null
      instance_count: '2'
      on_start_deep_health_checks:
        - 'InstanceStress'
      current_count: '0'
      scheduled_update_config:
        schedule_expression: 'cron(0 3 ? * SUN *)'
        deployment_config:
          auto_rollback_configuration:
            alarms:
              - alarm_name: 'my-alarm'
          rolling_update_policy:
            maximum_batch_size: null
            maximum_execution_timeout_in_seconds: '3600'
            rollback_maximum_batch_size: null
            wait_interval_in_seconds: '60'
      instance_type: 'ml.t3.medium'
      execution_role: 'arn:aws:iam::123456789012:role/sagemaker-exec'
- name: restricted_instance_groups
  value:
    - override_vpc_config: null
      instance_count: '1'
      on_start_deep_health_checks: null
      environment_config:
        f_sx_lustre_config:
          size_in_gi_b: '1200'
          per_unit_storage_throughput: '125'
      instance_group_name: null
      instance_storage_configs: null
      current_count: '0'
      threads_per_core: '2'
      execution_role: null
- name: orchestrator
  value:
    eks:
      cluster_arn: 'arn:aws:eks:us-east-1:123456789012:cluster/my-eks'
- name: cluster_name
  value: 'my-cluster'
- name: tags
  value:
    - value: 'dev'
      key: 'env'
"""


def seed_props() -> dict[str, Any]:
    return {p["name"]: p["value"] for p in yaml.safe_load(SEED_MANIFEST_PROPS)}


@pytest.fixture(scope="module")
def cluster() -> Any:
    return get_schema("AWS::SageMaker::Cluster")


# ------------------------------------------------------------------ seed manifest
def test_seed_instance_groups_normalise_to_cfn_shape(cluster: Any) -> None:
    state = desired.prepare(cluster, {"instance_groups": seed_props()["instance_groups"]})
    group = state["InstanceGroups"][0]
    assert group["InstanceGroupName"] == "workers"
    assert group["InstanceCount"] == 2 and group["ThreadsPerCore"] == 1
    assert group["CurrentCount"] == 0
    assert group["InstanceStorageConfigs"] == [{}]  # written by the user: kept
    assert group["LifeCycleConfig"] == {
        "SourceS3Uri": "s3://my-bucket/lifecycle",
        "OnCreate": "on_create.sh",
    }
    assert "OverrideVpcConfig" not in group and "override_vpc_config" not in group
    assert group["OnStartDeepHealthChecks"] == ["InstanceStress"]
    update = group["ScheduledUpdateConfig"]
    assert update["ScheduleExpression"] == "cron(0 3 ? * SUN *)"
    # MaximumBatchSize: null and RollbackMaximumBatchSize: null are pruned; the two keys the
    # current schema does not know stay as written (validation names them).
    assert update["DeploymentConfig"]["RollingUpdatePolicy"] == {
        "maximum_execution_timeout_in_seconds": "3600",
        "wait_interval_in_seconds": "60",
    }


def test_seed_instance_groups_rendered_as_json_text(cluster: Any) -> None:
    # stackql-deploy renders a structured prop value to JSON text before the query sees it.
    text = json.dumps(seed_props()["instance_groups"])
    state = desired.prepare(cluster, {"instance_groups": text})
    assert isinstance(state["InstanceGroups"], list)
    assert state["InstanceGroups"][0]["InstanceCount"] == 2
    assert state["InstanceGroups"][0]["LifeCycleConfig"]["OnCreate"] == "on_create.sh"


def test_normalise_keys_alone_keeps_json_text_as_text(cluster: Any) -> None:
    text = json.dumps([{"instance_group_name": "a", "instance_count": "2"}])
    out = desired.normalise_keys(cluster, {"instance_groups": text})
    assert json.loads(out["InstanceGroups"]) == [{"InstanceGroupName": "a", "InstanceCount": "2"}]


def test_seed_restricted_groups_acronym_names(cluster: Any) -> None:
    state = desired.prepare(cluster, seed_props())
    rig = state["RestrictedInstanceGroups"][0]
    assert rig["EnvironmentConfig"] == {
        "FSxLustreConfig": {"SizeInGiB": 1200, "PerUnitStorageThroughput": 125}
    }
    assert set(rig) == {"InstanceCount", "EnvironmentConfig", "CurrentCount", "ThreadsPerCore"}
    assert state["VpcConfig"] == {
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
        "Subnets": ["subnet-0123456789abcdef0"],
    }
    assert state["Orchestrator"] == {
        "Eks": {"ClusterArn": "arn:aws:eks:us-east-1:123456789012:cluster/my-eks"}
    }
    assert state["Tags"] == [{"Value": "dev", "Key": "env"}]


def test_seed_manifest_validation_names_each_problem(cluster: Any) -> None:
    # The published example was generated from an older schema and sets read-only counts:
    # every mismatch is reported with its path.
    state = desired.prepare(cluster, seed_props())
    found = [str(v) for v in desired.validate(cluster, state)]
    group = "/InstanceGroups/0"
    dc = f"{group}/ScheduledUpdateConfig/DeploymentConfig"
    assert found == [
        f"{group}/CurrentCount: read-only property, set by AWS",
        f"{group}/InstanceStorageConfigs/0: {{}} matches more than one of the allowed forms: "
        "give exactly one of EbsVolumeConfig, FsxLustreConfig, FsxOpenZfsConfig",
        f"{dc}/AutoRollbackConfiguration: {{'alarms': [{{'alarm_name': 'my-alarm'}}]}} "
        "is not of type 'array'",
        f"{dc}/RollingUpdatePolicy/MaximumBatchSize: required property is missing",
        f"{dc}/RollingUpdatePolicy/maximum_execution_timeout_in_seconds: unknown property",
        f"{dc}/RollingUpdatePolicy/wait_interval_in_seconds: unknown property",
        "/RestrictedInstanceGroups/0/CurrentCount: read-only property, set by AWS",
        "/RestrictedInstanceGroups/0/ExecutionRole: required property is missing",
        "/RestrictedInstanceGroups/0/InstanceGroupName: required property is missing",
        "/RestrictedInstanceGroups/0/InstanceType: required property is missing",
    ]


# ---------------------------------------------------------------- normalise_keys
def test_normalise_exact_snake_and_loose_spellings() -> None:
    lam = get_schema("AWS::Lambda::Function")
    out = desired.normalise_keys(
        lam,
        {
            "FunctionName": "f",
            "vpc_config": {"security_group_ids": ["sg-1"], "SUBNETIDS": ["s-1"]},
            "memory-size": "128",
            "not_a_property": 1,
        },
    )
    assert out == {
        "FunctionName": "f",
        "VpcConfig": {"SecurityGroupIds": ["sg-1"], "SubnetIds": ["s-1"]},
        "MemorySize": "128",
        "not_a_property": 1,
    }


def test_free_form_keys_are_left_alone() -> None:
    role = get_schema("AWS::IAM::Role")
    policy = {"version": "2012-10-17", "statement": [{"effect": "Allow"}]}
    out = desired.normalise_keys(
        role,
        {
            "assume_role_policy_document": policy,
            "policies": [{"policy_name": "p", "policy_document": {"statement": []}}],
        },
    )
    assert out["AssumeRolePolicyDocument"] == policy
    assert out["Policies"] == [{"PolicyName": "p", "PolicyDocument": {"statement": []}}]
    out["AssumeRolePolicyDocument"]["statement"].append("x")  # a copy, not the caller's data
    assert policy["statement"] == [{"effect": "Allow"}]


def test_tag_map_keys_are_left_alone() -> None:
    param = get_schema("AWS::SSM::Parameter")
    out = desired.prepare(param, {"tags": {"cost_center": 42, "Env": "dev"}, "type": "String"})
    assert out == {"Tags": {"cost_center": "42", "Env": "dev"}, "Type": "String"}


def test_exact_spelling_wins_over_snake_duplicate() -> None:
    vpc = get_schema("AWS::EC2::VPC")
    out = desired.normalise_keys(vpc, {"cidr_block": "10.1.0.0/16", "CidrBlock": "10.0.0.0/16"})
    assert out == {"cidr_block": "10.1.0.0/16", "CidrBlock": "10.0.0.0/16"}
    found = [str(v) for v in desired.validate(vpc, out)]
    assert found == ["/cidr_block: unknown property; did you mean 'CidrBlock'?"]


def test_input_is_not_modified(cluster: Any) -> None:
    props = seed_props()
    before = json.dumps(props, sort_keys=True)
    desired.prepare(cluster, props)
    assert json.dumps(props, sort_keys=True) == before


# ------------------------------------------------------------------------ coerce
def test_coerce_scalars_by_schema_type() -> None:
    vpc = get_schema("AWS::EC2::VPC")
    out = desired.prepare(
        vpc,
        {
            "cidr_block": "10.0.0.0/16",
            "enable_dns_support": "TRUE",
            "enable_dns_hostnames": "false",
            "ipv4_netmask_length": "16",
            "tags": [{"key": "n", "value": 123}, {"key": "flag", "value": True}],
        },
    )
    assert out == {
        "CidrBlock": "10.0.0.0/16",
        "EnableDnsSupport": True,
        "EnableDnsHostnames": False,
        "Ipv4NetmaskLength": 16,
        "Tags": [{"Key": "n", "Value": "123"}, {"Key": "flag", "Value": "true"}],
    }


def test_coerce_numbers_integers_and_bad_text() -> None:
    asg = get_schema("AWS::ElasticLoadBalancingV2::TargetGroup")
    out = desired.coerce(
        asg,
        {"Port": "8080", "HealthCheckIntervalSeconds": "30.0", "HealthCheckTimeoutSeconds": "x"},
    )
    assert out == {"Port": 8080, "HealthCheckIntervalSeconds": 30, "HealthCheckTimeoutSeconds": "x"}
    found = [str(v) for v in desired.validate(asg, out, mode="model")]
    assert found == ["/HealthCheckTimeoutSeconds: 'x' is not of type 'integer'"]
    alarm = get_schema("AWS::CloudWatch::Alarm")
    assert desired.coerce(alarm, {"Threshold": "3.5", "EvaluationPeriods": 3}) == {
        "Threshold": 3.5,
        "EvaluationPeriods": 3,
    }
    threshold = desired.coerce(alarm, {"Threshold": "3"})["Threshold"]
    assert threshold == 3 and isinstance(threshold, int)
    # Text that is not a number stays as it is (validation then reports it).
    assert desired.coerce(alarm, {"Threshold": "three"}) == {"Threshold": "three"}


def test_policy_document_string_or_object() -> None:
    role = get_schema("AWS::IAM::Role")
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    out = desired.prepare(role, {"assume_role_policy_document": json.dumps(doc), "role_name": "r"})
    assert out["AssumeRolePolicyDocument"] == doc
    assert desired.validate(role, out) == []
    # Text that is not a JSON object is acceptable as a string: kept.
    for text in ("[1, 2]", "{not json", "plain"):
        assert desired.coerce(role, {"AssumeRolePolicyDocument": text}) == {
            "AssumeRolePolicyDocument": text
        }
    # Nothing inside the free-form document is coerced: the schema says nothing there.
    odd = {"Version": 2012, "Statement": []}
    assert (
        desired.coerce(role, {"AssumeRolePolicyDocument": odd})["AssumeRolePolicyDocument"] == odd
    )


def test_yaml_dates_become_text_even_in_free_form_documents() -> None:
    role = get_schema("AWS::IAM::Role")
    doc = yaml.safe_load("Version: 2012-10-17\nStatement: []")
    out = desired.prepare(role, {"AssumeRolePolicyDocument": doc, "Description": doc["Version"]})
    assert out == {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
        "Description": "2012-10-17",
    }


def test_structure_given_for_a_string_becomes_json_text() -> None:
    machine = get_schema("AWS::StepFunctions::StateMachine")
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    out = desired.coerce(machine, {"DefinitionString": definition})
    assert json.loads(out["DefinitionString"]) == definition


def test_bucket_versioning_configuration() -> None:
    bucket = get_schema("AWS::S3::Bucket")
    out = desired.prepare(
        bucket,
        {"bucket_name": "my-bucket-1", "versioning_configuration": {"status": "Enabled"}},
    )
    assert out == {"BucketName": "my-bucket-1", "VersioningConfiguration": {"Status": "Enabled"}}
    assert desired.validate(bucket, out) == []
    bad = desired.prepare(bucket, {"versioning_configuration": {"status": "On"}})
    assert [str(v) for v in desired.validate(bucket, bad)] == [
        "/VersioningConfiguration/Status: 'On' is not one of ['Enabled', 'Suspended']"
    ]
    assert [str(v) for v in desired.validate(bucket, {"VersioningConfiguration": {}})] == [
        "/VersioningConfiguration/Status: required property is missing"
    ]


# ------------------------------------------------------------------------- prune
def test_prune_rules() -> None:
    vpc = get_schema("AWS::EC2::VPC")
    state = {
        "CidrBlock": "",  # a string property: an empty string is a value
        "EnableDnsSupport": "",  # a boolean: an empty render means "not set"
        "Ipv4NetmaskLength": None,
        "Tags": [None, {"Key": "a", "Value": None}, {"Key": "b", "Value": ""}],
    }
    assert desired.prune(vpc, state) == {
        "CidrBlock": "",
        "Tags": [{"Key": "a"}, {"Key": "b", "Value": ""}],
    }


def test_prune_drops_what_pruning_emptied_but_keeps_literal_empties(cluster: Any) -> None:
    state = {
        "Orchestrator": {"Eks": {"ClusterArn": None}},  # emptied by pruning: dropped
        "VpcConfig": {},  # written empty: kept
        "Tags": [],  # written empty: kept
        "InstanceGroups": [{"InstanceStorageConfigs": [{}], "OverrideVpcConfig": None}],
        "RestrictedInstanceGroups": [{"InstanceCount": None}],  # item emptied: list dropped
    }
    assert desired.prune(cluster, state) == {
        "VpcConfig": {},
        "Tags": [],
        "InstanceGroups": [{"InstanceStorageConfigs": [{}]}],
    }


def test_prune_keeps_empty_string_where_schema_says_nothing() -> None:
    role = get_schema("AWS::IAM::Role")
    doc = {"Statement": [{"Condition": ""}]}
    assert desired.prune(role, {"AssumeRolePolicyDocument": doc}) == {
        "AssumeRolePolicyDocument": doc
    }


# ---------------------------------------------------------------------- validate
def test_type_errors_with_paths_all_reported() -> None:
    lam = get_schema("AWS::Lambda::Function")
    state = {
        "Code": {"ZipFile": "x"},
        "Role": "arn:aws:iam::123456789012:role/r",
        "VpcConfig": {"SubnetIds": ["subnet-1", 5], "SecurityGroupIds": "sg-1"},
        "MemorySize": "lots",
    }
    found = [str(v) for v in desired.validate(lam, state)]
    assert found == [
        "/MemorySize: 'lots' is not of type 'integer'",
        "/VpcConfig/SecurityGroupIds: 'sg-1' is not of type 'array'",
        "/VpcConfig/SubnetIds/1: 5 is not of type 'string'",
    ]


def test_cluster_subnet_message_matches_documented_form(cluster: Any) -> None:
    found = desired.validate(cluster, {"VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": [5]}})
    assert [str(v) for v in found] == ["/VpcConfig/Subnets/0: 5 is not of type 'string'"]
    assert found[0] == Violation("/VpcConfig/Subnets/0", "5 is not of type 'string'")


def test_unknown_properties_with_did_you_mean() -> None:
    lam = get_schema("AWS::Lambda::Function")
    state = {
        "Code": {"ZipFile": "x"},
        "Role": "arn:aws:iam::123456789012:role/r",
        "Handlr": "index.handler",
        "VpcConfig": {"SubnetId": ["subnet-1"]},
        "Zzzqqq": 1,
    }
    found = [str(v) for v in desired.validate(lam, state)]
    assert found == [
        "/Handlr: unknown property; did you mean 'Handler'?",
        "/VpcConfig/SubnetId: unknown property; did you mean 'SubnetIds'?",
        "/Zzzqqq: unknown property",
    ]


def test_modes_required_and_read_only() -> None:
    subnet = get_schema("AWS::EC2::Subnet")
    state = {"CidrBlock": "10.0.0.0/24", "SubnetId": "subnet-1"}
    assert [str(v) for v in desired.validate(subnet, state)] == [
        "/SubnetId: read-only property, set by AWS",
        "/VpcId: required property is missing",
    ]
    assert [str(v) for v in desired.validate(subnet, state, mode="update")] == [
        "/VpcId: required property is missing"
    ]
    assert desired.validate(subnet, state, mode="model") == []
    with pytest.raises(ValueError):
        desired.validate(subnet, state, mode="nonsense")


def test_nested_read_only_in_create(cluster: Any) -> None:
    group = {
        "InstanceGroupName": "g",
        "InstanceType": "ml.t3.medium",
        "InstanceCount": 1,
        "ExecutionRole": "arn:aws:iam::123456789012:role/r",
        "CurrentCount": 1,
    }
    found = [str(v) for v in desired.validate(cluster, {"InstanceGroups": [group]})]
    assert found == ["/InstanceGroups/0/CurrentCount: read-only property, set by AWS"]
    assert desired.validate(cluster, {"InstanceGroups": [group]}, mode="update") == []


def test_aws_keywords_and_java_regexes_do_not_break_validation() -> None:
    param = get_schema("AWS::SSM::Parameter")  # tag keys use \\p{L} patterns
    assert desired.validate(param, {"Type": "String", "Value": "v", "Tags": {"k é": "v"}}) == []
    bucket = get_schema("AWS::S3::Bucket")  # custom formats such as AWS::S3::Bucket.Name
    assert desired.validate(bucket, {"BucketName": "abc"}) == []


def test_validator_is_compiled_once_per_schema() -> None:
    vpc = get_schema("AWS::EC2::VPC")
    desired.validate(vpc, {})
    first = validation._compiled(vpc)
    desired.validate(vpc, {"CidrBlock": "10.0.0.0/16"})
    assert validation._compiled(vpc) is first


def test_check_raises_with_count_and_first_violations() -> None:
    lam = get_schema("AWS::Lambda::Function")
    with pytest.raises(ValidationError) as caught:
        desired.check(lam, {"Handlr": 1, "MemorySize": "x", "Timeout": "y", "Runtime": 3})
    err = caught.value
    assert len(err.violations) == 7  # 4 wrong + Code and Role missing + Handlr unknown
    assert str(err).startswith("AWS::Lambda::Function: desired state has 7 schema violations: ")
    assert "/Code: required property is missing" in str(err)
    assert "and 4 more" in str(err)
    assert err.hint and "describe AWS::Lambda::Function" in err.hint
    desired.check(lam, {"Code": {"ZipFile": "x"}, "Role": "arn:aws:iam::123456789012:role/r"})


# ------------------------------------------------------------------ prepare_patch
def test_prepare_patch_normalises_paths_and_values(cluster: Any) -> None:
    ops = [
        {"op": "replace", "path": "node_recovery", "value": "None"},
        {"op": "add", "path": "/instance_groups/-", "value": {"instance_count": "3"}},
        {"op": "replace", "path": "/instance_groups/0/instance_count", "value": "4"},
        {"op": "add", "path": "tags/0", "value": {"key": "k", "value": 7}},
        {"op": "move", "from": "vpc_config/subnets/1", "path": "vpc_config/subnets/0"},
        {"op": "remove", "path": "/orchestrator/eks"},
    ]
    assert desired.prepare_patch(cluster, ops) == [
        {"op": "replace", "path": "/NodeRecovery", "value": "None"},
        {"op": "add", "path": "/InstanceGroups/-", "value": {"InstanceCount": 3}},
        {"op": "replace", "path": "/InstanceGroups/0/InstanceCount", "value": 4},
        {"op": "add", "path": "/Tags/0", "value": {"Key": "k", "Value": "7"}},
        {"op": "move", "from": "/VpcConfig/Subnets/1", "path": "/VpcConfig/Subnets/0"},
        {"op": "remove", "path": "/Orchestrator/Eks"},
    ]


def test_prepare_patch_json_text_and_free_form_values() -> None:
    role = get_schema("AWS::IAM::Role")
    doc = {"statement": [{"effect": "Allow"}]}
    text = json.dumps(
        [{"op": "replace", "path": "assume_role_policy_document", "value": json.dumps(doc)}]
    )
    assert desired.prepare_patch(role, text) == [
        {"op": "replace", "path": "/AssumeRolePolicyDocument", "value": doc}
    ]
    # Unknown names are kept so that the update's validation can name them.
    assert desired.prepare_patch(role, [{"op": "remove", "path": "/no_such/x"}]) == [
        {"op": "remove", "path": "/no_such/x"}
    ]


@pytest.mark.parametrize(
    ("ops", "problem"),
    [
        ([{"op": "replace", "path": "/A", "value": 1}, "oops"], "patch operation 1: not an object"),
        ([{"op": "frobnicate", "path": "/A"}], "patch operation 0: unknown or missing 'op'"),
        ([{"op": "add", "value": 1}], "patch operation 0: missing 'path'"),
        ([{"op": "replace", "path": "/A"}], "patch operation 0: 'replace' needs 'value'"),
        ([{"op": "copy", "path": "/A"}], "patch operation 0: 'copy' needs 'from'"),
        ("[{not json", "patch document is not valid JSON"),
        (42, "a patch document must be a list"),
    ],
)
def test_prepare_patch_rejects_malformed_ops(ops: Any, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        desired.prepare_patch(get_schema("AWS::EC2::VPC"), ops)
