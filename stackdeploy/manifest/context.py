"""The template context of a stack run: variables, globals, exports, props and conditions.

:class:`Stack` is what the executor works with. It loads and validates the manifest, renders
the globals once, and then, per resource and on demand, builds the context
(:meth:`Stack.resource_context`), renders the props (:meth:`Stack.render_props`), renders
query text just in time (:meth:`Stack.render_query`) and evaluates ``if``
(:meth:`Stack.condition_holds`). Exports recorded after each resource
(:meth:`Stack.record_exports`) flow into the contexts of the resources after it.

Visibility (compat §3.1, and the choices documented in docs/manifest.md):

* env vars (``--env-file`` then ``-e``) are visible to globals only, both as bare names
  (``{{ AWS_REGION }}``, stackql-deploy) and under ``vars`` (``{{ vars.AWS_REGION }}``, the
  form of the generated awscc docs manifests). The process environment is never visible.
* ``stack_name`` and ``stack_env`` are visible everywhere.
* globals are rendered once, in order; a global that refers to ``resource_name`` or
  ``idempotency_token`` (or to such a global) is re-rendered for each resource instead.
* exports of earlier resources: ``<name>`` (last writer wins) and ``<resource>.<name>``
  (first writer wins); they shadow globals of the same name.
* props are rendered in order and shadow globals and exports; ``this.<f>`` is the resource's
  own captured fields.

Every template renders through :mod:`stackdeploy.templating` (sandboxed, strict), so an
undefined variable is an error naming the file, line and variable.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError, meta

from stackdeploy.errors import DeployError, ManifestError, QueryError, UsageError
from stackdeploy.manifest.envfile import load_env_vars
from stackdeploy.manifest.loader import NodePath, iter_strings, load_file
from stackdeploy.manifest.model import MANIFEST_FILE, GlobalDef, Manifest, PropDef, ResourceDef
from stackdeploy.manifest.validate import (
    ManifestProblems,
    Problem,
    build_manifest,
    did_you_mean,
)
from stackdeploy.templating import (
    evaluate_condition,
    make_environment,
    render,
    rewrite_this,
    serialise_value,
)

#: Export placeholder in teardown when an exports query returns no row (compat §3.1).
UNKNOWN = "<unknown>"
#: Export placeholder in dry-run, where nothing is executed (compat §5.4).
EVALUATED = "<evaluated>"
PLACEHOLDERS = frozenset({UNKNOWN, EVALUATED})

# Names that make a global resource-scoped: it is re-rendered for each resource.
_RESOURCE_NAMES = frozenset({"resource_name", "idempotency_token", "this"})


def is_placeholder(value: Any) -> bool:
    """True for ``<unknown>`` / ``<evaluated>``."""
    return isinstance(value, str) and value in PLACEHOLDERS


@lru_cache(maxsize=1)
def _parser() -> Any:
    return make_environment()


def referenced_names(value: Any) -> set[str]:
    """Top-level variable names the templates inside ``value`` refer to (nested too)."""
    names: set[str] = set()
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            # A syntax error is reported by rendering, with file and line.
            with contextlib.suppress(TemplateSyntaxError):
                names |= meta.find_undeclared_variables(_parser().parse(value))
    elif isinstance(value, Mapping):
        for item in value.values():
            names |= referenced_names(item)
    elif isinstance(value, list):
        for item in value:
            names |= referenced_names(item)
    return names


def _as_json(value: Any) -> Any:
    """A string holding a JSON object or array is parsed (merge works on JSON values)."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[") and text[-1:] in ("}", "]"):
            try:
                return json.loads(text)
            except ValueError:
                return value
    return value


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"{serialise_value(value)[:40]!r} (not JSON list or object)"


def _dedupe_key(item: Any) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)


