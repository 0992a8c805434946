"""Helpers for the stackql-deploy compatibility tests: stacks written into a temporary
folder, run through the real CLI against the embedded sandbox (or a shared in-process
sandbox server, when a test needs its faults to last across commands)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from stackdeploy.cli import main
from tests.conftest import sandbox_resources

STACK_COMMANDS = ("build", "plan", "test", "teardown", "query")


def write_stack(root: Path, manifest: str, queries: Mapping[str, str] | None = None) -> Path:
    """A stack folder under ``root``: ``stackql_manifest.yml`` and ``resources/<name>.iql``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "stackql_manifest.yml").write_text(textwrap.dedent(manifest).lstrip())
    for name, text in (queries or {}).items():
        path = root / "resources" / f"{name}.iql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


@dataclass
class Cli:
    """``stack-deploy`` in-process; stack commands get ``--sandbox --sandbox-state <tmp>``
    (or ``--endpoint-url`` when ``endpoint`` is set)."""

    state: Path
    endpoint: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, expect: int | None = 0) -> Result:
        argv = list(args)
        if argv and argv[0] in STACK_COMMANDS:
            if self.endpoint:
                argv += ["--endpoint-url", self.endpoint]
            else:
                argv += ["--sandbox", "--sandbox-state", str(self.state)]
        result = CliRunner().invoke(main, argv, catch_exceptions=False, env=self.env or None)
        if expect is not None:
            assert result.exit_code == expect, (
                f"exit {result.exit_code} (expected {expect}) for {argv}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def plan(self, stack: Path, env: str = "dev", *extra: str) -> dict[str, Any]:
        return json.loads(self("plan", str(stack), env, "--output", "json", *extra).stdout)

    def actions(self, stack: Path, env: str = "dev", *extra: str) -> dict[str, str]:
        return {r["name"]: r["action"] for r in self.plan(stack, env, *extra)["resources"]}

    def resources(self) -> list[dict[str, Any]]:
        """What the sandbox state file holds, every account and region."""
        return sandbox_resources(self.state)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    # A scratch working directory: no stray ./.env, exports files land in tmp_path.
    monkeypatch.chdir(tmp_path)
    return Cli(tmp_path / "sandbox.db")
