"""The saved-plan model (pure): digests that hide secrets, comparing bases, apply-time
bounds, the file format."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from stackdeploy.errors import UsageError
from stackdeploy.plan.model import ResourcePlan
from stackdeploy.plan.saved import (
    ABSENT,
    Basis,
    Hasher,
    OrphanBasis,
    ResourceBasis,
    SavedPlan,
    bound_violation,
    compare,
    describe_problems,
    touched_paths,
)

SALT = bytes(range(16))
FAST = {"n": 2, "r": 1, "p": 1}  # the real cost is tested through the CLI


def _hasher(**kwargs: object) -> Hasher:
    return Hasher(SALT, scrypt=FAST, **kwargs)  # type: ignore[arg-type]


def test_digest_is_stable_keyed_and_order_free() -> None:
    one = _hasher().digest({"a": 1, "b": [1, "x"]})
    assert one == _hasher().digest({"b": [1, "x"], "a": 1})
    assert one != _hasher().digest({"a": 1, "b": [1, "y"]})
    assert one != Hasher(bytes(16), scrypt=FAST).digest({"a": 1, "b": [1, "x"]})
    assert one != _hasher(plan_key="k").digest({"a": 1, "b": [1, "x"]})
    assert len(one) == 64


def test_secrets_are_replaced_before_digesting() -> None:
    hasher = _hasher(secrets=["hunter2"])
    assert not hasher.secret_used
    scrubbed = hasher.scrub({"url": "pg://app:hunter2@db", "hunter2": ["hunter2"]})
    text = json.dumps(scrubbed)
    assert "hunter2" not in text
    assert hasher.secret_used
    token = hasher.token("hunter2")
    assert scrubbed == {token: [token], "url": f"pg://app:{token}@db"}
    # The stand-in depends on the salt: no table can be precomputed.
    assert token != Hasher(bytes(16), scrypt=FAST).token("hunter2")
    # Same secret, same digest; another secret value, another digest.
    assert hasher.digest("x-hunter2") == _hasher(secrets=["hunter2"]).digest("x-hunter2")
    assert _hasher(secrets=["hunter3"]).digest("x-hunter3") != hasher.digest("x-hunter2")


def test_short_secrets_are_hidden_by_position_only() -> None:
    hasher = _hasher(secrets=["ab"])
    assert hasher.scrub("abc") == "abc"  # too short to replace wherever it occurs
    assert hasher.secret_digest("ab") != _hasher().digest("ab")
    assert hasher.secret_digest("ab") == _hasher().secret_digest("ab")


def test_longest_secret_wins() -> None:
    hasher = _hasher(secrets=["long", "secret-long", "ret"])
    token = hasher.token
    assert hasher.scrub("x secret-long y") == f"x {token('secret-long')} y"
    assert hasher.scrub("long ret") == f"{token('long')} {token('ret')}"


def test_volatile_strings_are_labelled() -> None:
    hasher = _hasher(volatile={"5f0c-token": "<idempotency_token>"})
    assert hasher.scrub("id-5f0c-token") == "id-<idempotency_token>"
    assert not hasher.secret_used


def _basis(**changes: object) -> Basis:
    base = Basis(
        files={"stackql_manifest.yml": "f1"},
        document="d1",
        settings={"region": "us-east-1", "targets": [], "allow_replace": False, "prune": False},
        variables={"VIS": "v1"},
        globals={"region": "g1"},
        resources={
            "queue": ResourceBasis("update", "p1", "r1", "l1", ("/VisibilityTimeout",)),
            "topic": ResourceBasis("create", "p2", "r2", ABSENT, ("/DisplayName",)),
        },
        orphans={"old": OrphanBasis("arn:aws:sqs:us-east-1:1:old", "delete", "o1")},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_compare_names_what_changed() -> None:
    saved = _basis()
    assert compare(saved, _basis()) == []
    fresh = _basis(
        files={"stackql_manifest.yml": "f2", "resources/q.iql": "q"},
        variables={"VIS": "v2", "NEW": "n"},
        globals={},
        settings={**saved.settings, "region": "eu-west-1"},
        resources={
            "queue": ResourceBasis("update", "p1", "r9", "l9", ("/VisibilityTimeout",)),
            "topic": ResourceBasis("create", "p2", "r2", "exists-now", ("/DisplayName",)),
        },
        orphans={},
    )
    assert compare(saved, fresh) == [
        "manifest files changed: stackql_manifest.yml",
        "manifest files added: resources/q.iql",
        "region was 'us-east-1' when the plan was made, now 'eu-west-1'",
        "variables (--env-file / -e) changed: VIS",
        "variables (--env-file / -e) added: NEW",
        "globals removed: region",
        "queue: its rendered props changed",
        "queue: the live resource changed since the plan was made",
        "topic: it exists now; it did not when the plan was made",
        "orphans gone since the plan was made: old",
    ]


def test_compare_same_inputs_different_outcome() -> None:
    saved = _basis()
    fresh = _basis(
        document="d2",
        resources={
            "queue": ResourceBasis("noop", "p0", "r1", "l1"),
            "topic": ResourceBasis("create", "p9", "r2", ABSENT, ("/DisplayName",)),
        },
        orphans={"old": OrphanBasis("arn:aws:sqs:us-east-1:1:old", "delete", "o2")},
    )
    assert compare(saved, fresh) == [
        "the manifest's file() includes changed",
        "queue: planned again, it is noop, not update",
        "topic: planned again, its create differs",
        "orphan old: the live resource changed since the plan was made",
    ]
    fresh = _basis(resources={"queue": saved.resources["queue"]})
    assert compare(saved, fresh) == ["resources no longer planned: topic"]


def test_touched_paths() -> None:
    update = ResourcePlan(
        "q",
        "AWS::SQS::Queue",
        "update",
        patch=(
            {"op": "replace", "path": "/VisibilityTimeout", "value": 1},
            {"op": "move", "from": "/A", "path": "B"},
        ),
    )
    assert touched_paths(update) == ("/A", "/B", "/VisibilityTimeout")
    create = ResourcePlan("q", "AWS::SQS::Queue", "create", desired={"QueueName": "x", "a/b": 1})
    assert touched_paths(create) == ("/QueueName", "/a~1b")
    assert touched_paths(ResourcePlan("q", "T", "noop")) == ()


def test_bound_violation() -> None:
    saved = ResourceBasis(
        "update", "p", "r", "l", ("/VisibilityTimeout",), ("/RedrivePolicy/deadLetterTargetArn",)
    )

    def fresh(action: str, *paths: str) -> ResourcePlan:
        ops = tuple({"op": "replace", "path": p, "value": 1} for p in paths)
        return ResourcePlan("q", "AWS::SQS::Queue", action, patch=ops)  # type: ignore[arg-type]

    assert bound_violation(saved, fresh("update", "/VisibilityTimeout")) is None
    assert bound_violation(saved, fresh("update", "/VisibilityTimeout", "/RedrivePolicy")) is None
    assert bound_violation(saved, fresh("update", "/RedrivePolicy/deadLetterTargetArn")) is None
    assert bound_violation(saved, fresh("noop")) is None  # less is allowed
    assert bound_violation(saved, fresh("update", "/DelaySeconds")) == (
        "planned again with the values known now, its update would also change /DelaySeconds"
    )
    assert bound_violation(saved, fresh("replace", "/VisibilityTimeout")) == (
        "planned again with the values known now, it is replace, not update"
    )


def _saved(tmp_path: Path) -> Path:
    hasher = _hasher(plan_key="key")
    saved = SavedPlan(
        document={
            "stack": {"name": "s", "env": "dev"},
            "resources": [],
            "summary": {},
            "orphans": [],
        },
        basis=_basis(),
        salt=SALT,
        keyed=True,
        key_check=hasher.key_check,
        tool="stack-deploy test",
        created="2025-01-01T00:00:00Z",
        scrypt=FAST,
    )
    path = tmp_path / "plan.json"
    path.write_text(saved.to_json())
    return path


def test_file_round_trip(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    loaded = SavedPlan.load(path)
    assert loaded.basis == _basis()
    assert (loaded.stack_name, loaded.env, loaded.salt, loaded.keyed) == ("s", "dev", SALT, True)
    assert loaded.scrypt == FAST
    hasher = loaded.hasher("key")
    assert hasher.digest("x") == _hasher(plan_key="key").digest("x")
    with pytest.raises(UsageError, match="was made with STACK_DEPLOY_PLAN_KEY set"):
        loaded.hasher(None)
    with pytest.raises(UsageError, match="is not the key"):
        loaded.hasher("other")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1]", "is not a saved plan"),
        ('{"saved_plan": {"format": "other"}}', "is not a saved plan"),
        ('{"saved_plan": {"format": "stack-deploy-plan", "version": 9}}', "format version 9"),
        ('{"saved_plan": {"format": "stack-deploy-plan", "version": 1}}', "damaged saved plan"),
    ],
)
def test_not_a_plan_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(UsageError, match=message) as caught:
        SavedPlan.load(path)
    assert caught.value.exit_code == 2


def test_refusal_message() -> None:
    text = describe_problems("p.json", ["queue: its rendered props changed"])
    assert text.splitlines() == [
        "the saved plan p.json no longer holds; nothing was changed:",
        "  queue: its rendered props changed",
        "Make a new plan (stack-deploy plan ... --out FILE), review it, and apply it.",
    ]
