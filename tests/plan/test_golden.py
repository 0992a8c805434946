"""Golden plans: each case under tests/data/plans renders exactly its expected text and JSON.

After a deliberate change, regenerate with ``python tests/data/plans/regenerate.py`` and
review the diff.
"""

from __future__ import annotations

import json

import pytest

from tests.plan.golden import PLANS_DIR, case_names, render_case

CASES = case_names()


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 8


@pytest.mark.parametrize("name", CASES)
def test_golden_plan(name: str) -> None:
    rendered = render_case(name)
    expected_files = sorted(
        p.name for p in PLANS_DIR.glob(f"{name}.*") if not p.name.endswith(".input.json")
    )
    assert sorted(rendered) == expected_files, "run tests/data/plans/regenerate.py"
    for filename, content in rendered.items():
        expected = (PLANS_DIR / filename).read_text(encoding="utf-8")
        assert content == expected, f"{filename} differs; regenerate and review if intended"
        if filename.endswith(".json"):
            document = json.loads(content)
            assert list(document) == ["stack", "resources", "summary", "orphans"]
            assert list(document["summary"]) == ["create", "update", "replace", "delete", "noop"]
