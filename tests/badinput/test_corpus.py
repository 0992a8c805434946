"""Run every case of the bad-input corpus (``cases/*.yml``; the format is in corpus.py).

Each case runs in its own folder against its own copy of a sandbox state that already holds
one resource, so "unchanged" is checked against something that could have been deleted or
changed, not only against an empty sandbox.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stackdeploy.cli import main

from .corpus import (
    Case,
    argv,
    check,
    copy_state,
    load_cases,
    materialise,
    run_in_process,
    run_subprocess,
    same_sandbox,
    sandbox_snapshot,
    tree_snapshot,
)

CASES = load_cases()
SEED_BUCKET = "badinput-seed-bucket"


def _param(case: Case) -> object:
    marks = []
    if case.needs == "plan-first":
        marks.append(
            pytest.mark.xfail(
                strict=True,
                reason="needs the plan-first engine: remove 'needs: plan-first' once it passes",
            )
        )
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="module")
def seeded_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sandbox state holding one bucket, created through the CLI."""
    state = tmp_path_factory.mktemp("badinput-seed") / "sandbox.db"
    result = CliRunner().invoke(
        main,
        [
            "query",
            f"INSERT INTO awscc.s3.buckets (BucketName, region) "
            f"SELECT '{SEED_BUCKET}', 'us-east-1'",
            "--sandbox",
            "--sandbox-state",
            str(state),
        ],
    )
    assert result.exit_code == 0, result.output
    resources, _ = sandbox_snapshot(state)
    assert [r[1] for r in resources] == [SEED_BUCKET]
    return state


def test_corpus_size() -> None:
    # The corpus is the point of this module: keep it from shrinking unnoticed.
    assert len(CASES) >= 120
    areas = {case.source for case in CASES}
    assert {"manifest.yml", "envfile.yml", "queryfile.yml", "sql.yml", "cli.yml"} <= areas


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, seeded_state: Path) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    materialise(case, folder)
    state = tmp_path / "state" / "sandbox.db"
    copy_state(seeded_state, state)
    files_before = tree_snapshot(folder, skip=state.parent)
    sandbox_before = sandbox_snapshot(state)

    args = argv(case, state)
    outcome = (
        run_subprocess(case, args, folder) if case.in_subprocess else run_in_process(args, folder)
    )

    problems = check(case, outcome)
    if not same_sandbox(
        sandbox_before, sandbox_snapshot(state), requests=case.data.get("requests", 0)
    ):
        problems.append("the sandbox state changed")
    if tree_snapshot(folder, skip=state.parent) != files_before:
        problems.append("files were created or changed in the case folder")
    assert not problems, (
        f"case {case.id} ({case.source}): {case.data.get('about', '')}\n  "
        + "\n  ".join(problems)
        + f"\n--- command\n{args}\n--- stdout\n{outcome.stdout}\n--- stderr\n{outcome.stderr}"
    )
