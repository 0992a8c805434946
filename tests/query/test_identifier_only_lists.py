"""On real AWS, ListResources often returns only each resource's primary identifier. Every
query path must still give full rows, reading each resource with GetResource (in parallel).

The sandbox lists full models, so a thin wrapper over the real client (talking to the sandbox
over HTTP) trims each list result to the primary identifier, as AWS does; every query is run
through both clients and must give the same rows.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from stackdeploy.cloud.session import open_cloud
from stackdeploy.query.engine import QueryEngine
from stackdeploy.sandbox.server import SandboxServer
from stackdeploy.schema.registry import get_schema

REGION = "us-east-1"


class IdentifierOnlyLists:
    """A CloudControl whose ListResources results carry only the primary identifier."""

    def __init__(self, cloud: Any) -> None:
        self._cloud = cloud
        self.gets = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cloud, name)

    def list_resources(self, type_name: str, **kwargs: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        schema = get_schema(type_name)
        for identifier, _full in self._cloud.list_resources(type_name, **kwargs):
            parts = schema.identifier_parts(identifier)
            yield identifier, {name.split("/")[-1]: value for name, value in parts.items()}

    def get_resource(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.gets += 1
        return self._cloud.get_resource(*args, **kwargs)


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[Any, IdentifierOnlyLists]]:
    with (
        SandboxServer() as server,
        open_cloud(
            region=REGION,
            endpoint_url=server.url,
            max_rps=10_000,
            burst=10_000,
            poll_initial=0.005,
            poll_max=0.05,
        ) as cloud,
    ):
        seed(QueryEngine(cloud, region=REGION))
        yield cloud, IdentifierOnlyLists(cloud)


def seed(engine: QueryEngine) -> None:
    vpc = engine.execute(
        "INSERT INTO awscc.ec2.vpcs (CidrBlock, Tags, region) SELECT '10.9.0.0/16', "
        '\'[{"Key":"Name","Value":"lists"},{"Key":"env","Value":"dev"}]\', '
        "'us-east-1' RETURNING Identifier"
    ).rows[0]["Identifier"]
    for i in range(6):
        engine.execute(
            "INSERT INTO awscc.ec2.subnets (VpcId, CidrBlock, Tags, region) "
            f"SELECT '{vpc}', '10.9.{i}.0/24', '[{{\"Key\":\"n\",\"Value\":\"{i}\"}}]', 'us-east-1'"
        )
    table = engine.execute(
        "INSERT INTO awscc.ec2.route_tables (VpcId, region) "
        f"SELECT '{vpc}', 'us-east-1' RETURNING Identifier"
    ).rows[0]["Identifier"]
    subnet = engine.execute(
        "SELECT subnet_id FROM awscc.ec2.subnets WHERE region = 'us-east-1' LIMIT 1"
    ).rows[0]["subnet_id"]
    engine.execute(
        "INSERT INTO awscc.ec2.subnet_route_table_associations (RouteTableId, SubnetId, region) "
        f"SELECT '{table}', '{subnet}', 'us-east-1'"
    )


QUERIES = [
    # a resource table without Identifier: list, then GetResource each
    "SELECT subnet_id, cidr_block, vpc_id, tags FROM awscc.ec2.subnets "
    "WHERE region = 'us-east-1' ORDER BY cidr_block",
    # predicates and aggregates over properties the list does not carry
    "SELECT vpc_id, COUNT(*) AS n FROM awscc.ec2.subnets WHERE region = 'us-east-1' "
    "AND cidr_block LIKE '10.9.%' GROUP BY vpc_id",
    # the 1.x tag view and its fold-back idiom
    "SELECT vpc_id, json_group_object(tag_key, tag_value) AS tags FROM aws.ec2.vpc_tags "
    "WHERE region = 'us-east-1' GROUP BY vpc_id",
    "SELECT subnet_id, tag_key, tag_value FROM aws.ec2.subnet_tags "
    "WHERE region = 'us-east-1' ORDER BY tag_value",
    # the aws provider's resource table and a custom view
    "SELECT vpc_id, cidr_block FROM aws.ec2.vpcs WHERE region = 'us-east-1'",
    "SELECT id, route_table_id, subnet_id FROM awscc.ec2.vw_subnet_route_table_associations "
    "WHERE region = 'us-east-1'",
    # _list_only needs nothing but the identifier
    "SELECT subnet_id FROM awscc.ec2.subnets_list_only WHERE region = 'us-east-1' "
    "ORDER BY subnet_id",
    # a join of a listed table with one read by identifier
    "SELECT s.cidr_block, v.cidr_block AS vpc_cidr FROM awscc.ec2.subnets s "
    "JOIN awscc.ec2.vpcs v ON v.Identifier = s.vpc_id AND v.region = 'us-east-1' "
    "WHERE s.region = 'us-east-1' ORDER BY s.cidr_block",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_rows_are_full_when_lists_carry_only_identifiers(
    clients: tuple[Any, IdentifierOnlyLists], sql: str
) -> None:
    full_cloud, trimmed = clients
    expected = QueryEngine(full_cloud, region=REGION).execute(sql).rows
    assert expected  # the seed makes every query answer something
    got = QueryEngine(trimmed, region=REGION).execute(sql).rows
    assert got == expected


def test_each_listed_resource_is_read_once(
    clients: tuple[Any, IdentifierOnlyLists],
) -> None:
    full_cloud, trimmed = clients
    sql = "SELECT cidr_block FROM awscc.ec2.subnets WHERE region = 'us-east-1'"
    listed = len(list(full_cloud.list_resources("AWS::EC2::Subnet", region=REGION)))
    before = trimmed.gets
    rows = QueryEngine(trimmed, region=REGION, parallelism=4).execute(sql).rows
    assert len(rows) == listed >= 6 and all(r["cidr_block"] for r in rows)
    assert trimmed.gets - before == listed  # one GetResource per listed subnet


def test_insert_from_a_listed_table_uses_full_rows(
    clients: tuple[Any, IdentifierOnlyLists],
) -> None:
    full_cloud, trimmed = clients
    engine = QueryEngine(trimmed, region=REGION)
    engine.execute(
        "INSERT INTO awscc.ec2.subnets (VpcId, CidrBlock, region) "
        "SELECT vpc_id, '10.9.200.0/24', 'us-east-1' FROM awscc.ec2.vpcs "
        "WHERE region = 'us-east-1' AND cidr_block = '10.9.0.0/16'"
    )
    made = (
        QueryEngine(full_cloud, region=REGION)
        .execute(
            "SELECT COUNT(*) AS n FROM awscc.ec2.subnets WHERE region = 'us-east-1' "
            "AND cidr_block = '10.9.200.0/24'"
        )
        .rows
    )
    assert made == [{"n": 1}]
