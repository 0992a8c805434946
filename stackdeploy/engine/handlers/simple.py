"""``query``, ``command`` and ``script`` resources: no lifecycle of their own.

* ``query``: exports only (its ``exports`` anchor or inline ``sql``), read-only, in every
  command; in teardown, a failure leaves its exports ``<unknown>``.
* ``command``: its ``command`` anchor or inline ``sql`` runs on every build (after what it
  needs); plan, test and teardown skip it, but planning still checks its SQL.
* ``script``: ``run`` is executed with ``sh -c`` on every build; its exports come from the
  JSON object it prints. Elsewhere its exports are placeholders.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
from typing import Any

from stackdeploy.engine.context import Run, Step
from stackdeploy.engine.handlers.base import BaseHandler, Verb
from stackdeploy.engine.handlers.queryfile import QueryFileHandler
from stackdeploy.engine.statements import noted
from stackdeploy.errors import DeployError, ManifestError, StackDeployError, TemplateError
from stackdeploy.manifest.model import ResourceDef
from stackdeploy.manifest.render import render_text
from stackdeploy.manifest.stack import UNKNOWN, has_placeholder
from stackdeploy.plan.model import ResourcePlan

log = logging.getLogger("stackdeploy.engine")


class InlineSql:
    """Rendering of a resource's inline ``sql`` with the manifest's file and line."""

    run: Run
    res: ResourceDef

    def render_sql(self, context: dict[str, Any]) -> str:
        assert self.res.sql is not None
        return render_text(
            self.run.stack,
            self.res,
            self.res.sql,
            context,
            file=self.run.stack.manifest.display_path,
            line=self.res.sql_line or self.res.line,
        )


class QueryHandler(QueryFileHandler, InlineSql):
    """``type: query``: exports only."""

    kind = "query"

    def __init__(self, run: Run, res: ResourceDef) -> None:
        super().__init__(run, res)
        self.pending = False

    def plan(self, step: Step, verb: Verb) -> ResourcePlan:
        if not self.condition():
            return self.skip("if: false")
        self.pending = not self._exports(step)
        return self.skip("query: exports only")

    def _exports(self, step: Step) -> bool:
        """Record the exports; False when they need values known only after apply."""
        if not self.res.exports:
            return True
        if self.res.sql is not None:
            ctx = self.query_context()
            try:
                sql = self.render_sql(ctx)
            except TemplateError as exc:
                if self._own_undefined(exc):
                    self.evaluated()
                    return False
                raise
            step.queries.check_sql(
                sql,
                file=self.stack.manifest.display_path,
                line=self.res.sql_line,
                values=not has_placeholder(sql),
            )
            if has_placeholder(sql) or self.run.is_offline:
                self.evaluated()
                return False
            self.run.show_query(self.res, "sql", sql)
            result = step.queries.execute(
                sql, file=self.stack.manifest.display_path, line=self.res.sql_line
            )
            if len(result.rows) != 1:
                raise DeployError(
                    f"query resource {self.res.name!r}: its sql returned {len(result.rows)} "
                    "rows; exports need exactly one"
                )
            self.state.record_exports(
                self.res, result.rows[0], file=self.stack.manifest.display_path
            )
            return True
        exports = self.anchor("exports")
        if exports is not None:
            rendered = self.try_render(exports)
            if rendered is None:
                self.evaluated()
                return False
            step.queries.check_sql(
                rendered, file=self.file, line=exports.line, values=not has_placeholder(rendered)
            )
        if self.run.is_offline:
            # Validating: the query is checked; its rows come from the account, unread here.
            self.evaluated()
            return False
        self.record_exports(step)
        return True

    def runs_on_apply(self, plan: ResourcePlan) -> bool:
        return self.pending

    def done_message(self, plan: ResourcePlan) -> str:
        return "exports read"

    def apply(self, plan: ResourcePlan, step: Step, *, replan: bool) -> ResourcePlan:
        if replan or self.pending:
            return self.plan(step, "build")
        return plan

    def collect(self, step: Step) -> None:
        try:
            if not self._exports(step):
                self.state.set_placeholders(self.res, UNKNOWN)
        except StackDeployError as exc:
            log.info("%s: exports not available for teardown: %s", self.res.name, exc)
            self.state.set_placeholders(self.res, UNKNOWN)

    def plan_delete(self, step: Step) -> ResourcePlan:
        return self.skip("query: exports only")

    def delete(self, plan: ResourcePlan, step: Step) -> None:
        return None

    def rollback(self, plan: ResourcePlan, step: Step) -> None:
        return None


class EveryBuild:
    """What ``command`` and ``script`` resources share: they run on every build (the plan
    says so with the reason ``<label>: runs on every build``) and nowhere else."""

    label = ""

    def runs_on_apply(self, plan: ResourcePlan) -> bool:
        return plan.reason == f"{self.label}: runs on every build"

    def done_message(self, plan: ResourcePlan) -> str:
        return f"{self.label} ran" if self.runs_on_apply(plan) else "skipped"


class CommandHandler(EveryBuild, QueryFileHandler, InlineSql):
    """``type: command``: DML on every build."""

    kind = "command"

    def validate(self, step: Step, verb: Verb) -> None:
        if self.res.sql is not None:
            try:
                sql = self.render_sql(self.query_context())
            except TemplateError as exc:
                if self._own_undefined(exc):
                    return
                raise
            step.queries.check_sql(
                sql,
                file=self.stack.manifest.display_path,
                line=self.res.sql_line,
                values=not has_placeholder(sql),
            )
            return
        anchor = self.anchor("command")
        if anchor is None:
            raise ManifestError(
                f"command resource {self.res.name!r} has neither sql nor a command anchor",
                file=self.file if self.queries is not None else self.stack.manifest.display_path,
                line=None if self.queries is not None else self.res.line,
            )
        try:
            sql = self.render(anchor)
        except TemplateError as exc:
            if self._own_undefined(exc):
                return
            raise
        step.queries.check_sql(
            sql, file=self.file, line=anchor.line, values=not has_placeholder(sql)
        )

    def plan(self, step: Step, verb: Verb) -> ResourcePlan:
        if verb == "test":
            return self.skip("command: not tested")
        if not self.condition():
            return self.skip("if: false")
        self.fresh()
        self.validate(step, verb)
        plan = self.skip("command: runs on every build")
        return dataclasses.replace(plan, dml=self._command_dml())

    def _command_dml(self) -> tuple[str, ...]:
        """The command's statement, rendered as far as known now (``--dry-run`` shows it)."""
        try:
            if self.res.sql is not None:
                return (noted(self.render_sql(self.query_context())),)
            anchor = self.anchor("command")
            return (noted(self.render(anchor)),) if anchor is not None else ()
        except TemplateError as exc:
            if self._own_undefined(exc):
                return ()
            raise

    label = "command"

    def apply(self, plan: ResourcePlan, step: Step, *, replan: bool) -> ResourcePlan:
        if replan:
            plan = self.plan(step, "build")
        if not self.runs_on_apply(plan):
            return plan
        self.fresh()
        if self.res.sql is not None:
            sql = self.render_sql(self.query_context())
            self.run.show_query(self.res, "sql", sql)
            step.queries.execute(sql, file=self.stack.manifest.display_path, line=self.res.sql_line)
            return plan
        anchor = self.anchor("command")
        assert anchor is not None
        self._dml(step, anchor, "command")
        return plan

    def collect(self, step: Step) -> None:
        return None

    def plan_delete(self, step: Step) -> ResourcePlan:
        return self.skip("command: not run by teardown")

    def delete(self, plan: ResourcePlan, step: Step) -> None:
        return None

    def rollback(self, plan: ResourcePlan, step: Step) -> None:
        return None


