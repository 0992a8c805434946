"""Properties whose names collide with the API's own fields, through the engine and the CLI
against the sandbox (docs/query.md, "Name collisions"):

- ``Identifier`` (AWS::Rbin::Rule, AWS::DSQL::Cluster, MediaLive, DataZone): ``SELECT
  identifier`` reads the property; ``Identifier = ...`` predicates still address the Cloud
  Control identifier;
- ``RoleARN`` (AWS::AutoScaling::LifecycleHook, AWS::ApplicationAutoScaling::ScalableTarget):
  an INSERT column of a property, not the API's RoleArn parameter;
- ``ClientToken`` (AWS::Connect::TaskTemplate, AWS::EFS::AccessPoint, AWS::Grafana::Workspace,
  AWS::SageMaker::PartnerApp): part of the desired state, not the request's token;
- ``Region`` (AWS::Notifications::NotificationHub, AWS::ARCZonalShift::...): the property in
  INSERT when spelt exactly, the column ``_region`` in SELECT; ``region`` stays the request's
  region.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from stackdeploy.cli import main
from stackdeploy.cloud.session import open_cloud
from stackdeploy.errors import QueryError
from stackdeploy.query.engine import QueryEngine
from stackdeploy.query.tables import resolve_table
from stackdeploy.sandbox.server import SandboxServer
from stackdeploy.sandbox.values import example_value, minimal_desired_state
from stackdeploy.schema.registry import get_schema

REGION = "us-east-1"
ACCOUNT = "123456789012"


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


def sql_literal(value: Any) -> str:
    """A value as an INSERT literal: JSON text for containers, bare numbers and booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else value
    return "'" + str(text).replace("'", "''") + "'"


def insert(engine: QueryEngine, table: str, columns: dict[str, Any]) -> str:
    names = ", ".join([*columns, "region"])
    values = ", ".join([*(sql_literal(v) for v in columns.values()), f"'{REGION}'"])
    result = engine.execute(f"INSERT INTO {table} ({names}) SELECT {values} RETURNING Identifier")
    return str(result.rows[0]["Identifier"])


def stored(server: SandboxServer, type_name: str, identifier: str) -> dict[str, Any]:
    """What the sandbox keeps for a resource: the model it was created with, write-only
    properties included (GetResource hides those, as AWS does)."""
    model = server.store.get_resource(ACCOUNT, REGION, type_name, identifier)
    assert model is not None, (type_name, identifier)
    return model


# -- Identifier ---------------------------------------------------------------------------------


def test_identifier_property_is_readable_and_identifier_predicates_still_key(
    engine: QueryEngine,
) -> None:
    arn = insert(
        engine,
        "awscc.rbin.rules",
        {
            "ResourceType": "EBS_SNAPSHOT",
            "RetentionPeriod": {"RetentionPeriodValue": 7, "RetentionPeriodUnit": "DAYS"},
        },
    )
    assert arn.startswith("arn:aws:rbin:")  # the primary identifier is the Arn
    by_key = engine.execute(
        "SELECT identifier, arn FROM awscc.rbin.rules "
        f"WHERE region = '{REGION}' AND Identifier = '{arn}'"
    ).rows
    (row,) = by_key
    assert row["arn"] == arn
    rule_id = row["identifier"]
    assert rule_id and rule_id != arn
    # ... and it is the property, as the raw model says.
    raw = engine.execute(
        "SELECT json_extract(Properties, '$.Identifier') AS p FROM awscc.cloud_control.resource "
        f"WHERE TypeName = 'AWS::Rbin::Rule' AND Identifier = '{arn}' AND region = '{REGION}'"
    ).rows
    assert raw == [{"p": rule_id}]

    # Listing reads the same property; an IN list keys too; any other predicate on the name
    # filters on the property.
    listed = engine.execute(
        "SELECT identifier FROM awscc.rbin.rules "
        f"WHERE region = '{REGION}' AND resource_type = 'EBS_SNAPSHOT'"
    ).rows
    assert {"identifier": rule_id} in listed
    keyed = engine.execute(
        "SELECT r.identifier FROM awscc.rbin.rules r "
        f"WHERE r.region = '{REGION}' AND r.Identifier IN ('{arn}', 'arn:aws:rbin:x') "
        f"AND r.identifier = '{rule_id}'"
    ).rows
    assert keyed == [{"identifier": rule_id}]
    none = engine.execute(
        "SELECT COUNT(*) AS n FROM awscc.rbin.rules "
        f"WHERE region = '{REGION}' AND Identifier = '{arn}' AND identifier = 'other'"
    ).rows
    assert none == [{"n": 0}]
    # SELECT * has one identifier column: the property.
    star = engine.execute(
        f"SELECT * FROM awscc.rbin.rules WHERE region = '{REGION}' AND Identifier = '{arn}'"
    )
    assert [c for c in star.columns if c.lower() == "identifier"] == ["identifier"]
    assert star.rows[0]["identifier"] == rule_id


