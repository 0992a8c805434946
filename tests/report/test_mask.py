"""Masking: protected values by content, write-only properties by position."""

from __future__ import annotations

from stackdeploy.plan import Plan, ResourcePlan, plan_resource
from stackdeploy.plan.diff import Change
from stackdeploy.report.mask import MASK, Masker, mask_value
from stackdeploy.schema.registry import get_schema


def test_mask_value_replaces_substrings_at_any_depth() -> None:
    value = {"url": "postgres://u:pw123@host/db", "list": ["pw123", 7, None], "pw123": "k"}
    assert mask_value(value, {"pw123", ""}) == {
        "url": f"postgres://u:{MASK}@host/db",
        "list": [MASK, 7, None],
        MASK: "k",
    }
    assert mask_value("nothing here", ()) == "nothing here"


def test_longer_secrets_are_masked_whole() -> None:
    masker = Masker({"abc", "abcdef"})
    assert masker.text("x abcdef y abc") == f"x {MASK} y {MASK}"


def test_write_only_paths_are_masked_by_position() -> None:
    masker = Masker(
        write_only_paths={"AWS::S3::Bucket": [("AccessControl",), ("Rules", "*", "Transition")]}
    )
    patterns = masker.patterns("AWS::S3::Bucket")
    value = {"Rules": [{"Id": "a", "Transition": {"Days": 3}}], "AccessControl": "Private", "X": 1}
    assert masker.value_at(value, (), patterns) == {
        "Rules": [{"Id": "a", "Transition": MASK}],
        "AccessControl": MASK,
        "X": 1,
    }
    assert masker.value_at("Private", ("AccessControl",), patterns) == MASK


def test_default_masker_reads_write_only_paths_from_the_schema() -> None:
    masker = Masker()
    assert ("AccessControl",) in masker.patterns("AWS::S3::Bucket")
    assert masker.patterns("script") == ()
    assert masker.patterns("AWS::Nope::Nothing") == ()


def test_resource_plan_masking_covers_every_field() -> None:
    bucket = get_schema("AWS::S3::Bucket")
    resource = plan_resource(
        bucket,
        name="b",
        desired={
            "BucketName": "b",
            "AccessControl": "Private",
            "VersioningConfiguration": {"Status": "Enabled"},
            "Tags": [{"Key": "token", "Value": "tok-42"}],
        },
        live={"BucketName": "b", "Tags": [{"Key": "token", "Value": "old"}]},
        identifier="id-tok-42",
        notes=["found by tag tok-42"],
    )
    masked = Masker({"tok-42"}).resource(resource)
    text = repr(masked)
    assert "tok-42" not in text and "Private" not in text
    assert masked.identifier == f"id-{MASK}"
    assert {"op": "add", "path": "/AccessControl", "value": MASK} in masked.patch
    # The original plan is untouched: the executor still sends the real values.
    assert "tok-42" in repr(resource) and "Private" in repr(resource)


def test_changes_and_desired_are_masked_for_creates_and_details() -> None:
    resource = ResourcePlan(
        name="db",
        type="AWS::RDS::DBInstance",
        action="create",
        desired={"MasterUsername": "admin", "MasterUserPassword": "hunter2"},
    )
    masked = Masker().plan(Plan("s", "dev", [resource])).resources[0]
    assert masked.desired == {"MasterUsername": "admin", "MasterUserPassword": MASK}
    change = Change("/Tags", "replace", [], [], details=(Change("/Tags/k", "add", None, "sekret"),))
    masked_change = Masker({"sekret"}).change(change, ())
    assert masked_change.details[0].after == MASK
