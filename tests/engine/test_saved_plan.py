"""Saved plans through the CLI against the embedded sandbox: ``plan --out FILE`` then
``build --plan FILE`` applies exactly that plan, or refuses (exit 1, nothing changed),
naming what changed since: manifest files, variables, rendered props, live resources,
orphans. Also the bounds kept while applying, and secrets never stored in clear."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import STACKS, StackCli

QUEUES = """\
name: sp
providers: [awscc]
globals:
  - name: region
    value: us-east-1
resources:
  - name: dlq
    resource_type: awscc.sqs.queues
    props:
      - name: queue_name
        value: "{{ stack_name }}-{{ stack_env }}-dlq{{ vars.DLQ | default('') }}"
    exports:
      - arn: dlq_arn
  - name: queue
    resource_type: awscc.sqs.queues
    props:
      - name: queue_name
        value: "{{ stack_name }}-{{ stack_env }}-main"
      - name: visibility_timeout
        value: "{{ vars.VIS | default('30') }}"
      - name: redrive_policy
        value:
          deadLetterTargetArn: "{{ dlq_arn }}"
          maxReceiveCount: 3
  - name: topic
    resource_type: awscc.sns.topics
    props:
      - name: display_name
        value: "{{ vars.TOPIC | default('news') }}"
"""


@pytest.fixture
def stack(cli: StackCli, tmp_path: Path) -> Path:
    folder = tmp_path / "sp"
    folder.mkdir()
    (folder / "stackql_manifest.yml").write_text(QUEUES)
    cli("build", str(folder), "dev")
    return folder


def _queue(cli: StackCli, name: str) -> dict[str, Any]:
    for resource in cli.resources():
        if resource["type"] == "AWS::SQS::Queue" and resource["identifier"].endswith(f"/{name}"):
            props: dict[str, Any] = resource["properties"]
            return props
    raise AssertionError(f"no queue {name}")


def _state(cli: StackCli) -> list[tuple[str, str, str]]:
    """What the sandbox holds, to tell that a refused apply changed nothing."""
    return sorted(
        (r["type"], r["identifier"], json.dumps(r["properties"], sort_keys=True))
        for r in cli.resources()
    )


def test_round_trip_applies_exactly_the_saved_plan(
    cli: StackCli, stack: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    shown = cli("plan", str(stack), "dev", "-e", "VIS=45", "--out", str(out))
    assert "~ VisibilityTimeout: 30 → 45" in shown.stdout
    assert f"plan written to {out}" in shown.stderr
    saved = json.loads(out.read_text())
    # The plan document of docs/plan.md, plus what it was computed from.
    assert list(saved) == ["stack", "resources", "summary", "orphans", "saved_plan"]
    assert saved["summary"] == {"create": 0, "update": 1, "replace": 0, "delete": 0, "noop": 2}
    queue = next(r for r in saved["resources"] if r["name"] == "queue")
    assert queue["patch"] == [{"op": "replace", "path": "/VisibilityTimeout", "value": 45}]
    basis = saved["saved_plan"]
    assert basis["format"] == "stack-deploy-plan" and basis["version"] == 1
    assert basis["settings"] == {
        "region": "us-east-1",
        "targets": [],
        "allow_replace": False,
        "prune": False,
    }
    assert list(basis["manifest"]["files"]) == ["stackql_manifest.yml"]
    assert list(basis["inputs"]["variables"]) == ["VIS"]
    assert basis["resources"]["queue"]["action"] == "update"
    assert basis["resources"]["queue"]["paths"] == ["/VisibilityTimeout"]
    assert basis["resources"]["queue"]["deferred"] == []
    assert all(len(r["live"]) == 64 for r in basis["resources"].values())

    applied = cli("build", str(stack), "dev", "-e", "VIS=45", "--plan", str(out))
    assert "1 updated" in applied.stdout and "2 unchanged" in applied.stdout
    assert _queue(cli, "sp-dev-main")["VisibilityTimeout"] == 45
    assert {r["action"] for r in cli.plan_json(stack, "dev", "-e", "VIS=45")["resources"]} == {
        "noop"
    }

    # The same plan once more: the queue is not what it was planned against any more.
    before = _state(cli)
    again = cli("build", str(stack), "dev", "-e", "VIS=45", "--plan", str(out), expect=1)
    assert f"Error: the saved plan {out} no longer holds; nothing was changed:" in again.stderr
    assert "  queue: the live resource changed since the plan was made" in again.stderr
    assert "dlq" not in again.stderr and "topic" not in again.stderr
    assert _state(cli) == before


def test_refused_when_anything_it_was_computed_from_changed(
    cli: StackCli, stack: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    cli("plan", str(stack), "dev", "-e", "VIS=45", "-e", "TOPIC=news", "--out", str(out))
    before = _state(cli)
    manifest = stack / "stackql_manifest.yml"

    def refused(*extra: str) -> str:
        result = cli("build", str(stack), "dev", "--plan", str(out), *extra, expect=1)
        assert _state(cli) == before  # nothing changed
        return result.stderr

    # A variable: named (its value is not shown).
    err = refused("-e", "VIS=46", "-e", "TOPIC=news")
    assert "variables (--env-file / -e) changed: VIS" in err
    assert "queue: its rendered props changed" in err
    err = refused("-e", "VIS=45")
    assert "variables (--env-file / -e) removed: TOPIC" in err

    # The manifest: the file and the resources whose props changed.
    manifest.write_text(QUEUES.replace("maxReceiveCount: 3", "maxReceiveCount: 4"))
    err = refused("-e", "VIS=45", "-e", "TOPIC=news")
    assert "manifest files changed: stackql_manifest.yml" in err
    assert "queue: its rendered props changed" in err
    manifest.write_text(QUEUES)

    # A live resource changed behind the plan's back.
    cli(
        "query",
        "UPDATE awscc.sns.topics SET PatchDocument = string('"
        '[{"op":"replace","path":"/DisplayName","value":"edited"}]'
        "') WHERE Identifier = '"
        + next(r["identifier"] for r in cli.resources() if r["type"] == "AWS::SNS::Topic")
        + "' AND region = 'us-east-1'",
    )
    before = _state(cli)
    err = refused("-e", "VIS=45", "-e", "TOPIC=news")
    assert "topic: the live resource changed since the plan was made" in err
    assert "queue:" not in err and "dlq:" not in err


def test_query_file_changes_are_named(cli: StackCli, tmp_path: Path) -> None:
    stack = tmp_path / "bucket"
    shutil.copytree(STACKS / "bucket", stack)
    out = tmp_path / "plan.json"
    cli("plan", str(stack), "dev", "--out", str(out))
    saved = json.loads(out.read_text())["saved_plan"]
    files = sorted(saved["manifest"]["files"])
    assert files == ["resources/bucket.iql", "stackql_manifest.yml"]
    query = stack / "resources" / "bucket.iql"
    query.write_text(query.read_text() + "\n-- reviewed\n")
    result = cli("build", str(stack), "dev", "--plan", str(out), expect=1)
    assert "manifest files changed: resources/bucket.iql" in result.stderr
    assert cli.resources() == []


def test_plan_of_a_query_file_stack_round_trip(cli: StackCli, tmp_path: Path) -> None:
    stack = tmp_path / "bucket"
    shutil.copytree(STACKS / "bucket", stack)
    out = tmp_path / "plan.json"
    cli("plan", str(stack), "dev", "--out", str(out))
    cli("build", str(stack), "dev", "--plan", str(out))
    assert [r["identifier"] for r in cli.resources()] == ["tbucket-dev-data"]
    cli("plan", str(stack), "dev", "-e", "VERSIONING=Suspended", "--out", str(out))
    cli("build", str(stack), "dev", "-e", "VERSIONING=Suspended", "--plan", str(out))
    (bucket,) = cli.resources()
    assert bucket["properties"]["VersioningConfiguration"] == {"Status": "Suspended"}


def test_values_known_only_after_apply_stay_within_the_saved_bounds(
    cli: StackCli, stack: Path, tmp_path: Path
) -> None:
    """The dead-letter queue is replaced (a new ARN, known only after apply) and the main
    queue updated: its RedrivePolicy target was deferred, so it may join the patch."""
    out = tmp_path / "plan.json"
    args = ("-e", "DLQ=2", "-e", "VIS=45")
    cli("plan", str(stack), "dev", *args, "--allow-replace", "--out", str(out))
    basis = json.loads(out.read_text())["saved_plan"]["resources"]
    assert basis["dlq"]["action"] == "replace"
    assert basis["queue"]["paths"] == ["/VisibilityTimeout"]
    assert basis["queue"]["deferred"] == ["/RedrivePolicy/deadLetterTargetArn"]
    # --allow-replace comes from the plan; giving it again is fine.
    cli("build", str(stack), "dev", *args, "--plan", str(out), "--allow-replace")
    main = _queue(cli, "sp-dev-main")
    assert main["VisibilityTimeout"] == 45
    assert main["RedrivePolicy"]["deadLetterTargetArn"].endswith(":sp-dev-dlq2")
    assert {r["action"] for r in cli.plan_json(stack, "dev", *args)["resources"]} == {"noop"}


def test_a_resource_planned_noop_is_never_touched(
    cli: StackCli, stack: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    cli("plan", str(stack), "dev", "-e", "DLQ=3", "--allow-replace", "--out", str(out))
    saved = json.loads(out.read_text())
    assert {r["name"]: r["action"] for r in saved["resources"]} == {
        "dlq": "replace",
        "queue": "noop",
        "topic": "noop",
    }
    result = cli("build", str(stack), "dev", "-e", "DLQ=3", "--plan", str(out))
    # With the new ARN known, a fresh plan would update the queue; the saved plan says
    # noop, so it is left as it is, and the run says so.
    assert "queue: planned again with the values known now it would be updated" in result.stderr
    assert _queue(cli, "sp-dev-main")["RedrivePolicy"]["deadLetterTargetArn"].endswith(
        ":sp-dev-dlq"
    )
    plan = cli.plan_json(stack, "dev", "-e", "DLQ=3")
    assert {r["name"]: r["action"] for r in plan["resources"]}["queue"] == "update"


BOUNDED = """\
name: bv
providers: [awscc]
resources:
  - name: first
    resource_type: awscc.sqs.queues
    props:
      - name: queue_name
        value: bv-first
      - name: visibility_timeout
        value: "{{ vars.VA | default('30') }}"
    exports:
      - visibility_timeout
  - name: second
    resource_type: awscc.sqs.queues
    props:
      - name: queue_name
        value: bv-second
      - name: visibility_timeout
        value: "{{ visibility_timeout }}"
      - name: delay_seconds
        value: "{{ vars.DB | default('0') }}"
