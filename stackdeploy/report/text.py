"""Human-readable plans and drift reports (Terraform-like text).

``render_plan_text`` shows one header line per resource with a symbol (``+`` create, ``~``
update, ``-/+`` replace, ``-`` delete, ``=`` unchanged, ``.`` skipped), the property-level
diff under it (``~ VersioningConfiguration.Status: "Enabled" → "Suspended"``), the
create-only properties that force a replacement, a note for write-only properties that could
not be compared, the stack's orphans (resources tagged for the stack that no manifest entry
claims: ``-`` deleted with ``--prune``, ``?`` left alone), and a summary line.
``render_drift_text`` is the ``test`` report: property by property, live against desired, and
the orphans. Both mask secrets first; colour only when asked (a terminal).
"""

from __future__ import annotations

import json
from typing import Any

import click

from stackdeploy.plan.diff import Change, display_pointer
from stackdeploy.plan.model import Orphan, Plan, ResourcePlan
from stackdeploy.report.mask import Masker

SYMBOLS = {
    "create": "+",
    "update": "~",
    "replace": "-/+",
    "delete": "-",
    "noop": "=",
    "skip": ".",
}
COLOURS = {
    "create": "green",
    "update": "yellow",
    "replace": "magenta",
    "delete": "red",
    "noop": None,
    "skip": None,
}
VERBS = {
    "create": "will be created",
    "update": "will be updated in place",
    "replace": "must be replaced (deleted, then created again)",
    "delete": "will be deleted",
    "noop": "unchanged",
    "skip": "skipped",
}
_OP_SYMBOL = {"add": "+", "replace": "~", "remove": "-"}
_OP_COLOUR = {"add": "green", "replace": "yellow", "remove": "red"}
INDENT = "      "
_IMPLIED_REASONS = {("create", "absent"), ("replace", "create-only property changed")}


#: How a value known only after an earlier resource is applied is shown.
KNOWN_AFTER_APPLY = "(known after apply)"


def format_json(value: Any) -> str:
    """A value on one line: JSON, strings double-quoted, non-ASCII kept; a value known only
    after apply (the ``<evaluated>`` placeholder) reads ``(known after apply)``."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text.replace('"<evaluated>"', KNOWN_AFTER_APPLY).replace(
        "<evaluated>", KNOWN_AFTER_APPLY
    )


def write_only_note(pointer: str) -> str:
    return (
        f"{display_pointer(pointer)} is write-only: it cannot be read back, so drift is not checked"
    )


class Styler:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, fg: str | None = None, **kwargs: Any) -> str:
        # Only truthy attributes: click.style(bold=False) would emit a "normal" code.
        attrs = {k: v for k, v in kwargs.items() if v}
        if not self.color or (fg is None and not attrs):
            return text
        return click.style(text, fg=fg, **attrs)


def change_lines(change: Change, style: Styler, indent: str) -> list[str]:
    symbol = _OP_SYMBOL.get(change.op, "~")
    colour = _OP_COLOUR.get(change.op)
    where = display_pointer(change.path)
    if change.details:
        # An array or tag set sent whole: show what changed inside it.
        lines = [style(f"{indent}{symbol} {where}:", colour)]
        for detail in change.details:
            lines.extend(change_lines(detail, style, indent + "    "))
        return lines
    if change.op == "add":
        body = format_json(change.after)
    elif change.op == "remove":
        body = format_json(change.before)
    else:
        body = f"{format_json(change.before)} → {format_json(change.after)}"
    return [style(f"{indent}{symbol} {where}: ", colour) + body]


def _header(resource: ResourcePlan, style: Styler) -> str:
    symbol = SYMBOLS[resource.action].rjust(3)
    ident = f" {resource.identifier}" if resource.identifier else ""
    head = f"{symbol} {resource.name} ({resource.type}){ident} {VERBS[resource.action]}"
    # Reasons that only restate the verb are left out; the others add information.
    if resource.reason and (resource.action, resource.reason) not in _IMPLIED_REASONS:
        head += f"  # {resource.reason}"
    return style(head, COLOURS[resource.action], bold=resource.changed)


def _resource_lines(resource: ResourcePlan, style: Styler, *, dml: bool = False) -> list[str]:
    lines = [_header(resource, style)]
    if resource.action == "create" and resource.desired:
        for key, value in resource.desired.items():
            lines.append(style(f"{INDENT}+ {key}: ", "green") + format_json(value))
    if resource.action in ("update", "replace"):
        for change in resource.changes:
            lines.extend(change_lines(change, style, INDENT))
    for reason in resource.replace_reasons:
        lines.append(style(f"{INDENT}! {reason}", "magenta"))
    if resource.action in ("update", "replace", "noop"):
        for pointer in resource.write_only_unverifiable:
            lines.append(style(f"{INDENT}# {write_only_note(pointer)}", None, dim=True))
    if resource.depends_on and resource.action != "skip":
        lines.append(style(f"{INDENT}# needs {', '.join(resource.depends_on)}", None, dim=True))
    for note in resource.notes:
        lines.append(style(f"{INDENT}# {note}", None, dim=True))
    if dml:
        for statement in resource.dml:
            lines.append(style(f"{INDENT}would run:", None, dim=True))
            lines.extend(f"{INDENT}  {line}" for line in statement.splitlines())
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def orphans_heading(plan: Plan) -> str:
    return (
        f"Orphans: tagged for {plan.stack_name} ({plan.env}), in no manifest entry "
        "(removed or renamed):"
    )


def orphan_line(orphan: Orphan) -> str:
    """``- old_queue (AWS::SQS::Queue) https://... will be deleted  # not in the manifest``"""
    symbol = "-" if orphan.action == "delete" else "?"
    kind = orphan.type or "unknown type"
    ident = orphan.identifier or orphan.arn
    verb = "will be deleted" if orphan.action == "delete" else "kept"
    why = f"  # {orphan.reason}" if orphan.reason else ""
    return f"{symbol.rjust(3)} {orphan.name} ({kind}) {ident} {verb}{why}"