def merge_values(base: Any, item: Any) -> Any:
    """Merge one ``merge`` item into ``base`` (compat §2): lists concatenate, de-duplicated
    by JSON text with the base first; objects merge shallowly with the item winning; no base
    adopts the item. Raises ``TypeError`` on a kind mismatch."""
    if base is None:
        return copy.deepcopy(item)
    if isinstance(base, list) and isinstance(item, list):
        out: list[Any] = []
        seen: set[str] = set()
        for entry in [*base, *item]:
            key = _dedupe_key(entry)
            if key not in seen:
                seen.add(key)
                out.append(entry)
        return out
    if isinstance(base, dict) and isinstance(item, dict):
        return {**base, **item}
    raise TypeError(f"cannot merge {_kind(item)} into {_kind(base)}")


class ExportsStore:
    """Exported variables of a run, plus each resource's ``this.*`` captures. Thread-safe.

    ``record`` stores every export twice: ``<name>`` (last writer wins, so a later resource
    exporting the same name replaces it) and ``<resource>.<name>`` (first writer wins; a
    placeholder does not count as a writer). Plain and aliased exports can be mixed freely.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        self._this: dict[str, dict[str, Any]] = {}
        self._by_resource: dict[str, dict[str, Any]] = {}

    def record(
        self,
        resource: ResourceDef,
        row: Mapping[str, Any],
        *,
        file: str | None = None,
        line: int | None = None,
    ) -> dict[str, Any]:
        """Store the resource's declared exports from ``row`` (column -> value).

        A declared column missing from the row is an error (stackql-deploy would export
        ``''``: quirk 5). A NULL stays ``None`` (it renders as empty text). Returns
        ``{name: value}`` of what was stored.
        """
        missing = [e.column for e in resource.exports if e.column not in row]
        if missing:
            columns = ", ".join(map(str, row)) or "no columns"
            raise QueryError(
                f"exports of resource {resource.name!r}: column(s) {', '.join(missing)} "
                f"missing from the result (it has {columns})",
                file=file,
                line=line,
                hint="select every column listed under the resource's exports",
            )
        stored = {e.name: row[e.column] for e in resource.exports}
        self._store(resource.name, stored, placeholder=False)
        return stored

    def set_placeholders(self, resource: ResourceDef, placeholder: str) -> dict[str, Any]:
        """Give every export of ``resource`` the value ``placeholder`` (:data:`UNKNOWN` in
        teardown when there is no row, :data:`EVALUATED` in dry-run)."""
        stored = {e.name: placeholder for e in resource.exports}
        self._store(resource.name, stored, placeholder=True)
        return stored

    def _store(self, resource: str, values: Mapping[str, Any], *, placeholder: bool) -> None:
        with self._lock:
            mine = self._by_resource.setdefault(resource, {})
            for name, value in values.items():
                self._values[name] = value
                scoped = f"{resource}.{name}"
                if scoped not in self._values or is_placeholder(self._values[scoped]):
                    self._values[scoped] = value
                    mine[name] = value

    def capture_this(self, resource: str, row: Mapping[str, Any]) -> None:
        """Remember ``row``'s fields as ``this.<field>`` of ``resource`` (later wins)."""
        with self._lock:
            self._this.setdefault(resource, {}).update(row)

    def this(self, resource: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._this.get(resource, {}))

    def record_callback(self, resource: str, row: Mapping[str, Any]) -> None:
        """The first RETURNING row of a DML, as ``callback.<col>`` and
        ``<resource>.callback.<col>``; JSON object text is parsed so nested paths work
        (``callback.ResourceModel.BucketName``). The unscoped form is replaced each time."""
        parsed = {str(k): _as_json(v) for k, v in row.items()}
        with self._lock:
            self._values["callback"] = parsed
            self._values[f"{resource}.callback"] = parsed

    def exported_by(self, resource: str) -> dict[str, Any]:
        """What ``resource`` exported (its ``<resource>.<name>`` values), by name."""
        with self._lock:
            return dict(self._by_resource.get(resource, {}))

    def snapshot(self) -> dict[str, Any]:
        """Every stored variable (flat, dotted keys)."""
        with self._lock:
            return dict(self._values)