def test_identifier_property_that_is_the_primary_identifier(engine: QueryEngine) -> None:
    ident = insert(engine, "awscc.dsql.clusters", {"DeletionProtectionEnabled": False})
    rows = engine.execute(
        "SELECT identifier, deletion_protection_enabled FROM awscc.dsql.clusters "
        f"WHERE region = '{REGION}' AND Identifier = '{ident}'"
    ).rows
    assert rows == [{"identifier": ident, "deletion_protection_enabled": 0}]
    # UPDATE and DELETE key on the Cloud Control identifier as ever.
    engine.execute(
        "UPDATE awscc.dsql.clusters SET PatchDocument = "
        'string(\'[{"op":"replace","path":"/DeletionProtectionEnabled","value":true}]\') '
        f"WHERE Identifier = '{ident}' AND region = '{REGION}'"
    )
    engine.execute(
        f"DELETE FROM awscc.dsql.clusters WHERE Identifier = '{ident}' AND region = '{REGION}'"
    )
    gone = engine.execute(
        f"SELECT identifier FROM awscc.dsql.clusters WHERE region = '{REGION}' "
        f"AND Identifier = '{ident}'"
    )
    assert gone.rows == []


def test_tables_without_an_identifier_property_keep_the_identifier_column() -> None:
    spec = resolve_table("awscc.s3.buckets", region=REGION)
    assert spec.columns[:2] == ["region", "Identifier"]
    rbin = resolve_table("awscc.rbin.rules", region=REGION)
    assert rbin.identifier_column is None
    assert "identifier" in rbin.columns and "Identifier" not in rbin.columns


# -- RoleARN ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "table"),
    [
        ("AWS::AutoScaling::LifecycleHook", "awscc.autoscaling.lifecycle_hooks"),
        (
            "AWS::ApplicationAutoScaling::ScalableTarget",
            "awscc.applicationautoscaling.scalable_targets",
        ),
    ],
)
def test_rolearn_property_is_sent_in_the_desired_state(
    engine: QueryEngine, server: SandboxServer, type_name: str, table: str
) -> None:
    role = "arn:aws:iam::123456789012:role/service-role"
    state = minimal_desired_state(get_schema(type_name))
    assert state is not None
    ident = insert(engine, table, {**state, "RoleARN": role})
    assert stored(server, type_name, ident)["RoleARN"] == role
    if not get_schema(type_name).is_write_only(("RoleARN",)):
        read = engine.execute(
            f"SELECT role_arn FROM {table} WHERE region = '{REGION}' AND Identifier = '{ident}'"
        ).rows
        assert read == [{"role_arn": role}]


def test_rolearn_spelt_like_the_api_parameter_on_a_type_without_it_is_refused(
    engine: QueryEngine,
) -> None:
    with pytest.raises(QueryError, match="a per-statement RoleArn is not supported"):
        engine.execute(
            "INSERT INTO awscc.s3.buckets (BucketName, RoleArn, region) "
            "SELECT 'rolearn-bucket', 'arn:aws:iam::123456789012:role/x', 'us-east-1'"
        )


# -- ClientToken --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "table"),
    [
        ("AWS::Connect::TaskTemplate", "awscc.connect.task_templates"),
        ("AWS::EFS::AccessPoint", "awscc.efs.access_points"),
        ("AWS::Grafana::Workspace", "awscc.grafana.workspaces"),
        ("AWS::SageMaker::PartnerApp", "awscc.sagemaker.partner_apps"),
    ],
)
def test_client_token_property_reaches_the_desired_state(
    engine: QueryEngine, server: SandboxServer, type_name: str, table: str
) -> None:
    schema = get_schema(type_name)
    state = minimal_desired_state(schema)
    assert state is not None
    token = example_value(schema, ("ClientToken",))  # each type has its own token pattern
    assert isinstance(token, str) and token
    first = insert(engine, table, {**state, "ClientToken": token})
    assert stored(server, type_name, first)["ClientToken"] == token
    # Not the request's idempotency token: the same value again makes a second resource
    # (as a request token it would replay, or conflict, instead).
    again = dict(state)
    if "Name" in again:
        again["Name"] = again["Name"] + "-2"
    second = insert(engine, table, {**again, "ClientToken": token})
    assert second != first
    read = engine.execute(
        f"SELECT client_token FROM {table} WHERE region = '{REGION}' AND Identifier = '{first}'"
    ).rows
    # Write-only properties read back NULL, as from AWS; the others read back their value.
    expected = None if schema.is_write_only(("ClientToken",)) else token
    assert read == [{"client_token": expected}]


