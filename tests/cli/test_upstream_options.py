"""stackql-deploy command lines run unchanged: its stackql-only options are accepted with one
notice, ``--log-level`` takes its spellings before or after the command, and bad cloud
locations (``--region ''``, ``--endpoint-url notaurl``) are one-line usage errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from stackdeploy.cli import main

NOTICE = "notice: "


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """A scaffolded stack built once in a sandbox; yields (folder, sandbox options)."""
    root = tmp_path_factory.mktemp("upstream")
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # build writes ./.stackql-deploy-exports
        assert runner.invoke(main, ["init", "demo"]).exit_code == 0
        sandbox = ["--sandbox", "--sandbox-state", str(root / "sandbox.db")]
        built = runner.invoke(main, ["build", "demo", "dev", *sandbox])
        assert built.exit_code == 0, built.output
        yield root / "demo", sandbox


def _run(args: list[str]) -> Result:
    return CliRunner().invoke(main, args)


def _notices(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(NOTICE)]


UPSTREAM = [
    ["--custom-registry", "https://registry-dev.stackql.app/providers"],
    ["--download-dir", "/tmp"],
    ["--server", "localhost"],
    ["--port", "5444"],
    ["-H", "localhost", "-p", "5444"],
]


@pytest.mark.parametrize("command", ["build", "plan", "test", "teardown"])
@pytest.mark.parametrize("option", UPSTREAM, ids=lambda o: o[0])
def test_upstream_options_after_the_command_give_one_notice(
    stack: tuple[Path, list[str]], command: str, option: list[str]
) -> None:
    folder, sandbox = stack
    extra = ["--dry-run"] if command in ("build", "teardown") else []
    result = _run([command, str(folder), "dev", *sandbox, *extra, *option])
    assert result.exit_code == 0, result.output
    notices = _notices(result)
    assert len(notices) == 1, result.stderr
    flag = {"-H": "--server"}.get(option[0], option[0])
    assert flag in notices[0] and "no effect" in notices[0]


def test_upstream_options_before_and_after_give_one_notice_naming_all(
    stack: tuple[Path, list[str]],
) -> None:
    folder, sandbox = stack
    result = _run(
        [
            "--custom-registry",
            "https://example.invalid/providers",
            "--download-dir",
            ".",
            "plan",
            str(folder),
            "dev",
            *sandbox,
            "--server",
            "localhost",
            "--port",
            "5444",
        ]
    )
    assert result.exit_code == 0, result.output
    (notice,) = _notices(result)
    for flag in ("--custom-registry", "--download-dir", "--server", "--port"):
        assert flag in notice
    assert "are ignored" in notice


def test_upstream_options_on_commands_without_cloud_options(tmp_path: Path) -> None:
    # describe has no output options: the group prints the notice itself.
    result = _run(["--server", "localhost", "describe", "awscc.s3.buckets"])
    assert result.exit_code == 0, result.output
    assert len(_notices(result)) == 1
    assert "AWS::S3::Bucket" in result.stdout


def test_no_notice_without_upstream_options(stack: tuple[Path, list[str]]) -> None:
    folder, sandbox = stack
    result = _run(["plan", str(folder), "dev", *sandbox])
    assert result.exit_code == 0, result.output
    assert _notices(result) == []


LEVELS = ["DEBUG", "debug", "Info", "INFO", "warn", "WARNING", "warning", "error", "ERROR",
          "critical", "CRITICAL", "trace", "TRACE"]  # fmt: skip


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("where", ["before", "after"])
def test_log_level_spellings_before_or_after(
    stack: tuple[Path, list[str]], level: str, where: str
) -> None:
    folder, sandbox = stack
    args = ["plan", str(folder), "dev", *sandbox]
    args = ["--log-level", level, *args] if where == "before" else [*args, "--log-level", level]
    result = _run(args)
    assert result.exit_code == 0, result.output
    debug_lines = [line for line in result.stderr.splitlines() if line.startswith("DEBUG ")]
    assert bool(debug_lines) == (level.upper() in ("DEBUG", "TRACE")), result.stderr


def test_log_level_after_the_command_wins(stack: tuple[Path, list[str]]) -> None:
    folder, sandbox = stack
    result = _run(["--log-level", "debug", "plan", str(folder), "dev", *sandbox,
                   "--log-level", "error"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "DEBUG " not in result.stderr


def test_bad_log_level_is_a_usage_error() -> None:
    result = _run(["--log-level", "loud", "describe", "awscc.s3.buckets"])
    assert result.exit_code == 2
    assert "'loud' is not a log level" in result.stderr


def test_log_level_through_the_real_command(stack: tuple[Path, list[str]]) -> None:
    """``python -m stackdeploy`` as CI runs it, with the options where upstream puts them."""
    folder, sandbox = stack
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "stackdeploy", "--log-level", "DEBUG"),
            *("--custom-registry", "https://x.invalid", "test", str(folder), "dev", *sandbox),
            *("--log-level", "info", "--download-dir", "."),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(NOTICE) == 1
    assert "DEBUG " not in proc.stderr


@pytest.mark.parametrize("region", ["", " ", "us east 1"])
def test_empty_region_is_a_usage_error(stack: tuple[Path, list[str]], region: str) -> None:
    folder, sandbox = stack
    result = _run(["plan", str(folder), "dev", *sandbox, "--region", region])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: --region {region!r} is not an AWS region name")
    assert "--region us-east-1" in lines[0]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("notaurl", "is not an http(s) URL"),
        ("ftp://127.0.0.1:21", "is not an http(s) URL"),
        ("http://", "is not an http(s) URL"),
        ("http://[::1", "is not an http(s) URL"),
        ("http://127.0.0.1:99999", "is not an http(s) URL"),
        ("http://127.0.0.1:port", "is not an http(s) URL"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "query"])
def test_endpoint_url_must_be_http(
    stack: tuple[Path, list[str]], url: str, message: str, command: str
) -> None:
    folder, _ = stack
    args = [str(folder), "dev"] if command == "plan" else ["SELECT 1"]
    result = _run([command, *args, "--endpoint-url", url])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: --endpoint-url {url!r} {message}")
    assert "internal error" not in result.stderr
