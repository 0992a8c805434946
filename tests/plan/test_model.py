"""The plan model: actions from diffs, the summary, and the JSON contract of design.md."""

from __future__ import annotations

import dataclasses
import json

import pytest

from stackdeploy.errors import PlanError
from stackdeploy.plan import Plan, ResourceDiff, ResourcePlan, decide_action, plan_resource
from stackdeploy.schema.registry import get_schema

BUCKET = get_schema("AWS::S3::Bucket")
REPLACING = ResourceDiff(
    patch=[{"op": "replace", "path": "/BucketName", "value": "b"}],
    replace_reasons=["BucketName is create-only (live 'a' → desired 'b')"],
)
UPDATING = ResourceDiff(patch=[{"op": "replace", "path": "/X", "value": 1}])


def test_absent_resources_are_created() -> None:
    assert decide_action(None, exists=False, allow_replace=False) == "create"
    assert decide_action(REPLACING, exists=False, allow_replace=False) == "create"


def test_replacement_needs_permission() -> None:
    assert decide_action(REPLACING, exists=True, allow_replace=True) == "replace"
    with pytest.raises(PlanError) as excinfo:
        decide_action(REPLACING, exists=True, allow_replace=False, name="bucket1")
    message = str(excinfo.value)
    assert message.startswith("bucket1: BucketName is create-only")
    assert "changing it replaces the resource" in message
    assert "--allow-replace" in message and "replace: true" in message
    assert excinfo.value.exit_code == 1


def test_replacement_error_is_masked() -> None:
    with pytest.raises(PlanError) as excinfo:
        decide_action(
            REPLACING,
            exists=True,
            allow_replace=False,
            name="b",
            mask=lambda s: s.replace("'a'", "****"),
        )
    assert "'a'" not in str(excinfo.value)


def test_update_noop_and_statecheck() -> None:
    assert decide_action(UPDATING, exists=True, allow_replace=False) == "update"
    assert decide_action(ResourceDiff(), exists=True, allow_replace=False) == "noop"
    assert (
        decide_action(ResourceDiff(), exists=True, allow_replace=False, statecheck_ok=False)
        == "update"
    )
    assert (
        decide_action(ResourceDiff(), exists=True, allow_replace=False, statecheck_ok=True)
        == "noop"
    )


def test_plan_resource_end_to_end() -> None:
    created = plan_resource(BUCKET, name="b", desired={"BucketName": "x"}, live=None)
    assert (created.action, created.reason, created.desired) == (
        "create",
        "absent",
        {"BucketName": "x"},
    )
    updated = plan_resource(
        BUCKET,
        name="b",
        desired={"BucketName": "x", "VersioningConfiguration": {"Status": "Enabled"}},
        live={"BucketName": "x"},
        identifier="x",
        depends_on=["role"],
    )
    assert updated.action == "update" and updated.depends_on == ("role",)
    assert updated.patch[0]["path"] == "/VersioningConfiguration"
    failing = plan_resource(
        BUCKET, name="b", desired={"BucketName": "x"}, live={"BucketName": "x"}, statecheck_ok=False
    )
    assert (failing.action, failing.reason, failing.patch) == ("update", "statecheck failed", ())
    with pytest.raises(PlanError, match=r"^b: BucketName is create-only"):
        plan_resource(BUCKET, name="b", desired={"BucketName": "y"}, live={"BucketName": "x"})
    replaced = plan_resource(
        BUCKET, name="b", desired={"BucketName": "y"}, live={"BucketName": "x"}, allow_replace=True
    )
    assert replaced.action == "replace" and replaced.desired == {"BucketName": "y"}


def _plan() -> Plan:
    return Plan(
        "s",
        "dev",
        [
            ResourcePlan(
                name="bucket1",
                type="AWS::S3::Bucket",
                action="update",
                identifier="s-dev-bucket1",
                patch=[
                    {
                        "op": "replace",
                        "path": "/VersioningConfiguration/Status",
                        "value": "Suspended",
                    }
                ],
            ),
            ResourcePlan(name="q", type="AWS::SQS::Queue", action="noop", identifier="u"),
            ResourcePlan(name="hook", type="script", action="skip", reason="if: false"),
        ],
    )


def test_json_matches_the_design_contract() -> None:
    document = _plan().to_json_dict()
    assert json.loads(json.dumps(document)) == document
    assert document["stack"] == {"name": "s", "env": "dev"}
    assert document["resources"][0] == {
        "name": "bucket1",
        "type": "AWS::S3::Bucket",
        "action": "update",
        "identifier": "s-dev-bucket1",
        "patch": [
            {"op": "replace", "path": "/VersioningConfiguration/Status", "value": "Suspended"}
        ],
        "replace_reasons": [],
        "depends_on": [],
        "reason": None,
    }
    # Skipped resources are listed but not counted: the contract's summary has no "skip".
    assert document["summary"] == {"create": 0, "update": 1, "replace": 0, "delete": 0, "noop": 1}
    assert document["resources"][2]["action"] == "skip"


def test_has_changes_and_lookup() -> None:
    plan = _plan()
    assert plan.has_changes
    assert plan.get("q") is not None and plan.get("nope") is None
    quiet = Plan("s", "dev", [r for r in plan.resources if r.action != "update"])
    assert not quiet.has_changes


def test_plans_are_immutable_and_validated() -> None:
    plan = _plan()
    assert isinstance(plan.resources, tuple) and isinstance(plan.resources[0].patch, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.resources[0].action = "noop"  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown action"):
        ResourcePlan(name="x", type="t", action="explode")  # type: ignore[arg-type]


def test_unread_create_only_properties_become_notes() -> None:
    sg = get_schema("AWS::EC2::SecurityGroup")
    resource = plan_resource(
        sg,
        name="sg",
        desired={"GroupName": "g", "GroupDescription": "d"},
        live={"GroupDescription": "d"},
    )
    assert resource.action == "noop"
    assert resource.notes == (
        "GroupName is create-only and AWS did not return it, so it is not compared",
    )
