"""The plan as one JSON document: the contract of docs/design.md (``--output json``).

The document is :meth:`Plan.to_json_dict` of the masked plan, with every string passed
through the masker once more (names, identifiers and reasons can quote protected values).
Keys keep their order; the output ends with a newline.
"""

from __future__ import annotations

import json

from stackdeploy.plan.model import Plan
from stackdeploy.report.mask import Masker


def render_plan_json(plan: Plan, masker: Masker | None = None) -> str:
    """One JSON document for ``plan`` with secrets masked (default masker: write-only paths
    from the bundled schemas)."""
    masker = masker or Masker()
    document = masker.strings(masker.plan(plan).to_json_dict())
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
