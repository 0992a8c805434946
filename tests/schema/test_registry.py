"""The registry reads cfn-lint's bundled schemas; these tests pin the data layout we rely on."""

import pytest

from stackdeploy.errors import TypeNotFoundError
from stackdeploy.schema.registry import get_registry, get_schema


def test_registry_lists_many_types() -> None:
    assert len(get_registry("us-east-1").type_names()) > 1000


@pytest.mark.parametrize(
    "name", ["AWS::S3::Bucket", "aws::s3::bucket", "awscc.s3.buckets", "awscc.s3.buckets_list_only"]
)
def test_lookup_forms(name: str) -> None:
    assert get_schema(name).type_name == "AWS::S3::Bucket"


def test_unknown_type_suggests_close_matches() -> None:
    with pytest.raises(TypeNotFoundError, match=r"did you mean awscc\.s3\.buckets"):
        get_schema("awscc.s3.bukets")


def test_unknown_region() -> None:
    with pytest.raises(TypeNotFoundError, match="unknown region"):
        get_registry("us-east-9")


def test_metadata_sagemaker_cluster() -> None:
    schema = get_schema("AWS::SageMaker::Cluster")
    assert schema.primary_identifier == ("ClusterArn",)
    assert ("ClusterName",) in schema.create_only
    assert schema.is_read_only(("InstanceGroups", 3, "CurrentCount"))
    assert not schema.is_read_only(("InstanceGroups", 3, "InstanceCount"))
    assert schema.timeout_minutes("create") == 720
    assert schema.taggable and schema.tag_property == "Tags"


def test_compound_identifier_route() -> None:
    schema = get_schema("AWS::EC2::Route")
    assert schema.primary_identifier == ("RouteTableId", "CidrBlock")
    assert schema.identifier_of({"RouteTableId": "rtb-1", "CidrBlock": "0.0.0.0/0"}) == (
        "rtb-1|0.0.0.0/0"
    )
    assert schema.identifier_parts("rtb-1|0.0.0.0/0") == {
        "RouteTableId": "rtb-1",
        "CidrBlock": "0.0.0.0/0",
    }
    assert schema.list_required == ("RouteTableId",)


def test_canonical_key_at_depth() -> None:
    schema = get_schema("AWS::SageMaker::Cluster")
    env = ("RestrictedInstanceGroups", 0, "EnvironmentConfig")
    assert schema.canonical_key(env, "f_sx_lustre_config") == "FSxLustreConfig"
    assert schema.canonical_key((*env, "FSxLustreConfig"), "size_in_gi_b") == "SizeInGiB"
    assert schema.canonical_key(("VpcConfig",), "security_group_ids") == "SecurityGroupIds"
    assert schema.canonical_key((), "no_such_thing") is None
