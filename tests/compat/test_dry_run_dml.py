"""``--dry-run`` (build, teardown) shows the statements each action would run, rendered, with
values known only after apply marked; ``plan`` shows them with ``--show-queries``; secrets
stay masked in them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.compat.conftest import Cli
from tests.engine.conftest import STACKS

BUCKET = STACKS / "bucket"
KINDS = STACKS / "kinds"


def test_build_and_teardown_dry_runs_show_the_dml(cli: Cli, tmp_path: Path) -> None:
    dry = cli("build", str(BUCKET), "dev", "--dry-run").stdout
    assert "would run:" in dry and "INSERT INTO awscc.s3.buckets" in dry
    assert "'tbucket-dev-data'" in dry
    assert cli.resources() == []

    cli("build", str(BUCKET), "dev")
    update = cli("build", str(BUCKET), "dev", "--dry-run", "-e", "VERSIONING=Suspended").stdout
    assert "UPDATE awscc.s3.buckets" in update and "Suspended" in update

    teardown = cli("teardown", str(BUCKET), "dev", "--dry-run").stdout
    assert "will be deleted" in teardown
    assert "DELETE FROM awscc.s3.buckets" in teardown and "'tbucket-dev-data'" in teardown
    assert len(cli.resources()) == 1

    # JSON: the statements under each resource's "dml" (a dry run only).
    document = json.loads(
        cli("teardown", str(BUCKET), "dev", "--dry-run", "--output", "json").stdout
    )
    (bucket,) = document["resources"]
    assert bucket["action"] == "delete" and "DELETE FROM awscc.s3.buckets" in bucket["dml"][0]
    plain = json.loads(cli("plan", str(BUCKET), "dev", "--output", "json").stdout)
    assert "dml" not in plain["resources"][0]
    assert "would run" not in cli("plan", str(BUCKET), "dev").stdout
    shown = cli("plan", str(BUCKET), "dev", "-e", "VERSIONING=Suspended", "--show-queries")
    assert "UPDATE awscc.s3.buckets" in shown.stdout


def test_values_known_after_apply_are_marked(cli: Cli) -> None:
    dry = cli("build", str(KINDS), "dev", "--dry-run").stdout
    # A declarative queue whose name uses another resource's export, and a command whose
    # target is created in the same run.
    assert "INSERT INTO awscc.sqs.queues" in dry
    assert "'tkinds-dev-<evaluated>'" in dry
    assert "-- <evaluated>: known only after the resources it uses are applied" in dry
    assert "UPDATE awscc.sqs.queues" in dry  # the command resource's sql


def test_secrets_are_masked_in_the_dml(cli: Cli, tmp_path: Path) -> None:
    stack = tmp_path / "sec"
    stack.mkdir()
    (stack / "stackql_manifest.yml").write_text(
        "name: sec\nproviders: [awscc]\nglobals:\n  - name: region\n    value: us-east-1\n"
        "resources:\n  - name: param\n    resource_type: awscc.ssm.parameters\n"
        "    props:\n      - name: name\n        value: /sec/token\n"
        "      - name: type\n        value: String\n"
        '      - name: value\n        value: "{{ vars.TOKEN }}"\n'
        "    protected: [value]\n"
    )
    dry = cli("build", str(stack), "dev", "--dry-run", "-e", "TOKEN=hunter2-secret")
    assert "INSERT INTO awscc.ssm.parameters" in dry.stdout
    assert "hunter2-secret" not in dry.stdout + dry.stderr
    assert "'****'" in dry.stdout


def test_show_queries_includes_inline_sql(cli: Cli) -> None:
    built = cli("build", str(KINDS), "dev", "--show-queries")
    # The query resource's and the command resource's inline sql, rendered.
    assert "[account] sql query:\nSELECT 'hello-dev' AS message" in built.stderr
    assert "[tagger] sql query:\nUPDATE awscc.sqs.queues" in built.stderr
    assert "WHERE Identifier = 'https://sqs.us-east-1.amazonaws.com/" in built.stderr
