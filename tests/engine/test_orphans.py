"""Orphans through the CLI against the embedded sandbox: resources carrying a stack's tags
that no manifest entry claims any more, listed by plan / test / build, deleted only by
``build --prune``.

Every resource is created by a real build (so it carries the tags stack-deploy puts on
what it creates); the tagging API, ARN resolution and deletes go over HTTP to the sandbox.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import STACKS, StackCli

THREE = """\
name: orph
providers: [awscc]
globals:
  - name: region
    value: us-east-1
resources:
  - name: queue
    resource_type: awscc.sqs.queues
    props:
      - name: queue_name
        value: "{{ stack_name }}-{{ stack_env }}-jobs"
  - name: topic
    resource_type: awscc.sns.topics
    props:
      - name: display_name
        value: news
  - name: bucket
    resource_type: awscc.s3.buckets
    props:
      - name: bucket_name
        value: "{{ stack_name }}-{{ stack_env }}-data"
"""


def _without(manifest: str, name: str) -> str:
    """``manifest`` with the resource ``name`` removed."""
    start = manifest.index(f"\n  - name: {name}\n") + 1
    end = manifest.find("\n  - name: ", start)
    return manifest[:start] + (manifest[end + 1 :] if end != -1 else "")


def _types(cli: StackCli) -> list[str]:
    return sorted(r["type"] for r in cli.resources())


def test_removed_resource_is_an_orphan_until_pruned(cli: StackCli, tmp_path: Path) -> None:
    stack = tmp_path / "orph"
    stack.mkdir()
    manifest = stack / "stackql_manifest.yml"
    manifest.write_text(THREE)
    cli("build", str(stack), "dev")
    assert _types(cli) == ["AWS::S3::Bucket", "AWS::SNS::Topic", "AWS::SQS::Queue"]
    plan = cli.plan_json(stack, "dev")
    assert plan["orphans"] == []

    # The queue leaves the manifest: its ARN does not hold its identifier (a URL), so
    # finding it exercises the resolution by listing.
    manifest.write_text(_without(THREE, "queue"))
    plan = cli.plan_json(stack, "dev")
    assert [r["name"] for r in plan["resources"]] == ["topic", "bucket"]
    (orphan,) = plan["orphans"]
    assert orphan == {
        "name": "queue",
        "type": "AWS::SQS::Queue",
        "action": "skip",
        "identifier": "https://sqs.us-east-1.amazonaws.com/123456789012/orph-dev-jobs",
        "arn": "arn:aws:sqs:us-east-1:123456789012:orph-dev-jobs",
        "depends_on": [],
        "reason": "build --prune deletes it",
    }
    assert plan["summary"]["delete"] == 0
    # Listed, but not a change: build would leave it.
    cli("plan", str(stack), "dev", "--detailed-exitcode")
    text = cli("plan", str(stack), "dev").stdout
    assert "Orphans: tagged for orph (dev), in no manifest entry (removed or renamed):" in text
    assert "  ? queue (AWS::SQS::Queue) https://sqs.us-east-1.amazonaws.com/123456789012/" in text
    assert text.rstrip().endswith("2 unchanged, 1 orphan kept.")

    # test reports it (and still passes: it is not part of the desired state).
    tested = cli("test", str(stack), "dev")
    assert "ORPHAN queue (AWS::SQS::Queue)" in tested.stdout
    assert "No drift: 2 resources in the desired state; 1 orphan." in tested.stdout
    assert json.loads(cli("test", str(stack), "dev", "--output", "json").stdout)["orphans"]

    # build without --prune leaves it, and says so.
    built = cli("build", str(stack), "dev")
    assert "1 orphan kept (build --prune deletes orphans)" in built.stdout
    assert "AWS::SQS::Queue" in _types(cli)

    # --dry-run --prune shows it as a delete and deletes nothing.
    dry = json.loads(
        cli("build", str(stack), "dev", "--prune", "--dry-run", "--output", "json").stdout
    )
    assert dry["orphans"][0]["action"] == "delete"
    assert dry["summary"]["delete"] == 1
    cli("plan", str(stack), "dev", "--prune", "--detailed-exitcode", expect=2)
    assert "AWS::SQS::Queue" in _types(cli)

    pruned = cli("build", str(stack), "dev", "--prune")
    assert "1 orphan deleted" in pruned.stdout
    assert "queue (orphan): deleting..." in pruned.stderr
    assert _types(cli) == ["AWS::S3::Bucket", "AWS::SNS::Topic"]

    plan = cli.plan_json(stack, "dev", "--prune")
    assert plan["orphans"] == []
    assert {r["action"] for r in plan["resources"]} == {"noop"}
    cli("plan", str(stack), "dev", "--prune", "--detailed-exitcode")


def test_orphan_found_by_tags_without_a_name(cli: StackCli, tmp_path: Path) -> None:
    """A topic's identifier is an ARN AWS chooses: it is resolved by GetResource."""
    stack = tmp_path / "orph"
    stack.mkdir()
    manifest = stack / "stackql_manifest.yml"
    manifest.write_text(THREE)
    cli("build", str(stack), "dev")
    manifest.write_text(_without(THREE, "topic"))
    result = cli("plan", str(stack), "dev", "--prune", "--output", "markdown")
    assert "**Orphans**: tagged for `orph` (`dev`)" in result.stdout
    assert "| `-` | `topic` | AWS::SNS::Topic | `arn:aws:sns:us-east-1:" in result.stdout
    assert "will be deleted (`--prune`)" in result.stdout
    cli("build", str(stack), "dev", "--prune")
    assert _types(cli) == ["AWS::S3::Bucket", "AWS::SQS::Queue"]


