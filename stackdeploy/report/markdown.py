"""Plans and drift reports as Markdown, for a pull-request comment or a CI job summary.

GitHub-flavoured Markdown (``--output markdown``): a headline with the counts, a table of the
changes (symbol, resource, type, action, identifier), one collapsible ``<details>`` block per
changed resource holding its property-level diff in a ``diff`` code block (``+`` added, ``-``
removed, ``~`` changed, as in the text plan), the orphans, and the unchanged resources in one
collapsed block. Secrets are masked before anything is rendered; table cells, HTML and code
blocks are escaped so that no value can break the layout or inject markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from stackdeploy.plan.diff import Change, display_pointer
from stackdeploy.plan.model import Orphan, Plan, ResourcePlan
from stackdeploy.report.mask import Masker
from stackdeploy.report.text import (
    SYMBOLS,
    VERBS,
    Styler,
    applied_counts,
    change_lines,
    drift_change_lines,
    format_json,
    summary_line,
    write_only_note,
)

_PAST = {
    "create": "created",
    "update": "updated",
    "replace": "replaced",
    "delete": "deleted",
    "noop": "unchanged",
    "skip": "skipped",
}
_PLAIN = Styler(False)


def _cell(text: str) -> str:
    """Text safe inside a table cell (one line, no column break, no markup)."""
    return html.escape(" ".join(text.split())).replace("|", "\\|")


def _code(text: str) -> str:
    """An inline code span holding ``text`` whatever backticks it contains."""
    text = " ".join(text.split())
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")


def _row(*cells: str) -> str:
    """A table row (an empty cell stays one space wide)."""
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def _block(lines: Iterable[str], language: str = "diff") -> list[str]:
    body = list(lines)
    longest = max((len(run) for line in body for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", *body, fence]


def _symbol(action: str) -> str:
    return f"`{SYMBOLS[action]}`"


def _detail_lines(resource: ResourcePlan) -> list[str]:
    """The resource's diff, one line per property (the text plan's lines, unindented)."""
    lines: list[str] = []
    if resource.action == "create" and resource.desired:
        lines += [f"+ {key}: {format_json(value)}" for key, value in resource.desired.items()]
    if resource.action in ("update", "replace"):
        for change in resource.changes:
            lines += change_lines(change, _PLAIN, "")
    lines += [f"! {reason}" for reason in resource.replace_reasons]
    if resource.action in ("update", "replace"):
        lines += [f"# {write_only_note(p)}" for p in resource.write_only_unverifiable]
    lines += [f"# {note}" for note in resource.notes]
    if resource.reason and not lines:
        lines.append(f"# {resource.reason}")
    return lines


def _unfinished(resource: ResourcePlan) -> bool:
    return (resource.reason or "").startswith(("failed:", "not started:", "skipped:"))


def _details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>", ""]


def _orphan_rows(plan: Plan, *, done: bool) -> list[str]:
    if not plan.orphans:
        return []
    lines = [
        f"**Orphans**: tagged for {_code(plan.stack_name)} ({_code(plan.env)}) but in no "
        "manifest entry (removed or renamed).",
        "",
        "| | Orphan | Type | Identifier | Action |",
        "|:-:|---|---|---|---|",
    ]
    for orphan in plan.orphans:
        lines.append(_orphan_row(orphan, done=done))
    return [*lines, ""]


def _orphan_row(orphan: Orphan, *, done: bool) -> str:
    if orphan.action == "delete":
        action = "deleted" if done else "will be deleted (`--prune`)"
    else:
        action = "kept"
    why = f": {orphan.reason}" if orphan.reason and orphan.action != "delete" else ""
    symbol = "`-`" if orphan.action == "delete" else "`?`"
    return _row(
        symbol,
        _code(orphan.name),
        _cell(orphan.type or "unknown type"),
        _code(orphan.identifier or orphan.arn),
        _cell(action + why),
    )


def render_plan_markdown(
    plan: Plan,
    masker: Masker | None = None,
    *,
    done: str | None = None,
) -> str:
    """The plan as Markdown (ends with a newline). ``done`` ("Build", "Teardown"): the plan
    is what a finished run did; actions are worded in the past tense."""
    masker = masker or Masker()
    safe = masker.plan(plan)
    title = f"{_code(safe.stack_name)} ({_code(safe.env)})"
    if done:
        counts = applied_counts(safe, teardown=done == "Teardown")
        head = f"**{done} of {title} complete**: {_cell(counts)}."
    else:
        head = f"**Plan of {title}**: {_cell(summary_line(safe).removeprefix('Plan: '))}"
    lines = [head, ""]
    changed = [r for r in safe.resources if r.changed]
    # A finished run lists what failed or was not started among its changes.
    failed = [r for r in safe.resources if r.action == "skip" and _unfinished(r)]
    shown = changed + failed
    if shown:
        lines += [
            "| | Resource | Type | Action | Identifier |",
            "|:-:|---|---|---|---|",
        ]
        for r in shown:
            action = _PAST[r.action] if done else VERBS[r.action]
            if r in failed:
                action = r.reason or "skipped"
            lines.append(
                _row(
                    _symbol(r.action),
                    _code(r.name),
                    _cell(r.type),
                    _cell(action),
                    _code(r.identifier or ""),
                )
            )
        lines.append("")
        for r in changed:
            verb = _PAST[r.action] if done else VERBS[r.action]
            summary = (
                f"<code>{html.escape(SYMBOLS[r.action])}</code> <b>{html.escape(r.name)}</b> "
                f"({html.escape(r.type)}) {html.escape(verb)}"
            )
            lines += _details(summary, _block(_detail_lines(r)))
    elif not safe.orphans:
        lines += ["No changes.", ""]
    lines += _orphan_rows(safe, done=bool(done))
    unchanged = [r for r in safe.resources if r not in shown]
    if unchanged:
        items = []
        for r in unchanged:
            why = f": {_cell(r.reason)}" if r.reason else ""
            items.append(f"- {_code(r.name)} ({_cell(r.type)}) {_PAST[r.action]}{why}")
        label = f"{len(unchanged)} unchanged or skipped"
        lines += _details(html.escape(label), items)
    return masker.text("\n".join(lines).rstrip("\n")) + "\n"


def _drift_block(resource: ResourcePlan) -> list[str]:
    if resource.action == "create":
        return ["- the resource does not exist"]
    lines: list[str] = []
    for change in resource.changes:
        lines += _drift_diff(change)
    if not resource.changes and resource.reason:
        lines.append(f"# {resource.reason}")
    lines += [f"! {reason}" for reason in resource.replace_reasons]
    return lines


def _drift_diff(change: Change) -> list[str]:
    where = display_pointer(change.path)
    if change.details:
        out = []
        for detail in change.details:
            out += _drift_diff(detail)
        return out or [line.strip() for line in drift_change_lines(change, _PLAIN, "")]
    out = []
    if change.op != "add":
        out.append(f"- {where}: {format_json(change.before)}  (live)")
    if change.op != "remove":
        out.append(f"+ {where}: {format_json(change.after)}  (desired)")
    return out


def render_drift_markdown(plan: Plan, masker: Masker | None = None) -> str:
    """The ``test`` report as Markdown: the verdict, the drifted resources (each with its
    live and desired values), the orphans, the resources in their desired state."""
    masker = masker or Masker()
    safe = masker.plan(plan)
    title = f"{_code(safe.stack_name)} ({_code(safe.env)})"
    drifted = [r for r in safe.resources if r.changed and r.action != "delete"]
    checked = [r for r in safe.resources if r.action != "skip"]
    noun = "resource" if len(checked) == 1 else "resources"
    if drifted:
        verdict = f"Drift: {len(drifted)} of {len(checked)} {noun} not in the desired state."
    else:
        verdict = f"No drift: {len(checked)} {noun} in the desired state."
    lines = [f"**Test of {title}**: {verdict}", ""]
    if drifted:
        lines += ["| | Resource | Type | Drift | Identifier |", "|:-:|---|---|---|---|"]
        for r in drifted:
            what = "does not exist" if r.action == "create" else "not in its desired state"
            lines.append(_row("`!`", _code(r.name), _cell(r.type), what, _code(r.identifier or "")))
        lines.append("")
        for r in drifted:
            summary = f"<b>{html.escape(r.name)}</b> ({html.escape(r.type)})"
            lines += _details(summary, _block(_drift_block(r)))
    lines += _orphan_rows(safe, done=False)
    fine = [r for r in safe.resources if r not in drifted]
    if fine:
        items = []
        for r in fine:
            state = "ok"
            if r.action == "skip":
                state = "skipped" + (f": {_cell(r.reason)}" if r.reason else "")
            items.append(f"- {_code(r.name)} ({_cell(r.type)}) {state}")
        lines += _details(html.escape(f"{len(fine)} in their desired state or skipped"), items)
    return masker.text("\n".join(lines).rstrip("\n")) + "\n"