"""


def test_a_change_outside_the_saved_paths_is_refused_while_applying(
    cli: StackCli, tmp_path: Path
) -> None:
    """``second`` was planned against ``first``'s exports as they were (30); once ``first``
    is updated, planned again, it would also change VisibilityTimeout: not in the plan."""
    stack = tmp_path / "bv"
    stack.mkdir()
    (stack / "stackql_manifest.yml").write_text(BOUNDED)
    cli("build", str(stack), "dev")
    out = tmp_path / "plan.json"
    args = ("-e", "VA=45", "-e", "DB=5")
    cli("plan", str(stack), "dev", *args, "--out", str(out))
    result = cli("build", str(stack), "dev", *args, "--plan", str(out), expect=1)
    assert (
        "1 resource(s) failed: second: planned again with the values known now, its update "
        "would also change /VisibilityTimeout; not applied (the saved plan allows update of "
        "/DelaySeconds)"
    ) in result.stderr
    assert _queue(cli, "bv-first")["VisibilityTimeout"] == 45
    second = _queue(cli, "bv-second")
    assert second["VisibilityTimeout"] == 30 and second.get("DelaySeconds", 0) == 0


def test_orphans_in_a_saved_plan(cli: StackCli, stack: Path, tmp_path: Path) -> None:
    manifest = stack / "stackql_manifest.yml"
    start = QUEUES.index("  - name: topic\n")
    manifest.write_text(QUEUES[:start])
    out = tmp_path / "plan.json"

    # A plan made without --prune deletes no orphan, and cannot be applied with --prune.
    cli("plan", str(stack), "dev", "--out", str(out))
    saved = json.loads(out.read_text())
    assert [(o["name"], o["action"]) for o in saved["orphans"]] == [("topic", "skip")]
    assert saved["saved_plan"]["orphans"] == {}  # listed only: the plan does not depend on it
    result = cli("build", str(stack), "dev", "--plan", str(out), "--prune", expect=2)
    assert "was made without --prune" in result.stderr
    cli("build", str(stack), "dev", "--plan", str(out))
    assert any(r["type"] == "AWS::SNS::Topic" for r in cli.resources())

    cli("plan", str(stack), "dev", "--prune", "--out", str(out))
    saved = json.loads(out.read_text())
    assert [o["name"] for o in saved["orphans"]] == ["topic"]
    assert saved["saved_plan"]["orphans"]["topic"]["action"] == "delete"
    # The plan holds the orphan deletes: --prune need not be repeated.
    cli("build", str(stack), "dev", "--plan", str(out))
    assert not any(r["type"] == "AWS::SNS::Topic" for r in cli.resources())
    result = cli("build", str(stack), "dev", "--plan", str(out), expect=1)
    assert "orphans gone since the plan was made: topic" in result.stderr


def test_new_orphan_refuses_the_plan(cli: StackCli, stack: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    cli("plan", str(stack), "dev", "--prune", "--out", str(out))
    other = tmp_path / "other"
    other.mkdir()
    # Another copy of the stack tags one more resource with this stack's tags.
    (other / "stackql_manifest.yml").write_text(
        QUEUES.replace("  - name: topic\n", "  - name: extra\n")
    )
    cli("build", str(other), "dev", "--target", "extra")
    result = cli("build", str(stack), "dev", "--plan", str(out), expect=1)
    assert "new orphans: extra" in result.stderr


def test_dry_run_checks_the_plan_and_changes_nothing(
    cli: StackCli, stack: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    cli("plan", str(stack), "dev", "-e", "VIS=45", "--out", str(out))
    before = _state(cli)
    result = cli("build", str(stack), "dev", "-e", "VIS=45", "--plan", str(out), "--dry-run")
    assert "will be updated in place" in result.stdout
    assert _state(cli) == before
    cli("build", str(stack), "dev", "-e", "VIS=44", "--plan", str(out), "--dry-run", expect=1)


def test_usage_errors(cli: StackCli, stack: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    cli("plan", str(stack), "dev", "--out", str(out))
    result = cli("build", str(stack), "prd", "--plan", str(out), expect=2)
    assert "is a plan of stack 'sp' in environment 'dev', not 'prd'" in result.stderr
    result = cli("build", str(stack), "dev", "--plan", str(out), "--target", "queue", expect=2)
    assert "--target cannot be combined with --plan" in result.stderr
    result = cli("build", str(stack), "dev", "--plan", str(out), "--allow-replace", expect=2)
    assert "was made without --allow-replace; make the plan again with it" in result.stderr
    result = cli("build", str(stack), "dev", "--plan", str(tmp_path / "none.json"), expect=2)
    assert "plan file" in result.stderr and "not found" in result.stderr
    (tmp_path / "bad.json").write_text("{not json")
    result = cli("build", str(stack), "dev", "--plan", str(tmp_path / "bad.json"), expect=2)
    assert "is not a saved plan (not JSON" in result.stderr
    plain = cli("plan", str(stack), "dev", "--output", "json").stdout
    (tmp_path / "plain.json").write_text(plain)
    result = cli("build", str(stack), "dev", "--plan", str(tmp_path / "plain.json"), expect=2)
    assert "is not a saved plan" in result.stderr
    damaged = json.loads(out.read_text())
    del damaged["saved_plan"]["resources"]
    (tmp_path / "damaged.json").write_text(json.dumps(damaged))
    result = cli("build", str(stack), "dev", "--plan", str(tmp_path / "damaged.json"), expect=2)
    assert "is a damaged saved plan" in result.stderr
    other = tmp_path / "other"
    other.mkdir()
    (other / "stackql_manifest.yml").write_text(QUEUES.replace("name: sp", "name: zz"))
    result = cli("build", str(other), "dev", "--plan", str(out), expect=2)
    assert "is a plan of stack 'sp', not 'zz'" in result.stderr
    assert "Traceback" not in result.stderr


SECRETS = """\
name: sec
providers: [awscc]
globals:
  - name: db_password
    value: "{{ DB_PASSWORD }}"
