"""``info`` (versions, schemas, providers, credentials source, sandbox state; never a secret)
and ``upgrade`` (how to upgrade; nothing is downloaded), through the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stackdeploy import __version__
from stackdeploy.cli import main

KEY_ID = "AKIAEXAMPLEKEYID1234"
SECRET = "SecretExampleKey/abcdefghijklmnopqrstuvw"


def _info(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["info", "--output", "json", *args])
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def test_info_text_shows_every_field_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SECRET + "token")
    result = CliRunner().invoke(main, ["info", "--sandbox-state", str(tmp_path / "none.db")])
    assert result.exit_code == 0, result.output
    labels = [line.split()[0] for line in result.stdout.splitlines()]
    assert labels == [
        "stack-deploy",
        "python",
        "platform",
        "schemas",
        "providers",
        "credentials",
        "region",
        "endpoint",
        "sandbox",
        "libraries",
    ]
    assert result.stdout.splitlines()[0].split() == ["stack-deploy", __version__]
    assert "credentials    environment (AWS_ACCESS_KEY_ID)" in result.stdout
    assert KEY_ID not in result.output and SECRET not in result.output
    assert "none yet" in result.stdout
    assert not (tmp_path / "none.db").exists()  # info never creates the state file


def test_info_json_registry_and_providers() -> None:
    doc = _info()
    registry = doc["registry"]
    assert isinstance(registry, dict)
    from importlib.metadata import version

    from stackdeploy.schema.registry import get_registry

    assert registry["version"] == version("cfn-lint")
    assert registry["types"] == len(get_registry("us-east-1").type_names()) > 1000
    providers = doc["providers"]
    assert isinstance(providers, list)
    assert providers[0] == {
        "name": "awscc",
        "tables": len(get_registry("us-east-1").awscc_index()),
        "api": "Cloud Control",
    }
    assert doc["python"]["version"] == ".".join(map(str, sys.version_info[:3]))  # type: ignore[index]


def test_info_credentials_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert _info()["credentials"] == {"profile": None, "source": "none", "region": "us-east-1"}

    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[deploy]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    result = CliRunner().invoke(main, ["info", "--profile", "deploy"])
    assert result.exit_code == 0, result.output
    assert "credentials    shared credentials file, profile deploy" in result.stdout
    assert KEY_ID not in result.output and SECRET not in result.output

    broken = CliRunner().invoke(main, ["info", "--profile", "nosuch"])
    assert broken.exit_code == 0, broken.output
    assert "credentials    error, profile nosuch: The config profile (nosuch)" in broken.stdout


def test_info_counts_the_sandbox_resources(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.db"
    for name in ("q1", "q2"):
        created = CliRunner().invoke(
            main,
            [
                "query",
                f"INSERT INTO awscc.sqs.queues (QueueName, region) SELECT '{name}', 'eu-west-1'",
                "--sandbox",
                "--sandbox-state",
                str(state),
            ],
        )
        assert created.exit_code == 0, created.output
    sandbox = _info("--sandbox-state", str(state))["sandbox"]
    assert sandbox == {
        "state": str(state),
        "exists": True,
        "resources": 2,
        "types": 1,
        "regions": ["eu-west-1"],
    }
    text = CliRunner().invoke(main, ["info", "--sandbox-state", str(state)]).stdout
    assert f"{state}: 2 resources of 1 types in eu-west-1" in text

    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite")
    assert "not a sandbox state file" in str(_info("--sandbox-state", str(junk))["sandbox"])


def test_info_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDCONTROL", "http://127.0.0.1:4566")
    assert _info()["endpoint"] == "http://127.0.0.1:4566"


def test_info_and_upgrade_through_the_real_command() -> None:
    for args in (["info"], ["--custom-registry", "x", "upgrade"]):
        proc = subprocess.run(
            [sys.executable, "-m", "stackdeploy", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
    assert "nothing to download" in proc.stdout
    assert "pip install" in proc.stdout
    assert proc.stderr.count("notice:") == 1


def test_upgrade_says_how_for_each_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from stackdeploy.cli import upgrade

    monkeypatch.setattr(upgrade, "_source_checkout", lambda: None)
    monkeypatch.setattr(sys, "prefix", "/usr/local")
    lines = upgrade.upgrade_instructions()
    assert lines[-1] == f"  {sys.executable} -m pip install --upgrade stack-deploy"
    monkeypatch.setattr(sys, "prefix", "/home/u/.local/pipx/venvs/stack-deploy")
    assert upgrade.upgrade_instructions()[-1] == "  pipx upgrade stack-deploy"
    monkeypatch.setattr(upgrade, "_source_checkout", lambda: "/src/stack-deploy")
    assert "git -C /src/stack-deploy pull" in upgrade.upgrade_instructions()[-1]
