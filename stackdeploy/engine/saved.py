"""Saved plans in a run: ``plan --out FILE`` and ``build --plan FILE``.

:func:`capture` computes the :class:`~stackdeploy.plan.saved.Basis` of a plan from the run
that made it (its files, variables, globals, rendered props, the live state each handler
read, each planned action); :func:`new_saved_plan` makes the file's content. :class:`PlanGuard`
makes ``build --plan`` apply exactly the saved plan:

1. before anything changes (``Runner.build(before_apply=...)``) it computes the basis of the
   plan just made again, with the file's salt, and refuses, naming every difference, unless
   it equals the saved one;
2. while applying, each resource goes through a :class:`GuardedHandler`: a resource planned
   ``noop`` is never touched; a resource planned again because something it needs changed
   must keep its saved action and touch only its saved paths (plus those whose values were
   known only after apply), or it fails without being changed.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackdeploy import __version__
from stackdeploy.engine.handlers.base import PlanBasis, ResourceHandler, Verb
from stackdeploy.engine.orphans import OrphanScan, find_orphans
from stackdeploy.engine.runner import Runner
from stackdeploy.errors import StackDeployError, StalePlanError
from stackdeploy.manifest.model import ResourceDef
from stackdeploy.manifest.render import render_props
from stackdeploy.plan.model import Plan, ResourcePlan
from stackdeploy.plan.saved import (
    ABSENT,
    Basis,
    Hasher,
    OrphanBasis,
    ResourceBasis,
    SavedPlan,
    bound_violation,
    compare,
    describe_problems,
    touched_paths,
)
from stackdeploy.schema.model import Pattern, path_matches
from stackdeploy.templating import serialise_value

log = logging.getLogger("stackdeploy.engine")

#: What stands for a resource's idempotency token in digests (a new one every run).
TOKEN_LABEL = "<idempotency_token>"
_PAST = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted"}


@dataclass(frozen=True)
class PlanSettings:
    """What shapes a plan besides the manifest and the inputs (kept in clear in the file)."""

    region: str
    targets: tuple[str, ...] = ()
    allow_replace: bool = False
    prune: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "targets": list(self.targets),
            "allow_replace": self.allow_replace,
            "prune": self.prune,
        }


def stack_files(runner: Runner) -> dict[str, str]:
    """The manifest and every query file, by path relative to the stack folder."""
    manifest = runner.stack.manifest
    root = manifest.stack_dir.resolve()
    paths = [manifest.path, *(r.query_file for r in runner.stack.resources if r.query_file)]
    out: dict[str, str] = {}
    for path in paths:
        assert path is not None
        resolved = Path(path).resolve()
        try:
            key = resolved.relative_to(root).as_posix()
        except ValueError:
            key = str(path)
        if key not in out:
            out[key] = resolved.read_bytes().decode("utf-8", errors="replace")
    return out


def hasher_inputs(runner: Runner) -> tuple[list[str], dict[str, str]]:
    """The secrets a run knows (variable values, protected and write-only values) and its
    volatile strings (idempotency tokens), for a :class:`Hasher`."""
    state = runner.run.state
    secrets = [*runner.stack.env_vars.values(), *state.secrets()]
    volatile = dict.fromkeys(state.tokens.values(), TOKEN_LABEL)
    return secrets, volatile


def _write_only_patterns(type_name: str, region: str) -> tuple[Pattern, ...]:
    if "::" not in type_name:
        return ()
    from stackdeploy.schema.registry import get_schema

    try:
        return tuple(get_schema(type_name, region).write_only)
    except StackDeployError:
        return ()


def _hide_at(
    hasher: Hasher, value: Any, patterns: Sequence[Pattern], path: tuple[str | int, ...] = ()
) -> Any:
    """``value`` with whatever lies at a write-only pattern replaced by its secret token
    (whatever its length: write-only values are secrets by position)."""
    if path and any(path_matches(p, path) for p in patterns):
        return hasher.token(serialise_value(value))
    if isinstance(value, Mapping):
        return {k: _hide_at(hasher, v, patterns, (*path, k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_hide_at(hasher, v, patterns, (*path, i)) for i, v in enumerate(value)]
    return value


def _pointer_path(pointer: str) -> tuple[str | int, ...]:
    tokens: list[str | int] = []
    for token in pointer.lstrip("/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        tokens.append(int(token) if token.isdigit() else token)
    return tuple(tokens)


def _props_value(runner: Runner, res: ResourceDef, hasher: Hasher) -> Any:
    """The resource's props rendered now, protected and write-only values hidden by
    position (an error is fingerprinted by its kind: the resource could not render)."""
    stack, state = runner.stack, runner.run.state
    try:
        props = render_props(stack, res, state.context(res))
    except StackDeployError as exc:
        return {"unrenderable": type(exc).__name__}
    shown: dict[str, Any] = {}
    for key, value in props.items():
        shown[key] = hasher.token(serialise_value(value)) if key in res.protected else value
    if res.declarative and res.resource_type:
        from stackdeploy.schema import desired as desired_state
        from stackdeploy.schema.registry import get_schema

        try:
            schema = get_schema(res.resource_type, runner.run.region)
            prepared = desired_state.prepare(schema, shown)
        except StackDeployError:
            return shown
        return _hide_at(hasher, prepared, schema.write_only)
    return shown


def _plan_value(rp: ResourcePlan, hasher: Hasher, region: str) -> dict[str, Any]:
    patterns = (
        *_write_only_patterns(rp.type, region),
        *(tuple(str(t) for t in _pointer_path(p)) for p in rp.write_only_unverifiable),
    )
    patch = []
    for op in rp.patch:
        entry = dict(op)
        if "value" in entry:
            entry["value"] = _hide_at(
                hasher, entry["value"], patterns, _pointer_path(str(entry.get("path", "")))
            )
        patch.append(entry)
    desired = _hide_at(hasher, dict(rp.desired), patterns) if rp.desired is not None else None
    return {
        "action": rp.action,
        "type": rp.type,
        "identifier": rp.identifier,
        "patch": patch,
        "replace_reasons": list(rp.replace_reasons),
        "desired": desired,
        "depends_on": list(rp.depends_on),
    }


def _live_value(runner: Runner, res: ResourceDef, basis: PlanBasis) -> Any:
    state = runner.run.state
    return {
        "live": basis.live,
        "exports": state.exported(res.name),
        "this": state.this(res),
    }


def capture(
    runner: Runner, plan: Plan, scan: OrphanScan, *, settings: PlanSettings, hasher: Hasher
) -> Basis:
    """The basis of ``plan``, just made by ``runner`` (its handlers still hold what they
    read), digested with ``hasher``."""
    stack = runner.stack
    region = runner.run.region
    files = {path: hasher.digest(text) for path, text in stack_files(runner).items()}
    resources: dict[str, ResourceBasis] = {}
    for rp in plan.resources:
        handler = runner.handlers[rp.name]
        res = handler.res
        basis = handler.planned_from()
        live = ABSENT if basis.exists is False else hasher.digest(_live_value(runner, res, basis))
        resources[rp.name] = ResourceBasis(
            action=rp.action,
            plan=hasher.digest(_plan_value(rp, hasher, region)),
            props=hasher.digest(_props_value(runner, res, hasher)),
            live=live,
            paths=touched_paths(rp),
            deferred=tuple(basis.deferred),
        )
    # Orphans a plan only lists do not shape what the build does: only a plan that deletes
    # them (--prune) depends on them.
    orphans = {
        o.name: OrphanBasis(
            arn=o.arn,
            action=o.action,
            live=ABSENT
            if scan.models.get(o.name) is None
            else hasher.digest(
                {"type": o.type, "identifier": o.identifier, "live": scan.models[o.name]}
            ),
        )
        for o in plan.orphans
        if settings.prune
    }
    return Basis(
        files=files,
        document=hasher.digest(stack.manifest.raw),
        settings=settings.as_dict(),
        variables={k: hasher.secret_digest(v) for k, v in stack.env_vars.items()},
        globals={k: hasher.digest(v) for k, v in stack.globals.items()},
        resources=resources,
        orphans=orphans,
    )


def new_saved_plan(
    runner: Runner,
    plan: Plan,
    scan: OrphanScan,
    *,
    settings: PlanSettings,
    document: Mapping[str, Any],
    plan_key: str | None,
) -> tuple[SavedPlan, bool]:
    """The saved plan of ``plan`` (``document``: its masked JSON document), and whether
    anything in it derives from a secret (the file is then written 0600)."""
    secrets, volatile = hasher_inputs(runner)
    hasher = Hasher(os.urandom(16), plan_key=plan_key, secrets=secrets, volatile=volatile)
    basis = capture(runner, plan, scan, settings=settings, hasher=hasher)
    saved = SavedPlan(
        document=document,
        basis=basis,
        salt=hasher.salt,
        keyed=hasher.keyed,
        key_check=hasher.key_check if hasher.keyed else None,
        tool=f"stack-deploy {__version__}",
        created=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        scrypt=hasher.scrypt,
    )
    return saved, hasher.secret_used


# -- applying a saved plan ----------------------------------------------------------------------


class GuardedHandler:
    """A resource's handler under a saved plan (see the module docstring)."""

    def __init__(self, inner: ResourceHandler, saved: ResourceBasis, notes: Callable[[str], None]):
        self.inner = inner
        self.saved = saved
        self.note = notes

    # the protocol's attributes are the inner handler's
    @property
    def res(self) -> ResourceDef:
        return self.inner.res

    @res.setter
    def res(self, value: ResourceDef) -> None:
        self.inner.res = value

    @property
    def depends_on(self) -> tuple[str, ...]:
        return self.inner.depends_on

    @depends_on.setter
    def depends_on(self, value: tuple[str, ...]) -> None:
        self.inner.depends_on = value

    @property
    def created(self) -> bool:
        return self.inner.created

    @created.setter
    def created(self, value: bool) -> None:
        self.inner.created = value

    def plan(self, step: Any, verb: Verb) -> ResourcePlan:
        return self.inner.plan(step, verb)

    def runs_on_apply(self, plan: ResourcePlan) -> bool:
        return self.inner.runs_on_apply(plan)

    def apply(self, plan: ResourcePlan, step: Any, *, replan: bool) -> ResourcePlan:
        """``plan`` is the plan made just now, found equal to the saved one."""
        if not replan:
            if plan.action == "noop":
                return plan
            # The saved action, or a kind that runs on every build (command, script, query).
            return self.inner.apply(plan, step, replan=False)
        name = self.inner.res.name
        # Something this resource needs changed: plan it again with the real values
        # (read-only; it also records its exports for the resources after it).
        fresh = self.inner.plan(step, "build")
        if plan.action in ("noop", "skip"):
            if fresh.changed:
                self.note(
                    f"{name}: planned again with the values known now it would be "
                    f"{_PAST[fresh.action]}; left as it is, as the saved plan says "
                    "(plan again to see the change)"
                )
                return plan
            return plan if plan.action == "noop" else self.inner.apply(fresh, step, replan=False)
        problem = bound_violation(self.saved, fresh)
        if problem is not None:
            allowed = ", ".join((*self.saved.paths, *self.saved.deferred)) or "nothing else"
            raise StalePlanError(
                f"{problem}; not applied (the saved plan allows {self.saved.action} of "
                f"{allowed}): make a new plan, review it, and apply it"
            )
        if not fresh.changed:
            self.note(f"{name}: nothing left to change")
            return fresh
        return self.inner.apply(fresh, step, replan=False)

    def collect(self, step: Any) -> None:
        self.inner.collect(step)

    def plan_delete(self, step: Any) -> ResourcePlan:
        return self.inner.plan_delete(step)

    def delete(self, plan: ResourcePlan, step: Any) -> None:
        self.inner.delete(plan, step)

    def rollback(self, plan: ResourcePlan, step: Any) -> None:
        self.inner.rollback(plan, step)

    def done_message(self, plan: ResourcePlan) -> str:
        return self.inner.done_message(plan)

    def planned_from(self) -> PlanBasis:
        return self.inner.planned_from()


