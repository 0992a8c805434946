"""One stack across accounts and regions: a resource may name its own ``region``, a
``role_arn`` to assume (or a ``profile``), or stackql-deploy 1.x ``auth`` credentials. Run
through the CLI against the embedded sandbox, which answers STS AssumeRole on the Cloud
Control endpoint and keeps accounts and regions apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.compat.conftest import Cli, write_stack

SECRET = "s3cr3t-value-never-shown"

MANIFEST = """
name: spread
providers: [awscc]
globals:
  - name: region
    value: us-east-1
  - name: dr_region
    value: "{{ vars.DR_REGION | default('eu-west-1') }}"
resources:
  - name: home_bucket
    resource_type: awscc.s3.buckets
    props:
      - name: bucket_name
        value: "spread-{{ stack_env }}-home"
  - name: dr_queue
    region: "{{ dr_region }}"
    props:
      - name: queue_name
        value: "spread-{{ stack_env }}-dr"
    exports:
      - queue_url: dr_queue_url
  - name: prod_bucket
    region: us-west-2
    role_arn: arn:aws:iam::222233334444:role/deployer
    external_id: ext-42
    resource_type: awscc.s3.buckets
    props:
      - name: bucket_name
        value: "spread-{{ stack_env }}-prod"
    exports:
      - arn: prod_arn
  - name: prod_queue
    region: us-west-2
    role_arn: arn:aws:iam::222233334444:role/deployer
    props:
      - name: queue_name
        value: "spread-{{ stack_env }}-prod"
    exports:
      - queue_url: prod_queue_url
  - name: keyed_param
    auth:
      aws:
        type: aws_signing_v4
        keyIDenvvar: OTHER_KEY_ID
        credentialsenvvar: OTHER_SECRET
    resource_type: awscc.ssm.parameters
    props:
      - name: name
        value: "/spread/{{ stack_env }}/prod-bucket"
      - name: type
        value: String
      - name: value
        value: "{{ prod_arn }}"
exports:
  - dr_queue_url
  - prod_queue_url
  - prod_arn
"""

QUEUE_IQL = """
/*+ exists */
SELECT queue_url FROM awscc.sqs.queues_list_only
WHERE region = '{{ region }}' AND queue_url LIKE '%/{{ queue_name }}';

/*+ create */
INSERT INTO awscc.sqs.queues (QueueName, region) SELECT '{{ queue_name }}', '{{ region }}';

/*+ exports */
SELECT queue_url FROM awscc.sqs.queues
WHERE region = '{{ region }}' AND Identifier = '{{ this.queue_url }}';

/*+ delete */
DELETE FROM awscc.sqs.queues WHERE region = '{{ region }}' AND Identifier = '{{ this.queue_url }}';
"""

ENV = ("-e", "OTHER_KEY_ID=333344445555", "-e", f"OTHER_SECRET={SECRET}")


def where(cli: Cli) -> set[tuple[str, str, str, str]]:
    return {(r["account"], r["region"], r["type"], r["identifier"]) for r in cli.resources()}


def test_one_stack_spans_accounts_and_regions(cli: Cli, tmp_path: Path) -> None:
    stack = write_stack(
        tmp_path / "spread", MANIFEST, {"dr_queue": QUEUE_IQL, "prod_queue": QUEUE_IQL}
    )
    out = tmp_path / "exports.json"
    built = cli(
        "build",
        str(stack),
        "dev",
        *ENV,
        "--output-file",
        str(out),
        "--show-queries",
        "--log-level",
        "debug",
    )
    assert SECRET not in built.stdout + built.stderr
    assert where(cli) == {
        ("123456789012", "us-east-1", "AWS::S3::Bucket", "spread-dev-home"),
        (
            "123456789012",
            "eu-west-1",
            "AWS::SQS::Queue",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/spread-dev-dr",
        ),
        ("222233334444", "us-west-2", "AWS::S3::Bucket", "spread-dev-prod"),
        (
            "222233334444",
            "us-west-2",
            "AWS::SQS::Queue",
            "https://sqs.us-west-2.amazonaws.com/222233334444/spread-dev-prod",
        ),
        ("333344445555", "us-east-1", "AWS::SSM::Parameter", "/spread/dev/prod-bucket"),
    }
    exports = json.loads(out.read_text())
    assert exports["dr_queue_url"].startswith("https://sqs.eu-west-1.amazonaws.com/123456789012/")
    assert exports["prod_queue_url"].startswith("https://sqs.us-west-2.amazonaws.com/222233334444/")

    # Convergence: each resource is found again where it lives.
    plan = cli.plan(stack, "dev", *ENV)
    assert {r["name"]: r["action"] for r in plan["resources"]} == dict.fromkeys(
        ["home_bucket", "dr_queue", "prod_bucket", "prod_queue", "keyed_param"], "noop"
    )
    cli("test", str(stack), "dev", *ENV)
    # Another DR region is another resource: the old one stays where it was.
    moved = cli.plan(stack, "dev", *ENV, "-e", "DR_REGION=eu-central-1")
    assert {r["name"]: r["action"] for r in moved["resources"]}["dr_queue"] == "create"

    gone = cli("teardown", str(stack), "dev", *ENV, "--log-level", "debug")
    assert SECRET not in gone.stdout + gone.stderr
    assert where(cli) == set()


def test_a_role_that_cannot_be_assumed_stops_the_plan(cli: Cli, tmp_path: Path) -> None:
    stack = write_stack(
        tmp_path / "spread", MANIFEST, {"dr_queue": QUEUE_IQL, "prod_queue": QUEUE_IQL}
    )
    denied = Cli(
        cli.state,
        env={"STACK_DEPLOY_SANDBOX_FAULTS": json.dumps({"deny_assume_role": ["*:role/deployer"]})},
    )
    result = denied("build", str(stack), "dev", *ENV, expect=1)
    assert "cannot assume role arn:aws:iam::222233334444:role/deployer: AccessDenied" in (
        result.stderr
    )
    assert cli.resources() == []  # planning failed: nothing was created anywhere


def test_an_unset_auth_variable_is_named(cli: Cli, tmp_path: Path) -> None:
    stack = write_stack(
        tmp_path / "spread", MANIFEST, {"dr_queue": QUEUE_IQL, "prod_queue": QUEUE_IQL}
    )
    result = cli("plan", str(stack), "dev", "-e", f"OTHER_SECRET={SECRET}", expect=1)
    assert "auth names variable 'OTHER_KEY_ID', which is not set" in result.stderr
    assert SECRET not in result.stdout + result.stderr


BAD = """
name: bad
providers: [awscc]
resources:
  - name: a
    region: Europe
    resource_type: awscc.sqs.queues
  - name: b
    role_arn: arn:aws:iam::12:user/x
    resource_type: awscc.sqs.queues
  - name: c
    external_id: x
    resource_type: awscc.sqs.queues
  - name: d
    profile: p
    auth: {aws: {keyIDenvvar: A, credentialsenvvar: B}}
    resource_type: awscc.sqs.queues
  - name: e
    auth:
      aws:
        username_var: U
        password_var: P
    resource_type: awscc.sqs.queues
  - name: f
    auth: {aws: {keyIDenvvar: A}}
    resource_type: awscc.sqs.queues
  - name: g
    type: script
    run: echo
    region: us-east-1
