"""Helpers for stack tests: run the CLI in-process against the embedded sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from stackdeploy.cli import main
from tests.conftest import sandbox_resources

STACKS = Path(__file__).resolve().parent.parent / "data" / "stacks"
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "manifests"


@dataclass
class StackCli:
    """``stack-deploy`` with ``--sandbox --sandbox-state <tmp>`` added to stack commands."""

    state: Path

    def __call__(self, *args: str, expect: int | None = 0) -> Result:
        argv = list(args)
        if argv and argv[0] in ("build", "plan", "test", "teardown", "query"):
            argv += ["--sandbox", "--sandbox-state", str(self.state)]
        result = CliRunner().invoke(main, argv, catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, (
                f"exit {result.exit_code} (expected {expect}) for {argv}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def plan_json(self, stack: Path, env: str, *extra: str) -> dict[str, Any]:
        result = self("plan", str(stack), env, "--output", "json", *extra)
        return json.loads(result.stdout)

    def resources(self) -> list[dict[str, Any]]:
        """What the sandbox holds (every account and region)."""
        return sandbox_resources(self.state)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackCli:
    # Run from a scratch folder: no stray ./.env, and output files land in tmp_path.
    monkeypatch.chdir(tmp_path)
    return StackCli(tmp_path / "sandbox.db")


@pytest.fixture
def actions() -> Callable[[dict[str, Any]], dict[str, str]]:
    def get(plan: dict[str, Any]) -> dict[str, str]:
        return {r["name"]: r["action"] for r in plan["resources"]}

    return get
