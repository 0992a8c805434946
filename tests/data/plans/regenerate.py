"""Regenerate the golden plan outputs after a deliberate change to the diff or the reports.

Run from the repository root: ``python tests/data/plans/regenerate.py``, then review the
changes with ``git diff tests/data/plans`` before committing them.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.plan.golden import regenerate

if __name__ == "__main__":
    for path in regenerate():
        print(path)
