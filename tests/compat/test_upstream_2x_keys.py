"""stackql-deploy 2.1/2.2 manifest keys: ``protected: true`` on globals and props (masked
everywhere, sent as they are) and ``skip_on_delete: true`` (teardown keeps the resource)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import Cli, write_stack

MANIFEST = """
name: keep
providers: [awscc]
globals:
  - name: region
    value: us-east-1
  - name: api_token
    value: "{{ vars.TOKEN }}"
    protected: true
resources:
  - name: token_param
    resource_type: awscc.ssm.parameters
    props:
      - name: name
        value: /keep/token
      - name: type
        value: String
      - name: value
        value: "{{ api_token }}"
  - name: pin_param
    resource_type: awscc.ssm.parameters
    skip_on_delete: true
    props:
      - name: name
        value: /keep/pin
      - name: type
        value: String
      - name: value
        value: "{{ vars.PIN }}"
        protected: true
"""

ARGS = ("-e", "TOKEN=tok-very-secret", "-e", "PIN=pin-very-secret")


def test_protected_globals_and_props_are_masked(cli: Cli, tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "keep", MANIFEST)
    for command in (("plan",), ("build", "--dry-run"), ("build",), ("test",)):
        result = cli(
            *command[:1],
            str(stack),
            "dev",
            *command[1:],
            *ARGS,
            "--show-queries",
            "--log-level",
            "debug",
        )
        shown = result.stdout + result.stderr
        assert "tok-very-secret" not in shown and "pin-very-secret" not in shown, command
    values = {r["identifier"]: r["properties"]["Value"] for r in cli.resources()}
    assert values == {"/keep/token": "tok-very-secret", "/keep/pin": "pin-very-secret"}


def test_skip_on_delete_keeps_the_resource(cli: Cli, tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "keep", MANIFEST)
    cli("build", str(stack), "dev", *ARGS)
    dry = cli("teardown", str(stack), "dev", *ARGS, "--dry-run").stdout
    assert "pin_param (AWS::SSM::Parameter) skipped  # skip_on_delete: kept" in dry
    cli("teardown", str(stack), "dev", *ARGS)
    assert [r["identifier"] for r in cli.resources()] == ["/keep/pin"]
