"""``init``: stackql-deploy's name normalisation, ``--template`` (built-in or a folder in
stackql-deploy's template layout) and ``--env``; every built-in template builds, converges and
tears down in the sandbox through the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from stackdeploy.cli import main
from stackdeploy.cli.init import BUILTIN_TEMPLATES


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stackdeploy", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _init(*args: str) -> Result:
    return CliRunner().invoke(main, ["init", *args])


@pytest.mark.parametrize("template", [t.name for t in BUILTIN_TEMPLATES])
def test_builtin_template_builds_converges_and_tears_down(tmp_path: Path, template: str) -> None:
    state = str(tmp_path / "sandbox.db")
    sandbox = ["--sandbox", "--sandbox-state", state]
    name = f"My_{template.replace('-', '_')}"
    created = _cli("init", name, "--template", template, "--env", "dev", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    folder = f"my-{template}"
    assert f"normalised to '{folder}'" in created.stderr
    manifest = yaml.safe_load((tmp_path / folder / "stackql_manifest.yml").read_text())
    assert manifest["name"] == folder

    built = _cli("build", folder, "dev", *sandbox, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    listed = _cli("sandbox", "list", "--state", state, "--output", "json", cwd=tmp_path)
    resources = json.loads(listed.stdout)
    assert len(resources) == len(manifest["resources"])

    plan = CliRunner().invoke(
        main, ["plan", str(tmp_path / folder), "dev", *sandbox, "--detailed-exitcode"]
    )
    assert plan.exit_code == 0, plan.output  # a fresh plan after build changes nothing

    torn = _cli("teardown", folder, "dev", *sandbox, cwd=tmp_path)
    assert torn.returncode == 0, torn.stderr
    listed = _cli("sandbox", "list", "--state", state, "--output", "json", cwd=tmp_path)
    assert json.loads(listed.stdout) == []


def test_names_are_normalised_like_stackql_deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = _init("stacks/Data_Lake_Stack")  # parent folders are created
    assert result.exit_code == 0, result.output
    assert "'Data_Lake_Stack' normalised to 'data-lake-stack'" in result.stderr
    manifest = (tmp_path / "stacks" / "data-lake-stack" / "stackql_manifest.yml").read_text()
    assert "name: data-lake-stack\n" in manifest
    assert "stack-deploy build stacks/data-lake-stack dev --sandbox" in result.stdout
    for bad in ("my stack", "-x-", "stack!", ""):
        failed = _init("--", bad)
        assert failed.exit_code == 2, (bad, failed.output)
        assert failed.stderr.startswith("Error: ")


def test_env_is_used_in_the_generated_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _init("web", "-e", "prd").exit_code == 0
    readme = (tmp_path / "web" / "README.md").read_text()
    assert "stack-deploy build web prd --sandbox" in readme
    assert (
        "stack-deploy build web prd --sandbox"
        in (tmp_path / "web" / "stackql_manifest.yml").read_text()
    )


UPSTREAM_MANIFEST = """\
version: 1
name: "{{ stack_name }}"
description: description for "{{ stack_name }}"
providers:
  - awscc
globals:
  - name: region
    value: us-east-1
resources:
  - name: queue
    resource_type: awscc.sqs.queues
    props:
      - name: queue_name
        value: "{% raw %}{{ stack_name }}-{{ stack_env }}-q{% endraw %}"
    exports:
      - queue_url
"""


def _upstream_template(root: Path) -> Path:
    """A template folder in stackql-deploy's layout (``*.template`` + ``{% raw %}``)."""
    folder = root / "my-template"
    (folder / "resources").mkdir(parents=True)
    (folder / "stackql_manifest.yml.template").write_text(UPSTREAM_MANIFEST)
    (folder / "README.md.template").write_text("# {{ stack_name }}\n\nenv: {{ stack_env }}\n")
    (folder / "resources" / "notes.iql.template").write_text("/* {{ stack_name }} */\n")
    (folder / "external_scripts").mkdir()
    (folder / "external_scripts" / "run.sh").write_text("echo '{{ not rendered }}'\n")
    return folder


def test_local_template_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    template = _upstream_template(tmp_path)
    result = _init("Team_Queue", "--template", str(template), "--env", "tst")
    assert result.exit_code == 0, result.output
    target = tmp_path / "team-queue"
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "README.md",
        "external_scripts/run.sh",
        "resources/notes.iql",
        "stackql_manifest.yml",
    ]
    assert (target / "README.md").read_text() == "# team-queue\n\nenv: tst\n"
    assert (target / "external_scripts" / "run.sh").read_text() == "echo '{{ not rendered }}'\n"
    manifest = (target / "stackql_manifest.yml").read_text()
    assert 'name: "team-queue"' in manifest
    assert "{{ stack_name }}-{{ stack_env }}-q" in manifest  # raw: rendered at deploy time
    sandbox = ["--sandbox", "--sandbox-state", str(tmp_path / "s.db")]
    built = CliRunner().invoke(main, ["build", str(target), "tst", *sandbox, "--output", "json"])
    assert built.exit_code == 0, built.output


def test_template_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    unknown = _init("a", "--template", "s3-buckets")
    assert unknown.exit_code == 2
    assert "built-in templates: starter, s3-bucket, sqs-queue, vpc-network" in unknown.stderr

    url = _init("a", "--template", "https://github.com/stackql/templates/aws/starter")
    assert url.exit_code == 2 and "templates are not downloaded" in url.stderr

    (tmp_path / "empty").mkdir()
    empty = _init("a", "--template", "empty")
    assert empty.exit_code == 2 and "has no stackql_manifest.yml" in empty.stderr

    broken = _upstream_template(tmp_path)
    (broken / "resources" / "notes.iql.template").write_text("line 1\n{{ region }}\n")
    failed = _init("b", "--template", str(broken))
    assert failed.exit_code == 1
    (line,) = failed.stderr.strip().splitlines()
    assert line.startswith(f"Error: {broken}/resources/notes.iql.template:2: ")
    assert "'region' is undefined" in line and "{% raw %}" in line
    assert not (tmp_path / "b").exists()  # nothing half-written

    assert _init("c").exit_code == 0
    again = _init("c")
    assert again.exit_code == 2 and "c already exists" in again.stderr


def test_provider_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _init("a", "-p", "aws").exit_code == 0  # stackql-deploy 2.x spells it -p
    assert (tmp_path / "a" / "resources" / "bucket.iql").is_file()
    azure = _init("b", "--provider", "azure")
    assert azure.exit_code == 2 and "deploys AWS resources" in azure.stderr
    both = _init("c", "--provider", "aws", "--template", "s3-bucket")
    assert both.exit_code == 2


def test_list_templates() -> None:
    result = _init("--list-templates")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == ["starter", "s3-bucket", "sqs-queue", "vpc-network"]