def test_renames_are_not_orphans(cli: StackCli, tmp_path: Path) -> None:
    stack = tmp_path / "orph"
    stack.mkdir()
    manifest = stack / "stackql_manifest.yml"
    manifest.write_text(THREE)
    cli("build", str(stack), "dev")

    # A new physical name under the same manifest name: the same resource, replaced.
    renamed = THREE.replace("-jobs", "-work")
    manifest.write_text(renamed)
    plan = cli.plan_json(stack, "dev", "--allow-replace", "--prune")
    assert {r["name"]: r["action"] for r in plan["resources"]}["queue"] == "replace"
    assert plan["orphans"] == []

    # A new manifest name, same physical name: claimed by its identifier, its name tag moves.
    moved = THREE.replace("  - name: bucket\n", "  - name: storage\n")
    manifest.write_text(moved)
    plan = cli.plan_json(stack, "dev", "--prune")
    storage = next(r for r in plan["resources"] if r["name"] == "storage")
    assert storage["action"] == "update"
    assert storage["identifier"] == "orph-dev-data"
    assert plan["orphans"] == []
    cli("build", str(stack), "dev", "--prune")
    assert len(cli.resources()) == 3
    assert cli.plan_json(stack, "dev", "--prune")["orphans"] == []


NETWORK = """\
name: net
providers: [awscc]
resources:
  - name: vpc
    resource_type: awscc.ec2.vpcs
    props:
      - name: cidr_block
        value: 10.7.0.0/16
    exports:
      - vpc_id
  - name: subnet
    resource_type: awscc.ec2.subnets
    props:
      - name: vpc_id
        value: "{{ vpc_id }}"
      - name: cidr_block
        value: 10.7.1.0/24
  - name: keep
    resource_type: awscc.sqs.queues
    props:
      - name: queue_name
        value: net-keep
"""


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_prune_deletes_an_orphan_before_the_orphans_it_refers_to(
    cli: StackCli, tmp_path: Path
) -> None:
    stack = tmp_path / "net"
    stack.mkdir()
    manifest = stack / "stackql_manifest.yml"
    manifest.write_text(NETWORK)
    cli("build", str(stack), "dev")
    manifest.write_text(_without(_without(NETWORK, "vpc"), "subnet"))
    plan = cli.plan_json(stack, "dev", "--prune")
    orphans = {o["name"]: o for o in plan["orphans"]}
    assert sorted(orphans) == ["subnet", "vpc"]
    assert orphans["subnet"]["depends_on"] == ["vpc"]
    assert orphans["vpc"]["depends_on"] == []

    events = tmp_path / "events.jsonl"
    cli("build", str(stack), "dev", "--prune", "--parallelism", "4", "--events", str(events))
    seen = [(e["state"], e["resource"]) for e in _events(events) if e.get("resource")]
    assert seen.index(("done", "subnet (orphan)")) < seen.index(("started", "vpc (orphan)"))
    assert _types(cli) == ["AWS::SQS::Queue"]


