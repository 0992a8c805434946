"""The awscc provider's custom views (``awscc.ec2.vw_subnet_route_table_associations``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stackdeploy.cloud.session import open_cloud
from stackdeploy.errors import QueryError
from stackdeploy.query.engine import QueryEngine
from stackdeploy.sandbox.server import SandboxServer


@pytest.fixture
def engine() -> Iterator[QueryEngine]:
    with (
        SandboxServer() as server,
        open_cloud(region="us-east-1", endpoint_url=server.url, poll_initial=0.005) as cloud,
    ):
        yield QueryEngine(cloud, region="us-east-1")


def _create(engine: QueryEngine, table: str, props: dict[str, Any]) -> str:
    columns = ", ".join([*props, "region"])
    values = ", ".join(f"'{v}'" for v in [*props.values(), "us-east-1"])
    result = engine.execute(f"INSERT INTO {table} ({columns}) SELECT {values} RETURNING *")
    return str(result.rows[0]["Identifier"])


def test_subnet_route_table_association_view(engine: QueryEngine) -> None:
    assocs = {}
    for subnet, table in (("subnet-a", "rtb-a"), ("subnet-b", "rtb-b")):
        assocs[subnet] = _create(
            engine,
            "awscc.ec2.subnet_route_table_associations",
            {"SubnetId": subnet, "RouteTableId": table},
        )
    result = engine.execute(
        "SELECT id, route_table_id, subnet_id FROM awscc.ec2.vw_subnet_route_table_associations "
        "WHERE region = 'us-east-1' AND subnet_id = 'subnet-b'"
    )
    assert result.rows == [
        {"id": assocs["subnet-b"], "route_table_id": "rtb-b", "subnet_id": "subnet-b"}
    ]
    everything = engine.execute(
        "SELECT COUNT(*) AS n FROM awscc.ec2.vw_subnet_route_table_associations "
        "WHERE region = 'us-east-1'"
    )
    assert everything.rows == [{"n": 2}]


def test_view_needs_region_and_known_columns(engine: QueryEngine) -> None:
    with pytest.raises(QueryError, match="region"):
        engine.execute("SELECT id FROM awscc.ec2.vw_subnet_route_table_associations")
    with pytest.raises(QueryError, match="nope"):
        engine.execute(
            "SELECT nope FROM awscc.ec2.vw_subnet_route_table_associations "
            "WHERE region = 'us-east-1'"
        )
