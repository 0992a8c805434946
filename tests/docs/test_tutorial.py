"""Every command of the tutorial runs, and prints what the tutorial shows.

The ``bash`` blocks of docs/tutorial.md are run in order, each line in ``bash`` in a fresh
temporary folder, with ``stack-deploy`` on the PATH running this checkout
(``python -m stackdeploy``) and the embedded sandbox keeping its state in that folder. A
``text`` block right after a command block is that command's output: each of its lines must
appear in what the command printed (durations aside). The install command is not run (CI
runs it before the tests); the test checks it provides the ``stack-deploy`` command.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO_ROOT

TUTORIAL = REPO_ROOT / "docs" / "tutorial.md"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
INSTALL = "python3 -m pip install -e ."


def blocks() -> list[tuple[str, list[str], list[str]]]:
    """(command block text, its commands, the expected output lines) in order."""
    found = _FENCE.findall(TUTORIAL.read_text(encoding="utf-8"))
    steps: list[tuple[str, list[str], list[str]]] = []
    for lang, body in found:
        if lang == "bash":
            commands = [line for line in body.splitlines() if line.strip()]
            steps.append((body, commands, []))
        elif lang == "text" and steps and not steps[-1][2]:
            steps[-1][2].extend(line for line in body.splitlines() if line.strip())
    return steps


def _normal(text: str) -> str:
    text = re.sub(r"\(\d+(\.\d+)?s\)", "(…s)", text)
    return " ".join(text.split())


def test_tutorial_commands_run_and_print_what_is_shown(tmp_path: Path) -> None:
    steps = blocks()
    commands = [c for _, cmds, _ in steps for c in cmds]
    assert commands[0] == INSTALL
    assert sum(c.startswith("stack-deploy ") for c in commands) >= 9
    # The tutorial covers the whole cycle.
    for verb in ("init", "plan", "build", "test", "query", "teardown"):
        assert any(c.startswith(f"stack-deploy {verb} ") for c in commands), verb

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "stack-deploy"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m stackdeploy "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO_ROOT),
    }
    for _, cmds, expected in steps:
        for command in cmds:
            if command == INSTALL:
                # Installing would change the test's own environment (CI runs this very
                # install first): check it installs the command the tutorial then uses.
                project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
                assert project["project"]["scripts"]["stack-deploy"] == "stackdeploy.cli:main"
                continue
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            output = _normal(done.stdout)
            for line in expected:
                assert _normal(line) in output, f"{command}: {line!r} not in\n{done.stdout}"
    # The sandbox state stayed in the tutorial's own folder.
    assert (work / ".stack-deploy" / "sandbox.db").exists()
