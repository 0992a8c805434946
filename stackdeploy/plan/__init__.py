"""The planner's pure core: a schema-aware diff and the plan it produces.

``diff.diff_resource(schema, desired, live)`` compares one resource;
``model.plan_resource`` / ``model.decide_action`` turn the diff into an action;
``model.Plan`` / ``model.ResourcePlan`` are the plan every report and the executor read.
Nothing here calls AWS: finding identifiers and reading live state belong to the caller.
"""

from __future__ import annotations

from stackdeploy.plan.diff import Change, ResourceDiff, diff_resource, in_sync
from stackdeploy.plan.model import (
    ACTIONS,
    SUMMARY_ACTIONS,
    Action,
    Plan,
    ResourcePlan,
    decide_action,
    plan_resource,
)

__all__ = [
    "ACTIONS",
    "SUMMARY_ACTIONS",
    "Action",
    "Change",
    "Plan",
    "ResourceDiff",
    "ResourcePlan",
    "decide_action",
    "diff_resource",
    "in_sync",
    "plan_resource",
]
