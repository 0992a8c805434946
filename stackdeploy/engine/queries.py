"""Query-file resources: stackql-deploy's algorithms over ``resources/<name>.iql``.

The anchors (compat §4) drive everything: ``exists`` / ``statecheck`` discover, ``create`` /
``createorupdate`` / ``update`` mutate, ``exports`` feeds later resources, ``delete`` tears
down, ``callback:*`` and ``troubleshoot:*`` follow a DML. On top of stackql-deploy, when the
create INSERT and a captured identifier allow it, the live resource is read with GetResource
and diffed against what the INSERT would create, so a plan shows property-level changes and
a resource is in sync only when both the statecheck and the diff agree.

Deliberate differences from stackql-deploy (compat §7): errors are never read as "absent";
``retries`` counts attempts and never sleeps after the last; an unconfirmed delete fails;
a dry run still runs the read-only discovery queries, so the plan is real.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stackdeploy.engine.checks import CheckResult, attempt, interpret_check
from stackdeploy.engine.context import RunContext
from stackdeploy.engine.live import identifier_from_row
from stackdeploy.errors import (
    DeployError,
    ManifestError,
    QueryError,
    StackDeployError,
    TemplateError,
)
from stackdeploy.manifest.context import EVALUATED, UNKNOWN
from stackdeploy.manifest.model import ResourceDef
from stackdeploy.plan.model import Action, ResourcePlan, plan_resource
from stackdeploy.query.dml import InsertPreview
from stackdeploy.query.iql import Anchor, QueryFile, parse_query_file

log = logging.getLogger("stackdeploy.engine")

_TRUE = {"1", "true", "t", "yes"}


@dataclass
class Discovery:
    """What discovery learned about a query-file resource."""

    found: bool
    correct: bool | None = None
    proxy_rows: list[dict[str, Any]] | None = None
    preview: InsertPreview | None = None
    identifier: str | None = None
    live: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    createorupdate: bool = False


class QueryResource:
    """One ``resource`` / ``multi`` / ``query`` / ``command`` resource with queries."""

    def __init__(self, run: RunContext, res: ResourceDef) -> None:
        self.run = run
        self.res = res
        self.stack = run.stack
        self.file = self.stack.query_display(res)
        self.queries: QueryFile | None = None
        if res.query_file is not None:
            try:
                text = res.query_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ManifestError(
                    f"resource {res.name!r}: cannot read its query file: {exc.strerror}",
                    file=self.stack.manifest.display_path,
                    line=res.line,
                ) from exc
            self.queries = parse_query_file(text, file=self.file)
            for warning in self.queries.warnings:
                log.warning("%s", warning)
        self._props: dict[str, Any] | None = None
        self.discovery: Discovery | None = None

    # -- rendering and running ----------------------------------------------------------------

    def props(self) -> dict[str, Any]:
        if self._props is None:
            self._props = self.stack.render_props(self.res)
        return self._props

    def anchor(self, name: str) -> Anchor | None:
        return self.queries.get(name) if self.queries is not None else None

    def has(self, name: str) -> bool:
        return self.anchor(name) is not None

    def render(self, anchor: Anchor) -> str:
        return self.stack.render_query(
            self.res, anchor.body, line=anchor.line, file=self.file, props=self.props()
        )

    def try_render(self, anchor: Anchor) -> str | None:
        """The rendered anchor, or None when it needs values not known yet (compat: "if it
        renders"). Placeholder values count as not renderable."""
        try:
            sql = self.render(anchor)
        except TemplateError as exc:
            log.debug("%s: %s not rendered: %s", self.res.name, anchor.name, exc)
            return None
        if EVALUATED in sql or UNKNOWN in sql:
            return None
        return sql

    def execute(self, anchor: Anchor, sql: str) -> Any:
        self.run.show_query(self.res.name, anchor.name, sql)
        return self.run.engine.execute(sql, file=self.file, line=anchor.line)

    def rows(self, anchor: Anchor, sql: str | None = None) -> list[dict[str, Any]]:
        result = self.execute(anchor, sql if sql is not None else self.render(anchor))
        return list(result.rows)

    def check(
        self, anchor: Anchor, *, attempts: int = 1, delay: float = 0.0, want: bool = True
    ) -> CheckResult:
        """Run a check query until it says ``want`` (present/absent) or attempts run out."""
        sql = self.render(anchor)

        def once() -> CheckResult:
            rows = self.rows(anchor, sql)
            return interpret_check(
                rows, what=f"{self.res.name}: {anchor.name}", file=self.file, line=anchor.line
            )

        return attempt(
            once,
            lambda r: r.present == want,
            attempts=attempts,
            delay=delay,
            sleep=self.run.sleep,
        )

    @staticmethod
    def _retries(anchor: Anchor | None) -> tuple[int, float]:
        if anchor is None:
            return 1, 0.0
        retries = int(anchor.options.get("retries", 1) or 1)
        delay = float(anchor.options.get("retry_delay", 0) or 0)
        return max(1, retries), max(0.0, delay)

    # -- discovery ----------------------------------------------------------------------------

    def discover(self) -> Discovery:
        """Read-only: is the resource there, is it correct, what would change."""
        exists = self.anchor("exists")
        statecheck = self.anchor("statecheck")
        if self.has("createorupdate") and exists is None and statecheck is None:
            self.discovery = Discovery(found=False, createorupdate=True)
            return self.discovery
        if exists is None and statecheck is None:
            raise ManifestError(
                f"resource {self.res.name!r}: its query file has neither an exists nor a "
                "statecheck anchor, so stack-deploy cannot tell whether it is deployed",
                file=self.file,
                hint="add /*+ exists */ (a count or the identifier) or /*+ statecheck */",
            )
        d = Discovery(found=False)
        if exists is not None:
            found = self.check(exists)
            d.found = found.present
            if found.row:
                self.stack.capture_this(self.res, found.row)
            if d.found and statecheck is not None:
                sql = self.try_render(statecheck)
                if sql is not None:
                    d.correct = interpret_check(
                        self.rows(statecheck, sql),
                        what=f"{self.res.name}: statecheck",
                        file=self.file,
                        line=statecheck.line,
                    ).present
            elif d.found:
                d.correct, d.proxy_rows = self._exports_proxy(attempts=1)
        else:
            assert statecheck is not None
            d.found = d.correct = self.check(statecheck).present
        if d.found:
            self._diff_inputs(d)
        else:
            self._preview(d)
        self.discovery = d
        return d

    def _preview(self, d: Discovery) -> None:
        """What the create query would send (for the plan), when it can be known now."""
        create = self.anchor("create") or self.anchor("createorupdate")
        if create is None:
            return
        sql = self.try_render(create)
        if sql is None:
            d.notes.append("create query needs values known only after earlier resources")
            return
        try:
            d.preview = self.run.engine.preview_insert(sql, file=self.file, line=create.line)
        except QueryError as exc:
            d.notes.append(f"create query cannot be previewed ({exc.bare_message})")

    def _exports_proxy(self, *, attempts: int) -> tuple[bool | None, list[dict[str, Any]] | None]:
        exports = self.anchor("exports")
        if exports is None:
            return None, None
        sql = self.try_render(exports)
        if sql is None:
            return None, None
        _, delay = self._retries(exports)
        rows = attempt(
            lambda: self.rows(exports, sql),
            bool,
            attempts=attempts,
            delay=delay,
            sleep=self.run.sleep,
        )
        return bool(rows), rows or None

    def _diff_inputs(self, d: Discovery) -> None:
        """Preview the create INSERT and read the live resource, when both are possible."""
        self._preview(d)
        if d.preview is None:
            return
        schema = d.preview.schema
        this = self.stack.exports.this(self.res.name)
        d.identifier = identifier_from_row(schema, this) or schema.identifier_of(d.preview.desired)
        if d.identifier is None:
            d.notes.append("exists captured no identifier: property diff not available")
            return
        d.live = self.run.cloud.get_resource(
            schema.type_name, d.identifier, region=d.preview.region
        )
        if d.live is None:
            d.notes.append(f"GetResource found no {schema.type_name} {d.identifier!r}")

    # -- planning -----------------------------------------------------------------------------

    def plan(self, *, depends_on: tuple[str, ...] = ()) -> ResourcePlan:
        d = self.discover()
        type_name = d.preview.schema.type_name if d.preview else self._type_hint()
        if d.createorupdate or not d.found:
            return ResourcePlan(
                name=self.res.name,
                type=type_name,
                action="create",
                depends_on=depends_on,
                reason="createorupdate runs on every build (no exists or statecheck)"
                if d.createorupdate
                else "absent",
                desired=d.preview.desired if d.preview else None,
                notes=tuple(d.notes),
            )
        correct = d.correct
        notes = list(d.notes)
        if correct is False and self.res.skip_validation:
            notes.append("statecheck failed; accepted because of skip_validation")
            correct = True
        if d.preview is not None and d.live is not None:
            mask = self._masker().text
            rp = plan_resource(
                d.preview.schema,
                name=self.res.name,
                desired=d.preview.desired,
                live=d.live,
                identifier=d.identifier,
                depends_on=depends_on,
                allow_replace=self.run.options.allow_replace or self.res.replace,
                statecheck_ok=correct,
                notes=notes,
                mask=mask,
            )
            if self.res.skip_validation and rp.action == "update":
                return dataclasses.replace(rp, action="noop", reason="skip_validation")
            return rp
        action: Action = "noop" if correct in (True, None) else "update"
        reason = "statecheck failed" if action == "update" else None
        return ResourcePlan(
            name=self.res.name,
            type=type_name,
            action=action,
            identifier=d.identifier,
            depends_on=depends_on,
            reason=reason,
            notes=tuple(notes),
        )

    def _type_hint(self) -> str:
        """The awscc table the create query targets, for display when it cannot render."""
        create = self.anchor("create") or self.anchor("createorupdate")
        if create is None:
            return self.res.resource_type or "-"
        import re

        m = re.search(r"insert\s+into\s+(awscc\.[\w.]+)", create.body, re.IGNORECASE)
        if not m:
            return "-"
        from stackdeploy.schema.registry import get_registry

        try:
            return get_registry(self.run.region).resolve_type_name(m.group(1))
        except StackDeployError:
            return m.group(1)

    def _masker(self) -> Any:
        from stackdeploy.report.mask import Masker

        return Masker(protected_values=self.stack.secret_values())

    # -- applying -----------------------------------------------------------------------------

    def apply(self, plan: ResourcePlan) -> None:
        """Carry out ``plan`` (create / update / replace), then the post-deploy checks."""
        if plan.action in ("noop", "skip"):
            return
        if plan.action == "create":
            self._create()
            op = "create"
        elif plan.action == "update":
            self._update(plan)
            op = "update"
        elif plan.action == "replace":
            self._delete_for_replace()
            self._create()
            op = "create"
        else:
            raise DeployError(f"{self.res.name}: cannot apply action {plan.action!r}")
        self._post_deploy(op)

    def _dml(self, anchor: Anchor, op: str) -> Any:
        sql = self.render(anchor)
        result = self.execute(anchor, sql)
        if "RETURNING" in sql.upper() and result.rows:
            row = result.rows[0]
            self.stack.record_callback(self.res, row)
            self.stack.apply_return_vals(self.res, op, row)
        self._callback(op)
        return result

    def _create(self) -> None:
        anchor = self.anchor("create") or self.anchor("createorupdate")
        if anchor is None:
            raise ManifestError(
                f"resource {self.res.name!r} is absent and its query file has no create "
                "or createorupdate anchor",
                file=self.file,
                hint="add a /*+ create */ INSERT INTO awscc.<service>.<resource> query",
            )
        self._dml(anchor, "create")

    def _update(self, plan: ResourcePlan) -> None:
        anchor = self.anchor("update") or self.anchor("createorupdate")
        if anchor is not None:
            self._dml(anchor, "update")
            return
        d = self.discovery
        if plan.patch and d is not None and d.preview is not None and d.identifier:
            schema = d.preview.schema
            self.run.cloud.update_resource(
                schema.type_name,
                d.identifier,
                list(plan.patch),
                region=d.preview.region,
                timeout_minutes=schema.timeout_minutes("update"),
            )
            return
        self._troubleshoot("update")
        raise DeployError(
            f"resource {self.res.name!r} is not in its desired state "
            f"({plan.reason or 'statecheck failed'}) and its query file has no update anchor",
            hint="add a /*+ update */ query, or check the statecheck query",
        )

    def _delete_for_replace(self) -> None:
        delete = self.anchor("delete")
        d = self.discovery
        if delete is not None:
            self.execute(delete, self.render(delete))
        elif d is not None and d.preview is not None and d.identifier:
            self.run.cloud.delete_resource(
                d.preview.schema.type_name,
                d.identifier,
                region=d.preview.region,
                timeout_minutes=d.preview.schema.timeout_minutes("delete"),
            )
        else:
            raise DeployError(
                f"resource {self.res.name!r} must be replaced but has no delete anchor",
                hint="add a /*+ delete */ query",
            )

    def _post_deploy(self, op: str) -> None:
        exists = self.anchor("exists")
        statecheck = self.anchor("statecheck")
        if exists is not None:
            attempts, delay = self._retries(statecheck if statecheck is not None else exists)
            found = self.check(exists, attempts=attempts, delay=delay)
            if not found.present:
                self._troubleshoot(op)
                raise DeployError(
                    f"resource {self.res.name!r}: after {op}, the exists query does not find it",
                    hint="check that the exists query selects what the create query makes",
                )
            if found.row:
                self.stack.capture_this(self.res, found.row)
        ok: bool | None = None
        if statecheck is not None:
            sql = self.try_render(statecheck)
            if sql is not None:
                attempts, delay = self._retries(statecheck)
                ok = self.check(statecheck, attempts=attempts, delay=delay).present
        if ok is None and self.has("exports"):
            attempts, _ = self._retries(self.anchor("exports"))
            ok, rows = self._exports_proxy(attempts=attempts + 1)
            if self.discovery is not None:
                self.discovery.proxy_rows = rows
        if ok is False:
            self._troubleshoot(op)
            raise DeployError(
                f"resource {self.res.name!r}: after {op}, it is still not in its desired "
                "state (statecheck failed)",
                hint="compare the statecheck query with what create/update send "
                "(--show-queries shows them)",
            )

    def _callback(self, op: str) -> None:
        anchor = self.anchor(f"callback:{op}") or self.anchor("callback")
        if anchor is None:
            return
        field_name = anchor.options.get("short_circuit_field")
        if field_name is not None:
            current = self.stack.exports.snapshot().get("callback")
            value = current.get(str(field_name)) if isinstance(current, Mapping) else None
            if str(value) == str(anchor.options.get("short_circuit_value")):
                return
        retries, delay = self._retries(anchor)

        def once() -> bool:
            rows = self.rows(anchor)
            if not rows:
                return False
            first = {str(k).lower(): v for k, v in rows[0].items()}
            if "success" in first:
                return str(first["success"]).lower() in _TRUE
            return str(first.get("count")) == "1"

        if not attempt(once, bool, attempts=retries + 1, delay=delay, sleep=self.run.sleep):
            raise DeployError(
                f"resource {self.res.name!r}: callback:{op} did not report success after "
                f"{retries + 1} polls"
            )

    def _troubleshoot(self, op: str) -> None:
        anchor = self.anchor(f"troubleshoot:{op}") or self.anchor("troubleshoot")
        if anchor is None:
            return
        try:
            rows = self.rows(anchor)
        except Exception as exc:  # troubleshooting must never hide the real failure
            log.warning("%s: troubleshoot query failed: %s", self.res.name, exc)
            return
        mask = self._masker().text
        for row in rows:
            log.warning("%s: troubleshoot: %s", self.res.name, mask(str(row)))

    # -- exports ------------------------------------------------------------------------------

    def record_exports(self) -> None:
        """Run the exports query (or reuse the proxy rows) and store the exports."""
        if not self.res.exports:
            return
        exports = self.anchor("exports")
        d = self.discovery
        if d is not None and d.proxy_rows:
            rows = d.proxy_rows
        elif exports is not None:
            sql = self.render(exports)
            retries, delay = self._retries(exports)
            rows = attempt(
                lambda: self.rows(exports, sql),
                bool,
                attempts=retries + 1,
                delay=delay,
                sleep=self.run.sleep,
            )
        else:
            row = {**self.props(), **self.stack.exports.this(self.res.name)}
            self.stack.record_exports(self.res, row, file=self.file)
            return
        line = exports.line if exports is not None else None
        if not rows:
            raise DeployError(
                f"resource {self.res.name!r}: the exports query returned no row",
                hint="exports must return exactly one row with the exported columns",
            )
        if len(rows) > 1:
            raise QueryError(
                f"resource {self.res.name!r}: the exports query returned {len(rows)} rows; "
                "it must return exactly one",
                file=self.file,
                line=line,
            )
        self.stack.record_exports(self.res, rows[0], file=self.file, line=line)

    def collect_exports_for_teardown(self) -> bool:
        """Teardown phase A: capture ``this.*`` and exports, ``<unknown>`` when absent.
        Returns whether the resource was found."""
        present = True
        exists = self.anchor("exists")
        if exists is not None:
            sql = self.try_render(exists)
            if sql is not None:
                found = interpret_check(
                    self.rows(exists, sql),
                    what=f"{self.res.name}: exists",
                    file=self.file,
                    line=exists.line,
                )
                present = found.present
                if found.row:
                    self.stack.capture_this(self.res, found.row)
        if not self.res.exports:
            return present
        exports = self.anchor("exports")
        rows: list[dict[str, Any]] = []
        if present and exports is not None:
            sql = self.try_render(exports)
            if sql is not None:
                rows = self.rows(exports, sql)
        if rows:
            self.stack.record_exports(self.res, rows[0], file=self.file)
        else:
            self.stack.set_placeholder_exports(self.res, UNKNOWN)
        return present

    # -- teardown -----------------------------------------------------------------------------

    def _check_anchor(self) -> tuple[Anchor | None, str | None]:
        for name in ("exists", "statecheck"):
            anchor = self.anchor(name)
            if anchor is not None:
                sql = self.try_render(anchor)
                if sql is not None:
                    return anchor, sql
        return None, None

    def plan_delete(self, *, depends_on: tuple[str, ...] = ()) -> ResourcePlan:
        """Teardown plan: delete when present, skip (with the reason) otherwise."""
        delete = self.anchor("delete")
        base: dict[str, Any] = {
            "name": self.res.name,
            "type": self._type_hint(),
            "depends_on": depends_on,
        }
        if delete is None:
            return ResourcePlan(**base, action="skip", reason="no delete anchor")
        if self.res.type == "multi":
            return ResourcePlan(**base, action="delete", reason="multi: assumed present")
        anchor, sql = self._check_anchor()
        if anchor is None or sql is None:
            return ResourcePlan(**base, action="skip", reason="no usable exists/statecheck")
        found = interpret_check(
            self.rows(anchor, sql),
            what=f"{self.res.name}: {anchor.name}",
            file=self.file,
            line=anchor.line,
        )
        if found.row:
            self.stack.capture_this(self.res, found.row)
        if not found.present:
            return ResourcePlan(**base, action="skip", reason="absent")
        return ResourcePlan(**base, action="delete")

    def delete(self) -> None:
        """Run the delete query and confirm the resource is gone (compat §5.3 B)."""
        delete = self.anchor("delete")
        assert delete is not None
        sql = self.render(delete)
        cycles, delay = self._retries(delete)
        anchor, check_sql = self._check_anchor()
        for _ in range(cycles):
            try:
                self.execute(delete, sql)
            except QueryError:
                if self.res.type != "multi":
                    raise
            if anchor is None or check_sql is None:
                return
            gone = not self.check(anchor, want=False).present
            if gone:
                return
            self.run.sleep(delay)
            if not self.check(anchor, want=False).present:
                return
        self._troubleshoot("delete")
        raise DeployError(
            f"resource {self.res.name!r}: delete ran but the resource is still there",
            hint="check the delete query's identifier (--show-queries)",
        )

    # -- command / query resources ------------------------------------------------------------

    def run_command(self) -> None:
        """A ``command`` resource: its command anchor or inline sql, on every build."""
        if self.res.sql is not None:
            sql = self.stack.render_sql(self.res, props=self.props())
            self.run.show_query(self.res.name, "sql", sql)
            self.run.engine.execute(
                sql, file=self.stack.manifest.display_path, line=self.res.sql_line
            )
            return
        anchor = self.anchor("command")
        if anchor is None:
            raise ManifestError(
                f"command resource {self.res.name!r} has neither sql nor a command anchor",
                file=self.file,
            )
        self._dml(anchor, "command")

    def query_exports(self) -> None:
        """A ``query`` resource: only exports (from the exports anchor or inline sql)."""
        if not self.res.exports:
            return
        if self.res.sql is not None:
            sql = self.stack.render_sql(self.res, props=self.props())
            result = self.run.engine.execute(
                sql, file=self.stack.manifest.display_path, line=self.res.sql_line
            )
            if len(result.rows) != 1:
                raise DeployError(
                    f"query resource {self.res.name!r}: its sql returned "
                    f"{len(result.rows)} rows; exports need exactly one"
                )
            self.stack.record_exports(self.res, result.rows[0])
            return
        self.record_exports()
