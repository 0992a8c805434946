"""Property test of the diff with hypothesis (skipped when hypothesis is not installed; the
seeded generator in test_diff.py covers the same property without it)."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")

from stackdeploy.plan.diff import diff_resource, in_sync  # noqa: E402
from stackdeploy.schema.registry import get_schema  # noqa: E402

BUCKET = get_schema("AWS::S3::Bucket")
ROLE = get_schema("AWS::IAM::Role")

scalars = st.one_of(
    st.sampled_from(["a", "b", "Enabled", ""]),
    st.integers(0, 3),
    st.sampled_from([0.5, 1.0, 2.0]),
    st.booleans(),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("KLMN"), inner, max_size=3)
    ),
    max_leaves=8,
)
tags = st.lists(
    st.fixed_dictionaries({"Key": st.sampled_from("abc"), "Value": st.sampled_from("12")}),
    max_size=3,
    unique_by=lambda t: t["Key"],
)
bucket_states = st.fixed_dictionaries(
    {},
    optional={
        "VersioningConfiguration": st.fixed_dictionaries(
            {"Status": st.sampled_from(["Enabled", "Suspended"])}
        ),
        "Tags": tags,
        "AccessControl": st.sampled_from(["Private", "PublicRead"]),
        "CorsConfiguration": json_values,
    },
)
role_states = st.fixed_dictionaries(
    {},
    optional={
        "ManagedPolicyArns": st.lists(st.sampled_from(["arn:1", "arn:2", "arn:3"]), max_size=3),
        "AssumeRolePolicyDocument": json_values,
        "Tags": tags,
    },
)


def _round_trip(schema: Any, desired: dict[str, Any], live: dict[str, Any]) -> None:
    diff = diff_resource(schema, desired, live)
    patched = jsonpatch.apply_patch(copy.deepcopy(live), diff.patch)
    assert diff_resource(schema, desired, patched).patch == []
    assert in_sync(schema, desired, patched)
    # An empty patch means live already satisfied desired, and the reverse.
    assert (diff.patch == []) == in_sync(schema, desired, live)


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(desired=bucket_states, live=bucket_states)
def test_bucket_patch_round_trip(desired: dict[str, Any], live: dict[str, Any]) -> None:
    _round_trip(BUCKET, desired, live)


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(desired=role_states, live=role_states)
def test_role_patch_round_trip(desired: dict[str, Any], live: dict[str, Any]) -> None:
    _round_trip(ROLE, desired, live)
