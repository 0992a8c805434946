"""Run a stack: plan, build, test and teardown, one resource at a time in manifest order.

Each resource goes through its handler (:mod:`.queries` or :mod:`.declarative`): plan it
(read-only discovery), then, for build, apply the plan and record its exports so later
resources can use them. ``plan`` and ``--dry-run`` stop after planning; resources that would
be created export ``<evaluated>``. Teardown collects exports in manifest order (phase A),
then deletes in reverse order (phase B), confirming each deletion.

Dependencies are inferred from template references (props, queries, conditions) to earlier
resources' exports plus explicit ``depends_on``; they are reported in the plan and select
what ``--target`` runs. The order of execution stays the manifest order.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackdeploy.engine.context import RunContext
from stackdeploy.engine.declarative import DeclarativeResource
from stackdeploy.engine.queries import QueryResource
from stackdeploy.errors import DeployError, StackDeployError, UsageError
from stackdeploy.manifest.context import EVALUATED, UNKNOWN, referenced_names
from stackdeploy.manifest.model import ResourceDef
from stackdeploy.plan.model import Plan, ResourcePlan

log = logging.getLogger("stackdeploy.engine")

Handler = QueryResource | DeclarativeResource


@dataclass
class RunResult:
    """What a run did: the plan, the resources that failed, the stack exports."""

    plan: Plan
    failures: list[tuple[str, str]] = field(default_factory=list)
    exports: dict[str, Any] | None = None
    elapsed: float = 0.0


class StackRunner:
    """Plans and runs one loaded stack against one Cloud Control client."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        self.stack = run.stack
        self._deps = self._dependencies()
        self._selected = self._select_targets()

    # -- dependencies and targets ---------------------------------------------------------

    def _dependencies(self) -> dict[str, tuple[str, ...]]:
        """resource -> earlier resources it refers to (exports, ``<res>.x``, depends_on)."""
        exported_by: dict[str, str] = {}
        deps: dict[str, tuple[str, ...]] = {}
        names = {r.name for r in self.stack.resources}
        for res in self.stack.resources:
            refs: set[str] = set()
            refs |= referenced_names([p.value for p in res.props])
            refs |= referenced_names([v for p in res.props for v in (p.values or {}).values()])
            refs |= referenced_names(res.condition or "")
            refs |= referenced_names(res.sql or "")
            refs |= referenced_names(res.run or "")
            if res.query_file is not None and res.query_file.is_file():
                refs |= referenced_names(res.query_file.read_text(encoding="utf-8"))
            found = []
            for ref in sorted(refs):
                owner = exported_by.get(ref) or (ref if ref in names else None)
                if owner and owner != res.name and owner not in found:
                    found.append(owner)
            for explicit in res.depends_on:
                if explicit not in found:
                    found.append(explicit)
            deps[res.name] = tuple(found)
            for export in res.exports:
                exported_by[export.name] = res.name
        return deps

    def _select_targets(self) -> set[str]:
        names = [r.name for r in self.stack.resources]
        targets = self.run.options.targets
        if not targets:
            return set(names)
        unknown = [t for t in targets if t not in names]
        if unknown:
            from stackdeploy.manifest.validate import did_you_mean

            raise UsageError(
                f"--target {unknown[0]!r} is not a resource of stack {self.stack.name!r}",
                hint=did_you_mean(unknown[0], names),
            )
        selected: set[str] = set()
        todo = list(targets)
        while todo:
            name = todo.pop()
            if name not in selected:
                selected.add(name)
                todo.extend(self._deps.get(name, ()))
        return selected

    def resources(self) -> list[ResourceDef]:
        return [r for r in self.stack.resources if r.name in self._selected]

    def handler(self, res: ResourceDef) -> Handler:
        if res.declarative:
            return DeclarativeResource(self.run, res)
        return QueryResource(self.run, res)

    # -- plan and build -----------------------------------------------------------------------

    def _skip(self, res: ResourceDef, reason: str) -> ResourcePlan:
        return ResourcePlan(
            name=res.name,
            type=res.resource_type or "-",
            action="skip",
            reason=reason,
            depends_on=self._deps[res.name],
        )

    def plan(self) -> Plan:
        """What build would do; runs only read-only queries."""
        return self._walk(apply=False).plan

    def build(self) -> RunResult:
        """Plan and apply every resource (or only plan, with ``--dry-run``)."""
        return self._walk(apply=not self.run.options.dry_run)

    def _walk(self, *, apply: bool) -> RunResult:
        start = time.monotonic()
        plans: list[ResourcePlan] = []
        failures: list[tuple[str, str]] = []
        applied: list[tuple[Handler, ResourcePlan]] = []
        resources = self.resources()
        for index, res in enumerate(resources, 1):
            prefix = f"[{index}/{len(resources)}] {res.name}"
            try:
                rp = self._plan_and_apply(res, apply=apply, prefix=prefix, applied=applied)
            except StackDeployError as exc:
                if not apply or self.run.options.on_failure == "error":
                    raise
                failures.append((res.name, str(exc)))
                self.run.say(f"{prefix}: FAILED: {exc}")
                if self.run.options.on_failure == "rollback":
                    self._rollback(applied)
                    raise DeployError(
                        f"resource {res.name!r} failed and the run was rolled back: {exc}"
                    ) from exc
                plans.append(self._skip(res, f"failed: {exc}"))
                continue
            plans.append(rp)
        plan = Plan(self.stack.name, self.stack.env, tuple(plans))
        result = RunResult(plan, failures, elapsed=time.monotonic() - start)
        if apply and not failures and not self.run.options.targets:
            # With --target only part of the stack ran: its exports may be incomplete.
            result.exports = self.stack_exports(result.elapsed)
        return result

    def _plan_and_apply(
        self,
        res: ResourceDef,
        *,
        apply: bool,
        prefix: str,
        applied: list[tuple[Handler, ResourcePlan]],
    ) -> ResourcePlan:
        deps = self._deps[res.name]
        if not self.stack.condition_holds(res):
            self.run.say(f"{prefix}: skipped (if: false)")
            return self._skip(res, "if: false")
        if res.type == "script":
            if apply:
                self._run_script(res)
                self.run.say(f"{prefix}: script ran")
            else:
                self.stack.set_placeholder_exports(res, EVALUATED)
            return self._skip(res, "script: runs on every build")
        handler = self.handler(res)
        if res.type == "query":
            assert isinstance(handler, QueryResource)
            handler.query_exports()
            return self._skip(res, "query: exports only")
        if res.type == "command":
            assert isinstance(handler, QueryResource)
            if apply:
                handler.run_command()
                self.run.say(f"{prefix}: command ran")
            return self._skip(res, "command: runs on every build")
        rp = handler.plan(depends_on=deps)
        if not apply:
            if rp.action in ("create", "replace"):
                self.stack.set_placeholder_exports(res, EVALUATED)
            else:
                handler.record_exports()
            return rp
        began = time.monotonic()
        if rp.action not in ("noop", "skip"):
            self.run.say(f"{prefix}: {rp.action} ({rp.reason or 'changes'})...")
        handler.apply(rp)
        handler.record_exports()
        if rp.action in ("create", "replace"):
            applied.append((handler, rp))
        took = time.monotonic() - began
        done = {"noop": "in sync", "create": "created", "update": "updated", "replace": "replaced"}
        self.run.say(f"{prefix}: {done.get(rp.action, rp.action)} ({took:.1f}s)")
        return rp

    def _rollback(self, applied: list[tuple[Handler, ResourcePlan]]) -> None:
        """Delete, newest first, what this run created (``--on-failure rollback``)."""
        for handler, _rp in reversed(applied):
            try:
                if isinstance(handler, DeclarativeResource) or handler.has("delete"):
                    handler.delete()
                self.run.say(f"rollback: deleted {handler.res.name}")
            except StackDeployError as exc:
                self.run.say(f"rollback: could not delete {handler.res.name}: {exc}")

    def _run_script(self, res: ResourceDef) -> None:
        command = self.stack.render_run(res)
        self.run.show_query(res.name, "run", command)
        proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise DeployError(
                f"script resource {res.name!r} exited with {proc.returncode}: "
                f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:] or ''}"
            )
        if res.exports:
            try:
                data = json.loads(proc.stdout)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise DeployError(
                    f"script resource {res.name!r} has exports, so its output must be a JSON "
                    "object of strings"
                )
            self.stack.record_exports(res, data, file=self.stack.manifest.display_path)

    def stack_exports(self, elapsed: float) -> dict[str, Any]:
        exports = self.stack.stack_exports()
        exports["elapsed_time"] = f"{elapsed:.2f}s"
        return exports

    # -- test ---------------------------------------------------------------------------------

    def test(self) -> RunResult:
        """Every resource exists, is in its desired state and its exports resolve."""
        start = time.monotonic()
        # A create-only change is drift to report, not a replacement to refuse.
        self.run.options = dataclasses.replace(self.run.options, allow_replace=True)
        plans: list[ResourcePlan] = []
        for res in self.resources():
            if res.type in ("command", "script"):
                if res.type == "script":
                    self.stack.set_placeholder_exports(res, EVALUATED)
                plans.append(self._skip(res, f"{res.type}: not tested"))
                continue
            if not self.stack.condition_holds(res):
                plans.append(self._skip(res, "if: false"))
                continue
            handler = self.handler(res)
            if res.type == "query":
                assert isinstance(handler, QueryResource)
                handler.query_exports()
                plans.append(self._skip(res, "query: exports only"))
                continue
            rp = handler.plan(depends_on=self._deps[res.name])
            if rp.action in ("create", "replace"):
                self.stack.set_placeholder_exports(res, EVALUATED)
            else:
                handler.record_exports()
            plans.append(rp)
        plan = Plan(self.stack.name, self.stack.env, tuple(plans))
        result = RunResult(plan, elapsed=time.monotonic() - start)
        if not plan.has_changes and not self.run.options.targets:
            result.exports = self.stack_exports(result.elapsed)
        return result

    # -- teardown -----------------------------------------------------------------------------

    def teardown(self) -> RunResult:
        """Collect exports (manifest order), then delete what exists (reverse order)."""
        start = time.monotonic()
        handlers: dict[str, Handler] = {}
        for res in self.resources():
            if res.type in ("command", "script"):
                if res.type == "script":
                    self.stack.set_placeholder_exports(res, UNKNOWN)
                continue
            handler = self.handler(res)
            handlers[res.name] = handler
            if res.type != "query":
                assert not isinstance(handler, QueryResource) or res.type in ("resource", "multi")
                handler.collect_exports_for_teardown()
            elif isinstance(handler, QueryResource):
                try:
                    handler.query_exports()
                except StackDeployError as exc:
                    log.info("%s: exports not available for teardown: %s", res.name, exc)
                    self.stack.set_placeholder_exports(res, UNKNOWN)
        plans: list[ResourcePlan] = []
        resources = [r for r in reversed(self.resources()) if r.type in ("resource", "multi")]
        for index, res in enumerate(resources, 1):
            prefix = f"[{index}/{len(resources)}] {res.name}"
            if not self.stack.condition_holds(res):
                plans.append(self._skip(res, "if: false"))
                continue
            self.stack.alias_columns_for_teardown(res)
            handler = handlers[res.name]
            rp = handler.plan_delete(depends_on=self._deps[res.name])
            plans.append(rp)
            if rp.action != "delete":
                self.run.say(f"{prefix}: {rp.reason or 'skipped'}")
                continue
            if self.run.options.dry_run:
                continue
            self.run.say(f"{prefix}: deleting...")
            began = time.monotonic()
            handler.delete()
            self.run.say(f"{prefix}: deleted ({time.monotonic() - began:.1f}s)")
        plan = Plan(self.stack.name, self.stack.env, tuple(plans))
        return RunResult(plan, elapsed=time.monotonic() - start)


def write_output_file(path: str | Path, exports: dict[str, Any]) -> None:
    """The stack exports as pretty JSON (2-space indent, sorted keys), parents created."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(exports, indent=2, sort_keys=True) + "\n", encoding="utf-8")


EXPORTS_ENV_FILE = ".stackql-deploy-exports"


def _shell_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def write_exports_env_file(
    exports: dict[str, Any], *, stack_name: str, env: str, directory: str | Path = "."
) -> Path | None:
    """stackql-deploy 2.x's ``./.stackql-deploy-exports``: one ``export`` line per manifest
    export (``STACKQL_DEPLOY__<stack>__<env>__<var>='<value>'``, ``-`` turned into ``_``),
    for ``source`` in a CI job. Nothing is written when the manifest has no exports."""
    names = [k for k in exports if k not in ("stack_name", "stack_env", "elapsed_time")]
    if not names:
        return None
    prefix = f"STACKQL_DEPLOY__{_shell_name(stack_name)}__{_shell_name(env)}__"
    lines = []
    for name in names:
        value = exports[name]
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        quoted = "'" + text.replace("'", "'\\''") + "'"
        lines.append(f"export {prefix}{_shell_name(name)}={quoted}")
    target = Path(directory) / EXPORTS_ENV_FILE
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
