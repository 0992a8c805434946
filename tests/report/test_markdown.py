"""Markdown reports (``--output markdown``): layout, escaping, secrets, orphans."""

from __future__ import annotations

import pytest

from stackdeploy.plan import Plan, ResourcePlan, plan_resource
from stackdeploy.plan.model import Orphan
from stackdeploy.report import Masker, render_drift_markdown, render_plan_markdown
from stackdeploy.report.text import render_plan_text
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
            "VersioningConfiguration": {"Status": "Enabled"},
            "Tags": [{"Key": "token", "Value": "old"}],
        },
        identifier="s-dev-bucket1",
    )
    create = plan_resource(
        BUCKET,
        name="bucket2",
        desired={"BucketName": "b2", "AccessControl": "PublicRead"},
        live=None,
    )
    noop = plan_resource(
        BUCKET, name="bucket3", desired={"BucketName": "b3"}, live={"BucketName": "b3"}
    )
    skip = ResourcePlan(name="hook", type="script", action="skip", reason="if: false")
    orphan = Orphan(
        name="old_queue",
        arn="arn:aws:sqs:us-east-1:123456789012:s-dev-old",
        type="AWS::SQS::Queue",
        identifier="https://sqs.us-east-1.amazonaws.com/123456789012/s-dev-old",
        reason="build --prune deletes it",
    )
    return Plan("s", "dev", [update, create, noop, skip], [orphan])


def test_plan_markdown_layout(plan: Plan) -> None:
    text = render_plan_markdown(plan, Masker({SECRET}))
    lines = text.splitlines()
    assert lines[0] == (
        "**Plan of `s` (`dev`)**: 1 to create, 1 to update, 0 to replace, 0 to delete, "
        "1 unchanged, 1 skipped, 1 orphan kept."
    )
    assert "| | Resource | Type | Action | Identifier |" in lines
    assert (
        "| `~` | `bucket1` | AWS::S3::Bucket | will be updated in place | `s-dev-bucket1` |"
        in lines
    )
    assert "| `+` | `bucket2` | AWS::S3::Bucket | will be created | |" in lines
    # One collapsible block per change, the diff in a diff code block.
    assert text.count("<details>") == 3  # two changes + the unchanged list
    start = lines.index(
        "<summary><code>~</code> <b>bucket1</b> (AWS::S3::Bucket) will be updated in place</summary>"
    )
    block = lines[start + 2 : lines.index("```", start + 3) + 1]
    assert block[0] == "```diff"
    assert '~ VersioningConfiguration.Status: "Enabled" → "Suspended"' in block
    assert "# AccessControl is write-only: it cannot be read back, so drift is not checked" in block
    assert '+ AccessControl: "****"' in lines
    # Orphans, then the rest folded away.
    assert (
        "| `?` | `old_queue` | AWS::SQS::Queue | "
        "`https://sqs.us-east-1.amazonaws.com/123456789012/s-dev-old` | "
        "kept: build --prune deletes it |"
    ) in lines
    assert "<summary>2 unchanged or skipped</summary>" in lines
    assert "- `bucket3` (AWS::S3::Bucket) unchanged" in lines
    assert "- `hook` (script) skipped: if: false" in lines
    assert text.endswith("</details>\n")


def test_plan_markdown_masks_secrets(plan: Plan) -> None:
    text = render_plan_markdown(plan, Masker({SECRET}))
    assert SECRET not in text
    assert "Private" not in text and "PublicRead" not in text  # write-only AccessControl
    assert '~ Tags.token: "old" → "****"' in text


def test_same_wording_as_the_text_plan(plan: Plan) -> None:
    text = render_plan_text(plan, masker=Masker({SECRET}))
    summary = text.splitlines()[-1].removeprefix("Plan: ")
    assert render_plan_markdown(plan, Masker({SECRET})).splitlines()[0].endswith(summary)