class PlanGuard:
    """``build --plan FILE``: compare before applying, bound while applying."""

    def __init__(
        self, saved: SavedPlan, runner: Runner, *, file: str, plan_key: str | None
    ) -> None:
        self.saved = saved
        self.runner = runner
        self.file = file
        self.plan_key = plan_key
        self.scan = OrphanScan()
        self.notes: list[str] = []
        # The key is checked now, before any call.
        saved.hasher(plan_key, file=file)

    def _note(self, text: str) -> None:
        self.notes.append(text)
        self.runner.run.emit("note", message=text)

    def before_apply(self, plan: Plan) -> Plan:
        """Compare the plan just made with the saved one; refuse when anything differs.
        Then every handler is put under its saved bounds."""
        runner, saved = self.runner, self.saved
        self.scan = find_orphans(runner.run, plan, prune=saved.prune)
        plan = self.scan.on(plan)
        secrets, volatile = hasher_inputs(runner)
        hasher = saved.hasher(self.plan_key, secrets=secrets, volatile=volatile, file=self.file)
        settings = PlanSettings(
            region=runner.run.region,
            targets=runner.run.options.targets,
            allow_replace=runner.run.options.allow_replace,
            prune=saved.prune,
        )
        fresh = capture(runner, plan, self.scan, settings=settings, hasher=hasher)
        problems = compare(saved.basis, fresh)
        if problems:
            raise StalePlanError(describe_problems(self.file, problems))
        for name, basis in saved.basis.resources.items():
            runner.handlers[name] = GuardedHandler(runner.handlers[name], basis, self._note)
        return plan
