"""build / plan / test / teardown through the CLI against the embedded sandbox.

Each test drives real stacks (tests/data/stacks) end to end: the manifest is rendered, the
query files run through the awscc SQL engine, and every Cloud Control call goes over HTTP to
the sandbox, as it would to AWS.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.conftest import STACKS, StackCli

BUCKET = STACKS / "bucket"
KINDS = STACKS / "kinds"


def test_bucket_lifecycle_converges(cli: StackCli, actions, tmp_path: Path) -> None:
    out = tmp_path / "out" / "exports.json"
    cli("build", str(BUCKET), "dev", "--output-file", str(out))
    exports = json.loads(out.read_text())
    assert exports["bucket_name"] == "tbucket-dev-data"
    assert exports["bucket_arn"] == "arn:aws:s3:::tbucket-dev-data"
    assert exports["stack_name"] == "tbucket" and exports["stack_env"] == "dev"
    assert exports["elapsed_time"].endswith("s")
    # stackql-deploy 2.x's shell file, for `source` in a CI job.
    # stackql-deploy 2.x writes every key of the exports document, sorted, elapsed_time too.
    lines = (tmp_path / ".stackql-deploy-exports").read_text().splitlines()
    elapsed = exports["elapsed_time"]
    assert lines == [
        "export STACKQL_DEPLOY__tbucket__dev__bucket_arn='arn:aws:s3:::tbucket-dev-data'",
        "export STACKQL_DEPLOY__tbucket__dev__bucket_name='tbucket-dev-data'",
        f"export STACKQL_DEPLOY__tbucket__dev__elapsed_time='{elapsed}'",
        "export STACKQL_DEPLOY__tbucket__dev__stack_env='dev'",
        "export STACKQL_DEPLOY__tbucket__dev__stack_name='tbucket'",
    ]

    # Convergence: a fresh plan right after build is empty.
    plan = cli.plan_json(BUCKET, "dev")
    assert actions(plan) == {"bucket": "noop"}
    cli("plan", str(BUCKET), "dev", "--detailed-exitcode")
    cli("test", str(BUCKET), "dev")

    # A changed prop shows as exactly that update.
    plan = cli.plan_json(BUCKET, "dev", "-e", "VERSIONING=Suspended")
    (bucket,) = plan["resources"]
    assert bucket["action"] == "update"
    assert bucket["patch"] == [
        {"op": "replace", "path": "/VersioningConfiguration/Status", "value": "Suspended"}
    ]
    assert plan["summary"] == {"create": 0, "update": 1, "replace": 0, "delete": 0, "noop": 0}
    cli("plan", str(BUCKET), "dev", "-e", "VERSIONING=Suspended", "--detailed-exitcode", expect=2)
    drift = cli("test", str(BUCKET), "dev", "-e", "VERSIONING=Suspended", expect=1)
    assert "VersioningConfiguration" in drift.stdout
    assert "drift found in 1 resource(s): bucket" in drift.stderr

    cli("build", str(BUCKET), "dev", "-e", "VERSIONING=Suspended")
    assert actions(cli.plan_json(BUCKET, "dev", "-e", "VERSIONING=Suspended")) == {"bucket": "noop"}

    cli("teardown", str(BUCKET), "dev")
    assert cli.resources() == []
    assert actions(cli.plan_json(BUCKET, "dev")) == {"bucket": "create"}


def test_dry_run_changes_nothing(cli: StackCli) -> None:
    result = cli("build", str(BUCKET), "dev", "--dry-run")
    assert "bucket (AWS::S3::Bucket) will be created" in result.stdout
    assert cli.resources() == []
    cli("build", str(BUCKET), "dev")
    result = cli("teardown", str(BUCKET), "dev", "--dry-run")
    assert "will be deleted" in result.stdout
    assert len(cli.resources()) == 1


def test_plan_json_contract(cli: StackCli) -> None:
    plan = cli.plan_json(BUCKET, "dev")
    assert set(plan) == {"stack", "resources", "summary", "orphans"}
    assert plan["orphans"] == []
    assert plan["stack"] == {"name": "tbucket", "env": "dev"}
    (resource,) = plan["resources"]
    assert {
        "name",
        "type",
        "action",
        "identifier",
        "patch",
        "replace_reasons",
        "depends_on",
    } <= set(resource)
    assert resource["type"] == "AWS::S3::Bucket"
    assert resource["action"] == "create"


def test_protected_values_never_printed(cli: StackCli) -> None:
    arn = "arn:aws:s3:::tbucket-dev-data"
    result = cli("build", str(BUCKET), "dev", "--show-queries", "--log-level", "DEBUG")
    result = cli("plan", str(BUCKET), "dev", "--show-queries", "--log-level", "DEBUG")
    assert arn not in result.stdout + result.stderr
    assert "****" in result.stderr or "****" in result.stdout or arn not in result.stderr


def test_create_only_change_refused_before_anything_changes(cli: StackCli) -> None:
    cli("build", str(KINDS), "dev")
    before = cli.resources()
    # Another queue name = a create-only change: refused, nothing touched.
    result = cli("build", str(KINDS), "dev", "-e", "VIS=40", expect=0)
    assert "update" in result.stderr
    assert len(cli.resources()) == len(before)


def test_resource_kinds(cli: StackCli, actions, tmp_path: Path) -> None:
    out = tmp_path / "k.json"
    result = cli("build", str(KINDS), "dev", "--output-file", str(out))
    exports = json.loads(out.read_text())
    assert exports["greeting"] == "hello-dev"
    assert exports["queue_url"].startswith("https://sqs.us-east-1.amazonaws.com/")
    assert "script ran" in result.stderr and "command ran" in result.stderr
    held = cli.resources()
    assert len(held) == 1  # prod_only was skipped by its condition
    plan = cli.plan_json(KINDS, "dev")
    assert actions(plan) == {
        "say_hello": "skip",
        "account": "skip",
        "queue": "noop",
        "prod_only": "skip",
        "tagger": "skip",
    }
    queue = next(r for r in plan["resources"] if r["name"] == "queue")
    assert queue["depends_on"] == ["account"]
    cli("test", str(KINDS), "dev")
    cli("teardown", str(KINDS), "dev")
    assert cli.resources() == []


def test_target_runs_only_what_is_needed(cli: StackCli) -> None:
    result = cli("build", str(KINDS), "dev", "--target", "account")
    assert "say_hello: script ran" in result.stderr
    assert cli.resources() == []
    result = cli("build", str(KINDS), "dev", "--target", "nope", expect=2)
    assert "--target 'nope' is not a resource" in result.stderr


def test_errors_are_one_line(cli: StackCli, tmp_path: Path) -> None:
    stack = tmp_path / "broken"
    (stack / "resources").mkdir(parents=True)
    (stack / "stackql_manifest.yml").write_text(
        "name: broken\nproviders: [awscc]\nresources:\n"
        "  - name: bucket\n    props:\n      - name: bucket_name\n"
        "        value: '{{ nme }}-x'\n"
    )
    (stack / "resources" / "bucket.iql").write_text(
        "/*+ exists */\nSELECT COUNT(*) AS count FROM awscc.s3.buckets\n"
        "WHERE region = 'us-east-1' AND Identifier = '{{ bucket_name }}';\n"
    )
    result = cli("build", str(stack), "dev", expect=1)
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1
    assert "stackql_manifest.yml:7: undefined variable 'nme'" in lines[0]
    assert "Traceback" not in result.stderr

    result = cli("build", str(tmp_path / "nowhere"), "dev", expect=2)
    assert "stack directory" in result.stderr


def test_absent_resource_without_create_anchor(cli: StackCli, tmp_path: Path) -> None:
    stack = tmp_path / "nocreate"
    (stack / "resources").mkdir(parents=True)
    (stack / "stackql_manifest.yml").write_text(
        "name: nocreate\nproviders: [awscc]\nresources:\n  - name: bucket\n"
    )
    (stack / "resources" / "bucket.iql").write_text(
        "/*+ exists */\nSELECT COUNT(*) AS count FROM awscc.s3.buckets\n"
        "WHERE region = 'us-east-1' AND Identifier = 'nocreate-x';\n"
    )
    result = cli("build", str(stack), "dev", expect=1)
    assert "no create or createorupdate anchor" in result.stderr


def test_rollback_deletes_what_the_run_created(
    cli: StackCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = tmp_path / "rollback"
    stack.mkdir()
    (stack / "stackql_manifest.yml").write_text(
        "name: rb\nproviders: [awscc]\nresources:\n"
        "  - name: first\n    resource_type: awscc.s3.buckets\n    props:\n"
        "      - name: bucket_name\n        value: rb-first\n"
        "  - name: second\n    resource_type: awscc.sqs.queues\n    depends_on: [first]\n"
        "    props:\n      - name: visibility_timeout\n        value: 30\n"
    )
    # The queue's create fails on the server (after the bucket was created).
    faults = {
        "fail": [
            {
                "type": "AWS::SQS::Queue",
                "operation": "CREATE",
                "error_code": "GeneralServiceException",
            }
        ]
    }
    monkeypatch.setenv("STACK_DEPLOY_SANDBOX_FAULTS", json.dumps(faults))
    result = cli("build", str(stack), "dev", "--on-failure", "rollback", expect=1)
    assert "rolled back: first" in result.stderr
    assert cli.resources() == []
    result = cli("build", str(stack), "dev", "--on-failure", "ignore", expect=1)
    assert "1 resource(s) failed: second: " in result.stderr
    assert "GeneralServiceException" in result.stderr
    assert len(cli.resources()) == 1


def test_declarative_rename_is_a_replacement_not_an_orphan(cli: StackCli, tmp_path: Path) -> None:
    stack = tmp_path / "rename"
    stack.mkdir()
    manifest = (
        "name: rn\nproviders: [awscc]\nglobals:\n  - name: suffix\n    value: '{{ NAME }}'\n"
        "resources:\n"
        "  - name: bucket\n    resource_type: awscc.s3.buckets\n    props:\n"
        "      - name: bucket_name\n        value: rn-{{ suffix }}\n"
    )
    (stack / "stackql_manifest.yml").write_text(manifest)
    cli("build", str(stack), "dev", "-e", "NAME=one")
    result = cli("plan", str(stack), "dev", "-e", "NAME=two", expect=1)
    assert "BucketName is create-only (live 'rn-one' → desired 'rn-two')" in result.stderr
    assert "--allow-replace" in result.stderr
    plan = cli.plan_json(stack, "dev", "-e", "NAME=two", "--allow-replace")
    assert plan["resources"][0]["action"] == "replace"
    cli("build", str(stack), "dev", "-e", "NAME=two", "--allow-replace")
    names = sorted(r["identifier"] for r in cli.resources())
    assert names == ["rn-two"]


def test_no_credentials_and_no_sandbox_says_how_to_get_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from stackdeploy.cli import main

    monkeypatch.chdir(tmp_path)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["plan", str(BUCKET), "dev"])
    assert result.exit_code == 1
    assert "no AWS credentials" in result.stderr
    assert "--sandbox" in result.stderr
    assert "Traceback" not in result.stderr


def test_dry_run_with_values_known_only_after_apply(cli: StackCli, tmp_path: Path) -> None:
    stack = tmp_path / "chain"
    stack.mkdir()
    (stack / "stackql_manifest.yml").write_text(
        "name: chain\nproviders: [awscc]\nresources:\n"
        "  - name: first\n    resource_type: awscc.sqs.queues\n    props:\n"
        "      - name: visibility_timeout\n        value: 40\n"
        "    exports:\n      - visibility_timeout\n"
        "  - name: second\n    resource_type: awscc.sqs.queues\n    props:\n"
        "      - name: visibility_timeout\n        value: '{{ visibility_timeout }}'\n"
    )
    result = cli("build", str(stack), "dev", "--dry-run", "--output", "json")
    plan = json.loads(result.stdout)
    assert [r["action"] for r in plan["resources"]] == ["create", "create"]
    assert plan["resources"][1]["depends_on"] == ["first"]
    assert cli.resources() == []
    cli("build", str(stack), "dev")
    plan = cli.plan_json(stack, "dev")
    assert [r["action"] for r in plan["resources"]] == ["noop", "noop"]


def test_failed_request_quotes_its_error_code(
    cli: StackCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = {
        "fail": [
            {
                "type": "AWS::S3::Bucket",
                "operation": "CREATE",
                "error_code": "AccessDenied",
                "message": "not authorized to perform s3:CreateBucket",
            }
        ]
    }
    monkeypatch.setenv("STACK_DEPLOY_SANDBOX_FAULTS", json.dumps(faults))
    result = cli("build", str(BUCKET), "dev", expect=1)
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert "bucket.iql:15:" in line
    assert "AccessDenied: not authorized to perform s3:CreateBucket" in line
    assert cli.resources() == []
