"""The queries of the seed page (the generated ``awscc.sagemaker.clusters`` reference page this
project started from), run verbatim against the sandbox.

tests/data/seed/*.iql are the page's SQL blocks copied byte for byte (anchors included);
tests/data/seed/variables.json gives their template variables as ``-e`` would: strings, with
objects and lists as JSON text in the snake_case shape of the page's manifest. The queries
are rendered with the strict template environment and run by the engine, as
``stack-deploy query --file`` does; one test runs them through the CLI itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stackdeploy.cli import main
from stackdeploy.cloud.session import open_cloud
from stackdeploy.errors import QueryError, StackDeployError, TemplateError
from stackdeploy.query.engine import QueryEngine, QueryResult
from stackdeploy.query.iql import parse_query_file
from stackdeploy.sandbox.server import SandboxServer
from stackdeploy.templating import render

SEED = Path(__file__).resolve().parent.parent / "data" / "seed"
SQL_FILES = [
    "select_get.iql",
    "select_list.iql",
    "insert_required.iql",
    "insert_all.iql",
    "update.iql",
    "delete.iql",
]


def seed_variables() -> dict[str, str]:
    data = json.loads((SEED / "variables.json").read_text())
    data.pop("_comment")
    return data


def source(name: str) -> tuple[str, int]:
    """The SQL of a seed file: its single anchor's body (and line), or the whole text."""
    text = (SEED / name).read_text()
    anchors = list(parse_query_file(text, file=name))
    if anchors:
        assert len(anchors) == 1
        return anchors[0].body, anchors[0].line
    return text, 1


@pytest.fixture(scope="module")
def engine() -> Iterator[QueryEngine]:
    with (
        SandboxServer() as server,
        open_cloud(
            region="us-east-1",
            endpoint_url=server.url,
            max_rps=10_000,
            burst=10_000,
            poll_initial=0.005,
            poll_max=0.05,
        ) as cloud,
    ):
        yield QueryEngine(cloud)


def run(engine: QueryEngine, name: str, variables: dict[str, Any]) -> QueryResult:
    body, line = source(name)
    path = str(SEED / name)
    return engine.execute(render(body, variables, file=path, line=line), file=path, line=line)


def test_seed_lifecycle_insert_select_update_delete(engine: QueryEngine) -> None:
    variables = seed_variables()
    created = run(engine, "insert_all.iql", variables)
    event = created.progress_event
    assert event.status == "SUCCESS" and event.operation == "CREATE"
    variables["cluster_arn"] = event.identifier

    # get: every column of the page's SELECT, nested values as JSON with CloudFormation keys
    got = run(engine, "select_get.iql", variables)
    assert got.columns == [
        "region",
        "cluster_arn",
        "vpc_config",
        "node_recovery",
        "instance_groups",
        "restricted_instance_groups",
        "orchestrator",
        "cluster_role",
        "node_provisioning_mode",
        "creation_time",
        "cluster_name",
        "failure_message",
        "auto_scaling",
        "cluster_status",
        "tags",
    ]
    (row,) = got.rows
    assert row["region"] == "us-east-1"
    assert row["cluster_arn"] == event.identifier
    assert json.loads(row["vpc_config"]) == {
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
        "Subnets": ["subnet-0123456789abcdef0"],
    }
    group = json.loads(row["instance_groups"])[0]
    assert group["InstanceCount"] == 4 and group["ThreadsPerCore"] == 2  # coerced from "4"/"2"
    assert group["LifeCycleConfig"] == {
        "SourceS3Uri": "s3://seed-lifecycle/scripts",
        "OnCreate": "on_create.sh",
    }
    assert "OverrideVpcConfig" not in group  # null in the manifest: dropped
    deployment = group["ScheduledUpdateConfig"]["DeploymentConfig"]
    assert deployment["RollingUpdatePolicy"] == {
        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}
    }
    restricted = json.loads(row["restricted_instance_groups"])[0]
    assert restricted["EnvironmentConfig"] == {
        "FSxLustreConfig": {"SizeInGiB": 1200, "PerUnitStorageThroughput": 250}
    }
    assert json.loads(row["orchestrator"]) == {
        "Eks": {"ClusterArn": "arn:aws:eks:us-east-1:123456789012:cluster/seed-eks"}
    }
    assert json.loads(row["auto_scaling"]) == {"Mode": "Enable", "AutoScalerType": "Karpenter"}
    assert json.loads(row["tags"]) == [{"Key": "stack", "Value": "seed"}]
    assert row["node_recovery"] == "Automatic"
    assert row["cluster_name"] == "seed-hyperpod"

    # list
    listed = run(engine, "select_list.iql", variables)
    assert listed.columns == ["region", "cluster_arn"]
    assert {"region": "us-east-1", "cluster_arn": event.identifier} in listed.rows

    # update, with the page's generate_patch_document over snake_case nested keys
    changed = dict(
        variables,
        node_recovery="None",
        auto_scaling='{"mode":"Disable"}',
        tags='[{"key":"stack","value":"seed-updated"}]',
    )
    updated = run(engine, "update.iql", changed)
    assert updated.progress_event.status == "SUCCESS"
    row = run(engine, "select_get.iql", variables).rows[0]
    assert row["node_recovery"] == "None"
    assert json.loads(row["auto_scaling"]) == {"Mode": "Disable"}
    assert json.loads(row["tags"]) == [{"Key": "stack", "Value": "seed-updated"}]

    # delete, then the get answers no rows
    deleted = run(engine, "delete.iql", variables)
    assert deleted.progress_event.operation == "DELETE"
    assert run(engine, "select_get.iql", variables).rows == []


