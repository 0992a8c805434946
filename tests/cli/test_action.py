"""The GitHub Action (``action.yml``), run step by step as a runner would.

Each ``run:`` step is executed with ``bash --noprofile --norc -eo pipefail`` (what GitHub
uses for ``shell: bash``) after its ``${{ inputs.* }}`` / ``${{ github.action_path }}``
expressions are substituted, with ``GITHUB_STEP_SUMMARY`` and ``GITHUB_OUTPUT`` pointing at
temporary files. ``uses:`` steps (setup-python) are skipped; ``pip`` is a stub that records
its arguments (nothing is downloaded) and ``stack-deploy`` runs this checkout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")

# The inputs of stackql/stackql-deploy-action, which this action must accept by name.
UPSTREAM_INPUTS = ["command", "stack_dir", "stack_env", "env_vars", "env_file", "show_queries",
                   "log_level", "dry_run", "custom_registry", "on_failure", "show_info",
                   "output_file"]  # fmt: skip

MANIFEST = """\
version: 1
name: action-stack
providers: [awscc]
globals:
  - name: region
    value: us-east-1
  - name: timeout
    value: "30"
  - name: suffix
    value: "{{ SUFFIX }}"
resources:
  - name: queue
    resource_type: awscc.sqs.queues
    props:
      - name: queue_name
        value: "{{ stack_name }}-{{ stack_env }}-{{ suffix }}"
      - name: visibility_timeout
        value: "{{ timeout }}"
    protected:
      - queue_url
    exports:
      - queue_url
      - arn: queue_arn
exports:
  - queue_url
  - queue_arn
