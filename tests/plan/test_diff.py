"""The schema-aware diff, rule by rule, on real registry schemas; plus patch round trips.

The round-trip property: applying the diff's patch to live (with jsonpatch, as Cloud Control
does) gives a document that diffs clean against desired.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import jsonpatch
import pytest

from stackdeploy.plan.diff import (
    Change,
    diff_resource,
    display_pointer,
    in_sync,
    tags_equal,
    values_equal,
)
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.registry import get_schema


@pytest.fixture(scope="module")
def bucket() -> ResourceSchema:
    return get_schema("AWS::S3::Bucket")


@pytest.fixture(scope="module")
def role() -> ResourceSchema:
    return get_schema("AWS::IAM::Role")


@pytest.fixture(scope="module")
def sg() -> ResourceSchema:
    return get_schema("AWS::EC2::SecurityGroup")


@pytest.fixture(scope="module")
def cluster() -> ResourceSchema:
    return get_schema("AWS::SageMaker::Cluster")


# cfn-lint 1.51's AWS::SageMaker::Cluster made these instance-group members create-only; 1.58
# dropped them all (UpdateCluster now changes them in place). No type in 1.58 has an
# unordered array of several elements with create-only members, so the pairing of reordered
# elements is tested on the current document with this list restored.
CLUSTER_151_GROUP_CREATE_ONLY = [
    f"/properties/{groups}/*/{member}"
    for groups in ("InstanceGroups", "RestrictedInstanceGroups")
    for member in (
        "OverrideVpcConfig",
        "ExecutionRole",
        "InstanceGroupName",
        "InstanceType",
        "ThreadsPerCore",
    )
]


@pytest.fixture(scope="module")
def cluster_151(cluster: ResourceSchema) -> ResourceSchema:
    raw = dict(cluster.raw)
    raw["createOnlyProperties"] = [*raw["createOnlyProperties"], *CLUSTER_151_GROUP_CREATE_ONLY]
    return ResourceSchema(raw, region=cluster.region)


@pytest.fixture(scope="module")
def replicator() -> ResourceSchema:
    return get_schema("AWS::MSK::Replicator")


def assert_round_trip(schema: ResourceSchema, desired: dict[str, Any], live: dict[str, Any]):
    diff = diff_resource(schema, desired, live)
    patched = jsonpatch.apply_patch(copy.deepcopy(live), diff.patch)
    again = diff_resource(schema, desired, patched)
    assert again.patch == [], (diff.patch, again.patch)
    assert in_sync(schema, desired, patched)
    return diff


# ------------------------------------------------------------------- S3 bucket
def test_versioning_update_is_a_nested_replace(bucket: ResourceSchema) -> None:
    desired = {"BucketName": "b", "VersioningConfiguration": {"Status": "Suspended"}}
    live = {
        "BucketName": "b",
        "Arn": "arn:aws:s3:::b",
        "VersioningConfiguration": {"Status": "Enabled"},
    }
    diff = assert_round_trip(bucket, desired, live)
    assert diff.patch == [
        {"op": "replace", "path": "/VersioningConfiguration/Status", "value": "Suspended"}
    ]
    assert diff.changes == [
        Change("/VersioningConfiguration/Status", "replace", "Enabled", "Suspended")
    ]
    assert diff.changed and diff.replace_reasons == []


def test_new_property_is_an_add(bucket: ResourceSchema) -> None:
    diff = assert_round_trip(
        bucket,
        {"BucketName": "b", "VersioningConfiguration": {"Status": "Enabled"}},
        {"BucketName": "b"},
    )
    assert diff.patch == [
        {"op": "add", "path": "/VersioningConfiguration", "value": {"Status": "Enabled"}}
    ]
    assert diff.changes[0].before is None


def test_live_only_and_read_only_properties_are_ignored(bucket: ResourceSchema) -> None:
    live = {
        "BucketName": "b",
        "Arn": "arn:aws:s3:::b",
        "DomainName": "b.s3.amazonaws.com",
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    }
    # Arn in desired (read-only) with another value is not compared either.
    diff = diff_resource(bucket, {"BucketName": "b", "Arn": "other"}, live)
    assert not diff.changed and diff.patch == []


def test_live_only_keys_in_nested_objects_are_ignored(bucket: ResourceSchema) -> None:
    desired = {
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
            ]
        }
    }
    live = {
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [
                {
                    "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                    "BucketKeyEnabled": False,
                }
            ]
        }
    }
    assert diff_resource(bucket, desired, live).patch == []


def test_bucket_name_change_names_the_create_only_property(bucket: ResourceSchema) -> None:
    diff = diff_resource(bucket, {"BucketName": "b"}, {"BucketName": "a"})
    assert diff.replace_reasons == ["BucketName is create-only (live 'a' → desired 'b')"]
    assert diff.patch == [{"op": "replace", "path": "/BucketName", "value": "b"}]


def test_write_only_access_control_is_never_drift(bucket: ResourceSchema) -> None:
    desired = {"BucketName": "b", "AccessControl": "Private"}
    diff = diff_resource(bucket, desired, {"BucketName": "b"})
    assert not diff.changed and diff.patch == []
    assert diff.write_only_unverifiable == ["/AccessControl"]


def test_write_only_values_are_sent_again_with_a_real_update(bucket: ResourceSchema) -> None:
    desired = {
        "BucketName": "b",
        "AccessControl": "Private",
        "VersioningConfiguration": {"Status": "Enabled"},
    }
    live = {"BucketName": "b", "VersioningConfiguration": {"Status": "Suspended"}}
    diff = assert_round_trip(bucket, desired, live)
    assert diff.patch[-1] == {"op": "add", "path": "/AccessControl", "value": "Private"}
    assert [c.path for c in diff.changes] == ["/VersioningConfiguration/Status"]


def test_nested_write_only_paths_are_listed_with_indices(bucket: ResourceSchema) -> None:
    rule = {"Id": "r", "Status": "Enabled", "ExpirationInDays": 30}
    desired = {
        "LifecycleConfiguration": {"Rules": [dict(rule, NoncurrentVersionExpirationInDays=7)]}
    }
    live = {"LifecycleConfiguration": {"Rules": [rule]}}
    diff = diff_resource(bucket, desired, live)
    assert not diff.changed
    assert diff.write_only_unverifiable == [
        "/LifecycleConfiguration/Rules/0/NoncurrentVersionExpirationInDays"
    ]
    # A real change in the same rule: the nested write-only value travels with the patch.
    desired["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] = 60
    diff = assert_round_trip(bucket, desired, live)
    assert {
        "op": "add",
        "path": "/LifecycleConfiguration/Rules/0/NoncurrentVersionExpirationInDays",
        "value": 7,
    } in diff.patch


def test_tags_compare_as_a_map(bucket: ResourceSchema) -> None:
    desired = {"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}
    live = {
        "Tags": [
            {"Key": "b", "Value": "2"},
            {"Key": "aws:cloudformation:stack-id", "Value": "x"},
            {"Key": "a", "Value": "1"},
        ]
    }
    assert diff_resource(bucket, desired, live).patch == []
    live["Tags"].append({"Key": "c", "Value": "3"})  # an unmanaged user tag is drift
    diff = assert_round_trip(bucket, desired, live)
    assert diff.patch == [{"op": "replace", "path": "/Tags", "value": desired["Tags"]}]
    assert [(d.path, d.op) for d in diff.changes[0].details] == [("/Tags/c", "remove")]


def test_tags_equal_helper() -> None:
    assert tags_equal({"a": "1"}, [{"Key": "a", "Value": "1"}])
    assert not tags_equal([{"Key": "a", "Value": "1"}], [{"Key": "a", "Value": "2"}])


# --------------------------------------------------------------------- IAM role
ARNS = [
    "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    "arn:aws:iam::aws:policy/AmazonSageMakerClusterInstanceRolePolicy",
    "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess",
]


def test_managed_policy_arns_are_a_multiset(role: ResourceSchema) -> None:
    assert not role.insertion_order(("ManagedPolicyArns",))
    live = {"RoleName": "r", "ManagedPolicyArns": ARNS}
    assert diff_resource(role, {"ManagedPolicyArns": list(reversed(ARNS))}, live).patch == []
    changed = [ARNS[0], ARNS[1], ARNS[1]]  # same set, different multiset
    diff = assert_round_trip(role, {"ManagedPolicyArns": changed}, live)
    assert diff.patch == [{"op": "replace", "path": "/ManagedPolicyArns", "value": changed}]
    assert diff.replace_reasons == []


def test_role_name_and_path_are_create_only(role: ResourceSchema) -> None:
    diff = diff_resource(role, {"RoleName": "r", "Path": "/svc/"}, {"RoleName": "r", "Path": "/"})
    assert diff.replace_reasons == ["Path is create-only (live '/' → desired '/svc/')"]


def test_policy_document_objects_compare_by_value(role: ResourceSchema) -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    live = {"AssumeRolePolicyDocument": copy.deepcopy(doc)}
    assert diff_resource(role, {"AssumeRolePolicyDocument": doc}, live).patch == []
    doc2 = copy.deepcopy(doc)
    doc2["Statement"][0]["Action"] = "s3:GetObject"
    diff = assert_round_trip(role, {"AssumeRolePolicyDocument": doc2}, live)
    assert [c.path for c in diff.changes] == ["/AssumeRolePolicyDocument/Statement/0/Action"]


# ---------------------------------------------------------------- EC2 security group
RULES = [
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "10.0.0.0/16"},
    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"},
]


def test_ingress_rules_are_order_insensitive(sg: ResourceSchema) -> None:
    live = {"Id": "sg-1", "GroupDescription": "d", "SecurityGroupIngress": list(reversed(RULES))}
    assert (
        diff_resource(sg, {"GroupDescription": "d", "SecurityGroupIngress": RULES}, live).patch
        == []
    )


def test_ingress_rule_change_replaces_the_list_with_element_details(sg: ResourceSchema) -> None:
    live = {"SecurityGroupIngress": list(reversed(RULES))}
    desired_rules = [RULES[0], dict(RULES[1], FromPort=8443, ToPort=8443)]
    diff = assert_round_trip(sg, {"SecurityGroupIngress": desired_rules}, live)
    assert diff.patch == [
        {"op": "replace", "path": "/SecurityGroupIngress", "value": desired_rules}
    ]
    details = diff.changes[0].details
    assert [(d.path, d.before, d.after) for d in details] == [
        ("/SecurityGroupIngress/1/FromPort", 443, 8443),
        ("/SecurityGroupIngress/1/ToPort", 443, 8443),
    ]


def test_an_extra_live_rule_is_drift(sg: ResourceSchema) -> None:
    live = {"SecurityGroupIngress": [*RULES, {"IpProtocol": "-1", "CidrIp": "1.2.3.4/32"}]}
    diff = assert_round_trip(sg, {"SecurityGroupIngress": RULES}, live)
    assert [d.op for d in diff.changes[0].details] == ["remove"]


def test_multiset_matching_is_not_greedy(sg: ResourceSchema) -> None:
    # Desired rule 0 is covered by both live rules; a greedy match would take the wrong one.
    desired = [{"IpProtocol": "tcp", "CidrIp": "10.0.0.0/16"}, dict(RULES[0])]
    live = [dict(RULES[0]), {"IpProtocol": "tcp", "CidrIp": "10.0.0.0/16", "Description": "x"}]
    assert (
        diff_resource(sg, {"SecurityGroupIngress": desired}, {"SecurityGroupIngress": live}).patch
        == []
    )


def test_group_description_is_create_only(sg: ResourceSchema) -> None:
    diff = diff_resource(sg, {"GroupDescription": "new"}, {"GroupDescription": "old"})
    assert diff.replace_reasons == ["GroupDescription is create-only (live 'old' → desired 'new')"]


# ------------------------------------------------------------ SageMaker cluster
def group(name: str, **overrides: Any) -> dict[str, Any]:
    base = {
        "InstanceGroupName": name,
        "InstanceType": "ml.t3.medium",
        "InstanceCount": 1,
        "ExecutionRole": "arn:aws:iam::123456789012:role/exec",
        "LifeCycleConfig": {"SourceS3Uri": "s3://b/", "OnCreate": "on_create.sh"},
    }
    return {**base, **overrides}


def cluster_live(*groups: dict[str, Any]) -> dict[str, Any]:
    return {
        "ClusterArn": "arn:aws:sagemaker:us-east-1:123456789012:cluster/x",
        "ClusterName": "c",
        "ClusterStatus": "InService",
        # CurrentCount is read-only: live has it, desired never does.
        "InstanceGroups": [dict(g, CurrentCount=g["InstanceCount"]) for g in groups],
    }


def test_instance_count_change_is_an_update(cluster: ResourceSchema) -> None:
    live = cluster_live(group("ctl"), group("wrk", InstanceCount=2))
    desired = {"ClusterName": "c", "InstanceGroups": [group("wrk", InstanceCount=4), group("ctl")]}
    diff = assert_round_trip(cluster, desired, live)
    assert diff.replace_reasons == []
    assert [c.path for c in diff.changes] == ["/InstanceGroups"]
    assert [(d.path, d.before, d.after) for d in diff.changes[0].details] == [
        ("/InstanceGroups/0/InstanceCount", 2, 4)
    ]


def test_instance_type_change_inside_a_group_is_an_update(cluster: ResourceSchema) -> None:
    # Since cfn-lint 1.58's schema, InstanceType is no longer create-only.
    assert not cluster.create_only_under(("InstanceGroups", 0))
    live = cluster_live(group("wrk"), group("ctl"))
    desired = {"InstanceGroups": [group("ctl"), group("wrk", InstanceType="ml.g5.xlarge")]}
    diff = assert_round_trip(cluster, desired, live)
    assert diff.replace_reasons == []
    assert [(d.path, d.before, d.after) for d in diff.changes[0].details] == [
        ("/InstanceGroups/1/InstanceType", "ml.t3.medium", "ml.g5.xlarge")
    ]


def test_create_only_change_inside_a_reordered_group_forces_replacement(
    cluster_151: ResourceSchema,
) -> None:
    # Live lists the groups in another order: the reason names the desired element.
    live = cluster_live(group("wrk"), group("ctl"))
    desired = {"InstanceGroups": [group("ctl"), group("wrk", InstanceType="ml.g5.xlarge")]}
    diff = diff_resource(cluster_151, desired, live)
    assert diff.replace_reasons == [
        "InstanceGroups[1].InstanceType is create-only (live 'ml.t3.medium' → desired 'ml.g5.xlarge')"
    ]


def test_adding_an_instance_group_is_not_a_replacement(cluster_151: ResourceSchema) -> None:
    # The new group sets create-only members, but creating an element replaces nothing.
    live = cluster_live(group("ctl"))
    desired = {"InstanceGroups": [group("ctl"), group("wrk", InstanceType="ml.g5.xlarge")]}
    diff = assert_round_trip(cluster_151, desired, live)
    assert diff.replace_reasons == []
    assert [(d.path, d.op) for d in diff.changes[0].details] == [("/InstanceGroups/1", "add")]


def test_create_only_object_names_the_property_and_the_changed_path(
    cluster: ResourceSchema,
) -> None:
    live = {"VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}}
    desired = {"VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-2"]}}
    diff = diff_resource(cluster, desired, live)
    assert diff.replace_reasons == [
        'VpcConfig is create-only (VpcConfig.Subnets: live ["subnet-1"] → desired ["subnet-2"])'
    ]


def test_adding_a_nested_create_only_object_forces_replacement(cluster: ResourceSchema) -> None:
    desired = {"Orchestrator": {"Eks": {"ClusterArn": "arn:aws:eks:us-east-1:1:cluster/k"}}}
    diff = diff_resource(cluster, desired, {"ClusterName": "c"})
    assert diff.replace_reasons and diff.replace_reasons[0].startswith(
        "Orchestrator.Eks is create-only (live absent → desired"
    )


# ------------------------------------------------------------- MSK replicator
# ReplicationInfoList (unordered, one element) has create-only members (the clusters, the
# compression, the topics' starting position and naming) beside updatable ones (the topic
# and consumer group lists).
def replication(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "SourceKafkaClusterArn": "arn:aws:kafka:us-east-1:123456789012:cluster/src/1",
        "TargetKafkaClusterArn": "arn:aws:kafka:us-west-2:123456789012:cluster/dst/2",
        "TargetCompressionType": "NONE",
        "TopicReplication": {
            "TopicsToReplicate": ["orders.*"],
            "StartingPosition": {"Type": "LATEST"},
        },
        "ConsumerGroupReplication": {"ConsumerGroupsToReplicate": [".*"]},
    }
    return {**base, **overrides}


def replicator_live(*infos: dict[str, Any]) -> dict[str, Any]:
    return {
        "ReplicatorArn": "arn:aws:kafka:us-east-1:123456789012:replicator/r/1",
        "ReplicatorName": "r",
        "CurrentVersion": "K1",
        "ReplicationInfoList": list(infos),
    }


def test_create_only_change_inside_an_array_element_forces_replacement(
    replicator: ResourceSchema,
) -> None:
    live = replicator_live(replication())
    desired = {"ReplicationInfoList": [replication(TargetCompressionType="GZIP")]}
    diff = diff_resource(replicator, desired, live)
    assert diff.replace_reasons == [
        "ReplicationInfoList[0].TargetCompressionType is create-only (live 'NONE' → desired 'GZIP')"
    ]
    assert [(d.path, d.before, d.after) for d in diff.changes[0].details] == [
        ("/ReplicationInfoList/0/TargetCompressionType", "NONE", "GZIP")
    ]


def test_create_only_object_inside_an_array_element_names_the_changed_path(
    replicator: ResourceSchema,
) -> None:
    live = replicator_live(replication())
    topics = {"TopicsToReplicate": ["orders.*"], "StartingPosition": {"Type": "EARLIEST"}}
    desired = {"ReplicationInfoList": [replication(TopicReplication=topics)]}
    diff = diff_resource(replicator, desired, live)
    assert diff.replace_reasons == [
        "ReplicationInfoList[0].TopicReplication.StartingPosition is create-only"
        " (ReplicationInfoList[0].TopicReplication.StartingPosition.Type:"
        " live 'LATEST' → desired 'EARLIEST')"
    ]


def test_updatable_change_inside_an_array_element_is_an_update(
    replicator: ResourceSchema,
) -> None:
    live = replicator_live(replication())
    topics = {
        "TopicsToReplicate": ["orders.*", "payments.*"],
        "StartingPosition": {"Type": "LATEST"},
    }
    desired = {"ReplicationInfoList": [replication(TopicReplication=topics)]}
    diff = assert_round_trip(replicator, desired, live)
    assert diff.replace_reasons == []
    assert [(d.path, d.op) for d in diff.changes[0].details] == [
        ("/ReplicationInfoList/0/TopicReplication/TopicsToReplicate", "replace")
    ]


# ---------------------------------------------------------------- scalars, maps
def test_number_and_string_equality_rules() -> None:
    assert values_equal(3, 3.0)
    assert not values_equal("3", 3)
    assert not values_equal(True, 1)
    assert not values_equal(0, False)
    assert values_equal({"a": [1, 2.0]}, {"a": [1.0, 2]})


def test_numbers_in_live_documents(bucket: ResourceSchema) -> None:
    queue = get_schema("AWS::SQS::Queue")
    assert diff_resource(queue, {"VisibilityTimeout": 30}, {"VisibilityTimeout": 30.0}).patch == []
    diff = diff_resource(queue, {"VisibilityTimeout": 30}, {"VisibilityTimeout": "30"})
    assert diff.patch == [{"op": "replace", "path": "/VisibilityTimeout", "value": 30}]


def test_map_properties_compare_whole() -> None:
    function = get_schema("AWS::Lambda::Function")
    desired = {"Environment": {"Variables": {"A": "1"}}}
    live = {"Environment": {"Variables": {"A": "1", "B": "2"}}}
    diff = assert_round_trip(function, desired, live)
    assert diff.patch == [{"op": "replace", "path": "/Environment/Variables", "value": {"A": "1"}}]


def test_ordered_arrays_recurse_or_replace(bucket: ResourceSchema) -> None:
    cors = get_schema("AWS::S3::Bucket")
    rule = {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "MaxAge": 60}
    live = {"CorsConfiguration": {"CorsRules": [rule]}}
    desired = {"CorsConfiguration": {"CorsRules": [dict(rule, MaxAge=120)]}}
    diff = assert_round_trip(cors, desired, live)
    assert diff.patch == [
        {"op": "replace", "path": "/CorsConfiguration/CorsRules/0/MaxAge", "value": 120}
    ]
    desired = {"CorsConfiguration": {"CorsRules": [rule, rule]}}
    diff = assert_round_trip(cors, desired, live)
    assert [op["path"] for op in diff.patch] == ["/CorsConfiguration/CorsRules"]


def test_display_pointer() -> None:
    assert display_pointer("/InstanceGroups/0/InstanceType") == "InstanceGroups[0].InstanceType"
    assert display_pointer("/A~1B/C") == "A/B.C"


# -------------------------------------------------------------- randomised round trip
def _random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.choice(
        ["str", "int", "float", "bool", "list", "obj"] if depth < 3 else ["str", "int", "bool"]
    )
    if kind == "str":
        return rng.choice(["a", "b", "Enabled", "Suspended", ""])
    if kind == "int":
        return rng.randint(0, 3)
    if kind == "float":
        return rng.choice([0.5, 1.0, 2.0])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice("KLMN"): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _mutate(rng: random.Random, value: Any, depth: int = 0) -> Any:
    if rng.random() < 0.3:
        return _random_value(rng, depth)
    if isinstance(value, dict):
        out = {k: _mutate(rng, v, depth + 1) for k, v in value.items()}
        if rng.random() < 0.3:
            out[rng.choice("KLMN")] = _random_value(rng, depth + 1)
        return out
    if isinstance(value, list):
        out_list = [_mutate(rng, v, depth + 1) for v in value]
        if rng.random() < 0.3:
            rng.shuffle(out_list)
        return out_list
    return value


@pytest.mark.parametrize(
    ("type_name", "properties"),
    [
        # Unschema'd nested content under real properties exercises generic objects/arrays.
        (
            "AWS::IAM::Role",
            ["AssumeRolePolicyDocument", "ManagedPolicyArns", "Description", "Tags"],
        ),
        ("AWS::EC2::SecurityGroup", ["SecurityGroupIngress", "GroupDescription", "Tags"]),
        (
            "AWS::S3::Bucket",
            ["VersioningConfiguration", "AccessControl", "CorsConfiguration", "Tags"],
        ),
    ],
)
def test_random_round_trips(type_name: str, properties: list[str]) -> None:
    schema = get_schema(type_name)
    rng = random.Random(f"{type_name}-20261129")
    changed = 0
    for _ in range(300):
        desired: dict[str, Any] = {}
        for prop in properties:
            if rng.random() < 0.7:
                desired[prop] = _sample(schema, prop, rng)
        live = _mutate(rng, copy.deepcopy(desired))
        if not isinstance(live, dict):
            live = {}
        changed += assert_round_trip(schema, desired, live).changed
    # The generator must exercise both outcomes, or the test proves nothing.
    assert 30 < changed < 290


def _sample(schema: ResourceSchema, prop: str, rng: random.Random) -> Any:
    """Values shaped like the schema where it matters (arrays, tags), random elsewhere."""
    if prop == schema.tag_property:
        keys = rng.sample(["a", "b", "c"], rng.randint(0, 3))
        return [{"Key": k, "Value": rng.choice(["1", "2"])} for k in keys]
    if prop == "ManagedPolicyArns":
        return [rng.choice(ARNS) for _ in range(rng.randint(0, 3))]
    if prop == "SecurityGroupIngress":
        return [
            {
                "IpProtocol": "tcp",
                "FromPort": rng.choice([22, 443]),
                "CidrIp": rng.choice(["0.0.0.0/0", "10.0.0.0/8"]),
            }
            for _ in range(rng.randint(0, 3))
        ]
    if prop == "VersioningConfiguration":
        return {"Status": rng.choice(["Enabled", "Suspended"])}
    if prop == "CorsConfiguration":
        return {
            "CorsRules": [
                {
                    "AllowedMethods": rng.sample(["GET", "PUT"], rng.randint(1, 2)),
                    "AllowedOrigins": ["*"],
                    "MaxAge": rng.randint(0, 2),
                }
                for _ in range(rng.randint(0, 2))
            ]
        }
    return _random_value(rng, 0)


def test_create_only_properties_the_read_handler_omits_are_not_compared(
    sg: ResourceSchema, replicator: ResourceSchema
) -> None:
    diff = diff_resource(sg, {"GroupName": "g", "GroupDescription": "d"}, {"GroupDescription": "d"})
    assert diff.patch == [] and diff.replace_reasons == []
    assert diff.create_only_unread == ["/GroupName"]
    # Inside the elements of an array compared whole too: a read handler that leaves out the
    # clusters' ARNs (create-only) while the topic list changes.
    unread = [
        "/ReplicationInfoList/0/SourceKafkaClusterArn",
        "/ReplicationInfoList/0/TargetKafkaClusterArn",
    ]
    live_info = replication()
    del live_info["SourceKafkaClusterArn"], live_info["TargetKafkaClusterArn"]
    live = replicator_live(live_info)
    topics = {"TopicsToReplicate": ["payments.*"], "StartingPosition": {"Type": "LATEST"}}
    desired = {"ReplicationInfoList": [replication(TopicReplication=topics)]}
    diff = assert_round_trip(replicator, desired, live)
    assert diff.replace_reasons == []
    assert [d.path for d in diff.changes[0].details] == [
        "/ReplicationInfoList/0/TopicReplication/TopicsToReplicate"
    ]
    assert diff.create_only_unread == unread
    # With nothing else changed they are still noted, and the resource is in sync.
    diff = diff_resource(replicator, {"ReplicationInfoList": [replication()]}, live)
    assert diff.changes == [] and diff.replace_reasons == []
    assert diff.create_only_unread == unread