def test_required_properties_insert_fails_with_one_line(engine: QueryEngine) -> None:
    body, line = source("insert_required.iql")
    # Rendering fails first: '{{  }}' is an empty expression.
    with pytest.raises(TemplateError) as rendered:
        run(engine, "insert_required.iql", seed_variables())
    assert "\n" not in str(rendered.value)
    assert str(rendered.value).startswith(f"{SEED / 'insert_required.iql'}:")
    # Taken literally, the SQL itself is rejected: the column list has an empty name.
    with pytest.raises(QueryError) as executed:
        engine.execute(body, file="insert_required.iql", line=line)
    message = str(executed.value)
    assert "\n" not in message
    assert message.startswith(f"insert_required.iql:{line + 1}: syntax error: empty item")


def test_manifest_shape_verbatim_is_rejected_before_the_call(engine: QueryEngine) -> None:
    """The page's manifest was written for an older schema (BlueGreenUpdatePolicy, read-only
    CurrentCount): validation names the problem instead of sending the request."""
    variables = seed_variables()
    groups = json.loads(variables["instance_groups"])
    groups[0]["current_count"] = "4"
    groups[0]["scheduled_update_config"]["deployment_config"]["blue_green_update_policy"] = {
        "termination_wait_in_seconds": "60"
    }
    variables["instance_groups"] = json.dumps(groups)
    with pytest.raises(QueryError) as info:
        run(engine, "insert_all.iql", variables)
    message = str(info.value)
    assert "\n" not in message
    assert "INSERT INTO awscc.sagemaker.clusters" in message
    assert "CurrentCount" in message or "BlueGreenUpdatePolicy" in message


def test_seed_queries_through_the_cli(tmp_path: Path) -> None:
    state = str(tmp_path / "sandbox.db")
    pairs = [arg for k, v in seed_variables().items() for arg in ("-e", f"{k}={v}")]
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        result = runner.invoke(main, ["query", "--sandbox", "--sandbox-state", state, *args])
        assert not isinstance(result.exception, StackDeployError | AssertionError), result.output
        return result

    created = invoke("--file", str(SEED / "insert_all.iql"), *pairs)
    assert created.exit_code == 0, created.stderr
    assert "CREATE AWS::SageMaker::Cluster" in created.stderr and "SUCCESS" in created.stderr

    listed = invoke("--file", str(SEED / "select_list.iql"), "--output", "json")
    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == 1 and rows[0]["region"] == "us-east-1"

    broken = invoke("--file", str(SEED / "insert_required.iql"), *pairs)
    assert broken.exit_code == 1
    lines = broken.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "insert_required.iql:" in lines[0]
