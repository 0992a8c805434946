"""Masking: protected values by content, write-only properties by position."""

from __future__ import annotations

import io
import logging

import pytest

from stackdeploy.engine.runner import PlanErrors
from stackdeploy.errors import CloudControlError, PlanError, QueryError
from stackdeploy.plan import Plan, ResourcePlan, plan_resource
from stackdeploy.plan.diff import Change
from stackdeploy.report.mask import MASK, Masker, mask_value, masked_logs
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


def test_secret_paths_mask_the_old_live_value_too() -> None:
    """Masking by value cannot know the value a rotation replaces; masking by path does."""
    schema = get_schema("AWS::SSM::Parameter")
    live = {"Name": "p", "Type": "String", "Value": "old-secret-1"}
    desired = {"Name": "p", "Type": "String", "Value": "new-secret-2"}
    plan = plan_resource(schema, name="p", desired=desired, live=live, secret_paths=["/Value"])
    assert plan.secret_paths == ("/Value",)
    masker = Masker({"new-secret-2"}, write_only_paths={})
    safe = masker.resource(plan)
    (change,) = safe.changes
    assert (change.before, change.after) == (MASK, MASK)
    assert safe.patch == ({"op": "replace", "path": "/Value", "value": MASK},)
    # Without the path only the new value would be hidden.
    bare = masker.resource(plan_resource(schema, name="p", desired=desired, live=live))
    assert bare.changes[0].before == "old-secret-1"


def test_secret_paths_mask_nested_changes_and_create_states() -> None:
    masker = Masker(write_only_paths={})
    plan = ResourcePlan(
        name="u",
        type="AWS::IAM::User",
        action="update",
        changes=(Change("/LoginProfile/PasswordResetRequired", "replace", True, False),),
        secret_paths=("/LoginProfile",),
    )
    assert masker.resource(plan).changes[0].before == MASK
    create = ResourcePlan(
        name="u",
        type="AWS::IAM::User",
        action="create",
        desired={"UserName": "u", "LoginProfile": {"Password": "x"}},
        secret_paths=("/LoginProfile",),
    )
    assert masker.resource(create).desired == {"UserName": "u", "LoginProfile": MASK}


def test_replacement_reasons_never_quote_a_secret_path() -> None:
    """A create-only secret (a name derived from a protected value) is named, not quoted,
    in the plan and in the error refusing the replacement."""
    schema = get_schema("AWS::SSM::Parameter")
    live = {"Name": "old-x", "Type": "String", "Value": "v"}
    desired = {"Name": "new-y", "Type": "String", "Value": "v"}
    plan = plan_resource(
        schema, name="p", desired=desired, live=live, allow_replace=True, secret_paths=["/Name"]
    )
    assert plan.replace_reasons == ("Name is create-only (live '****' → desired '****')",)
    with pytest.raises(PlanError) as caught:
        plan_resource(schema, name="p", desired=desired, live=live, secret_paths=["/Name"])
    assert "old-x" not in str(caught.value) and "new-y" not in str(caught.value)


def test_errors_are_masked_in_place_with_what_they_carry() -> None:
    masker = Masker({"hunter22"})
    inner = QueryError("near 'hunter22'", file="r.iql", line=3, hint="not hunter22")
    outer = PlanErrors([("r", inner), ("s", CloudControlError("x", status_message="hunter22"))])
    same = masker.error(outer)
    assert same is outer
    assert "hunter22" not in str(outer) and MASK in str(outer)
    assert "hunter22" not in str(inner) + inner.bare_message + str(inner.hint)
    assert outer.errors[1][1].status_message == MASK  # type: ignore[attr-defined]
    assert outer.args == (outer.message,)


def test_masked_logs_mask_every_record_while_active() -> None:
    handler = logging.StreamHandler(io.StringIO())
    logger = logging.getLogger("stackdeploy.test-mask")
    root = logging.getLogger("stackdeploy")
    root.addHandler(handler)
    try:
        with masked_logs(Masker({"s3cret-value"}).text):
            logger.warning("connecting with %s", "s3cret-value")
            try:
                raise ValueError("bad s3cret-value")
            except ValueError:
                logger.exception("failed")
        logger.warning("after: %s", "s3cret-value")
    finally:
        root.removeHandler(handler)
    written = handler.stream.getvalue()  # type: ignore[attr-defined]
    during, after = written.split("after: ")
    assert "s3cret-value" not in during
    assert during.count(MASK) == 3  # the message, the exception's text in the traceback
    assert "ValueError" in during
    assert after.startswith("s3cret-value")  # the filter is gone with the run