def _orphan_lines(plan: Plan, style: Styler) -> list[str]:
    if not plan.orphans:
        return []
    lines = [style(orphans_heading(plan), None, bold=True), ""]
    for orphan in plan.orphans:
        colour = "red" if orphan.action == "delete" else "yellow"
        lines.append(style(orphan_line(orphan), colour, bold=orphan.action == "delete"))
    return [*lines, ""]


def summary_line(plan: Plan) -> str:
    s = plan.summary
    line = (
        f"Plan: {s['create']} to create, {s['update']} to update, {s['replace']} to replace, "
        f"{s['delete']} to delete, {s['noop']} unchanged."
    )
    skipped = sum(1 for r in plan.resources if r.action == "skip")
    if skipped:
        line = line[:-1] + f", {skipped} skipped."
    kept = sum(1 for o in plan.orphans if o.action != "delete")
    if kept:
        line = line[:-1] + f", {_plural(kept, 'orphan')} kept."
    return line


def _failed_and_skipped(plan: Plan) -> tuple[int, int]:
    skips = [r for r in plan.resources if r.action == "skip"]
    failed = sum(1 for r in skips if (r.reason or "").startswith("failed:"))
    return failed, len(skips) - failed


def applied_counts(plan: Plan, *, teardown: bool = False) -> str:
    """What a finished build or teardown did, as counts (``1 created, 2 unchanged``)."""
    counts = plan.summary
    failed, skipped = _failed_and_skipped(plan)
    if teardown:
        done = f"{counts['delete']} deleted"
        done += f", {failed} failed" if failed else ""
        return done + f", {skipped} skipped"
    done = (
        f"{counts['create']} created, {counts['update']} updated, "
        f"{counts['replace']} replaced, {counts['noop']} unchanged"
    )
    if failed:
        done += f", {failed} failed"
    if skipped:
        done += f", {skipped} skipped"
    pruned = sum(1 for o in plan.orphans if o.action == "delete")
    if pruned:
        done += f", {_plural(pruned, 'orphan')} deleted"
    kept = len(plan.orphans) - pruned
    if kept:
        done += f", {_plural(kept, 'orphan')} kept (build --prune deletes orphans)"
    return done


def render_applied_text(plan: Plan, *, elapsed: float, teardown: bool = False) -> str:
    """One line saying what a finished build or teardown did (the per-resource progress
    went to stderr as it happened). A run where some resource failed says so first."""
    verb = "Teardown" if teardown else "Build"
    ended = "failed" if _failed_and_skipped(plan)[0] else "complete"
    done = applied_counts(plan, teardown=teardown)
    return f"{verb} of {plan.stack_name} ({plan.env}) {ended}: {done} ({elapsed:.1f}s).\n"


