"""The installed console script, as CI and users run it: real processes, real streams."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.engine.conftest import STACKS


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stackdeploy", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_streams_and_exit_codes(tmp_path: Path) -> None:
    stack = str(STACKS / "bucket")
    built = run("build", stack, "dev", "--sandbox", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    # Results on stdout, progress on stderr; the default state file is in the working dir.
    assert built.stdout.startswith("Build of tbucket (dev) complete: 1 created")
    assert "[1/1] bucket: created" in built.stderr
    assert (tmp_path / ".stack-deploy" / "sandbox.db").is_file()

    plan = run("plan", stack, "dev", "--sandbox", "--output", "json", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["summary"]["noop"] == 1

    changed = run(
        "plan", stack, "dev", "--sandbox", "-e", "VERSIONING=Suspended", "--detailed-exitcode",
        cwd=tmp_path,
    )  # fmt: skip
    assert changed.returncode == 2
    assert "VersioningConfiguration.Status" in changed.stdout

    usage = run("plan", stack, cwd=tmp_path)
    assert usage.returncode == 2
    assert "Missing argument 'STACK_ENV'" in usage.stderr

    gone = run("teardown", stack, "dev", "--sandbox", cwd=tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert "1 deleted" in gone.stdout