def test_client_token_stays_the_api_parameter_where_no_property_has_the_name(
    engine: QueryEngine, server: SandboxServer
) -> None:
    sql = (
        "INSERT INTO awscc.s3.buckets (BucketName, ClientToken, region) "
        "SELECT 'token-bucket', 'same-token-1', 'us-east-1' RETURNING RequestToken"
    )
    first = engine.execute(sql).rows[0]["RequestToken"]
    request = server.store.get_request(first)
    assert request is not None and request.client_token == "same-token-1"
    # The same token again is the same request (idempotent), not a second bucket.
    assert engine.execute(sql).rows[0]["RequestToken"] == first


# -- Region -------------------------------------------------------------------------------------


def test_region_property_spelt_exactly_is_the_property(
    engine: QueryEngine, server: SandboxServer
) -> None:
    ident = engine.execute(
        "INSERT INTO awscc.notifications.notification_hubs (Region, region) "
        "SELECT 'us-west-2', 'us-east-1' RETURNING Identifier"
    ).rows[0]["Identifier"]
    assert ident == "us-west-2"  # the primary identifier is the Region property
    assert stored(server, "AWS::Notifications::NotificationHub", ident)["Region"] == "us-west-2"
    rows = engine.execute(
        "SELECT region, _region FROM awscc.notifications.notification_hubs "
        f"WHERE region = '{REGION}' AND Identifier = '{ident}'"
    ).rows
    assert rows == [{"region": REGION, "_region": "us-west-2"}]


def test_region_alone_is_the_request_region_and_names_the_missing_property(
    engine: QueryEngine,
) -> None:
    with pytest.raises(QueryError) as info:
        engine.execute(
            "INSERT INTO awscc.notifications.notification_hubs (region) SELECT 'us-east-1'"
        )
    message = str(info.value)
    assert "column 'region' is the request's region" in message
    assert "needs its property Region" in message
    assert "list Region (exact spelling)" in message


def test_listing_a_type_with_a_region_property(engine: QueryEngine) -> None:
    table = "awscc.arczonalshift.autoshift_observer_notification_statuses"
    ident = insert(engine, table, {"Status": "ENABLED"})
    assert ident == f"{ACCOUNT}|{REGION}"
    listed = engine.execute(f"SELECT * FROM {table}_list_only WHERE region = '{REGION}'")
    assert listed.columns == ["region", "account_id", "_region"]
    assert listed.rows == [{"region": REGION, "account_id": ACCOUNT, "_region": REGION}]
    full = engine.execute(f"SELECT region, _region, status FROM {table} WHERE region = '{REGION}'")
    assert full.rows == [{"region": REGION, "_region": REGION, "status": "ENABLED"}]


# -- through the CLI ----------------------------------------------------------------------------


def cli_query(state: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, ["query", "--sandbox", "--sandbox-state", str(state), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_collisions_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "sandbox.db"
    created = cli_query(
        state,
        "INSERT INTO awscc.notifications.notification_hubs (Region, region) "
        "SELECT 'eu-west-1', 'us-east-1'",
    )
    assert created.exit_code == 0, created.output
    assert "CREATE AWS::Notifications::NotificationHub eu-west-1: SUCCESS" in created.stderr
    hook = cli_query(
        state,
        "INSERT INTO awscc.autoscaling.lifecycle_hooks "
        "(AutoScalingGroupName, LifecycleTransition, RoleARN, region) "
        "SELECT 'asg-1', 'autoscaling:EC2_INSTANCE_LAUNCHING', "
        "'arn:aws:iam::123456789012:role/hooks', 'us-east-1'",
    )
    assert hook.exit_code == 0, hook.output
    read = cli_query(
        state,
        "--output",
        "json",
        "SELECT role_arn FROM awscc.autoscaling.lifecycle_hooks "
        "WHERE region = 'us-east-1' AND auto_scaling_group_name = 'asg-1'",
    )
    assert read.exit_code == 0, read.output
    assert json.loads(read.stdout) == [{"role_arn": "arn:aws:iam::123456789012:role/hooks"}]
    listed = cli_query(
        state,
        "--output",
        "json",
        "SELECT _region FROM awscc.arczonalshift.autoshift_observer_notification_statuses "
        "WHERE region = 'us-east-1'",
    )
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []


def test_describe_shows_the_select_column_of_a_shadowed_property() -> None:
    from stackdeploy.cli.describe import describe_type

    doc = describe_type("AWS::Notifications::NotificationHub", REGION)
    columns = {p["name"]: p["column"] for p in doc["properties"]}
    assert columns["Region"] == "_region"
    rbin = describe_type("AWS::Rbin::Rule", REGION)
    assert {p["name"]: p["column"] for p in rbin["properties"]}["Identifier"] == "identifier"
