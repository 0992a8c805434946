"""Text, JSON and drift reports: layout, colour, the contract, and secrets masked in each."""

from __future__ import annotations

import json

import click
import pytest

from stackdeploy.plan import Plan, ResourcePlan, plan_resource
from stackdeploy.report import Masker, render_drift_text, render_plan_json, render_plan_text
from stackdeploy.schema.registry import get_schema

BUCKET = get_schema("AWS::S3::Bucket")
SECRET = "s3cr3t-value"


@pytest.fixture
def plan() -> Plan:
    update = plan_resource(
        BUCKET,
        name="bucket1",
        desired={
            "BucketName": "s-dev-bucket1",
            "VersioningConfiguration": {"Status": "Suspended"},
            "AccessControl": "Private",
            "Tags": [{"Key": "token", "Value": SECRET}],
        },
        live={
            "BucketName": "s-dev-bucket1",
            "Arn": "arn:aws:s3:::s-dev-bucket1",
            "VersioningConfiguration": {"Status": "Enabled"},
            "Tags": [{"Key": "token", "Value": "old"}],
        },
        identifier="s-dev-bucket1",
    )
    create = plan_resource(
        BUCKET,
        name="bucket2",
        desired={"BucketName": "s-dev-bucket2", "AccessControl": "PublicRead"},
        live=None,
        depends_on=["bucket1"],
    )
    noop = plan_resource(
        BUCKET,
        name="bucket3",
        desired={"BucketName": "b3"},
        live={"BucketName": "b3"},
        identifier="b3",
    )
    delete = ResourcePlan(name="old", type="AWS::SQS::Queue", action="delete", identifier="q")
    skip = ResourcePlan(name="hook", type="script", action="skip", reason="if: false")
    return Plan("s", "dev", [update, create, noop, delete, skip])


def test_text_plan_layout(plan: Plan) -> None:
    text = render_plan_text(plan, color=False, masker=Masker({SECRET}))
    lines = text.splitlines()
    assert lines[0] == "Stack s (dev):"
    assert "  ~ bucket1 (AWS::S3::Bucket) s-dev-bucket1 will be updated in place" in lines
    assert '      ~ VersioningConfiguration.Status: "Enabled" → "Suspended"' in lines
    assert (
        "      # AccessControl is write-only: it cannot be read back, so drift is not checked"
        in lines
    )
    assert "  + bucket2 (AWS::S3::Bucket) will be created" in lines
    assert "  = bucket3 (AWS::S3::Bucket) b3 unchanged" in lines
    assert "  - old (AWS::SQS::Queue) q will be deleted" in lines
    assert "  . hook (script) skipped  # if: false" in lines
    assert lines[-1] == (
        "Plan: 1 to create, 1 to update, 0 to replace, 1 to delete, 1 unchanged, 1 skipped."
    )
    assert "\x1b[" not in text


def test_text_plan_masks_secrets(plan: Plan) -> None:
    text = render_plan_text(plan, color=False, masker=Masker({SECRET}))
    assert SECRET not in text
    assert "Private" not in text and "PublicRead" not in text  # write-only AccessControl
    assert '~ Tags.token: "old" → "****"' in text
    assert '+ AccessControl: "****"' in text


def test_colour_only_when_asked(plan: Plan) -> None:
    coloured = render_plan_text(plan, color=True, masker=Masker({SECRET}))
    assert "\x1b[" in coloured
    assert click.unstyle(coloured) == render_plan_text(plan, color=False, masker=Masker({SECRET}))
    assert SECRET not in coloured


def test_replace_reasons_in_text() -> None:
    replaced = plan_resource(
        BUCKET,
        name="b",
        desired={"BucketName": "new"},
        live={"BucketName": "old"},
        allow_replace=True,
    )
    text = render_plan_text(Plan("s", "dev", [replaced]))
    assert "-/+ b (AWS::S3::Bucket) must be replaced (deleted, then created again)" in text
    assert "! BucketName is create-only (live 'old' → desired 'new')" in text
    assert "0 to create, 0 to update, 1 to replace" in text


def test_json_plan_is_the_contract_and_masked(plan: Plan) -> None:
    text = render_plan_json(plan, Masker({SECRET}))
    assert text.endswith("\n")
    document = json.loads(text)
    assert list(document) == ["stack", "resources", "summary", "orphans"]
    assert document["summary"] == {"create": 1, "update": 1, "replace": 0, "delete": 1, "noop": 1}
    first = document["resources"][0]
    assert list(first) == [
        "name",
        "type",
        "action",
        "identifier",
        "patch",
        "replace_reasons",
        "depends_on",
        "reason",
    ]
    assert {
        "op": "replace",
        "path": "/VersioningConfiguration/Status",
        "value": "Suspended",
    } in first["patch"]
    assert {"op": "add", "path": "/AccessControl", "value": "****"} in first["patch"]
    assert document["resources"][1]["depends_on"] == ["bucket1"]
    assert SECRET not in text and "Private" not in text
    # Without protected values the secret shows, proving the masker did the work above.
    assert SECRET in render_plan_json(plan, Masker())


def test_protected_values_in_names_and_identifiers_are_masked() -> None:
    resource = ResourcePlan(
        name="q", type="AWS::SQS::Queue", action="noop", identifier=f"x-{SECRET}"
    )
    plan = Plan("s", "dev", [resource])
    assert SECRET not in render_plan_json(plan, Masker({SECRET}))
    assert SECRET not in render_plan_text(plan, masker=Masker({SECRET}))


def test_drift_report(plan: Plan) -> None:
    absent = plan_resource(BUCKET, name="gone", desired={"BucketName": "g"}, live=None)
    checked = Plan("s", "dev", [*plan.resources[:3], absent, plan.resources[4]])
    text = render_drift_text(checked, masker=Masker({SECRET}))
    lines = text.splitlines()
    assert "DRIFT bucket1 (AWS::S3::Bucket) s-dev-bucket1 is not in its desired state" in lines
    assert '      VersioningConfiguration.Status: live "Enabled", desired "Suspended"' in lines
    assert "DRIFT bucket2 (AWS::S3::Bucket) does not exist" in lines
    assert "ok    bucket3 (AWS::S3::Bucket) b3 is in its desired state" in lines
    assert "skip  hook (script) skipped: if: false" in lines
    assert lines[-1] == "Drift: 3 of 4 resources not in the desired state."
    assert SECRET not in text


def test_drift_report_without_drift() -> None:
    noop = plan_resource(BUCKET, name="b", desired={"BucketName": "b"}, live={"BucketName": "b"})
    text = render_drift_text(Plan("s", "dev", [noop]), color=True)
    assert click.unstyle(text).splitlines()[-1] == "No drift: 1 resource in the desired state."
