"""The resource-handler protocol, and what every kind of resource shares.

The runner drives each resource through one :class:`ResourceHandler` and never asks what
kind it is. There is one handler class per kind: declarative resources
(:mod:`.declarative`), query-file resources and ``multi`` (:mod:`.queryfile`), ``query``,
``command`` and ``script`` resources (:mod:`.simple`). :func:`handler_for` picks the class.

A handler object lives for one run and one resource, so what ``plan`` learns (the live
state, the identifier) is at hand when ``apply`` runs. Calls:

* build / plan / test: ``plan(step, verb)``; then, for build, ``apply(plan, step, replan)``
  (``replan``: the plan was made while something this resource needs was still to change,
  so it is made again first with the real values);
* teardown: ``collect(step)`` (exports, in dependency order), ``plan_delete(step)``, then
  ``delete(plan, step)`` (reverse dependency order);
* ``--on-failure rollback``: ``rollback(plan, step)`` deletes what ``apply`` created;
* a saved plan (``plan --out``): ``planned_from()`` tells what the last ``plan`` read of the
  live resource and which desired values it could not know yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from stackdeploy.engine.context import Run, Step
from stackdeploy.manifest.model import ResourceDef
from stackdeploy.manifest.render import condition_holds, render_props
from stackdeploy.manifest.stack import EVALUATED, has_placeholder, referenced_names
from stackdeploy.plan.model import ResourcePlan
from stackdeploy.schema.model import Path, ResourceSchema, format_path
from stackdeploy.templating import rewrite_this, serialise_value

Verb = Literal["build", "plan", "test"]

_DONE = {
    "noop": "in sync",
    "create": "created",
    "update": "updated",
    "replace": "replaced",
    "delete": "deleted",
    "skip": "skipped",
}


@dataclass(frozen=True)
class PlanBasis:
    """What a handler's last ``plan`` was computed from, beyond the rendered props.

    ``exists``: whether the resource was found (None: the kind has no live resource);
    ``live``: the live state the plan compared with, as JSON-able data (read-only
    properties left out); ``deferred``: JSON pointers of the desired state whose values were
    known only after apply (``<evaluated>``)."""

    exists: bool | None = None
    live: Any = None
    deferred: tuple[str, ...] = ()


class ResourceHandler(Protocol):
    """One resource, one run."""

    res: ResourceDef
    #: The resources this one needs (set by the runner from the graph).
    depends_on: tuple[str, ...]
    #: True once ``apply`` created the resource in this run (what a rollback deletes).
    created: bool

    def plan(self, step: Step, verb: Verb) -> ResourcePlan:
        """Read-only: what build would do. Raises on any error build would meet before
        changing this resource (template, schema, query, replacement not allowed)."""
        ...

    def runs_on_apply(self, plan: ResourcePlan) -> bool:
        """Whether ``apply`` changes something, so what this resource exports may differ
        after it (resources that use its exports are then planned again at apply)."""
        ...

    def apply(self, plan: ResourcePlan, step: Step, *, replan: bool) -> ResourcePlan:
        """Carry the plan out (planning again first when ``replan``); record the exports.
        Returns the plan actually carried out."""
        ...

    def collect(self, step: Step) -> None:
        """Teardown, first pass: find the resource, record its exports (``<unknown>`` when
        absent)."""
        ...

    def plan_delete(self, step: Step) -> ResourcePlan:
        """Teardown: delete when present, skip (with the reason) otherwise."""
        ...

    def delete(self, plan: ResourcePlan, step: Step) -> None:
        """Delete the resource and confirm it is gone."""
        ...

    def rollback(self, plan: ResourcePlan, step: Step) -> None:
        """Undo what ``apply`` created in this run (nothing if it created nothing)."""
        ...

    def done_message(self, plan: ResourcePlan) -> str:
        """How progress reports a finished ``apply`` (``created``, ``script ran``)."""
        ...

    def planned_from(self) -> PlanBasis:
        """What the last ``plan`` read of the live resource (for saved plans)."""
        ...


class BaseHandler:
    """Rendering, conditions and secrets for every kind."""

    kind = "resource"

    def __init__(self, run: Run, res: ResourceDef) -> None:
        self.run = run
        self.res = res
        self.stack = run.stack
        self.state = run.state
        self.depends_on: tuple[str, ...] = ()
        self.condition_unknown = False
        self.created = False

    # -- rendering --------------------------------------------------------------------------

    def context(self) -> dict[str, Any]:
        return self.state.context(self.res)

    def props(self, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The rendered props; protected ones are remembered as secrets at once."""
        values = render_props(
            self.stack, self.res, context if context is not None else self.context()
        )
        secret = set(self.res.protected) | {p.name for p in self.res.props if p.protected}
        if secret:
            self.state.add_secrets(v for k, v in values.items() if k in secret)
        return values

    def condition(self) -> bool:
        """The ``if``, now. When it uses values known only after apply, it counts as true
        for planning (so the resource is still validated) and is noted."""
        if self.res.condition is None:
            return True
        ctx = self.context()
        names = referenced_names(rewrite_this(self.res.condition, self.res.name, expression=True))
        if "{{" not in self.res.condition and "{%" not in self.res.condition:
            names |= referenced_names("{{ (" + self.res.condition + ") }}")
        self.condition_unknown = any(has_placeholder(ctx.get(n)) for n in names)
        if self.condition_unknown:
            return True
        return condition_holds(self.stack, self.res, ctx)

    def skip(self, reason: str, *, type_name: str | None = None) -> ResourcePlan:
        return ResourcePlan(
            name=self.res.name,
            type=type_name or self.res.resource_type or "-",
            action="skip",
            reason=reason,
            depends_on=self.depends_on,
        )

    def secret_paths(
        self, desired: Mapping[str, Any], named: Iterable[str] = (), values: Iterable[Any] = ()
    ) -> tuple[str, ...]:
        """JSON pointers of the top-level properties of ``desired`` that hold a secret, so a
        plan masks them by position (the *old*, live value included): those ``named`` (the
        properties protected props map to), those equal to one of ``values`` (protected
        values too short to be masked by content) and those holding any secret seen so far
        (protected props, globals and exports; write-only values)."""
        secrets = self.state.secrets()
        wanted = set(named)
        exact = {serialise_value(v) for v in values if v is not None and serialise_value(v) != ""}
        out: list[str] = []
        for key, value in desired.items():
            if (
                key in wanted
                or (exact and any(serialise_value(v) in exact for v in _leaves(value)))
                or (secrets and any(s in text for text in _strings(value) for s in secrets))
            ):
                out.append(format_path((key,)))
        return tuple(out)

    def unknown_notes(self) -> tuple[str, ...]:
        if self.condition_unknown:
            return ("if: known only after the resources it uses are applied",)
        return ()

    # -- defaults ---------------------------------------------------------------------------

    def evaluated(self) -> None:
        """Exports become ``<evaluated>``: known only after apply."""
        self.state.set_placeholders(self.res, EVALUATED)

    def runs_on_apply(self, plan: ResourcePlan) -> bool:
        return plan.changed

    def done_message(self, plan: ResourcePlan) -> str:
        return _DONE.get(plan.action, plan.action)

    def rollback(self, plan: ResourcePlan, step: Step) -> None:
        return None

    def planned_from(self) -> PlanBasis:
        # Kinds without a live resource of their own: their exports (recorded by the run
        # state) are what planning read.
        return PlanBasis()


def write_only_values(schema: ResourceSchema, state: Any, path: Path = ()) -> list[Any]:
    """Every value of ``state`` that lies at one of the schema's write-only paths (nested
    ones too, such as ``LoginProfile/Password``)."""
    if path and schema.is_write_only(path):
        return [state]
    out: list[Any] = []
    if isinstance(state, Mapping):
        for key, value in state.items():
            out += write_only_values(schema, value, (*path, key))
    elif isinstance(state, list):
        for index, value in enumerate(state):
            out += write_only_values(schema, value, (*path, index))
    return out


def _leaves(value: Any) -> Iterator[Any]:
    """The value itself, then every value nested in it."""
    yield value
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)


def _strings(value: Any) -> Iterator[str]:
    """Every scalar inside ``value`` as text (numbers too: a protected number is a secret)."""
    for leaf in _leaves(value):
        if isinstance(leaf, str):
            yield leaf
        elif isinstance(leaf, int | float) and not isinstance(leaf, bool):
            yield str(leaf)
