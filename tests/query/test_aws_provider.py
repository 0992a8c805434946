"""The older ``aws`` provider that stackql-deploy 1.x stacks use, and tables of providers that
are not supported, through the engine against the sandbox (docs/query.md, "The aws provider").

The aws provider names the same Cloud Control types ``aws.<service>.<resource>``, keys them by
``data__Identifier``, patches with ``data__PatchDocument`` and adds a ``<resource>_tags`` view
per tagged type: one row per tag (``tag_key``, ``tag_value``) beside the other columns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from stackdeploy.cloud.session import open_cloud
from stackdeploy.errors import QueryError
from stackdeploy.query.engine import QueryEngine
from stackdeploy.query.tables import aws_tag_views, closest_awscc_table, resolve_table
from stackdeploy.sandbox.server import SandboxServer
from stackdeploy.schema.registry import get_registry

REGION = "us-east-1"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def engine(server: SandboxServer) -> Iterator[QueryEngine]:
    with open_cloud(
        region=REGION,
        endpoint_url=server.url,
        max_rps=10_000,
        burst=10_000,
        poll_initial=0.005,
        poll_max=0.05,
    ) as client:
        yield QueryEngine(client, region=REGION)


def tags(**pairs: str) -> str:
    return json.dumps([{"Key": k, "Value": v} for k, v in pairs.items()])


def create_vpc(engine: QueryEngine, cidr: str, tag_text: str) -> str:
    result = engine.execute(
        "INSERT INTO aws.ec2.vpcs (CidrBlock, Tags, EnableDnsSupport, region) "
        f"SELECT '{cidr}', '{tag_text}', true, '{REGION}' RETURNING Identifier"
    )
    return str(result.rows[0]["Identifier"])


def test_resource_table_by_data_identifier_and_by_listing(engine: QueryEngine) -> None:
    vpc = create_vpc(engine, "10.60.0.0/16", tags(Name="one"))
    got = engine.execute(
        "SELECT data__Identifier, vpc_id, cidr_block, enable_dns_support FROM aws.ec2.vpcs "
        f"WHERE region = '{REGION}' AND data__Identifier = '{vpc}'"
    )
    assert got.rows == [
        {
            "data__Identifier": vpc,
            "vpc_id": vpc,
            "cidr_block": "10.60.0.0/16",
            "enable_dns_support": 1,
        }
    ]
    listed = engine.execute(
        f"SELECT vpc_id, cidr_block FROM aws.ec2.vpcs WHERE region = '{REGION}'"
    ).rows
    assert {"vpc_id": vpc, "cidr_block": "10.60.0.0/16"} in listed
    absent = engine.execute(
        f"SELECT vpc_id FROM aws.ec2.vpcs WHERE region = '{REGION}' "
        "AND data__Identifier = 'vpc-0000000000000dead'"
    )
    assert absent.rows == []
    # The awscc key spelling is not a column of the aws table.
    with pytest.raises(QueryError, match=re.escape("unknown column 'Identifier' in aws.ec2.vpcs")):
        engine.execute(
            f"SELECT vpc_id FROM aws.ec2.vpcs WHERE region = '{REGION}' AND Identifier = 'x'"
        )


def test_tags_view_gives_one_row_per_tag_and_folds_back(engine: QueryEngine) -> None:
    vpc = create_vpc(engine, "10.61.0.0/16", tags(Provisioner="stackql", StackName="s1", Name="n"))
    untagged = create_vpc(engine, "10.62.0.0/16", "[]")
    rows = engine.execute(
        "SELECT vpc_id, cidr_block, tag_key, tag_value FROM aws.ec2.vpc_tags "
        f"WHERE region = '{REGION}' AND vpc_id IN ('{vpc}', '{untagged}') ORDER BY tag_key"
    ).rows
    assert rows == [
        {"vpc_id": vpc, "cidr_block": "10.61.0.0/16", "tag_key": k, "tag_value": v}
        for k, v in (("Name", "n"), ("Provisioner", "stackql"), ("StackName", "s1"))
    ]  # an untagged resource has no row, as with the provider's json_each join
    # The 1.x idiom: fold the tags back into an object and match on it.
    found = engine.execute(
        "SELECT COUNT(*) as count FROM (SELECT vpc_id, json_group_object(tag_key, tag_value) "
        f"as tags FROM aws.ec2.vpc_tags WHERE region = '{REGION}' AND cidr_block = '10.61.0.0/16' "
        "GROUP BY vpc_id HAVING json_extract(tags, '$.Provisioner') = 'stackql' "
        "AND json_extract(tags, '$.StackName') = 's1') t"
    ).rows
    assert found == [{"count": 1}]
    spec = resolve_table("aws.ec2.vpc_tags", region=REGION)
    assert spec.columns[:3] == ["region", "tag_key", "tag_value"]
    assert "tags" not in spec.columns and "vpc_id" in spec.columns


def test_tags_view_of_a_type_whose_tags_are_a_map(engine: QueryEngine) -> None:
    engine.execute(
        "INSERT INTO aws.apigatewayv2.apis (Name, ProtocolType, Tags, region) "
        f"SELECT 'maptags', 'HTTP', '{{\"team\":\"a\",\"env\":\"dev\"}}', '{REGION}'"
    )
    rows = engine.execute(
        "SELECT name, tag_key, tag_value FROM aws.apigatewayv2.api_tags "
        f"WHERE region = '{REGION}' AND name = 'maptags' ORDER BY tag_key"
    ).rows
    assert rows == [
        {"name": "maptags", "tag_key": "env", "tag_value": "dev"},
        {"name": "maptags", "tag_key": "team", "tag_value": "a"},
    ]


def test_update_with_data_patch_document_and_delete_by_data_identifier(
    engine: QueryEngine,
) -> None:
    engine.execute(
        "INSERT INTO aws.s3.buckets (BucketName, VersioningConfiguration, region) "
        f"SELECT 'aws-v1-bucket', '{{\"Status\":\"Enabled\"}}', '{REGION}'"
    )
    engine.execute(
        "UPDATE aws.s3.buckets SET data__PatchDocument = string('"
        '[{"op":"replace","path":"/VersioningConfiguration","value":{"Status":"Suspended"}}]'
        f"') WHERE region = '{REGION}' AND data__Identifier = 'aws-v1-bucket'"
    )
    status = engine.execute(
        "SELECT json_extract(versioning_configuration, '$.Status') AS s FROM aws.s3.buckets "
        f"WHERE region = '{REGION}' AND data__Identifier = 'aws-v1-bucket'"
    ).rows
    assert status == [{"s": "Suspended"}]
    deleted = engine.execute(
        "DELETE FROM aws.s3.buckets WHERE data__Identifier = 'aws-v1-bucket' "
        f"AND region = '{REGION}' RETURNING OperationStatus"
    )
    assert deleted.rows == [{"OperationStatus": "SUCCESS"}]
    with pytest.raises(QueryError, match="accepts only data__Identifier and region"):
        engine.execute(f"DELETE FROM aws.s3.buckets WHERE Identifier = 'x' AND region = '{REGION}'")
    with pytest.raises(QueryError, match=re.escape("is not supported on aws.ec2.vpc_tags")):
        engine.execute(
            f"DELETE FROM aws.ec2.vpc_tags WHERE data__Identifier = 'x' AND region = '{REGION}'"
        )


def test_aws_cloud_control_tables(engine: QueryEngine) -> None:
    vpc = create_vpc(engine, "10.63.0.0/16", "[]")
    listed = engine.execute(
        "SELECT Identifier FROM aws.cloud_control.resources "
        f"WHERE region = '{REGION}' AND data__TypeName = 'AWS::EC2::VPC'"
    ).rows
    assert {"Identifier": vpc} in listed
    one = engine.execute(
        "SELECT json_extract(Properties, '$.CidrBlock') AS cidr FROM aws.cloud_control.resource "
        f"WHERE region = '{REGION}' AND data__TypeName = 'AWS::EC2::VPC' "
        f"AND data__Identifier = '{vpc}'"
    ).rows
    assert one == [{"cidr": "10.63.0.0/16"}]
    with pytest.raises(QueryError, match="needs data__Identifier in the WHERE clause"):
        engine.execute(
            "SELECT Properties FROM aws.cloud_control.resource "
            f"WHERE region = '{REGION}' AND data__TypeName = 'AWS::EC2::VPC'"
        )


def test_both_providers_in_one_statement(engine: QueryEngine) -> None:
    vpc = create_vpc(engine, "10.64.0.0/16", tags(Name="joined"))
    rows = engine.execute(
        "SELECT a.vpc_id, t.tag_value FROM awscc.ec2.vpcs a "
        f"JOIN aws.ec2.vpc_tags t ON t.vpc_id = a.vpc_id AND t.region = '{REGION}' "
        f"WHERE a.region = '{REGION}' AND a.Identifier = '{vpc}'"
    ).rows
    assert rows == [{"vpc_id": vpc, "tag_value": "joined"}]


def test_tag_view_names_never_shadow_a_table() -> None:
    registry = get_registry(REGION)
    views = aws_tag_views(REGION)
    tables = {"aws." + name.split(".", 1)[1] for name in registry.awscc_index()}
    assert not set(views) & tables
    tagged = [t for t in registry.type_names() if "Tags" in registry.get(t).properties]
    assert sorted(views.values()) == sorted(tagged)
    assert views["aws.ec2.security_group_tags"] == "AWS::EC2::SecurityGroup"
    assert views["aws.ec2.instance_tags"] == "AWS::EC2::Instance"


# -- tables no supported provider has -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "provider", "closest"),
    [
        (
            "SELECT name FROM azure.compute.virtual_machines WHERE subscriptionId = 'x'",
            "azure",
            "awscc.ec2.instances",
        ),
        (
            "SELECT name FROM google.storage.buckets WHERE project = 'p'",
            "google",
            "awscc.s3.buckets",
        ),
        (
            "INSERT INTO azure.resources.resource_groups (name, location) SELECT 'a', 'b'",
            "azure",
            "awscc.resourcegroups.groups",
        ),
        (
            "DELETE FROM google.compute.networks WHERE project = 'p' AND network = 'n'",
            "google",
            "awscc.ec2.vpcs",
        ),
    ],
)
def test_other_providers_get_one_line(
    engine: QueryEngine, sql: str, provider: str, closest: str
) -> None:
    with pytest.raises(QueryError) as info:
        engine.execute(sql)
    message = str(info.value)
    assert f"the {provider} provider is not supported" in message
    assert f"the closest awscc table is {closest}" in message
    assert "\n" not in message and "syntax" not in message


def test_aws_tables_that_are_not_cloud_control_name_the_closest_awscc_table(
    engine: QueryEngine,
) -> None:
    with pytest.raises(QueryError) as info:
        engine.execute(f"SELECT * FROM aws.ec2.vpc_endpoint_connections WHERE region = '{REGION}'")
    message = str(info.value)
    assert "unknown table aws.ec2.vpc_endpoint_connections" in message
    assert "the aws provider's tables here are its Cloud Control ones" in message
    assert "the closest awscc table is awscc.ec2." in message


@pytest.mark.parametrize(
    ("name", "closest"),
    [
        ("google.compute.instances", "awscc.ec2.instances"),
        ("azure.network.virtual_networks", "awscc.ec2.vpcs"),
        ("aws.s3.bucket_policy", "awscc.s3.bucket_policies"),
        ("aws.iam.rolez", "awscc.iam.roles"),
        ("google.pubsub.topics", "awscc.sns.topics"),
    ],
)
def test_closest_awscc_table(name: str, closest: str) -> None:
    assert closest_awscc_table(name) == closest


def test_unknown_providers_cost_no_api_call(server: SandboxServer, engine: QueryEngine) -> None:
    before = server.store.counts()
    with pytest.raises(QueryError):
        engine.execute(
            f"INSERT INTO aws.s3.buckets (BucketName, region) SELECT 'never', '{REGION}'; "
            "SELECT * FROM azure.compute.virtual_machines"
        )
    assert server.store.counts() == before  # the INSERT before it did not run
