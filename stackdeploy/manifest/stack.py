"""A loaded stack: the immutable input of every run.

:func:`load_stack` reads ``stackql_manifest.yml`` for one environment, validates it, reads the
variables (env file, ``-e``), renders the stack-level globals once, parses every query file
once and records the template names each resource refers to. The result,
:class:`LoadedStack`, never changes afterwards: what changes during a run (exports,
``this.*``, callbacks, secrets seen) lives in the engine's run state, and rendering is done by
the pure functions of :mod:`stackdeploy.manifest.render` over an explicit context.

Visibility rules (docs/manifest.md):

* env vars (``--env-file`` then ``-e``) are visible to globals as bare names
  (``{{ AWS_REGION }}``, as stackql-deploy) and everywhere under ``vars``
  (``{{ vars.AWS_REGION }}``). The process environment is never visible.
* globals are rendered once, in order; a global that refers to ``resource_name`` or
  ``idempotency_token`` (or to such a global) is *resource-scoped*: rendered again for each
  resource (the tag pattern).
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jinja2 import TemplateSyntaxError, meta

from stackdeploy.errors import ManifestError, UsageError
from stackdeploy.manifest.envfile import load_env_vars
from stackdeploy.manifest.loader import NodePath, iter_strings, load_file
from stackdeploy.manifest.model import MANIFEST_FILE, GlobalDef, Manifest, ResourceDef
from stackdeploy.manifest.validate import (
    ManifestProblems,
    Problem,
    build_manifest,
    did_you_mean,
)
from stackdeploy.query.iql import QueryFile
from stackdeploy.templating import make_environment, rewrite_this, serialise_value

#: Export placeholder in teardown when an exports query returns no row.
UNKNOWN = "<unknown>"
#: Export placeholder for values known only after an earlier resource is applied.
EVALUATED = "<evaluated>"
PLACEHOLDERS = frozenset({UNKNOWN, EVALUATED})

# Names that make a global resource-scoped: it is re-rendered for each resource.
RESOURCE_SCOPED_NAMES = frozenset({"resource_name", "idempotency_token", "this"})


def is_placeholder(value: Any) -> bool:
    """True for ``<unknown>`` / ``<evaluated>``."""
    return isinstance(value, str) and value in PLACEHOLDERS


def has_placeholder(value: Any) -> bool:
    """True when ``value`` (text, or any string inside a map or list) holds a placeholder."""
    if isinstance(value, str):
        return any(p in value for p in PLACEHOLDERS)
    if isinstance(value, Mapping):
        return any(has_placeholder(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_placeholder(v) for v in value)
    return False


def placeholder_at(state: Any, pointer: str) -> bool:
    """True when the value at JSON ``pointer`` inside ``state`` is text holding a
    placeholder (schema violations there are not judged until the value is known)."""
    node = state
    for token in [t for t in pointer.split("/") if t]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return isinstance(node, str) and has_placeholder(node)


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


def as_json(value: Any) -> Any:
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
    """Merge one ``merge`` item into ``base``: lists concatenate, de-duplicated by JSON text
    with the base first; objects merge shallowly with the item winning; no base adopts the
    item. Raises ``TypeError`` on a kind mismatch."""
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


@dataclass(frozen=True)
class LoadedStack:
    """A validated stack for one environment, with everything that does not change in a run.

    ``globals`` are the stack-level globals, rendered; ``scoped_globals`` the
    resource-scoped ones (rendered per resource by
    :func:`~stackdeploy.manifest.render.resource_globals`); ``queries`` each resource's parsed
    query file; ``references`` the top-level template names each resource's props, ``if``,
    ``sql``, ``run`` and query file use (``this.`` already rewritten to the resource's name).
    """

    manifest: Manifest
    env: str
    env_vars: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    globals: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    scoped_globals: tuple[GlobalDef, ...] = ()
    protected_globals: tuple[str, ...] = ()
    queries: Mapping[str, QueryFile] = field(default_factory=lambda: MappingProxyType({}))
    references: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def resources(self) -> tuple[ResourceDef, ...]:
        return self.manifest.resources

    @property
    def region(self) -> str | None:
        """The rendered ``region`` global, if the stack has one."""
        value = self.globals.get("region")
        return value if isinstance(value, str) and value else None

    def resource(self, name: str) -> ResourceDef:
        """The resource called ``name`` (a usage error naming the closest one if none)."""
        try:
            return self.manifest.resource(name)
        except KeyError:
            names = [r.name for r in self.manifest.resources]
            raise UsageError(
                f"no resource {name!r} in stack {self.manifest.name!r}",
                hint=did_you_mean(name, names),
            ) from None

    def query_file(self, res: ResourceDef) -> QueryFile | None:
        """The resource's parsed query file, or None."""
        return self.queries.get(res.name)

    def query_display(self, res: ResourceDef) -> str:
        """The resource's query file as shown in messages (beside the manifest path)."""
        if res.query_file is None:
            return self.manifest.display_path
        base = Path(self.manifest.display_path).parent
        rel = res.file if res.file is not None else f"{res.name}.iql"
        return str(base / "resources" / rel)

    def secret_globals(self) -> set[str]:
        """Text of the globals marked protected (masked everywhere)."""
        out: set[str] = set()
        for name in self.protected_globals:
            if name in self.globals:
                text = serialise_value(self.globals[name])
                if text and not is_placeholder(text):
                    out.add(text)
        return out


def load_stack(
    stack_dir: str | Path,
    env: str,
    *,
    env_file: str | Path | None = None,
    env_overrides: Mapping[str, str] | None = None,
    strict: bool = False,
    cwd: str | Path | None = None,
) -> LoadedStack:
    """Load ``<stack_dir>/stackql_manifest.yml`` for environment ``env``.

    ``env_file`` defaults to ``./.env`` in ``cwd`` (skipped when absent); ``env_overrides``
    are the ``-e K=V`` values. Raises :class:`~stackdeploy.errors.ManifestError` (every
    validation error at once), :class:`~stackdeploy.errors.TemplateError` (a global fails to
    render), :class:`~stackdeploy.errors.QueryError` (a query file cannot be parsed) or
    :class:`~stackdeploy.errors.UsageError` (no such stack folder or env file).
    """
    from stackdeploy.manifest.render import render_globals

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
    warnings = [str(p) for p in problems]
    queries, query_warnings = _parse_queries(manifest)
    warnings += query_warnings
    references = {
        res.name: frozenset(_references(res, queries.get(res.name))) for res in manifest.resources
    }
    base = LoadedStack(
        manifest=manifest,
        env=str(env),
        env_vars=MappingProxyType(dict(env_vars)),
        queries=MappingProxyType(queries),
        references=MappingProxyType(references),
    )
    rendered, scoped = render_globals(base)
    stack = LoadedStack(
        manifest=manifest,
        env=str(env),
        env_vars=base.env_vars,
        globals=MappingProxyType(rendered),
        scoped_globals=scoped,
        protected_globals=tuple(g.name for g in manifest.globals if g.protected),
        queries=base.queries,
        references=base.references,
        warnings=(),
    )
    unknown = check_names(stack, strict=strict)
    if strict and unknown:
        raise ManifestProblems(unknown)
    warnings += [str(p) for p in unknown]
    return _with_warnings(stack, warnings)


def _with_warnings(stack: LoadedStack, warnings: list[str]) -> LoadedStack:
    from dataclasses import replace

    return replace(stack, warnings=tuple(warnings))


def _parse_queries(manifest: Manifest) -> tuple[dict[str, QueryFile], list[str]]:
    """Every resource's query file, as the validator read and parsed it (once per file),
    and the warnings of each file once."""
    out: dict[str, QueryFile] = {}
    warnings: list[str] = []
    seen: set[int] = set()
    for res in manifest.resources:
        if res.queries is None:
            continue
        out[res.name] = res.queries
        if id(res.queries) not in seen:
            seen.add(id(res.queries))
            warnings.extend(res.queries.warnings)
    return out, warnings


def _display(manifest: Manifest, res: ResourceDef) -> str:
    base = Path(manifest.display_path).parent
    rel = res.file if res.file is not None else f"{res.name}.iql"
    return str(base / "resources" / rel)


def _references(res: ResourceDef, queries: QueryFile | None) -> set[str]:
    """Top-level names a resource's templates use (``this.`` rewritten to its name)."""
    refs: set[str] = set()

    def add(value: Any) -> None:
        if isinstance(value, str) and "this." in value:
            value = rewrite_this(value, res.name)
        refs.update(referenced_names(value))

    for prop in res.props:
        add(prop.value)
        for value in (prop.values or {}).values():
            add(value)
        refs.update(prop.merge)
    if res.condition is not None:
        text = res.condition
        if "{{" not in text and "{%" not in text:
            text = "{{ (" + text + ") }}"
        add(text)
    add(res.sql or "")
    add(res.run or "")
    for text in res.access.templates().values():
        add(text)
    if queries is not None:
        for anchor in queries:
            add(anchor.body)
    return refs


def check_names(stack: LoadedStack, *, strict: bool = False) -> list[Problem]:
    """Names used in props, ``if``, ``sql`` and ``run`` that nothing defines.

    A static look-ahead (before any AWS call) for typos: rendering fails on them anyway,
    but only when that resource is reached. Reported as warnings (errors under ``strict``)
    because a template may guard a name (``{{ x | default('') }}``). Known names:
    ``stack_*``, ``vars``, ``resource_name``, ``idempotency_token``, globals, every resource
    name (``res.x``), every export name, ``this``, ``callback``, and for props the earlier
    props (all props for ``sql`` and ``run``).
    """
    manifest = stack.manifest
    env = _parser()
    base = {"stack_name", "stack_env", "resource_name", "idempotency_token", "this", "vars"}
    base |= {"callback", *env.globals}
    base |= {g.name for g in manifest.globals}
    for res in manifest.resources:
        base.add(res.name)
        base.update(e.name for e in res.exports)
    problems: list[Problem] = []
    positions = manifest.positions
    # A bare `if` is a Python-like expression: its functions and literals are names too.
    from stackdeploy.conditions import FUNCTIONS

    condition_names = (
        base | set(FUNCTIONS) | {"true", "false", "none", "null", "True", "False", "None"}
    )

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

    for res in manifest.resources:
        known = set(base)
        for prop in res.props:
            check(prop.value, prop.path, known, f"prop {prop.name!r} of resource {res.name!r}")
            known.add(prop.name)
        if res.condition is not None:
            condition = res.condition
            if "{{" not in condition and "{%" not in condition:
                # A bare condition is one Jinja expression.
                condition = "{{ (" + condition + ") }}"
            check(
                condition, (*res.path, "if"), condition_names, f"the 'if' of resource {res.name!r}"
            )
        for key, text in (("sql", res.sql), ("run", res.run)):
            if text is not None:
                check(text, (*res.path, key), known, f"the {key} of resource {res.name!r}")
        for key, text in res.access.templates().items():
            check(text, (*res.path, key), set(base), f"the {key} of resource {res.name!r}")
    return problems


def known_names(stack: LoadedStack) -> Iterable[str]:
    """Every name a template may use (for did-you-mean hints)."""
    names = {"stack_name", "stack_env", "resource_name", "idempotency_token", "vars"}
    names |= set(stack.globals)
    names |= {g.name for g in stack.scoped_globals}
    for res in stack.resources:
        names.add(res.name)
        names.update(e.name for e in res.exports)
    return names