"""

OTHER_PROVIDER = """
name: other
providers: [awscc]
resources:
  - name: h
    auth: {github: {type: basic, username_var: U, password_var: P}}
    resource_type: awscc.sqs.queues
"""


def test_access_keys_are_validated_with_lines(cli: Cli, tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "bad", BAD)
    result = cli("plan", str(stack), "dev", expect=1)
    manifest = f"{stack}/stackql_manifest.yml"
    for line, text in [
        (5, "region 'Europe' of resource 'a' is not a region name"),
        (8, "role_arn 'arn:aws:iam::12:user/x' of resource 'b' is not an IAM role ARN"),
        (11, "external_id of resource 'c' is used only with role_arn"),
        (14, "resource 'd' gives both a profile and auth credentials; use one"),
        (20, "username_var (a user name and password) cannot sign AWS requests"),
        (24, "auth of resource 'f' has no credentialsenvvar"),
        (29, "'region' is not used by script resource 'g'"),
    ]:
        assert f"{manifest}:{line}: " in result.stderr and text in result.stderr, (line, text)
    other = write_stack(tmp_path / "other", OTHER_PROVIDER)
    plain = cli("plan", str(other), "dev")
    assert "auth for provider 'github' of resource 'h' is ignored" in plain.stderr


PROFILE_MANIFEST = """
name: prof
providers: [awscc]
globals:
  - name: region
    value: us-east-1
resources:
  - name: mine
    resource_type: awscc.sqs.queues
    props:
      - name: queue_name
        value: "prof-{{ stack_env }}-mine"
  - name: theirs
    profile: other-account
    region: ap-southeast-2
    resource_type: awscc.sqs.queues
    props:
      - name: queue_name
        value: "prof-{{ stack_env }}-theirs"
"""


def test_a_resource_profile_is_used_against_an_endpoint(
    tmp_path: Path, sandbox_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[other-account]\naws_access_key_id = 444455556666\n"
        "aws_secret_access_key = profile-secret\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    cli = Cli(tmp_path / "unused.db", endpoint=sandbox_server.url)
    stack = write_stack(tmp_path / "prof", PROFILE_MANIFEST)
    cli("build", str(stack), "dev")
    held = {
        (r.account, r.region, r.identifier.rsplit("/", 1)[-1])
        for r in sandbox_server.store.all_resources()
    }
    assert ("444455556666", "ap-southeast-2", "prof-dev-theirs") in held
    assert len(held) == 2 and ("444455556666", "us-east-1", "prof-dev-mine") not in held
    assert {r["action"] for r in cli.plan(stack)["resources"]} == {"noop"}
