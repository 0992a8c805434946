"""Query-file resources (``resource`` and ``multi``): stackql-deploy's algorithms over
``resources/<name>.iql``.

The anchors drive everything: ``exists`` / ``statecheck`` discover, ``create`` /
``createorupdate`` / ``update`` mutate, ``exports`` feeds later resources, ``delete`` tears
down, ``callback:*`` and ``troubleshoot:*`` follow a DML. On top of stackql-deploy, when the
create INSERT and a captured identifier allow it, the live resource is read with GetResource
(answered from the read the ``exists`` query already made, when it made one) and diffed
against what the INSERT would create, so a plan shows property-level changes and a resource
is in sync only when both the statecheck and the diff agree.

Planning renders and checks every query build would run before changing the resource
(undefined variables, SQL syntax, unknown tables and columns, the create INSERT against the
type's schema), so ``plan`` fails where ``build`` would fail before its first mutation.
Values known only after an earlier resource is applied stay placeholders in the plan; such a
resource is planned again, for real, when its turn comes.

Deliberate differences from stackql-deploy (docs/engine.md): errors are never read as
"absent"; ``retries`` counts attempts and never sleeps after the last; an unconfirmed delete
fails; a dry run still runs the read-only discovery queries, so the plan is real.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stackdeploy.engine.checks import CheckResult, attempt, interpret_check
from stackdeploy.engine.context import Run, Step
from stackdeploy.engine.handlers.base import BaseHandler, PlanBasis, Verb, write_only_values
from stackdeploy.engine.handlers.declarative import strip_placeholders
from stackdeploy.engine.live import identifier_from_row, without_read_only
from stackdeploy.engine.state import MIN_WRITE_ONLY_SECRET
from stackdeploy.engine.statements import UNRENDERED_NOTE, delete_sql, noted, update_sql
from stackdeploy.errors import (
    DeployError,
    ManifestError,
    QueryError,
    StackDeployError,
    TemplateError,
)
from stackdeploy.manifest.model import ResourceDef
from stackdeploy.manifest.render import render_text, return_values, return_values_lenient
from stackdeploy.manifest.stack import UNKNOWN, has_placeholder, placeholder_at
from stackdeploy.plan.model import Action, ResourcePlan, plan_resource
from stackdeploy.query.dml import InsertPreview
from stackdeploy.query.iql import Anchor, QueryFile

log = logging.getLogger("stackdeploy.engine")

_TRUE = {"1", "true", "t", "yes"}
T = TypeVar("T")
# stackql-deploy's defaults for the post-delete check: 10 checks, 5 seconds apart.
POSTDELETE_RETRIES = 10
POSTDELETE_RETRY_DELAY = 5.0

# Anchors a build may render for a resource, checked when it is planned.
_BUILD_ANCHORS = (
    "exists",
    "statecheck",
    "create",
    "createorupdate",
    "update",
    "exports",
    "callback:create",
    "callback:update",
    "callback",
    "troubleshoot:create",
    "troubleshoot:update",
    "troubleshoot",
)


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
    unknown: bool = False  # presence depends on values known only after apply


class QueryFileHandler(BaseHandler):
    """A ``resource`` or ``multi`` resource with a query file."""

    kind = "queryfile"

    def __init__(self, run: Run, res: ResourceDef) -> None:
        super().__init__(run, res)
        self.queries: QueryFile | None = run.stack.query_file(res)
        self.file = run.stack.query_display(res)
        self._props: dict[str, Any] | None = None
        self.discovery: Discovery | None = None
        # Teardown: every row of an exists query that found several resources (duplicates).
        self.duplicates: list[dict[str, Any]] = []

    # -- rendering and running ----------------------------------------------------------------

    def anchor(self, name: str) -> Anchor | None:
        return self.queries.get(name) if self.queries is not None else None

    def has(self, name: str) -> bool:
        return self.anchor(name) is not None

    def fresh(self) -> None:
        """Forget rendered props (the context changed: exports recorded, this captured)."""
        self._props = None

    def query_context(self) -> dict[str, Any]:
        ctx = self.context()
        if self._props is None:
            self._props = self.props(ctx)
        ctx.update(self._props)
        return ctx

    def render(self, anchor: Anchor) -> str:
        return render_text(
            self.stack,
            self.res,
            anchor.body,
            self.query_context(),
            file=self.file,
            line=anchor.line,
        )

    def _own_undefined(self, exc: TemplateError) -> bool:
        """An undefined ``this.*`` field or callback: not known yet, not an error."""
        name = exc.undefined or ""
        root = name.split(".", 1)[0].split("[", 1)[0]
        return root in (self.res.name, "callback")

    def try_render(self, anchor: Anchor) -> str | None:
        """The rendered anchor, or None when it needs values not known yet (placeholders,
        ``this.*`` fields not captured). Any other template error is raised, except for a
        statecheck: stackql-deploy runs a statecheck only "if it renders" and falls back to
        the exports query otherwise, and so does stack-deploy (with a warning)."""
        try:
            sql = self.render(anchor)
        except TemplateError as exc:
            if self._own_undefined(exc):
                log.debug("%s: %s not rendered yet: %s", self.res.name, anchor.name, exc)
                return None
            if anchor.name == "statecheck":
                self._statecheck_unrenderable(exc)
                return None
            raise
        if has_placeholder(sql):
            return None
        return sql

    def _statecheck_unrenderable(self, exc: TemplateError) -> None:
        if not getattr(self, "_warned_statecheck", False):
            self._warned_statecheck = True
            log.warning(
                "%s: the statecheck does not render (%s); it is skipped, as stackql-deploy "
                "does, and the exports query checks the resource instead",
                self.res.name,
                self.run.mask(str(exc)),
            )

    def execute(self, step: Step, anchor: Anchor, sql: str) -> Any:
        self.run.show_query(self.res, anchor.name, sql)
        return step.queries.execute(sql, file=self.file, line=anchor.line)

    def rows(self, step: Step, anchor: Anchor, sql: str | None = None) -> list[dict[str, Any]]:
        result = self.execute(step, anchor, sql if sql is not None else self.render(anchor))
        return list(result.rows)

    def check(
        self,
        step: Step,
        anchor: Anchor,
        *,
        attempts: int = 1,
        delay: float = 0.0,
        want: bool = True,
        sql: str | None = None,
    ) -> CheckResult:
        """Run a check query until it says ``want`` (present/absent) or attempts run out."""
        text = sql if sql is not None else self.render(anchor)

        def once() -> CheckResult:
            return interpret_check(
                self.rows(step, anchor, text),
                what=f"{self.res.name}: {anchor.name}",
                file=self.file,
                line=anchor.line,
            )

        return self.retrying(
            step, once, lambda r: r.present == want, attempts=attempts, delay=delay
        )

    def retrying(
        self,
        step: Step,
        func: Callable[[], T],
        done: Callable[[T], bool],
        *,
        attempts: int,
        delay: float,
    ) -> T:
        """:func:`attempt`, reading afresh on every attempt after the first: a retry is for
        a resource AWS has not finished making visible, so a cached read must not answer it."""
        first = True

        def once() -> T:
            nonlocal first
            if not first:
                step.forget_reads()
            first = False
            return func()

        return attempt(once, done, attempts=attempts, delay=delay, sleep=self.run.sleep)

    @staticmethod
    def retries(anchor: Anchor | None) -> tuple[int, float]:
        if anchor is None:
            return 1, 0.0
        retries = int(anchor.options.get("retries", 1) or 1)
        delay = float(anchor.options.get("retry_delay", 0) or 0)
        return max(1, retries), max(0.0, delay)

    def capture(self, row: Mapping[str, Any]) -> None:
        self.state.capture_this(self.res, row)
        self.fresh()

    # -- validation ---------------------------------------------------------------------------

    def validate(self, step: Step, verb: Verb) -> None:
        """Everything build would find wrong before changing this resource: the anchors it
        needs, each query rendered (with placeholders for values not known yet) and parsed,
        its tables and columns checked."""
        if self.queries is None:
            raise ManifestError(
                f"resource {self.res.name!r}: no query file",
                file=self.stack.manifest.display_path,
                line=self.res.line,
            )
        self.query_context()  # the props first: their errors point into the manifest
        for name in _BUILD_ANCHORS:
            anchor = self.anchor(name)
            if anchor is None:
                continue
            try:
                sql = self.render(anchor)
            except TemplateError as exc:
                if self._own_undefined(exc):
                    continue
                if name == "statecheck":
                    self._statecheck_unrenderable(exc)
                    continue
                raise
            step.queries.check_sql(
                sql, file=self.file, line=anchor.line, values=not has_placeholder(sql)
            )
        if not (self.has("exists") or self.has("statecheck") or self.has("createorupdate")):
            raise ManifestError(
                f"resource {self.res.name!r}: its query file has neither an exists nor a "
                "statecheck anchor, so stack-deploy cannot tell whether it is deployed",
                file=self.file,
                hint="add /*+ exists */ (a count or the identifier) or /*+ statecheck */",
            )
        delete = self.anchor("delete")
        if delete is not None:
            # Build never runs it, but teardown, a replacement or a rollback would: a syntax
            # error is found now. (It may need this resource's own exports: then it waits.)
            delete_sql: str | None
            try:
                delete_sql = self.render(delete)
            except TemplateError:
                delete_sql = None
            if delete_sql is not None:
                step.queries.check_sql(delete_sql, file=self.file, line=delete.line, values=False)
        self._check_export_columns()
        if verb != "test" and not (self.has("create") or self.has("createorupdate")):
            raise ManifestError(
                f"resource {self.res.name!r}: its query file has no create or createorupdate "
                "anchor, so build could not create it",
                file=self.file,
                hint="add a /*+ create */ INSERT INTO awscc.<service>.<resource> query",
            )

    def _check_export_columns(self) -> None:
        """Without an exports query, the exports come from the props and what ``exists``
        captures: a column neither gives would fail after the resource was created."""
        if not self.res.exports or self.has("exports") or self.queries is None:
            return
        available = {p.name for p in self.res.props}
        exists = self.anchor("exists")
        if exists is not None:
            names = _selected_names(exists.body)
            if names is None:
                return  # cannot tell what it selects: judged when it runs
            available |= names
        missing = [e.column for e in self.res.exports if e.column not in available]
        if missing:
            raise ManifestError(
                f"resource {self.res.name!r} exports {', '.join(missing)}, but its query file "
                "has no exports anchor and neither its props nor its exists query give "
                f"{'it' if len(missing) == 1 else 'them'}",
                file=self.file,
                hint="add a /*+ exports */ query selecting the exported columns",
            )

    # -- discovery ----------------------------------------------------------------------------

    def discover(self, step: Step, verb: Verb = "build") -> Discovery:
        """Read-only: is the resource there, is it correct, what would change.

        ``test`` runs ``exists`` and the statecheck with their ``retries`` (as stackql-deploy
        does), so a test right after a build does not report a resource AWS has not made
        visible yet as drift; build and plan run each once (absent is the common case)."""
        retried = verb == "test"
        exists = self.anchor("exists")
        statecheck = self.anchor("statecheck")
        if self.has("createorupdate") and exists is None and statecheck is None:
            self.discovery = Discovery(found=False, createorupdate=True)
            self._preview(step, self.discovery)
            return self.discovery
        d = Discovery(found=False)
        if exists is not None:
            sql = self.try_render(exists)
            if sql is None:
                return self._presence_unknown(step, d)
            attempts, delay = self.retries(exists) if retried else (1, 0.0)
            found = self.check(step, exists, sql=sql, attempts=attempts, delay=delay)
            d.found = found.present
            if found.row:
                self.capture(found.row)
            if d.found and statecheck is not None:
                sc = self.try_render(statecheck)
                if sc is not None:
                    attempts, delay = self.retries(statecheck) if retried else (1, 0.0)
                    d.correct = self.check(
                        step, statecheck, sql=sc, attempts=attempts, delay=delay
                    ).present
            elif d.found:
                d.correct, d.proxy_rows = self._exports_proxy(step, attempts=1)
        else:
            assert statecheck is not None
            sql = self.try_render(statecheck)
            if sql is None:
                return self._presence_unknown(step, d)
            attempts, delay = self.retries(statecheck) if retried else (1, 0.0)
            d.found = d.correct = self.check(
                step, statecheck, sql=sql, attempts=attempts, delay=delay
            ).present
        if d.found:
            self._diff_inputs(step, d)
        else:
            self._preview(step, d)
        self.discovery = d
        return d

    def _presence_unknown(self, step: Step, d: Discovery) -> Discovery:
        """The check query needs values known only after apply: planned as a create whose
        presence is decided when the resource's turn comes."""
        d.unknown = True
        d.notes.append("presence known only after the resources it uses are applied")
        self._preview(step, d)
        self.discovery = d
        return d

    def _preview(self, step: Step, d: Discovery) -> None:
        """What the create query would send (for the plan), when it can be known now; the
        desired state it gives is checked against the type's schema."""
        create = self.anchor("create") or self.anchor("createorupdate")
        if create is None:
            return
        try:
            sql = self.render(create)
        except TemplateError as exc:
            if self._own_undefined(exc):
                d.notes.append("create query needs values known only after apply")
                return
            raise
        try:
            preview = step.queries.preview_insert(sql, file=self.file, line=create.line)
        except QueryError as exc:
            if has_placeholder(sql):
                d.notes.append("create query needs values known only after apply")
                return
            raise exc
        if preview is None:
            return
        self.state.add_secrets(
            write_only_values(preview.schema, preview.desired), min_length=MIN_WRITE_ONLY_SECRET
        )
        self._validate_desired(preview, create)
        if has_placeholder(preview.desired):
            d.notes.append("create query uses values known only after apply")
        d.preview = preview

    def _validate_desired(self, preview: InsertPreview, create: Anchor) -> None:
        from stackdeploy.schema import desired as desired_state

        violations = [
            str(v)
            for v in desired_state.validate(preview.schema, preview.desired, mode="create")
            if not placeholder_at(preview.desired, v.path)
        ]
        if violations:
            shown = "; ".join(violations[:5])
            raise QueryError(
                self.run.mask(
                    f"resource {self.res.name!r}: the create query does not give a valid "
                    f"{preview.schema.type_name}: {shown}"
                ),
                file=self.file,
                line=create.line,
                hint=f"stack-deploy describe {preview.schema.awscc_name} lists its properties",
            )

    def _exports_proxy(
        self, step: Step, *, attempts: int
    ) -> tuple[bool | None, list[dict[str, Any]] | None]:
        exports = self.anchor("exports")
        if exports is None:
            return None, None
        sql = self.try_render(exports)
        if sql is None:
            return None, None
        _, delay = self.retries(exports)
        rows = self.retrying(
            step, lambda: self.rows(step, exports, sql), bool, attempts=attempts, delay=delay
        )
        return bool(rows), rows or None

    def _diff_inputs(self, step: Step, d: Discovery) -> None:
        """Preview the create INSERT and read the live resource, when both are possible.
        The read is usually answered by the step's cache: the ``exists`` query read it."""
        self._preview(step, d)
        if d.preview is None or has_placeholder(d.preview.desired):
            return
        schema = d.preview.schema
        this = self.state.this(self.res)
        d.identifier = identifier_from_row(schema, this) or schema.identifier_of(d.preview.desired)
        if d.identifier is None:
            d.notes.append("exists captured no identifier: property diff not available")
            return
        d.live = step.cloud.get_resource(schema.type_name, d.identifier, region=d.preview.region)
        if d.live is None:
            d.notes.append(f"GetResource found no {schema.type_name} {d.identifier!r}")

    # -- planning -----------------------------------------------------------------------------

    def plan(self, step: Step, verb: Verb) -> ResourcePlan:
        if not self.condition():
            return self.skip("if: false", type_name=self._type_hint())
        self.state.clear_this(self.res)
        self.fresh()
        self.validate(step, verb)
        d = self.discover(step, verb)
        plan = self._plan(d, verb)
        if plan.changed:
            plan = dataclasses.replace(plan, dml=self._planned_dml(plan, d))
        if plan.action in ("create", "replace") or d.unknown:
            self.evaluated()
        elif self.res.exports:
            self.record_exports(step)
        return plan

    def _secret_paths(self, d: Discovery) -> tuple[str, ...]:
        """The INSERT's properties that protected values feed (masked by position)."""
        if d.preview is None:
            return ()
        props = self._props or {}
        protected = [v for k, v in props.items() if k in self.res.protected]
        return self.secret_paths(d.preview.desired, values=protected)

    def _plan(self, d: Discovery, verb: Verb) -> ResourcePlan:
        type_name = d.preview.schema.type_name if d.preview else self._type_hint()
        notes = [*self.unknown_notes(), *d.notes]
        secret_paths = self._secret_paths(d)
        if d.createorupdate or not d.found:
            return ResourcePlan(
                name=self.res.name,
                type=type_name,
                action="create",
                depends_on=self.depends_on,
                reason="createorupdate runs on every build (no exists or statecheck)"
                if d.createorupdate
                else "presence known after apply"
                if d.unknown
                else "absent",
                desired=d.preview.desired if d.preview else None,
                notes=tuple(notes),
                secret_paths=secret_paths,
            )
        correct = d.correct
        if correct is False and self.res.skip_validation:
            notes.append("statecheck failed; accepted because of skip_validation")
            correct = True
        if d.preview is not None and d.live is not None:
            plan = plan_resource(
                d.preview.schema,
                name=self.res.name,
                desired=d.preview.desired,
                live=d.live,
                identifier=d.identifier,
                depends_on=self.depends_on,
                allow_replace=self.run.options.allow_replace or self.res.replace or verb == "test",
                statecheck_ok=correct,
                notes=notes,
                mask=self.run.mask,
                secret_paths=secret_paths,
            )
            if self.res.skip_validation and plan.action == "update":
                return dataclasses.replace(plan, action="noop", reason="skip_validation")
            return plan
        action: Action = "noop" if correct in (True, None) else "update"
        return ResourcePlan(
            name=self.res.name,
            type=type_name,
            action=action,
            identifier=d.identifier,
            depends_on=self.depends_on,
            reason="statecheck failed" if action == "update" else None,
            notes=tuple(notes),
        )

    def _planned_dml(self, plan: ResourcePlan, d: Discovery) -> tuple[str, ...]:
        """The statements ``apply`` would run for ``plan``, rendered as far as known now."""
        create = self.anchor("create") or self.anchor("createorupdate")
        update = self.anchor("update") or self.anchor("createorupdate")
        out: list[str] = []
        if plan.action == "replace":
            delete = self.anchor("delete")
            if delete is not None:
                out.append(self._shown(delete))
            elif d.preview is not None and d.identifier:
                out.append(delete_sql(d.preview.schema, d.identifier, d.preview.region))
        if plan.action in ("create", "replace") and create is not None:
            out.append(self._shown(create))
        if plan.action == "update":
            if update is not None:
                out.append(self._shown(update))
            elif plan.patch and d.preview is not None and d.identifier:
                out.append(update_sql(d.preview.schema, d.identifier, plan.patch, d.preview.region))
        return tuple(out)

    def _shown(self, anchor: Anchor) -> str:
        """An anchor rendered for display; the template itself (and why) when it uses
        ``this.*`` fields captured only at apply."""
        try:
            return noted(self.render(anchor))
        except TemplateError as exc:
            if not self._own_undefined(exc):
                raise
            return f"{anchor.body.strip()}\n{UNRENDERED_NOTE}"

    def planned_from(self) -> PlanBasis:
        d = self.discovery
        if d is None:
            return PlanBasis()
        preview = d.preview
        live = None
        if d.live is not None and preview is not None:
            live = without_read_only(preview.schema, d.live)
        found = {
            "found": d.found,
            "correct": d.correct,
            "unknown": d.unknown,
            "identifier": d.identifier,
            "live": live,
            "proxy_rows": d.proxy_rows,
        }
        deferred = tuple(strip_placeholders(preview.desired)[1]) if preview is not None else ()
        exists = None if d.createorupdate or d.unknown else d.found
        return PlanBasis(exists=exists, live=found, deferred=deferred)

    def _type_hint(self) -> str:
        """The type the create query targets, for display when it cannot render."""
        create = self.anchor("create") or self.anchor("createorupdate")
        if create is None:
            return self.res.resource_type or "-"
        m = re.search(r"insert\s+into\s+((?:awscc|aws)\.[\w.]+)", create.body, re.IGNORECASE)
        if not m:
            return "-"
        from stackdeploy.query.tables import resolve_table

        try:
            schema = resolve_table(m.group(1), region=self.run.region).schema
        except StackDeployError:
            return m.group(1)
        return schema.type_name if schema is not None else m.group(1)

    # -- applying -----------------------------------------------------------------------------

    def apply(self, plan: ResourcePlan, step: Step, *, replan: bool) -> ResourcePlan:
        """Carry out ``plan`` (planning again first when asked), then the post-deploy checks
        and the exports."""
        if replan or (self.discovery is not None and self.discovery.unknown):
            plan = self.plan(step, "build")
        if plan.action in ("noop", "skip"):
            return plan
        if plan.action == "create":
            self._create(step)
            op = "create"
        elif plan.action == "update":
            self._update(step, plan)
            op = "update"
        elif plan.action == "replace":
            self._delete_for_replace(step)
            self._create(step)
            op = "create"
        else:
            raise DeployError(f"{self.res.name}: cannot apply action {plan.action!r}")
        self._post_deploy(step, op)
        if self.res.exports:
            self.record_exports(step)
        return plan

    def _dml(self, step: Step, anchor: Anchor, op: str) -> Any:
        sql = self.render(anchor)
        result = self.execute(step, anchor, sql)
        if "RETURNING" in sql.upper() and result.rows:
            row = result.rows[0]
            self.state.record_callback(self.res, row)
            captured = return_values(self.res, op, row)
            if captured:
                self.state.capture_this(self.res, captured)
            self.fresh()
        elif self.res.return_vals.get(op):
            raise DeployError(
                f"resource {self.res.name!r}: return_vals.{op} is set but the {anchor.name} "
                "query returned no RETURNING row",
                hint=f"end the {anchor.name} query with RETURNING *",
            )
        self._callback(step, op)
        return result

    def _create(self, step: Step) -> None:
        anchor = self.anchor("create") or self.anchor("createorupdate")
        assert anchor is not None  # validate() refused the resource otherwise
        self._dml(step, anchor, "create")
        self.created = True

    def _update(self, step: Step, plan: ResourcePlan) -> None:
        anchor = self.anchor("update") or self.anchor("createorupdate")
        if anchor is not None:
            self._dml(step, anchor, "update")
            return
        d = self.discovery
        if plan.patch and d is not None and d.preview is not None and d.identifier:
            schema = d.preview.schema
            step.cloud.update_resource(
                schema.type_name,
                d.identifier,
                list(plan.patch),
                region=d.preview.region,
                timeout_minutes=schema.timeout_minutes("update"),
            )
            return
        self._troubleshoot(step, "update")
        raise DeployError(
            f"resource {self.res.name!r} is not in its desired state "
            f"({plan.reason or 'statecheck failed'}) and its query file has no update anchor",
            hint="add a /*+ update */ query, or check the statecheck query",
        )

    def _delete_for_replace(self, step: Step) -> None:
        delete = self.anchor("delete")
        d = self.discovery
        if delete is not None:
            self.execute(step, delete, self.render(delete))
        elif d is not None and d.preview is not None and d.identifier:
            step.cloud.delete_resource(
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

    def _post_deploy(self, step: Step, op: str) -> None:
        exists = self.anchor("exists")
        statecheck = self.anchor("statecheck")
        if exists is not None:
            attempts, delay = self.retries(statecheck if statecheck is not None else exists)
            found = self.check(step, exists, attempts=attempts, delay=delay)
            if not found.present:
                self._troubleshoot(step, op)
                raise DeployError(
                    f"resource {self.res.name!r}: after {op}, the exists query does not find it",
                    hint="check that the exists query selects what the create query makes",
                )
            if found.row:
                self.capture(found.row)
        ok: bool | None = None
        if statecheck is not None:
            sql = self.try_render(statecheck)
            if sql is not None:
                attempts, delay = self.retries(statecheck)
                ok = self.check(step, statecheck, attempts=attempts, delay=delay, sql=sql).present
        if ok is None and self.has("exports"):
            attempts, _ = self.retries(self.anchor("exports"))
            ok, rows = self._exports_proxy(step, attempts=attempts + 1)
            if self.discovery is not None:
                self.discovery.proxy_rows = rows
        if ok is False:
            self._troubleshoot(step, op)
            raise DeployError(
                f"resource {self.res.name!r}: after {op}, it is still not in its desired "
                "state (statecheck failed)",
                hint="compare the statecheck query with what create/update send "
                "(--show-queries shows them)",
            )

    def _callback(self, step: Step, op: str) -> None:
        anchor = self.anchor(f"callback:{op}") or self.anchor("callback")
        if anchor is None:
            return
        field_name = anchor.options.get("short_circuit_field")
        if field_name is not None:
            current = self.state.callback(self.res)
            value = current.get(str(field_name)) if isinstance(current, Mapping) else None
            if str(value) == str(anchor.options.get("short_circuit_value")):
                return
        retries, delay = self.retries(anchor)

        def once() -> bool:
            rows = self.rows(step, anchor)
            if not rows:
                return False
            first = {str(k).lower(): v for k, v in rows[0].items()}
            if "success" in first:
                return str(first["success"]).lower() in _TRUE
            return str(first.get("count")) == "1"

        if not self.retrying(step, once, bool, attempts=retries + 1, delay=delay):
            raise DeployError(
                f"resource {self.res.name!r}: callback:{op} did not report success after "
                f"{retries + 1} polls"
            )

    def _troubleshoot(self, step: Step, op: str) -> None:
        anchor = self.anchor(f"troubleshoot:{op}") or self.anchor("troubleshoot")
        if anchor is None:
            return
        try:
            rows = self.rows(step, anchor)
        except Exception as exc:  # troubleshooting must never hide the real failure
            log.warning("%s: troubleshoot query failed: %s", self.res.name, self.run.mask(str(exc)))
            return
        for row in rows:
            log.warning("%s: troubleshoot: %s", self.res.name, self.run.mask(str(row)))

    def rollback(self, plan: ResourcePlan, step: Step) -> None:
        if not self.created:
            return
        if self.has("delete"):
            self.delete(plan, step)
        else:
            self._delete_for_replace(step)

    # -- exports ------------------------------------------------------------------------------

    def record_exports(self, step: Step) -> None:
        """Run the exports query (or reuse the proxy rows) and store the exports."""
        if not self.res.exports:
            return
        exports = self.anchor("exports")
        d = self.discovery
        if d is not None and d.proxy_rows:
            rows = d.proxy_rows
        elif exports is not None:
            sql = self.render(exports)
            retries, delay = self.retries(exports)
            rows = self.retrying(
                step,
                lambda: self.rows(step, exports, sql),
                bool,
                attempts=retries + 1,
                delay=delay,
            )
        else:
            self.query_context()
            row = {**(self._props or {}), **self.state.this(self.res)}
            self.state.record_exports(self.res, row, file=self.file)
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
        self.state.record_exports(self.res, rows[0], file=self.file, line=line)
        self.fresh()

    # -- teardown -----------------------------------------------------------------------------

    def collect(self, step: Step) -> None:
        """Teardown, first pass: capture ``this.*`` and exports, ``<unknown>`` when absent."""
        present = True
        exists = self.anchor("exists")
        if exists is not None:
            sql = self.try_render(exists)
            if sql is not None:
                found = interpret_check(
                    self.rows(step, exists, sql),
                    what=f"{self.res.name}: exists",
                    file=self.file,
                    line=exists.line,
                    many=True,
                )
                present = found.present
                self.duplicates = list(found.rows)
                if found.row:
                    self.capture(found.row)
        if not self.res.exports:
            return
        exports = self.anchor("exports")
        rows: list[dict[str, Any]] = []
        if present and exports is not None:
            sql = self.try_render(exports)
            if sql is not None:
                rows = self.rows(step, exports, sql)
        if rows:
            self.state.record_exports(self.res, rows[0], file=self.file)
        else:
            self.state.set_placeholders(self.res, UNKNOWN)
        self.fresh()

    def _check_anchor(self) -> tuple[Anchor | None, str | None]:
        for name in ("exists", "statecheck"):
            anchor = self.anchor(name)
            if anchor is not None:
                sql = self.try_render(anchor)
                if sql is not None:
                    return anchor, sql
        return None, None

    def plan_delete(self, step: Step) -> ResourcePlan:
        """Teardown plan: delete when present, skip (with the reason) otherwise."""
        if not self.condition():
            return self.skip("if: false", type_name=self._type_hint())
        self.state.add_alias_columns(self.res)
        self.fresh()
        delete = self.anchor("delete")
        base: dict[str, Any] = {
            "name": self.res.name,
            "type": self._type_hint(),
            "depends_on": self.depends_on,
        }
        if delete is None:
            return ResourcePlan(**base, action="skip", reason="no delete anchor")
        if self.res.type == "multi":
            return ResourcePlan(
                **base,
                action="delete",
                reason="multi: assumed present",
                dml=(self._shown(delete),),
            )
        anchor, sql = self._check_anchor()
        if anchor is None or sql is None:
            return ResourcePlan(**base, action="skip", reason="no usable exists/statecheck")
        found = interpret_check(
            self.rows(step, anchor, sql),
            what=f"{self.res.name}: {anchor.name}",
            file=self.file,
            line=anchor.line,
            many=True,
        )
        self.duplicates = list(found.rows)
        if found.row:
            self.capture(found.row)
        if not found.present:
            return ResourcePlan(**base, action="skip", reason="absent")
        if self.duplicates:
            # Several resources answer to this entry (duplicates): teardown deletes each.
            statements = []
            for row in self.duplicates:
                self.capture(row)
                statements.append(noted(self.render(delete)))
            self.capture(self.duplicates[0])
            return ResourcePlan(
                **base,
                action="delete",
                reason=f"{len(self.duplicates)} copies (duplicates): all are deleted",
                dml=tuple(statements),
            )
        # Render the delete now: an error here is a plan error, before anything is deleted.
        return ResourcePlan(**base, action="delete", dml=(noted(self.render(delete)),))

    def delete(self, plan: ResourcePlan, step: Step) -> None:
        """Run the delete query and confirm the resource is gone.

        As stackql-deploy 2.x: up to the delete anchor's ``retries`` times (``retry_delay``
        apart), DELETE (its
        RETURNING row feeds ``callback.*`` and ``return_vals.delete``), ``callback:delete``
        when there is a RETURNING row to poll, then the check query (``exists``, else the
        statecheck) until the resource is gone, up to its ``postdelete_retries`` times
        (default 10), ``postdelete_retry_delay`` seconds apart (default 5). Unconfirmed, the
        ``troubleshoot`` anchor runs and the delete fails."""
        delete = self.anchor("delete")
        assert delete is not None
        if len(self.duplicates) > 1:
            self._delete_duplicates(step, delete)
            return
        sql = self.render(delete)
        cycles, pause = self.retries(delete)
        anchor, check_sql = self._check_anchor()
        checks, check_delay = self.postdelete(anchor)
        for cycle in range(cycles):
            if cycle:
                self.run.sleep(pause)
            row = self._delete_dml(step, delete, sql)
            if row is not None:
                self._callback(step, "delete")
            if anchor is None or check_sql is None:
                return
            gone = self.check(
                step, anchor, want=False, sql=check_sql, attempts=checks, delay=check_delay
            )
            if not gone.present:
                return
        self._troubleshoot(step, "delete")
        raise DeployError(
            f"resource {self.res.name!r}: delete ran but the resource is still there",
            hint="check the delete query's identifier (--show-queries)",
        )

    def _delete_duplicates(self, step: Step, delete: Anchor) -> None:
        """Delete every resource the check found (each row's fields as ``this.*``), then
        confirm with the check that none is left."""
        for row in self.duplicates:
            self.capture(row)
            self._delete_dml(step, delete, self.render(delete))
        anchor, check_sql = self._check_anchor()
        if anchor is None or check_sql is None:
            return
        checks, check_delay = self.postdelete(anchor)

        def rows_left() -> list[dict[str, Any]]:
            return self.rows(step, anchor, check_sql)

        left = self.retrying(step, rows_left, lambda r: not r, attempts=checks, delay=check_delay)
        if (
            left
            and interpret_check(
                left,
                what=f"{self.res.name}: {anchor.name}",
                file=self.file,
                line=anchor.line,
                many=True,
            ).present
        ):
            self._troubleshoot(step, "delete")
            raise DeployError(
                f"resource {self.res.name!r}: deleted {len(self.duplicates)} copies but "
                f"{len(left)} still answer to its {anchor.name} query",
                hint="check the delete query's identifier (--show-queries)",
            )

    @staticmethod
    def postdelete(anchor: Anchor | None) -> tuple[int, float]:
        """How many post-delete checks, how far apart (the check anchor's options)."""
        if anchor is None:
            return POSTDELETE_RETRIES, POSTDELETE_RETRY_DELAY
        checks = int(anchor.options.get("postdelete_retries", POSTDELETE_RETRIES) or 1)
        delay = float(anchor.options.get("postdelete_retry_delay", POSTDELETE_RETRY_DELAY) or 0)
        return max(1, checks), max(0.0, delay)

    def _delete_dml(self, step: Step, anchor: Anchor, sql: str) -> dict[str, Any] | None:
        """One DELETE; its RETURNING row (recorded as ``callback.*``, ``return_vals.delete``
        captured as ``this.*``), or None."""
        result = self.execute(step, anchor, sql)
        if "RETURNING" not in sql.upper() or not result.rows:
            if self.res.return_vals.get("delete"):
                log.warning(
                    "%s: return_vals.delete is set but the delete query returned no RETURNING "
                    "row (nothing captured)",
                    self.res.name,
                )
            return None
        row: dict[str, Any] = dict(result.rows[0])
        self.state.record_callback(self.res, row)
        captured, problems = return_values_lenient(self.res, "delete", row)
        for problem in problems:
            log.warning("%s: %s (not captured)", self.res.name, problem)
        if captured:
            self.state.capture_this(self.res, captured)
        self.fresh()
        return row


class MultiHandler(QueryFileHandler):
    """``type: multi``: a query file managing several resources at once. As in both
    stackql-deploy versions, errors of its create, update and delete statements are
    reported as warnings and do not stop the run; a delete runs without a pre-check."""

    kind = "multi"

    def _dml(self, step: Step, anchor: Anchor, op: str) -> Any:
        try:
            return super()._dml(step, anchor, op)
        except QueryError as exc:
            self._ignored(anchor, exc)
            return None

    def _delete_dml(self, step: Step, anchor: Anchor, sql: str) -> dict[str, Any] | None:
        try:
            return super()._delete_dml(step, anchor, sql)
        except QueryError as exc:
            self._ignored(anchor, exc)
            return None

    def _ignored(self, anchor: Anchor, exc: QueryError) -> None:
        log.warning(
            "%s: %s failed (ignored: multi resource): %s",
            self.res.name,
            anchor.name,
            self.run.mask(str(exc)),
        )


def _selected_names(sql: str) -> set[str] | None:
    """The column names a SELECT returns (its aliases), or None when that cannot be told
    without running it (``*``, a template in the select list, a parse error)."""
    import sqlglot
    from sqlglot import exp

    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "x", sql, flags=re.S)
    try:
        tree = sqlglot.parse_one(text, read="sqlite")
    except Exception:  # a parse error here is reported by the query checks, not this one
        return None
    if not isinstance(tree, exp.Select) or any(isinstance(e, exp.Star) for e in tree.expressions):
        return None
    return set(tree.named_selects)