def test_no_changes() -> None:
    noop = plan_resource(BUCKET, name="b", desired={"BucketName": "b"}, live={"BucketName": "b"})
    text = render_plan_markdown(Plan("s", "dev", [noop]))
    assert text.splitlines()[:3] == [
        "**Plan of `s` (`dev`)**: 0 to create, 0 to update, 0 to replace, 0 to delete, 1 unchanged.",
        "",
        "No changes.",
    ]


def test_hostile_names_and_values_cannot_break_the_layout() -> None:
    update = plan_resource(
        BUCKET,
        name="b",
        desired={"BucketName": "b", "Tags": [{"Key": "k", "Value": "```\n</details><script>x"}]},
        live={"BucketName": "b", "Tags": [{"Key": "k", "Value": "a|b`c"}]},
        identifier="id|with`tick",
    )
    queue = ResourcePlan(name="q<b>|x", type="AWS::SQS::Queue", action="create")
    text = render_plan_markdown(Plan("s", "dev", [update, queue]))
    lines = text.splitlines()
    # A pipe in a cell is escaped; backticks get a longer code span.
    assert (
        "| `~` | `b` | AWS::S3::Bucket | will be updated in place | ``id\\|with`tick`` |" in lines
    )
    assert "| `+` | `q<b>\\|x` | AWS::SQS::Queue | will be created | |" in lines
    assert (
        "<summary><code>+</code> <b>q&lt;b&gt;|x</b> (AWS::SQS::Queue) will be created</summary>"
        in lines
    )
    # A value holding a fence gets a longer fence around it; nothing is closed early.
    assert "````diff" in lines
    assert text.count("<script>") == 1  # only inside the fenced block
    fence_at = lines.index("````diff")
    closing = lines.index("````", fence_at + 1)
    assert any("<script>" in line for line in lines[fence_at:closing])


def test_orphans_to_delete_and_applied_wording() -> None:
    orphan = Orphan(
        name="gone", arn="arn:aws:sns:us-east-1:1:t", type="AWS::SNS::Topic",
        identifier="arn:aws:sns:us-east-1:1:t", action="delete", reason="--prune",
    )  # fmt: skip
    created = ResourcePlan(name="q", type="AWS::SQS::Queue", action="create", identifier="u")
    plan = Plan("s", "dev", [created], [orphan])
    text = render_plan_markdown(plan)
    assert text.splitlines()[0].startswith("**Plan of `s` (`dev`)**: 1 to create, 0 to update")
    assert "1 to delete" in text.splitlines()[0]
    assert (
        "| `-` | `gone` | AWS::SNS::Topic | `arn:aws:sns:us-east-1:1:t` | will be deleted (`--prune`) |"
        in text
    )
    done = render_plan_markdown(plan, done="Build")
    assert done.splitlines()[0] == (
        "**Build of `s` (`dev`) complete**: 1 created, 0 updated, 0 replaced, 0 unchanged, "
        "1 orphan deleted."
    )
    assert "| `+` | `q` | AWS::SQS::Queue | created | `u` |" in done
    assert "| `-` | `gone` | AWS::SNS::Topic | `arn:aws:sns:us-east-1:1:t` | deleted |" in done


def test_drift_markdown(plan: Plan) -> None:
    text = render_drift_markdown(plan, Masker({SECRET}))
    lines = text.splitlines()
    assert lines[0] == "**Test of `s` (`dev`)**: Drift: 2 of 3 resources not in the desired state."
    assert "| `!` | `bucket2` | AWS::S3::Bucket | does not exist | |" in lines
    assert (
        "| `!` | `bucket1` | AWS::S3::Bucket | not in its desired state | `s-dev-bucket1` |"
        in lines
    )
    assert '- VersioningConfiguration.Status: "Enabled"  (live)' in lines
    assert '+ VersioningConfiguration.Status: "Suspended"  (desired)' in lines
    assert "- the resource does not exist" in lines
    assert SECRET not in text
    assert "`old_queue`" in text
    in_sync = Plan("s", "dev", [plan.resources[2]])
    assert render_drift_markdown(in_sync).splitlines()[0] == (
        "**Test of `s` (`dev`)**: No drift: 1 resource in the desired state."
    )