resources:
  - name: secret
    resource_type: awscc.secretsmanager.secrets
    props:
      - name: name
        value: "{{ stack_name }}-{{ stack_env }}-secret"
      - name: secret_string
        value: "{{ db_password }}"
  - name: param
    resource_type: awscc.ssm.parameters
    props:
      - name: name
        value: "/{{ stack_name }}/{{ stack_env }}/conn"
      - name: type
        value: String
      - name: value
        value: "postgres://app:{{ db_password }}@db/app"
    protected:
      - value
"""


def _expected_secret_digest(salt: bytes, value: str, plan_key: str = "") -> str:
    """A variable's digest as docs/plan.md describes it: HMAC-SHA256 under a key derived
    from the salt, over the value's salted scrypt hash."""
    key = hmac.new(plan_key.encode(), b"stack-deploy plan v1:" + salt, hashlib.sha256).digest()
    derived = hashlib.scrypt(value.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    token = f"\x00secret:{derived.hex()}\x00"
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def test_secrets_are_never_stored_in_clear(cli: StackCli, tmp_path: Path) -> None:
    stack = tmp_path / "sec"
    stack.mkdir()
    (stack / "stackql_manifest.yml").write_text(SECRETS)
    out = tmp_path / "create.json"
    cli("plan", str(stack), "dev", "-e", "DB_PASSWORD=pw1", "--out", str(out))
    text = out.read_text()
    assert "pw1" not in text
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # holds digests of secrets
    saved = json.loads(text)
    secret = next(r for r in saved["resources"] if r["name"] == "secret")
    assert secret["action"] == "create"
    cli("build", str(stack), "dev", "-e", "DB_PASSWORD=pw1", "--plan", str(out))

    # An update of the protected value: the patch is masked, the digests hide the secret.
    out = tmp_path / "update.json"
    cli("plan", str(stack), "dev", "-e", "DB_PASSWORD=S3cr3t-rotated", "--out", str(out))
    text = out.read_text()
    assert "S3cr3t-rotated" not in text and "pw1" not in text
    param = next(r for r in json.loads(text)["resources"] if r["name"] == "param")
    assert param["patch"] == [{"op": "replace", "path": "/Value", "value": "****"}]

    # A guess of the variable can only be tested through scrypt with the file's salt.
    basis = json.loads(text)["saved_plan"]
    salt = bytes.fromhex(basis["hash"]["salt"])
    stored = basis["inputs"]["variables"]["DB_PASSWORD"]
    assert basis["hash"]["secrets"] == {"kdf": "scrypt", "n": 16384, "r": 8, "p": 1}
    assert stored == _expected_secret_digest(salt, "S3cr3t-rotated")
    assert stored != _expected_secret_digest(salt, "S3cr3t-rotatee")
    plain = hmac.new(salt, b"S3cr3t-rotated", hashlib.sha256).hexdigest()
    assert stored != plain

    cli("build", str(stack), "dev", "-e", "DB_PASSWORD=S3cr3t-rotated", "--plan", str(out))
    params = [r for r in cli.resources() if r["type"] == "AWS::SSM::Parameter"]
    assert params[0]["properties"]["Value"] == "postgres://app:S3cr3t-rotated@db/app"


def test_a_plan_without_secrets_is_not_private(cli: StackCli, stack: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    cli("plan", str(stack), "dev", "--out", str(out))
    assert stat.S_IMODE(out.stat().st_mode) & 0o044  # readable as the umask allows
    assert "mode 0600" not in cli("plan", str(stack), "dev", "--out", str(out)).stderr


def test_plan_key(
    cli: StackCli, stack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "plan.json"
    monkeypatch.setenv("STACK_DEPLOY_PLAN_KEY", "k3y-from-ci-secrets")
    cli("plan", str(stack), "dev", "-e", "VIS=40", "--out", str(out))
    basis = json.loads(out.read_text())["saved_plan"]
    assert basis["hash"]["keyed"] is True and len(basis["hash"]["key_check"]) == 64
    assert "k3y-from-ci-secrets" not in out.read_text()
    salt = bytes.fromhex(basis["hash"]["salt"])
    assert basis["inputs"]["variables"]["VIS"] == _expected_secret_digest(
        salt, "40", "k3y-from-ci-secrets"
    )

    monkeypatch.delenv("STACK_DEPLOY_PLAN_KEY")
    result = cli("build", str(stack), "dev", "-e", "VIS=40", "--plan", str(out), expect=2)
    assert "was made with STACK_DEPLOY_PLAN_KEY set" in result.stderr
    monkeypatch.setenv("STACK_DEPLOY_PLAN_KEY", "another")
    result = cli("build", str(stack), "dev", "-e", "VIS=40", "--plan", str(out), expect=2)
    assert "STACK_DEPLOY_PLAN_KEY is not the key" in result.stderr
    monkeypatch.setenv("STACK_DEPLOY_PLAN_KEY", "k3y-from-ci-secrets")
    cli("build", str(stack), "dev", "-e", "VIS=40", "--plan", str(out))
    assert _queue(cli, "sp-dev-main")["VisibilityTimeout"] == 40


def test_a_whole_stack_created_from_a_saved_plan(cli: StackCli, tmp_path: Path) -> None:
    """Every resource is created; the queue's dead-letter ARN is known only after the
    dead-letter queue exists, so it is re-rendered then, within the saved bounds."""
    folder = tmp_path / "sp"
    folder.mkdir()
    (folder / "stackql_manifest.yml").write_text(QUEUES)
    out = tmp_path / "plan.json"
    cli("plan", str(folder), "dev", "--out", str(out))
    basis = json.loads(out.read_text())["saved_plan"]["resources"]
    assert {n: (b["action"], b["live"]) for n, b in basis.items()} == {
        "dlq": ("create", "absent"),
        "queue": ("create", "absent"),
        "topic": ("create", "absent"),
    }
    assert basis["queue"]["paths"] == [
        "/QueueName",
        "/RedrivePolicy",
        "/Tags",
        "/VisibilityTimeout",
    ]
    assert basis["queue"]["deferred"] == ["/RedrivePolicy/deadLetterTargetArn"]
    cli("build", str(folder), "dev", "--plan", str(out))
    assert _queue(cli, "sp-dev-main")["RedrivePolicy"]["deadLetterTargetArn"] == (
        "arn:aws:sqs:us-east-1:123456789012:sp-dev-dlq"
    )
    assert {r["action"] for r in cli.plan_json(folder, "dev")["resources"]} == {"noop"}
