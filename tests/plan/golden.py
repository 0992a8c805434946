"""Golden plans: build a plan from a case file and render it, for the golden tests and the
regeneration script (tests/data/plans/regenerate.py).

A case is ``tests/data/plans/<case>.input.json``::

    {"stack": "s", "env": "dev", "protected": ["secret"],
     "resources": [{"name": "bucket1", "type": "AWS::S3::Bucket", "identifier": "...",
                    "desired": {...}, "live": {...} or null,
                    "allow_replace": false, "statecheck_ok": null, "depends_on": [],
                    "action": "delete" | "skip" (optional: not planned from a diff),
                    "reason": "..."}]}

Its expected outputs sit beside it: ``<case>.plan.json`` and ``<case>.plan.txt`` (or
``<case>.error.txt`` when planning must fail with a PlanError).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stackdeploy.errors import PlanError
from stackdeploy.plan import Plan, ResourcePlan, plan_resource
from stackdeploy.report import Masker, render_plan_json, render_plan_text
from stackdeploy.schema.registry import get_schema

PLANS_DIR = Path(__file__).resolve().parent.parent / "data" / "plans"


def case_names() -> list[str]:
    return sorted(p.name.removesuffix(".input.json") for p in PLANS_DIR.glob("*.input.json"))


def load_case(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PLANS_DIR / f"{name}.input.json").read_text("utf-8"))
    return data


def build_plan(case: dict[str, Any], masker: Masker) -> Plan:
    resources = []
    for entry in case["resources"]:
        if entry.get("action") in ("delete", "skip"):
            resources.append(
                ResourcePlan(
                    name=entry["name"],
                    type=entry["type"],
                    action=entry["action"],
                    identifier=entry.get("identifier"),
                    depends_on=tuple(entry.get("depends_on", [])),
                    reason=entry.get("reason"),
                )
            )
            continue
        resources.append(
            plan_resource(
                get_schema(entry["type"]),
                name=entry["name"],
                desired=entry["desired"],
                live=entry.get("live"),
                identifier=entry.get("identifier"),
                depends_on=entry.get("depends_on", []),
                allow_replace=entry.get("allow_replace", False),
                statecheck_ok=entry.get("statecheck_ok"),
                mask=masker.text,
            )
        )
    return Plan(case["stack"], case["env"], tuple(resources))


def render_case(name: str) -> dict[str, str]:
    """Expected file name -> content for one case."""
    case = load_case(name)
    masker = Masker(case.get("protected", []))
    try:
        plan = build_plan(case, masker)
    except PlanError as exc:
        return {f"{name}.error.txt": str(exc) + "\n"}
    return {
        f"{name}.plan.json": render_plan_json(plan, masker),
        f"{name}.plan.txt": render_plan_text(plan, color=False, masker=masker),
    }


def regenerate() -> list[Path]:
    """Rewrite every case's expected outputs; returns the files written."""
    written = []
    for name in case_names():
        for stale in PLANS_DIR.glob(f"{name}.*"):
            if not stale.name.endswith(".input.json"):
                stale.unlink()
        for filename, content in render_case(name).items():
            path = PLANS_DIR / filename
            path.write_text(content, encoding="utf-8")
            written.append(path)
    return written