"""


@dataclass
class ActionRun:
    returncode: int
    stdout: str
    stderr: str
    summary: str
    outputs: dict[str, str]
    pip_calls: list[list[str]]


def _substitute(text: str, inputs: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression == "github.action_path":
            return str(REPO_ROOT)
        name = expression.removeprefix("inputs.")
        assert name != expression and name in ACTION["inputs"], (
            f"unexpected ${{{{ {expression} }}}}"
        )
        return inputs[name]

    return EXPRESSION.sub(value, text)


def _parse_outputs(text: str) -> dict[str, str]:
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            outputs[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


def run_action(workspace: Path, **given: str) -> ActionRun:
    """Run the action's steps in ``workspace`` with the ``given`` inputs."""
    inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    for name, spec in ACTION["inputs"].items():
        assert not spec.get("required") or name in given, f"required input {name} missing"
    inputs.update(given)
    stubs = workspace / ".stubs"
    stubs.mkdir(exist_ok=True)
    pip_log = stubs / "pip.log"
    (stubs / "pip").write_text(f'#!/bin/sh\necho "$*" >> "{pip_log}"\n')
    (stubs / "stack-deploy").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m stackdeploy "$@"\n')
    (stubs / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    for stub in ("pip", "stack-deploy", "python"):
        (stubs / stub).chmod(0o755)
    summary, output = workspace / ".summary.md", workspace / ".output"
    summary.write_text("")
    output.write_text("")
    pip_log.write_text("")
    base_env = {
        **os.environ,
        "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO_ROOT),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }
    stdout = stderr = ""
    returncode = 0
    for index, step in enumerate(ACTION["runs"]["steps"]):
        if "uses" in step:
            continue
        assert step["shell"] == "bash"
        env = {
            **base_env,
            **{k: _substitute(str(v), inputs) for k, v in step.get("env", {}).items()},
        }
        script = workspace / f".step{index}.sh"
        script.write_text(_substitute(step["run"], inputs))
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        stdout += proc.stdout
        stderr += proc.stderr
        returncode = proc.returncode
        if returncode:
            break
    return ActionRun(
        returncode=returncode,
        stdout=stdout,
        stderr=stderr,
        summary=summary.read_text(),
        outputs=_parse_outputs(output.read_text()),
        pip_calls=[line.split() for line in pip_log.read_text().splitlines()],
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    stack = tmp_path / "stacks" / "action-stack"
    stack.mkdir(parents=True)
    (stack / "stackql_manifest.yml").write_text(MANIFEST)
    return tmp_path


def _sandbox(workspace: Path) -> dict[str, str]:
    return {"sandbox": "true", "extra_args": f"--sandbox-state {workspace / 'sandbox.db'}"}


def _stack(**extra: str) -> dict[str, str]:
    return {"stack_dir": "stacks/action-stack", "stack_env": "dev", **extra}


def _queues(workspace: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "stackdeploy", "query",
         "SELECT queue_name FROM awscc.sqs.queues WHERE region = 'us-east-1'",
         "--sandbox", "--sandbox-state", str(workspace / "sandbox.db"), "--output", "json"],
        capture_output=True, text=True, check=True, cwd=workspace,
    )  # fmt: skip
    rows: list[dict[str, Any]] = json.loads(proc.stdout)
    return rows


def test_inputs_are_a_superset_of_stackql_deploys() -> None:
    assert [name for name in ACTION["inputs"] if name in UPSTREAM_INPUTS] == UPSTREAM_INPUTS
    for name in ("command", "stack_dir", "stack_env"):
        assert ACTION["inputs"][name]["required"] is True
    assert "deployment_outputs" in ACTION["outputs"]
    assert ACTION["runs"]["using"] == "composite"
    for step in ACTION["runs"]["steps"]:
        # inputs reach scripts through env:, never pasted into the script text
        assert "inputs." not in step.get("run", "")


def test_install_step_installs_this_checkout_or_the_given_package(workspace: Path) -> None:
    run = run_action(workspace, command="bogus", **_stack())
    assert run.pip_calls[0] == ["install", "--quiet", str(REPO_ROOT)]
    run = run_action(workspace, command="bogus", package="stack-deploy==0.1.0", **_stack())
    assert run.pip_calls[0] == ["install", "--quiet", "stack-deploy==0.1.0"]


def test_unknown_command_is_an_error(workspace: Path) -> None:
    run = run_action(workspace, command="deploy", **_stack())
    assert run.returncode == 2
    assert "::error::command must be build, test, plan or teardown" in run.stdout


def test_build_test_plan_teardown_like_the_upstream_action(workspace: Path) -> None:
    sandbox = _sandbox(workspace)
    run = run_action(
        workspace,
        command="build",
        env_vars="SUFFIX=jobs,unused=$(touch pwned)",
        log_level="INFO",
        custom_registry="https://registry-dev.stackql.app/providers",
        show_info="true",
        show_queries="true",
        on_failure="error",
        output_file="outputs/deploy.json",
        **_stack(**sandbox),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert not (workspace / "pwned").exists()  # values are data, never shell code
    assert "executing: stack-deploy build stacks/action-stack dev" in run.stdout
    assert "-e SUFFIX=*** -e unused=***" in run.stdout  # values of -e are not echoed
    assert "stack-deploy   0.1.0" in run.stdout  # show_info
    assert run.stderr.count("notice: --custom-registry has no effect") == 1
    assert [q["queue_name"] for q in _queues(workspace)] == ["action-stack-dev-jobs"]
    exported = json.loads((workspace / "outputs" / "deploy.json").read_text())
    assert json.loads(run.outputs["deployment_outputs"]) == exported
    assert exported["queue_url"].endswith("/action-stack-dev-jobs")
    assert "## 📦 stack-deploy build:" in run.summary
    assert "**queue_url:** ****" in run.summary  # protected in the manifest
    assert f"**queue_arn:** {exported['queue_arn']}" in run.summary
    assert exported["queue_url"] not in run.summary

    tested = run_action(workspace, command="test", env_vars="SUFFIX=jobs", **_stack(**sandbox))
    assert tested.returncode == 0, tested.stdout + tested.stderr

    planned = run_action(workspace, command="plan", env_vars="SUFFIX=jobs", **_stack(**sandbox))
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert planned.outputs["has_changes"] == "false"
    assert planned.summary.startswith("## stack-deploy plan: stacks/action-stack (dev)\n")
    assert "queue" in planned.summary and "unchanged" in planned.summary

    manifest = workspace / "stacks" / "action-stack" / "stackql_manifest.yml"
    manifest.write_text(MANIFEST.replace('value: "30"', 'value: "45"'))
    changed = run_action(workspace, command="plan", env_vars="SUFFIX=jobs", **_stack(**sandbox))
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert changed.outputs["has_changes"] == "true"
    assert "1 to update" in changed.summary and "→ 45" in changed.summary
    # This stack-deploy renders Markdown: the action asks for it, and the job summary holds
    # the table and the collapsible diff (the protected queue URL masked).
    assert "executing: stack-deploy plan stacks/action-stack dev" in changed.stdout
    assert "--output markdown" in changed.stdout
    body = changed.summary.split("\n\n", 1)[1]
    assert body.startswith("**Plan of `action-stack` (`dev`)**: 0 to create, 1 to update")
    assert "| `~` | `queue` | AWS::SQS::Queue | will be updated in place | `****` |" in body
    assert "<details>\n<summary><code>~</code> <b>queue</b>" in body
    assert "```diff\n~ VisibilityTimeout: 30 → 45\n" in body
    assert "sqs.us-east-1.amazonaws.com" not in changed.summary

    torn = run_action(workspace, command="teardown", env_vars="SUFFIX=jobs", **_stack(**sandbox))
    assert torn.returncode == 0, torn.stdout + torn.stderr
    assert _queues(workspace) == []


def test_dry_run_changes_nothing(workspace: Path) -> None:
    run = run_action(
        workspace,
        command="build",
        dry_run="true",
        env_vars="SUFFIX=x",
        **_stack(**_sandbox(workspace)),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "--dry-run" in run.stdout
    assert _queues(workspace) == []


def test_failure_is_summarised_with_the_exit_code(workspace: Path) -> None:
    run = run_action(
        workspace, command="build", env_vars="SUFFIX=x",
        **_stack(stack_dir="stacks/missing", **_sandbox(workspace)),
    )  # fmt: skip
    assert run.returncode == 2  # no such stack folder: a usage error
    assert "## ❌ stack-deploy build failed" in run.summary
    assert "**Stack Directory:** stacks/missing" in run.summary
    assert "**Exit code:** 2" in run.summary
    assert "deployment_outputs" not in run.outputs


def test_plan_usage_error_is_not_taken_for_changes(workspace: Path) -> None:
    run = run_action(
        workspace, command="plan", env_vars="SUFFIX=x",
        **_stack(sandbox="true", extra_args="--endpoint-url http://127.0.0.1:9"),
    )  # fmt: skip
    assert run.returncode == 2
    assert "has_changes" not in run.outputs
    assert "## ❌ stack-deploy plan failed" in run.summary
