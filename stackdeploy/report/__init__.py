"""Rendering of plans and reports: text (Terraform-like), JSON (the design contract),
Markdown (pull-request comments, CI job summaries), drift.

Every renderer masks secrets through :class:`stackdeploy.report.mask.Masker` first: protected
values wherever they appear, write-only properties wherever they sit.
"""

from __future__ import annotations

from stackdeploy.report.jsonreport import render_plan_json
from stackdeploy.report.markdown import render_drift_markdown, render_plan_markdown
from stackdeploy.report.mask import MASK, Masker, mask_value
from stackdeploy.report.text import render_drift_text, render_plan_text

__all__ = [
    "MASK",
    "Masker",
    "mask_value",
    "render_drift_markdown",
    "render_drift_text",
    "render_plan_json",
    "render_plan_markdown",
    "render_plan_text",
]