class ScriptHandler(EveryBuild, BaseHandler):
    """``type: script``: ``run`` with ``sh -c`` on every build."""

    kind = "script"

    def render_run(self) -> str:
        assert self.res.run is not None
        ctx = self.context()
        ctx.update(self.props(ctx))
        return render_text(
            self.stack,
            self.res,
            self.res.run,
            ctx,
            file=self.stack.manifest.display_path,
            line=self.res.run_line or self.res.line,
        )

    def plan(self, step: Step, verb: Verb) -> ResourcePlan:
        if verb == "test":
            self.evaluated()
            return self.skip("script: not tested")
        if not self.condition():
            return self.skip("if: false")
        self.render_run()  # template errors now, not after earlier resources changed
        self.evaluated()
        return self.skip("script: runs on every build")

    label = "script"

    def apply(self, plan: ResourcePlan, step: Step, *, replan: bool) -> ResourcePlan:
        if replan:
            plan = self.plan(step, "build")
        if not self.runs_on_apply(plan):
            return plan
        self.run.cancel.check(f"script {self.res.name}")
        command = self.render_run()
        self.run.show_query(self.res, "run", command)
        proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            raise DeployError(
                self.run.mask(
                    f"script resource {self.res.name!r} exited with {proc.returncode}: {last[0]}"
                )
            )
        if self.res.exports:
            try:
                data = json.loads(proc.stdout)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise DeployError(
                    f"script resource {self.res.name!r} has exports, so its output must be a "
                    "JSON object of strings"
                )
            self.state.record_exports(self.res, data, file=self.stack.manifest.display_path)
        return plan

    def collect(self, step: Step) -> None:
        self.state.set_placeholders(self.res, UNKNOWN)

    def plan_delete(self, step: Step) -> ResourcePlan:
        return self.skip("script: not run by teardown")

    def delete(self, plan: ResourcePlan, step: Step) -> None:
        return None