def test_prune_with_target_is_a_usage_error(cli: StackCli, tmp_path: Path) -> None:
    stack = tmp_path / "orph"
    stack.mkdir()
    (stack / "stackql_manifest.yml").write_text(THREE)
    for command in ("build", "plan"):
        result = cli(command, str(stack), "dev", "--prune", "--target", "queue", expect=2)
        assert "--prune works on the whole stack" in result.stderr
    assert cli.resources() == []


def test_other_stacks_and_environments_are_not_orphans(cli: StackCli, tmp_path: Path) -> None:
    stack = tmp_path / "orph"
    stack.mkdir()
    (stack / "stackql_manifest.yml").write_text(THREE)
    cli("build", str(stack), "dev")
    cli("build", str(stack), "prd")
    other = tmp_path / "other"
    other.mkdir()
    (other / "stackql_manifest.yml").write_text(THREE.replace("name: orph", "name: other"))
    cli("build", str(other), "dev")
    (stack / "stackql_manifest.yml").write_text(_without(THREE, "bucket"))
    plan = cli.plan_json(stack, "dev", "--prune")
    assert [(o["name"], o["identifier"]) for o in plan["orphans"]] == [("bucket", "orph-dev-data")]
    cli("build", str(stack), "dev", "--prune")
    buckets = sorted(r["identifier"] for r in cli.resources() if r["type"] == "AWS::S3::Bucket")
    assert buckets == ["orph-prd-data", "other-dev-data"]


def test_a_query_file_resource_tagged_with_another_name_is_not_an_orphan(
    cli: StackCli, tmp_path: Path
) -> None:
    """A stackql-deploy query file may tag with any resource name: what the plan finds
    (its identifier, its exports) is claimed, so --prune never deletes it."""
    stack = tmp_path / "bucket"
    shutil.copytree(STACKS / "bucket", stack)
    manifest = stack / "stackql_manifest.yml"
    manifest.write_text(
        manifest.read_text().replace(
            "          - Key: owner\n            Value: team-a\n",
            "          - Key: owner\n            Value: team-a\n"
            "          - Key: stackql:stack-name\n            Value: tbucket\n"
            "          - Key: stackql:stack-env\n            Value: dev\n"
            "          - Key: stackql:resource-name\n            Value: data-bucket\n",
        )
    )
    cli("build", str(stack), "dev")
    (bucket,) = cli.resources()
    assert {"Key": "stackql:resource-name", "Value": "data-bucket"} in bucket["properties"]["Tags"]
    plan = cli.plan_json(stack, "dev", "--prune")
    assert plan["orphans"] == []
    cli("build", str(stack), "dev", "--prune")
    assert len(cli.resources()) == 1


def test_without_the_tagging_api_prune_refuses(
    cli: StackCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = tmp_path / "orph"
    stack.mkdir()
    manifest = stack / "stackql_manifest.yml"
    manifest.write_text(THREE)
    cli("build", str(stack), "dev")
    manifest.write_text(_without(THREE, "topic"))
    denied = {"fail": [{"type": "*", "operation": "GetResources", "error_code": "AccessDenied",
                        "sync": True}]}  # fmt: skip
    monkeypatch.setenv("STACK_DEPLOY_SANDBOX_FAULTS", json.dumps(denied))
    # Without the tagging API the plan still works (resources are found by listing), but
    # orphans cannot be looked for: --prune refuses rather than pretend there are none.
    plan = cli.plan_json(stack, "dev")
    assert plan["orphans"] == [] and len(plan["resources"]) == 2
    before = len(cli.resources())
    result = cli("build", str(stack), "dev", "--prune", expect=1)
    assert "--prune: orphans cannot be looked for" in result.stderr
    assert len(cli.resources()) == before
