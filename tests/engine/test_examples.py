"""Every example stack, end to end in the sandbox, as a user would run it.

build → plan shows only noop (convergence) → test passes → change a prop → plan shows
exactly that update → build → plan noop → teardown → nothing of the stack left.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine.conftest import EXAMPLES, StackCli


@dataclass(frozen=True)
class Change:
    """How to change one prop of an example, and the update it must plan."""

    resource: str
    file: str = "stackql_manifest.yml"
    old: str = ""
    new: str = ""
    env: tuple[str, ...] = ()
    patch_prefix: str = ""


CHANGES = {
    "s3-versioning": Change(
        "bucket", env=("-e", "VERSIONING=Suspended"), patch_prefix="/VersioningConfiguration"
    ),
    "declarative": Change(
        "queue",
        old="    value: 60\n",
        new="    value: 120\n",
        patch_prefix="/VisibilityTimeout",
    ),
    "vpc-network": Change(
        "security_group",
        old="Description: HTTPS from anywhere",
        new="Description: HTTPS from the world",
        patch_prefix="/SecurityGroupIngress",
    ),
    "sagemaker-hyperpod": Change(
        "cluster",
        old="InstanceCount: 1",
        new="InstanceCount: 2",
        patch_prefix="/InstanceGroups",
    ),
}


def test_every_example_has_a_change() -> None:
    examples = sorted(p.name for p in EXAMPLES.iterdir() if (p / "stackql_manifest.yml").exists())
    assert examples == sorted(CHANGES)


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_example_lifecycle(name: str, cli: StackCli, actions, tmp_path: Path) -> None:
    stack = tmp_path / name
    shutil.copytree(EXAMPLES / name, stack)
    change = CHANGES[name]

    cli("build", str(stack), "dev", "--output-file", str(tmp_path / "exports.json"))
    assert (tmp_path / "exports.json").is_file()
    built = len(cli.resources())
    assert built > 0

    plan = cli.plan_json(stack, "dev", "--prune")
    assert set(actions(plan).values()) <= {"noop", "skip"}, plan
    assert plan["orphans"] == []  # everything the stack tagged is claimed by its manifest
    cli("test", str(stack), "dev")

    if change.old:
        path = stack / change.file
        text = path.read_text()
        assert change.old in text
        path.write_text(text.replace(change.old, change.new, 1))
    plan = cli.plan_json(stack, "dev", *change.env)
    changed = {n: a for n, a in actions(plan).items() if a not in ("noop", "skip")}
    assert changed == {change.resource: "update"}, plan
    (resource,) = [r for r in plan["resources"] if r["name"] == change.resource]
    assert resource["patch"], resource
    assert all(op["path"].startswith(change.patch_prefix) for op in resource["patch"]), resource
    cli("test", str(stack), "dev", *change.env, expect=1)

    cli("build", str(stack), "dev", *change.env)
    plan = cli.plan_json(stack, "dev", *change.env)
    assert set(actions(plan).values()) <= {"noop", "skip"}, plan
    assert len(cli.resources()) == built

    cli("teardown", str(stack), "dev", *change.env)
    assert cli.resources() == []