class Stack:
    """A loaded stack for one environment: manifest, variables, globals and exports.

    Build one with :meth:`load`. Safe to use from several threads once loaded (contexts are
    fresh dicts; the exports store locks).
    """

    def __init__(
        self,
        manifest: Manifest,
        env: str,
        *,
        env_vars: Mapping[str, str] | None = None,
        warnings: list[str] | None = None,
        token_factory: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.manifest = manifest
        self.env = env
        self.env_vars: dict[str, str] = dict(env_vars or {})
        self.warnings: list[str] = list(warnings or [])
        self.exports = ExportsStore()
        self._tokens = {r.name: token_factory() for r in manifest.resources}
        self._secret_props: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._globals: dict[str, Any] = {}
        self._scoped_globals: list[GlobalDef] = []
        self._render_globals()

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        stack_dir: str | Path,
        env: str,
        *,
        env_file: str | Path | None = None,
        env_overrides: Mapping[str, str] | None = None,
        strict: bool = False,
        cwd: str | Path | None = None,
    ) -> Stack:
        """Load ``<stack_dir>/stackql_manifest.yml`` for environment ``env``.

        ``env_file`` defaults to ``./.env`` in ``cwd`` (skipped when absent);
        ``env_overrides`` are the ``-e K=V`` values (already parsed, see
        :func:`~stackdeploy.manifest.envfile.parse_env_overrides`). Raises
        :class:`~stackdeploy.errors.ManifestError` (every validation error at once),
        :class:`~stackdeploy.errors.TemplateError` (a global fails to render) or
        :class:`~stackdeploy.errors.UsageError` (no such stack folder or env file).
        """
        if not env or not str(env).strip():
            raise UsageError("the stack environment (STACK_ENV) is empty")
        path = Path(stack_dir)
        manifest_path = path if path.is_file() else path / MANIFEST_FILE
        if not path.exists():
            raise UsageError(f"stack directory {stack_dir} not found")
        if not manifest_path.is_file():
            raise ManifestError(
                f"no {MANIFEST_FILE} in {stack_dir}",
                hint="STACK_DIR is the folder holding stackql_manifest.yml",
            )
        env_vars = load_env_vars(env_file, env_overrides, cwd=cwd)
        loaded = load_file(manifest_path)
        manifest, problems = build_manifest(
            loaded, manifest_path=manifest_path, stack_env=str(env), strict=strict
        )
        stack = cls(manifest, str(env), env_vars=env_vars, warnings=[str(p) for p in problems])
        unknown = stack.check_names(strict=strict)
        if strict and unknown:
            raise ManifestProblems(unknown)
        stack.warnings.extend(str(p) for p in unknown)
        return stack

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def resources(self) -> tuple[ResourceDef, ...]:
        return self.manifest.resources

    @property
    def region(self) -> str | None:
        """The rendered ``region`` global, if the stack has one."""
        value = self._globals.get("region")
        return value if isinstance(value, str) and value else None

    def token(self, resource: ResourceDef | str) -> str:
        """The resource's idempotency token: one UUIDv4 per resource per run."""
        return self._tokens[resource if isinstance(resource, str) else resource.name]

    # ------------------------------------------------------------------ rendering helpers
    def _where(self, path: NodePath) -> tuple[str, int]:
        return self.manifest.positions.where(path)

    def render_value(
        self,
        value: Any,
        context: Mapping[str, Any],
        path: NodePath,
        *,
        resource_name: str | None = None,
    ) -> Any:
        """Render every string inside ``value`` (maps and lists recursively).

        Numbers, bools and nulls keep their types; a string that renders to JSON text stays
        a string (the schema coercion of declarative resources turns it into an object, and
        queries paste it verbatim). ``path`` locates ``value`` in the manifest for errors.
        """
        if isinstance(value, str):
            text = value
            if resource_name is not None and "this." in text:
                text = rewrite_this(text, resource_name)
            if "{{" not in text and "{%" not in text and "{#" not in text:
                return value
            file, line = self.manifest.positions.text_start(path)
            return render(text, context, file=file, line=line)
        if isinstance(value, dict):
            return {
                key: self.render_value(item, context, (*path, key), resource_name=resource_name)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [
                self.render_value(item, context, (*path, index), resource_name=resource_name)
                for index, item in enumerate(value)
            ]
        return value

    def _globals_base(self) -> dict[str, Any]:
        """What globals see: env vars (bare and under ``vars``) and ``stack_*``."""
        ctx: dict[str, Any] = dict(self.env_vars)
        ctx["vars"] = dict(self.env_vars)
        ctx["stack_name"] = self.manifest.name
        ctx["stack_env"] = self.env
        return ctx

    def _render_global(self, g: GlobalDef, ctx: Mapping[str, Any], resource: str | None) -> Any:
        value = self.render_value(g.value, ctx, g.path, resource_name=resource)
        if value is None or (isinstance(value, str) and not value.strip()):
            file, line = self._where(g.path)
            where = f" for resource {resource!r}" if resource else ""
            raise ManifestError(
                f"global {g.name!r} rendered empty{where}",
                file=file,
                line=line,
                hint="give the variables it uses a value (--env-file, -e KEY=VALUE)",
            )
        return value

    def _render_globals(self) -> None:
        ctx = self._globals_base()
        scoped: set[str] = set()
        for g in self.manifest.globals:
            if referenced_names(g.value) & (_RESOURCE_NAMES | scoped):
                # Uses resource_name (the tag pattern) or such a global: render per resource.
                scoped.add(g.name)
                self._scoped_globals.append(g)
                continue
            value = self._render_global(g, ctx, None)
            ctx[g.name] = value
            self._globals[g.name] = value

    def _resource_globals(self, resource: ResourceDef) -> dict[str, Any]:
        """The resource-scoped globals rendered for ``resource`` (in manifest order)."""
        if not self._scoped_globals:
            return {}
        ctx = self._globals_base()
        ctx.update(self._globals)
        ctx["resource_name"] = resource.name
        ctx["idempotency_token"] = self.token(resource)
        out: dict[str, Any] = {}
        for g in self._scoped_globals:
            value = self._render_global(g, ctx, resource.name)
            ctx[g.name] = value
            out[g.name] = value
        return out

    def check_names(self, *, strict: bool = False) -> list[Problem]:
        """Names used in props, ``if``, ``sql`` and ``run`` that nothing defines.

        A static look-ahead (before any AWS call) for typos: rendering fails on them anyway,
        but only when that resource is reached. Reported as warnings (errors under
        ``strict``) because a template may guard a name (``{{ x | default('') }}``).
        Known names: ``stack_*``, ``resource_name``, ``idempotency_token``, globals, every
        resource name (``res.x``), every export name, ``this``, ``callback``, and for
        props the earlier props (all props for ``sql`` and ``run``).
        """
        env = _parser()
        base = {"stack_name", "stack_env", "resource_name", "idempotency_token", "this"}
        base |= {"callback", *env.globals}
        base |= {g.name for g in self.manifest.globals}
        for res in self.manifest.resources:
            base.add(res.name)
            base.update(e.name for e in res.exports)
        problems: list[Problem] = []
        positions = self.manifest.positions

        def check(value: Any, path: NodePath, known: set[str], what: str) -> None:
            for sub, text in iter_strings(value, path):
                for name in sorted(referenced_names(text) - known):
                    file, line = positions.text_start(sub)
                    problems.append(
                        Problem(
                            file,
                            line,
                            f"{what} uses {name!r}, which is not a global, a resource export "
                            "or an earlier prop",
                            did_you_mean(name, known),
                            warning=not strict,
                        )
                    )

        for res in self.manifest.resources:
            known = set(base)
            for prop in res.props:
                check(prop.value, prop.path, known, f"prop {prop.name!r} of resource {res.name!r}")
                known.add(prop.name)
            if res.condition is not None:
                condition = res.condition
                if "{{" not in condition and "{%" not in condition:
                    # A bare condition is one Jinja expression.
                    condition = "{{ (" + condition + ") }}"
                check(condition, (*res.path, "if"), base, f"the 'if' of resource {res.name!r}")
            for key, text in (("sql", res.sql), ("run", res.run)):
                if text is not None:
                    check(text, (*res.path, key), known, f"the {key} of resource {res.name!r}")
        return problems

    # ------------------------------------------------------------------ contexts
    def global_context(self) -> dict[str, Any]:
        """``stack_name``, ``stack_env``, the (stack-level) globals, every resource's
        ``<res>.idempotency_token`` and the exports so far. Flat, with dotted keys (the
        templating module nests them)."""
        ctx: dict[str, Any] = {"stack_name": self.manifest.name, "stack_env": self.env}
        ctx.update(self._globals)
        for name, token in self._tokens.items():
            ctx[f"{name}.idempotency_token"] = token
        ctx.update(self.exports.snapshot())
        return ctx

    def resource_context(self, resource: ResourceDef | str) -> dict[str, Any]:
        """The context of one resource: the global context, the resource-scoped globals
        rendered for it, ``resource_name``, ``idempotency_token`` and its ``this.*`` fields
        (as ``<resource>.<field>``, which ``this.<field>`` is rewritten to). No props: see
        :meth:`render_props` / :meth:`query_context`."""
        res = self._resource(resource)
        ctx: dict[str, Any] = {"stack_name": self.manifest.name, "stack_env": self.env}
        ctx.update(self._globals)
        ctx.update(self._resource_globals(res))
        for name, token in self._tokens.items():
            ctx[f"{name}.idempotency_token"] = token
        ctx.update(self.exports.snapshot())
        ctx["stack_name"] = self.manifest.name
        ctx["stack_env"] = self.env
        ctx["resource_name"] = res.name
        ctx["idempotency_token"] = self.token(res)
        for field, value in self.exports.this(res.name).items():
            ctx[f"{res.name}.{field}"] = value
        return ctx

    def _resource(self, resource: ResourceDef | str) -> ResourceDef:
        if isinstance(resource, ResourceDef):
            return resource
        try:
            return self.manifest.resource(resource)
        except KeyError:
            names = [r.name for r in self.manifest.resources]
            raise UsageError(
                f"no resource {resource!r} in stack {self.manifest.name!r}",
                hint=did_you_mean(resource, names),
            ) from None

    def render_props(
        self, resource: ResourceDef | str, *, context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The resource's props rendered in order (name -> value, manifest order).

        Each prop sees the resource context and the props before it (and shadows a global
        or export of the same name). ``merge`` is applied after the prop's own value.
        Raises :class:`~stackdeploy.errors.TemplateError` (undefined variable, with the
        prop's file and line) or :class:`~stackdeploy.errors.ManifestError` (bad merge).
        """
        res = self._resource(resource)
        ctx = dict(context) if context is not None else self.resource_context(res)
        out: dict[str, Any] = {}
        for prop in res.props:
            value = self.render_value(prop.value, ctx, prop.path, resource_name=res.name)
            if prop.merge:
                value = self._merge(res, prop, value, ctx)
            out[prop.name] = value
            ctx[prop.name] = value
            if prop.name in res.protected:
                with self._lock:
                    self._secret_props[(res.name, prop.name)] = value
        return out

    def _merge(
        self, resource: ResourceDef, prop: PropDef, value: Any, ctx: Mapping[str, Any]
    ) -> Any:
        file = self.manifest.display_path
        line = self._where((*prop.path[:4], "merge"))[1] if len(prop.path) >= 4 else prop.line
        base = _as_json(value)
        for name in prop.merge:
            if name not in ctx:
                known = [k for k in ctx if isinstance(k, str)]
                raise ManifestError(
                    f"prop {prop.name!r} of resource {resource.name!r}: merge names "
                    f"{name!r}, which is not a global, an export or an earlier prop",
                    file=file,
                    line=line,
                    hint=did_you_mean(name, known),
                )
            item = _as_json(ctx[name])
            if is_placeholder(item) or is_placeholder(base):
                # Dry-run / teardown: the real value is not known, nor is the merge.
                base = item if is_placeholder(item) else base
                continue
            try:
                base = merge_values(base, item)
            except TypeError as exc:
                raise ManifestError(
                    f"prop {prop.name!r} of resource {resource.name!r}: merge {name!r}: {exc}",
                    file=file,
                    line=line,
                    hint="merge lists with lists and objects with objects",
                ) from None
        return base

    def query_context(
        self, resource: ResourceDef | str, *, props: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The context queries render with: the resource context plus its rendered props."""
        res = self._resource(resource)
        ctx = self.resource_context(res)
        ctx.update(props if props is not None else self.render_props(res, context=ctx))
        return ctx

    def query_display(self, resource: ResourceDef | str) -> str:
        """The resource's query file as shown in messages (beside the manifest path)."""
        res = self._resource(resource)
        if res.query_file is None:
            return self.manifest.display_path
        base = Path(self.manifest.display_path).parent
        rel = res.file if res.file is not None else f"{res.name}.iql"
        return str(base / "resources" / rel)

    def render_query(
        self,
        resource: ResourceDef | str,
        text: str,
        *,
        line: int = 1,
        file: str | None = None,
        props: Mapping[str, Any] | None = None,
    ) -> str:
        """Render a query body (an anchor's text) just in time, strictly.

        ``line`` is the line of the query file where ``text`` starts (the anchor body's
        line), ``file`` defaults to the resource's query file, so an undefined variable is
        reported as ``resources/x.iql:<line>: undefined variable 'y'``. ``this.<f>`` is
        rewritten to the resource's captured fields. Pass ``props`` (from
        :meth:`render_props`) to avoid rendering them again.
        """
        res = self._resource(resource)
        ctx = self.query_context(res, props=props)
        return render(
            rewrite_this(text, res.name), ctx, file=file or self.query_display(res), line=line
        )

    def render_sql(
        self, resource: ResourceDef | str, *, props: Mapping[str, Any] | None = None
    ) -> str:
        """Render the resource's inline ``sql:`` (query and command resources)."""
        res = self._resource(resource)
        if res.sql is None:
            raise UsageError(f"resource {res.name!r} has no inline sql")
        return self.render_query(
            res, res.sql, line=res.sql_line or res.line, file=self.manifest.display_path,
            props=props,
        )  # fmt: skip

    def render_run(
        self, resource: ResourceDef | str, *, props: Mapping[str, Any] | None = None
    ) -> str:
        """Render a script resource's ``run`` command with the query context."""
        res = self._resource(resource)
        if res.run is None:
            raise UsageError(f"resource {res.name!r} has no run command")
        return self.render_query(
            res, res.run, line=res.run_line or res.line, file=self.manifest.display_path,
            props=props,
        )  # fmt: skip

    def condition_holds(self, resource: ResourceDef | str) -> bool:
        """Evaluate the resource's ``if`` (True when it has none).

        The condition sees the resource context (globals, exports, ``stack_*``,
        ``resource_name``, ``this.*``) but not the props, so a resource skipped because
        of its condition never needs its props to render.
        """
        res = self._resource(resource)
        if res.condition is None:
            return True
        return evaluate_condition(
            rewrite_this(res.condition, res.name, expression=True),
            self.resource_context(res),
            file=self.manifest.display_path,
            line=res.condition_line or res.line,
        )

    # ------------------------------------------------------------------ exports
    def record_exports(
        self,
        resource: ResourceDef | str,
        row: Mapping[str, Any],
        *,
        file: str | None = None,
        line: int | None = None,
    ) -> dict[str, Any]:
        """Store the resource's declared exports from a result row (see
        :meth:`ExportsStore.record`); returns ``{name: value}``."""
        res = self._resource(resource)
        return self.exports.record(res, row, file=file or self.query_display(res), line=line)

    def set_placeholder_exports(self, resource: ResourceDef | str, placeholder: str) -> None:
        """Every export of the resource becomes ``<unknown>`` or ``<evaluated>``."""
        if placeholder not in PLACEHOLDERS:
            raise ValueError(f"not a placeholder: {placeholder!r}")
        self.exports.set_placeholders(self._resource(resource), placeholder)

    def alias_columns_for_teardown(self, resource: ResourceDef | str) -> None:
        """Teardown phase B, step 2 (compat §5.3): for each ``{col: alias}`` export, ``col``
        takes the value of ``alias``, so delete queries written with the column name work."""
        res = self._resource(resource)
        snapshot = self.exports.snapshot()
        values = {e.column: snapshot[e.alias] for e in res.exports if e.alias in snapshot}
        if values:
            placeholder = all(is_placeholder(v) for v in values.values())
            self.exports._store(res.name, values, placeholder=placeholder)

    def capture_this(self, resource: ResourceDef | str, row: Mapping[str, Any]) -> None:
        """Fields captured by ``exists`` (or ``return_vals``), visible as ``this.<f>``."""
        self.exports.capture_this(self._resource(resource).name, row)

    def apply_return_vals(
        self, resource: ResourceDef | str, op: str, row: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Copy the RETURNING row's fields listed in ``return_vals.<op>`` to ``this.*``.

        A missing or empty field is an error (compat §2). Returns what was captured.
        """
        res = self._resource(resource)
        captured: dict[str, Any] = {}
        for rv in res.return_vals.get(op, ()):
            value = row.get(rv.field)
            if value is None or value == "":
                raise DeployError(
                    f"resource {res.name!r}: return_vals.{op} field {rv.field!r} is "
                    f"{'missing from' if rv.field not in row else 'empty in'} the RETURNING row",
                    hint="RETURNING gives the immediate ProgressEvent: TypeName, Identifier, "
                    "RequestToken, OperationStatus, ...",
                )
            captured[rv.target] = value
        if captured:
            self.exports.capture_this(res.name, captured)
        return captured

    def record_callback(self, resource: ResourceDef | str, row: Mapping[str, Any]) -> None:
        """The first RETURNING row as ``callback.*`` and ``<res>.callback.*``."""
        self.exports.record_callback(self._resource(resource).name, row)

    def secret_values(self) -> set[str]:
        """Text of every ``protected`` value known so far (exports recorded, props rendered),
        for the reporter to mask. Placeholders and empty values are left out."""
        secrets: set[str] = set()
        values: list[Any] = []
        for res in self.manifest.resources:
            if not res.protected:
                continue
            exported = self.exports.exported_by(res.name)
            for e in res.exports:
                if (e.name in res.protected or e.column in res.protected) and e.name in exported:
                    values.append(exported[e.name])
        with self._lock:
            values.extend(self._secret_props.values())
        for value in values:
            text = serialise_value(value)
            if text and not is_placeholder(text):
                secrets.add(text)
        return secrets

    def stack_exports(self) -> dict[str, Any]:
        """The stack exports (compat §5.5): ``stack_name``, ``stack_env`` and the manifest's
        ``exports``, strings holding JSON objects/arrays parsed. ``elapsed_time`` is the
        executor's to add. A name with no value is an error."""
        ctx = self.global_context()
        out: dict[str, Any] = {"stack_name": self.manifest.name, "stack_env": self.env}
        for name in self.manifest.exports:
            if name not in ctx:
                raise ManifestError(
                    f"stack export {name!r} has no value (not a global nor an export of any "
                    "resource that ran)",
                    file=self.manifest.display_path,
                    line=self.manifest.exports_line,
                    hint=did_you_mean(name, [k for k in ctx if isinstance(k, str)]),
                )
            out[name] = _as_json(ctx[name])
        return out
