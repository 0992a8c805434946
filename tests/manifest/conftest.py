"""Fixtures for manifest tests: write a small stack into a temporary folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from stackdeploy.manifest import Stack

DATA = Path(__file__).resolve().parents[1] / "data" / "manifests"

MakeStack = Callable[..., Path]


@pytest.fixture
def make_stack(tmp_path: Path) -> MakeStack:
    """``make_stack(manifest_yaml, files={"resources/x.iql": "..."})`` -> the stack folder.

    The manifest text is dedented, so tests can indent it naturally; its first line is line 1.
    """

    def make(manifest: str, files: dict[str, str] | None = None, name: str = "stack") -> Path:
        stack = tmp_path / name
        (stack / "resources").mkdir(parents=True, exist_ok=True)
        (stack / "stackql_manifest.yml").write_text(textwrap.dedent(manifest).lstrip("\n"))
        for rel, text in (files or {}).items():
            target = stack / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text).lstrip("\n"))
        return stack

    return make


@pytest.fixture
def load(tmp_path: Path) -> Callable[..., Stack]:
    """``load(stack_dir, env="dev", **kw)``: Stack.load with the CWD pinned to an empty
    folder, so a developer's own ./.env can never leak into a test."""
    empty = tmp_path / "cwd"
    empty.mkdir(exist_ok=True)

    def do(stack_dir: Path | str, env: str = "dev", **kwargs: object) -> Stack:
        kwargs.setdefault("cwd", empty)
        return Stack.load(stack_dir, env, **kwargs)  # type: ignore[arg-type]

    return do