def render_plan_text(
    plan: Plan, *, color: bool = False, masker: Masker | None = None, dml: bool = False
) -> str:
    """The plan as text (ends with a newline). Secrets are masked with ``masker`` (default:
    write-only paths from the bundled schemas; no protected values). With ``dml``, the
    statements each action would run are shown under it (``--dry-run``)."""
    masker = masker or Masker()
    safe = masker.plan(plan)
    style = Styler(color)
    lines = [f"Stack {safe.stack_name} ({safe.env}):", ""]
    for resource in safe.resources:
        lines.extend(_resource_lines(resource, style, dml=dml))
    if safe.resources:
        lines.append("")
    lines.extend(_orphan_lines(safe, style))
    lines.append(style(summary_line(safe), None, bold=True))
    return masker.text("\n".join(lines)) + "\n"


def _drift_lines(resource: ResourcePlan, style: Styler) -> tuple[bool, list[str]]:
    """(drifted, lines) for one resource of a ``test`` run."""
    name = f"{resource.name} ({resource.type})"
    ident = f" {resource.identifier}" if resource.identifier else ""
    if resource.action == "skip":
        why = f": {resource.reason}" if resource.reason else ""
        return False, [style(f"skip  {name} skipped{why}", None, dim=True)]
    if resource.action in ("noop", "delete"):
        lines = [style(f"ok    {name}{ident} is in its desired state", "green")]
        lines.extend(
            style(f"{INDENT}# {write_only_note(p)}", None, dim=True)
            for p in resource.write_only_unverifiable
        )
        return False, lines
    if resource.action == "create":
        return True, [style(f"DRIFT {name} does not exist", "red", bold=True)]
    lines = [style(f"DRIFT {name}{ident} is not in its desired state", "red", bold=True)]
    for change in resource.changes:
        lines.extend(drift_change_lines(change, style, INDENT))
    if not resource.changes and resource.reason:
        lines.append(f"{INDENT}{resource.reason}")
    for reason in resource.replace_reasons:
        lines.append(f"{INDENT}! {reason}")
    return True, lines


def drift_change_lines(change: Change, style: Styler, indent: str) -> list[str]:
    where = display_pointer(change.path)
    if change.details:
        lines = [f"{indent}{where}:"]
        for detail in change.details:
            lines.extend(drift_change_lines(detail, style, indent + "    "))
        return lines
    live = "absent" if change.op == "add" else format_json(change.before)
    desired = "absent" if change.op == "remove" else format_json(change.after)
    return [f"{indent}{style(where, 'yellow')}: live {live}, desired {desired}"]


def render_drift_text(plan: Plan, *, color: bool = False, masker: Masker | None = None) -> str:
    """The ``test`` report: each resource in its desired state or its drift, property by
    property (live value, desired value), then a one-line verdict."""
    masker = masker or Masker()
    safe = masker.plan(plan)
    style = Styler(color)
    lines = [f"Stack {safe.stack_name} ({safe.env}):", ""]
    drifted = 0
    checked = 0
    for resource in safe.resources:
        is_drift, resource_lines = _drift_lines(resource, style)
        lines.extend(resource_lines)
        drifted += is_drift
        checked += resource.action != "skip"
    lines.append("")
    for orphan in safe.orphans:
        kind = orphan.type or "unknown type"
        ident = orphan.identifier or orphan.arn
        why = f" ({orphan.reason})" if orphan.reason else ""
        lines.append(
            style(
                f"ORPHAN {orphan.name} ({kind}) {ident}: tagged for this stack, in no manifest "
                f"entry{why}",
                "yellow",
            )
        )
    if safe.orphans:
        lines.append("")
    noun = "resource" if checked == 1 else "resources"
    orphans = f"; {_plural(len(safe.orphans), 'orphan')}" if safe.orphans else ""
    if drifted:
        verdict = f"Drift: {drifted} of {checked} {noun} not in the desired state{orphans}."
        lines.append(style(verdict, "red", bold=True))
    else:
        verdict = f"No drift: {checked} {noun} in the desired state{orphans}."
        lines.append(style(verdict, "green"))
    return masker.text("\n".join(lines)) + "\n"
