"""The plan: what build would do to each resource, and why. Immutable data, no I/O.

A :class:`Plan` holds one :class:`ResourcePlan` per resource, in manifest order, and the
stack's :class:`Orphan` resources (tagged for the stack, claimed by no manifest entry). It is
the boundary between "what to run" (the planner) and "how to run it" (the executor), and the
input of every report (text, JSON, Markdown, drift). :meth:`Plan.to_json_dict` is the JSON
contract of docs/design.md (plus a top-level ``orphans`` list); keep it stable.

:func:`decide_action` turns a diff into an action, refusing a replacement that was not
allowed before anything changes; :func:`plan_resource` combines diff and decision for one
resource.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from stackdeploy.errors import PlanError
from stackdeploy.plan.diff import Change, ResourceDiff, diff_resource, display_pointer
from stackdeploy.schema.model import ResourceSchema

Action = Literal["create", "update", "replace", "delete", "noop", "skip"]
ACTIONS: tuple[str, ...] = get_args(Action)
# Actions counted in the JSON summary (the contract has no "skip" count).
SUMMARY_ACTIONS: tuple[str, ...] = ("create", "update", "replace", "delete", "noop")
CHANGING_ACTIONS = frozenset({"create", "update", "replace", "delete"})


@dataclass(frozen=True)
class ResourcePlan:
    """The planned action for one resource.

    ``patch`` is the RFC 6902 patch for update (and, informatively, for replace);
    ``changes`` the property-level view of the same diff; ``desired`` the state a create
    sends; ``reason`` a short why ("absent", "statecheck failed", "if: false");
    ``notes`` extra lines for the text plan (e.g. "found by tags"); ``secret_paths`` JSON
    pointers of the properties that hold secrets (protected props and globals feed them):
    every report masks what lies there, live values included, whatever it is.
    """

    name: str
    type: str
    action: Action
    identifier: str | None = None
    patch: tuple[Mapping[str, Any], ...] = ()
    replace_reasons: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()
    write_only_unverifiable: tuple[str, ...] = ()
    reason: str | None = None
    desired: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = ()
    secret_paths: tuple[str, ...] = ()
    #: The statements carrying the action out, as text (``--dry-run`` shows them).
    dml: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r} (expected one of {ACTIONS})")
        # Accept lists from callers but store tuples, so a plan cannot be edited in place.
        for name in (
            "patch",
            "replace_reasons",
            "depends_on",
            "changes",
            "write_only_unverifiable",
            "notes",
            "secret_paths",
            "dml",
        ):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    @property
    def changed(self) -> bool:
        """True when the action changes something in the cloud."""
        return self.action in CHANGING_ACTIONS

    def to_json_dict(self, *, dml: bool = False) -> dict[str, Any]:
        """The contract's resource entry, plus ``reason`` (null when there is none), and
        with ``dml`` the statements the action runs (when it runs any)."""
        entry: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "action": self.action,
            "identifier": self.identifier,
            "patch": [dict(op) for op in self.patch],
            "replace_reasons": list(self.replace_reasons),
            "depends_on": list(self.depends_on),
            "reason": self.reason,
        }
        if dml and self.dml:
            entry["dml"] = list(self.dml)
        return entry


OrphanAction = Literal["delete", "skip"]


@dataclass(frozen=True)
class Orphan:
    """A resource carrying the stack's tags (stack name and environment) whose
    ``stackql:resource-name`` no manifest entry claims any more: removed from the manifest,
    or renamed there.

    ``name`` is that tag's value (made unique with ``#2``, ``#3``... when several resources
    carry it); ``type`` and ``identifier`` are None when no Cloud Control type matches the
    ARN (such an orphan can only be listed). ``action`` is ``delete`` when ``--prune`` was
    given (and the orphan can be deleted), else ``skip``; ``depends_on`` names the other
    orphans its properties refer to (they are deleted after it).
    """

    name: str
    arn: str
    type: str | None = None
    identifier: str | None = None
    action: OrphanAction = "skip"
    reason: str | None = None
    depends_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.action not in ("delete", "skip"):
            raise ValueError(f"unknown orphan action {self.action!r}")
        if not isinstance(self.depends_on, tuple):
            object.__setattr__(self, "depends_on", tuple(self.depends_on))

    @property
    def changed(self) -> bool:
        return self.action == "delete"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "action": self.action,
            "identifier": self.identifier,
            "arn": self.arn,
            "depends_on": list(self.depends_on),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Plan:
    """The plan of one stack in one environment (``orphans``: see :class:`Orphan`)."""

    stack_name: str
    env: str
    resources: tuple[ResourcePlan, ...] = field(default_factory=tuple)
    orphans: tuple[Orphan, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.resources, tuple):
            object.__setattr__(self, "resources", tuple(self.resources))
        if not isinstance(self.orphans, tuple):
            object.__setattr__(self, "orphans", tuple(self.orphans))

    @property
    def summary(self) -> dict[str, int]:
        """Counts per action, in the contract's order; skipped resources are not counted.
        Orphans that will be deleted (``--prune``) count as deletes."""
        counts = dict.fromkeys(SUMMARY_ACTIONS, 0)
        for resource in self.resources:
            if resource.action in counts:
                counts[resource.action] += 1
        counts["delete"] += sum(1 for o in self.orphans if o.action == "delete")
        return counts

    @property
    def has_changes(self) -> bool:
        return any(r.changed for r in self.resources) or any(o.changed for o in self.orphans)

    def get(self, name: str) -> ResourcePlan | None:
        return next((r for r in self.resources if r.name == name), None)

    def to_json_dict(self, *, dml: bool = False) -> dict[str, Any]:
        """The JSON document of the design contract (``plan --output json``), plus the
        top-level ``orphans`` list (always present, empty when there are none); with ``dml``,
        resources that run statements list them under ``dml``."""
        return {
            "stack": {"name": self.stack_name, "env": self.env},
            "resources": [r.to_json_dict(dml=dml) for r in self.resources],
            "summary": self.summary,
            "orphans": [o.to_json_dict() for o in self.orphans],
        }


def decide_action(
    diff: ResourceDiff | None,
    *,
    exists: bool,
    allow_replace: bool,
    statecheck_ok: bool | None = None,
    name: str = "",
    mask: Callable[[str], str] = str,
) -> Action:
    """The action for a resource given its diff against live.

    Absent -> create. Create-only changes -> replace when allowed, otherwise
    :class:`PlanError` (raised while planning, so nothing has changed yet). A non-empty patch
    or a failed statecheck -> update. Otherwise noop. ``statecheck_ok`` None means the
    resource has no statecheck. ``mask`` hides secrets in the error message (the reasons
    quote live and desired values); pass ``Masker.text``.
    """
    if not exists:
        return "create"
    if diff is not None and diff.replace_reasons:
        if allow_replace:
            return "replace"
        prefix = f"{name}: " if name else ""
        reasons = "; ".join(diff.replace_reasons)
        raise PlanError(
            mask(f"{prefix}{reasons}; changing it replaces the resource"),
            hint="rerun with --allow-replace or set replace: true on the resource",
        )
    if (diff is not None and diff.patch) or statecheck_ok is False:
        return "update"
    return "noop"


def plan_resource(
    schema: ResourceSchema,
    *,
    name: str,
    desired: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    identifier: str | None = None,
    depends_on: Iterable[str] = (),
    allow_replace: bool = False,
    statecheck_ok: bool | None = None,
    notes: Iterable[str] = (),
    mask: Callable[[str], str] = str,
    secret_paths: Iterable[str] = (),
) -> ResourcePlan:
    """Plan one declarative resource: diff desired against live (None = absent) and decide.

    ``secret_paths`` (JSON pointers) are carried on the plan and never quoted in a reason.
    Raises :class:`PlanError` for a replacement that is not allowed.
    """
    secrets = tuple(secret_paths)
    if live is None:
        return ResourcePlan(
            name=name,
            type=schema.type_name,
            action="create",
            identifier=identifier,
            depends_on=tuple(depends_on),
            reason="absent",
            desired=dict(desired),
            notes=tuple(notes),
            secret_paths=secrets,
        )
    diff = diff_resource(schema, desired, live, hidden=secrets)
    action = decide_action(
        diff,
        exists=True,
        allow_replace=allow_replace,
        statecheck_ok=statecheck_ok,
        name=name,
        mask=mask,
    )
    reason: str | None = None
    if action == "replace":
        reason = "create-only property changed"
    elif action == "update" and not diff.patch:
        reason = "statecheck failed"
    return ResourcePlan(
        name=name,
        type=schema.type_name,
        action=action,
        identifier=identifier,
        patch=tuple(diff.patch),
        replace_reasons=tuple(diff.replace_reasons),
        depends_on=tuple(depends_on),
        changes=tuple(diff.changes),
        write_only_unverifiable=tuple(diff.write_only_unverifiable),
        reason=reason,
        # A replacement creates the resource again, so it needs the full desired state.
        desired=dict(desired) if action == "replace" else None,
        notes=(
            *notes,
            *(
                f"{display_pointer(p)} is create-only and AWS did not return it, "
                "so it is not compared"
                for p in diff.create_only_unread
            ),
        ),
        secret_paths=secrets,
    )
