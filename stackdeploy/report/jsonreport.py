"""The plan as one JSON document: the contract of docs/design.md (``--output json``).

The document is :meth:`Plan.to_json_dict` of the masked plan, with every string passed
through the masker once more (names, identifiers and reasons can quote protected values).
Keys keep their order; the output ends with a newline. After a build or test the stack
exports are added under ``exports`` (masked), beside the plan contract's keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stackdeploy.plan.model import Plan
from stackdeploy.report.mask import Masker


def render_plan_json(
    plan: Plan,
    masker: Masker | None = None,
    *,
    exports: Mapping[str, Any] | None = None,
    dml: bool = False,
) -> str:
    """One JSON document for ``plan`` with secrets masked (default masker: write-only paths
    from the bundled schemas); ``exports`` (the stack exports of a finished run) are added
    under ``"exports"``, masked too; with ``dml`` each resource lists the statements its
    action runs (``--dry-run``)."""
    masker = masker or Masker()
    document = masker.strings(masker.plan(plan).to_json_dict(dml=dml))
    if exports is not None:
        document["exports"] = masker.strings(dict(exports))
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
