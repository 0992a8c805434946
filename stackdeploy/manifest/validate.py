"""Validate a parsed manifest and build the :mod:`~stackdeploy.manifest.model` from it.

Every problem is collected with its ``file:line`` before anything is raised, so one run
shows them all: errors end in one :class:`ManifestProblems` (a ``ManifestError``) listing
them one per line; warnings (keys stackql-deploy would silently ignore, the ``aws``
provider, ``auth``) are returned, and become errors with ``strict=True``.

An unknown key within a small edit distance of a known one (``propz``, ``depends-on``,
``resouces``) is an error, not a warning: stackql-deploy would ignore it and deploy the
resource without what the key held. Every template (globals, props, ``if``, ``sql``,
``run``) is compiled, and every query file read and parsed
(:func:`~stackdeploy.query.iql.read_query_file`), so syntax errors, undecodable files and
paths that leave the stack folder stop the run at load, before any call is made.

Checks that need a template context (undefined variables, ``merge`` names, a global that
renders empty) happen at render time in :mod:`stackdeploy.manifest.render`, also with
``file:line``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from jinja2 import TemplateSyntaxError

from stackdeploy.errors import (
    LocatedError,
    ManifestError,
    StackDeployError,
    TemplateError,
    TypeNotFoundError,
)
from stackdeploy.manifest.loader import (
    Loaded,
    NodePath,
    Positions,
    iter_strings,
    resolve_includes,
)
from stackdeploy.manifest.model import (
    ACCESS_KEYS,
    RESOURCE_KINDS,
    AwsAuth,
    ExportDef,
    GlobalDef,
    Manifest,
    PropDef,
    ResourceAccess,
    ResourceDef,
    ResourceKind,
    ReturnVal,
)
from stackdeploy.query.iql import QueryFile, read_query_file
from stackdeploy.templating import check_syntax, make_environment
from stackdeploy.textfile import is_inside, unsafe_relative_path

TOP_KEYS = ("name", "providers", "globals", "resources", "exports", "version", "description")
GLOBAL_KEYS = ("name", "value", "description", "protected")
RESOURCE_KEYS = (
    "name",
    "type",
    "file",
    "sql",
    "run",
    "props",
    "exports",
    "protected",
    "return_vals",
    "if",
    "skip_validation",
    "depends_on",
    "resource_type",
    "replace",
    "auth",
    "description",
    *ACCESS_KEYS,
    "skip_on_delete",
)
# 1.x ``auth`` fields naming the variables that hold credentials.
AUTH_KEY_ID = "keyIDenvvar"
AUTH_SECRET = "credentialsenvvar"
AUTH_TOKEN = "sessiontokenenvvar"
AUTH_BASIC = ("username_var", "password_var")
_AWS_PROVIDERS = ("aws", "awscc")
_REGION_NAME = re.compile(r"[a-z]{2,}(-[a-z0-9]+)*-[0-9]+")
_ROLE_ARN = re.compile(r"arn:aws[a-zA-Z-]*:iam::\d{12}:role/[\w+=,.@/-]+")
PROP_KEYS = ("name", "value", "values", "merge", "description", "protected")
RETURN_VAL_OPS = ("create", "update", "delete")
DEFAULT_REGION = "us-east-1"
# Resource kinds whose work is done by a query (file or inline sql) or generated calls.
_QUERY_KINDS = ("resource", "query", "command", "multi")
# Exports of a declarative resource that are not schema properties.
_DECLARATIVE_EXTRA_COLUMNS = frozenset({"region", "Identifier", "identifier"})


@dataclass(frozen=True)
class Problem:
    """One validation finding at ``file:line``."""

    file: str
    line: int
    message: str
    hint: str | None = None
    warning: bool = False

    def __str__(self) -> str:
        # Line 0: the problem is with the whole file (it cannot be read, it is outside...).
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.message}"
        if self.warning:
            text = f"{where}: warning: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class ManifestProblems(ManifestError):
    """Several manifest errors, reported together one per line (``.problems`` has them)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        if len(problems) == 1:
            only = problems[0]
            super().__init__(only.message, file=only.file, line=only.line, hint=only.hint)
        else:
            lines = "\n".join(f"  {p}" for p in problems)
            super().__init__(
                f"{len(problems)} problems in the manifest:\n{lines}", file=problems[0].file
            )


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``"did you mean X?"`` for the closest choice, or None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


@lru_cache(maxsize=1)
def _expression_environment() -> Any:
    """The environment ``if`` conditions are compiled with (as evaluate_condition does)."""
    return make_environment()


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of
    two neighbouring characters each cost 1 (``propz``/``props`` 1, ``resouces``/``resources``
    1, ``exprots``/``exports`` 1)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, previous2[j - 2] + 1)
            current.append(value)
        previous2, previous = previous, current
    return previous[-1]


def typo_of(key: str, known: Iterable[str]) -> str | None:
    """The known key that ``key`` is a typo of, or None.

    Case, ``-`` and spaces are ignored (``Depends-On`` is ``depends_on``); then a key one edit
    away from a known key of up to 4 letters, or two edits from a longer one, is a typo.
    """
    norm = key.strip().lower().replace("-", "_").replace(" ", "_")
    best: tuple[int, str] | None = None
    for candidate in known:
        limit = 1 if len(candidate) <= 4 else 2
        distance = edit_distance(norm, candidate)
        if distance <= limit and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None


def _type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "empty",
    }.get(type(value), type(value).__name__)


class _Collector:
    """Collects problems for one manifest file."""

    def __init__(self, positions: Positions, *, strict: bool) -> None:
        self.positions = positions
        self.strict = strict
        self.problems: list[Problem] = []

    def error(self, path: NodePath, message: str, hint: str | None = None) -> None:
        file, line = self.positions.where(path)
        self.problems.append(Problem(file, line, message, hint))

    def warn(self, path: NodePath, message: str, hint: str | None = None) -> None:
        file, line = self.positions.where(path)
        self.problems.append(Problem(file, line, message, hint, warning=not self.strict))

    def add_exception(self, exc: StackDeployError, path: NodePath) -> None:
        file, line = self.positions.where(path)
        if isinstance(exc, LocatedError) and exc.file:
            # The error is in another file (an include, a query file): point there.
            file, line = exc.file, exc.line or 0
            message = exc.bare_message
        else:
            message = exc.message
        self.problems.append(Problem(file, line, message, exc.hint))

    def unknown_keys(
        self, mapping: Mapping[Any, Any], known: tuple[str, ...], path: NodePath, where: str
    ) -> set[str]:
        """Report the keys of ``mapping`` not in ``known``: an error for a typo of a known
        key, else a warning (stackql-deploy ignores unknown keys). Returns the known keys
        that typos stood for."""
        meant: set[str] = set()
        for key in mapping:
            if key in known:
                continue
            typo = typo_of(str(key), known)
            if typo is not None:
                meant.add(typo)
                self.error(
                    (*path, key),
                    f"unknown key {key!r} in {where}: did you mean {typo!r}?",
                    hint="a key this close to a known one is taken for a typo; rename it",
                )
                continue
            hint = did_you_mean(str(key), known)
            self.warn((*path, key), f"unknown key {key!r} in {where} (ignored)", hint)
        return meant

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.warning]

    def line(self, path: NodePath) -> int:
        return self.positions.line(path)


def _string_list(
    c: _Collector, value: Any, path: NodePath, what: str, *, allow_single: bool = True
) -> tuple[str, ...]:
    """A list of non-empty strings (a single string is accepted as a one-item list)."""
    if value is None:
        return ()
    if isinstance(value, str) and allow_single:
        return (value,)
    if not isinstance(value, list):
        c.error(path, f"{what} must be a list of strings, not {_type_name(value)}")
        return ()
    out: list[str] = []
    for index, item in enumerate(value):
        if isinstance(item, str) and item.strip():
            out.append(item.strip())
        else:
            c.error((*path, index), f"{what} items must be strings, not {_type_name(item)}")
    return tuple(out)


def _bool(c: _Collector, mapping: Mapping[str, Any], key: str, path: NodePath) -> bool:
    value = mapping.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        c.error((*path, key), f"{key} must be true or false, not {_type_name(value)}")
        return False
    return value


def _optional_str(
    c: _Collector, mapping: Mapping[str, Any], key: str, path: NodePath
) -> str | None:
    value = mapping.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        c.error((*path, key), f"{key} must be a string, not {_type_name(value)}")
        return None
    return value


class _Builder:
    """Turns the parsed YAML into model objects, reporting problems on the way."""

    def __init__(
        self, loaded: Loaded, *, manifest_path: Path, stack_env: str, strict: bool
    ) -> None:
        self.loaded = loaded
        self.path = manifest_path
        self.stack_dir = manifest_path.parent
        self.resources_dir = self.stack_dir / "resources"
        self.env = stack_env
        self.c = _Collector(loaded.positions, strict=strict)
        self.meant: set[str] = set()  # top-level keys a typo stood for
        self._registry: Any = None  # set by _resolve_type

    # ------------------------------------------------------------------ includes
    def _include(self, value: Any, path: NodePath) -> Any:
        try:
            return resolve_includes(
                value,
                path,
                self.c.positions,
                resources_dir=self.resources_dir,
                display_dir=os.path.dirname(self.c.positions.default_file),
            )
        except ManifestError as exc:
            self.c.add_exception(exc, path)
            return value

    # ------------------------------------------------------------------ top level
    def build(self) -> Manifest:
        c = self.c
        data = self.loaded.data
        for path, line in self.loaded.duplicate_keys:
            c.error(path, f"duplicate key {path[-1]!r} (line {line}); only the last one counts")
        if not isinstance(data, dict):
            c.error((), f"the manifest must be a mapping, not {_type_name(data)}")
            raise ManifestProblems(c.errors)
        self.meant = c.unknown_keys(data, TOP_KEYS, (), "the manifest")

        name = data.get("name")
        if name is None or (isinstance(name, str) and not name.strip()):
            if "name" not in self.meant:
                c.error(("name",) if "name" in data else (), "the stack has no 'name'")
            name = ""
        elif not isinstance(name, str):
            c.error(("name",), f"name must be a string, not {_type_name(name)}")
            name = str(name)

        providers = self._providers(data)
        globals_ = self._globals(data.get("globals"))
        resources = self._resources(data, globals_)
        exports = _string_list(c, data.get("exports"), ("exports",), "exports")
        self._check_stack_exports(exports, globals_, resources)
        description = data.get("description")
        return Manifest(
            path=self.path,
            name=name.strip(),
            providers=providers,
            globals=globals_,
            resources=resources,
            exports=exports,
            version=data.get("version"),
            description=description if isinstance(description, str) else None,
            raw=data,
            positions=c.positions,
            exports_line=c.line(("exports",)) if "exports" in data else None,
        )

    def _providers(self, data: Mapping[str, Any]) -> tuple[str, ...]:
        c = self.c
        if "providers" not in data:
            if "providers" not in self.meant:
                c.error((), "the stack has no 'providers'", hint="add 'providers: [awscc]'")
            return ()
        providers = _string_list(c, data["providers"], ("providers",), "providers")
        if not providers:
            if data["providers"] is None or data["providers"] == []:
                c.error(("providers",), "providers is empty", hint="add 'providers: [awscc]'")
            return ()
        bases = [p.split("::", 1)[0].lower() for p in providers]
        # stackql-deploy 1.x stacks name the older `aws` provider; its Cloud Control tables
        # (aws.<service>.<resource>) run here as they are (docs/query.md).
        if "awscc" not in bases and "aws" not in bases:
            c.error(
                ("providers",),
                f"providers {list(providers)} include neither awscc nor aws",
                hint="stack-deploy deploys AWS Cloud Control stacks: awscc, or aws (1.x stacks)",
            )
        for index, base in enumerate(bases):
            if base not in ("awscc", "aws"):
                c.warn(("providers", index), f"provider {providers[index]!r} is ignored")
        return providers

    # ------------------------------------------------------------------ globals
    def _globals(self, value: Any) -> tuple[GlobalDef, ...]:
        c = self.c
        if value is None:
            return ()
        if not isinstance(value, list):
            c.error(("globals",), f"globals must be a list, not {_type_name(value)}")
            return ()
        out: list[GlobalDef] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(value):
            path: NodePath = ("globals", index)
            if not isinstance(item, dict):
                c.error(path, f"a global must be a mapping {{name, value}}, not {_type_name(item)}")
                continue
            meant = c.unknown_keys(item, GLOBAL_KEYS, path, "a global")
            gname = item.get("name")
            if not isinstance(gname, str) or not gname.strip():
                if gname is None and "name" in meant:
                    continue
                c.error(
                    path,
                    "a global has no 'name'"
                    if gname is None
                    else f"a global's name must be a string, not {_type_name(gname)}",
                )
                continue
            gname = gname.strip()
            if gname in seen:
                c.error(
                    (*path, "name"),
                    f"duplicate global {gname!r} (first defined on line {seen[gname]})",
                )
                continue
            seen[gname] = c.line(path)
            if "value" not in item:
                if "value" not in meant:
                    c.error(path, f"global {gname!r} has no 'value'")
                continue
            if item["value"] is None:
                c.error((*path, "value"), f"global {gname!r} has an empty value")
                continue
            raw = self._include(item["value"], (*path, "value"))
            item["value"] = raw
            self._check_value_templates(raw, (*path, "value"))
            desc = item.get("description")
            protected = item.get("protected", False)
            if not isinstance(protected, bool):
                c.error(
                    (*path, "protected"),
                    f"global {gname!r}: protected must be true or false, not "
                    f"{_type_name(protected)}",
                    "write `protected: true` to mask the global's value everywhere",
                )
                protected = True  # when in doubt, mask
            out.append(
                GlobalDef(
                    name=gname,
                    value=raw,
                    description=desc if isinstance(desc, str) else None,
                    line=c.line(path),
                    path=(*path, "value"),
                    protected=protected,
                )
            )
        return tuple(out)

    def _region(self, globals_: tuple[GlobalDef, ...]) -> tuple[str, NodePath | None]:
        """The region for type checks: the ``region`` global when literal, else us-east-1."""
        for g in globals_:
            if g.name == "region" and isinstance(g.value, str):
                text = g.value.strip()
                if text and "{{" not in text and "{%" not in text:
                    return text, g.path
        return DEFAULT_REGION, None

    # ------------------------------------------------------------------ resources
    def _resources(
        self, data: Mapping[str, Any], globals_: tuple[GlobalDef, ...]
    ) -> tuple[ResourceDef, ...]:
        c = self.c
        if "resources" not in data:
            if "resources" not in self.meant:
                c.error((), "the stack has no 'resources'")
            return ()
        value = data["resources"]
        if value is None:
            return ()
        if not isinstance(value, list):
            c.error(("resources",), f"resources must be a list, not {_type_name(value)}")
            return ()
        region, region_path = self._region(globals_)
        out: list[ResourceDef] = []
        first_line: dict[str, int] = {}
        for index, item in enumerate(value):
            path: NodePath = ("resources", index)
            if not isinstance(item, dict):
                c.error(path, f"a resource must be a mapping, not {_type_name(item)}")
                continue
            rname = item.get("name")
            if not isinstance(rname, str) or not rname.strip():
                c.error(
                    path,
                    "a resource has no 'name'"
                    if rname is None
                    else f"a resource's name must be a string, not {_type_name(rname)}",
                )
                continue
            rname = rname.strip()
            unsafe = unsafe_relative_path(rname)
            if unsafe is not None:
                c.error(
                    (*path, "name"),
                    f"resource name {rname!r} is refused: {unsafe}",
                    hint="a name is also the query file resources/<name>.iql: use letters, "
                    "digits, _ and - ('network/vpc' for a subfolder)",
                )
                continue
            if rname in first_line:
                c.error(
                    (*path, "name"),
                    f"duplicate resource name {rname!r} (first defined on line "
                    f"{first_line[rname]})",
                )
                continue
            first_line[rname] = c.line(path)
            resource = self._resource(item, rname, path, region, region_path)
            if resource is not None:
                out.append(resource)
        names = [r.name for r in out]
        for resource in out:
            for dep_index, dep in enumerate(resource.depends_on):
                dep_path = (*resource.path, "depends_on", dep_index)
                if dep == resource.name:
                    c.error(dep_path, f"resource {resource.name!r} depends on itself")
                elif dep not in names:
                    c.error(
                        dep_path,
                        f"depends_on names unknown resource {dep!r}",
                        did_you_mean(dep, names),
                    )
        self._check_cycles(out)
        return tuple(out)

    def _check_cycles(self, resources: list[ResourceDef]) -> None:
        """A cycle of ``depends_on`` can never be ordered: report the first one found."""
        edges = {r.name: [d for d in r.depends_on if d != r.name] for r in resources}
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        for start in edges:
            if state.get(start):
                continue
            path: list[str] = [start]
            stack: list[Iterator[str]] = [iter(edges[start])]
            state[start] = 1
            while stack:
                dep = next(stack[-1], None)
                if dep is None:
                    state[path.pop()] = 2
                    stack.pop()
                elif dep not in edges or state.get(dep) == 2:
                    continue
                elif state.get(dep) == 1:
                    cycle = [*path[path.index(dep) :], dep]
                    first = next(r for r in resources if r.name == cycle[0])
                    self.c.error(
                        (*first.path, "depends_on", first.depends_on.index(cycle[1])),
                        "depends_on forms a cycle: " + " -> ".join(cycle),
                        hint="remove one of these depends_on entries",
                    )
                    return
                else:
                    state[dep] = 1
                    path.append(dep)
                    stack.append(iter(edges[dep]))

    def _resource(
        self,
        item: dict[str, Any],
        name: str,
        path: NodePath,
        region: str,
        region_path: NodePath | None,
    ) -> ResourceDef | None:
        c = self.c
        meant = c.unknown_keys(item, RESOURCE_KEYS, path, f"resource {name!r}")
        kind = item.get("type", "resource")
        if kind is None:
            kind = "resource"
        if kind not in RESOURCE_KINDS:
            c.error(
                (*path, "type"),
                f"resource {name!r} has unknown type {kind!r}",
                did_you_mean(str(kind), RESOURCE_KINDS)
                or f"use one of {', '.join(RESOURCE_KINDS)}",
            )
            kind = "resource"
        kind = cast(ResourceKind, kind)

        file = _optional_str(c, item, "file", path)
        sql = _optional_str(c, item, "sql", path)
        run = _optional_str(c, item, "run", path)
        condition: str | None
        raw_if = item.get("if")
        if isinstance(raw_if, bool):
            condition = "true" if raw_if else "false"
        else:
            condition = _optional_str(c, item, "if", path)
        if condition is not None and not condition.strip():
            c.error((*path, "if"), f"resource {name!r} has an empty 'if'")
            condition = None
        resource_type_raw = _optional_str(c, item, "resource_type", path)
        description = item.get("description")

        if sql is not None and kind not in ("query", "command"):
            c.error(
                (*path, "sql"),
                f"'sql' is only used by query and command resources, "
                f"not by {kind!r} resource {name!r}",
                hint="put the queries in a file",
            )
        if kind == "script" and not (run and run.strip()) and "run" not in meant:
            c.error(path, f"script resource {name!r} has no 'run' command")
        if run is not None and kind != "script":
            c.error(
                (*path, "run"),
                f"'run' is only used by script resources, not by {kind!r} resource {name!r}",
                hint="add 'type: script'",
            )

        # The query file: file: wins over the default resources/<name>.iql.
        query_file: Path | None = None
        queries: QueryFile | None = None
        if kind in _QUERY_KINDS:
            if file is not None:
                unsafe = unsafe_relative_path(file)
                if unsafe is not None:
                    c.error(
                        (*path, "file"),
                        f"'file' {file!r} of resource {name!r} is refused: {unsafe}",
                        hint="'file' is relative to the stack's resources/ folder and stays "
                        "inside the stack folder",
                    )
                else:
                    candidate = self.resources_dir / file
                    if candidate.is_file():
                        query_file = self._inside(candidate, (*path, "file"), name)
                    else:
                        c.error(
                            (*path, "file"),
                            f"query file resources/{file} of resource {name!r} not found",
                        )
            else:
                candidate = self.resources_dir / f"{name}.iql"
                if candidate.is_file():
                    query_file = self._inside(candidate, (*path, "name"), name)
                elif not meant and "sql" not in item and "resource_type" not in item:
                    c.error(
                        path,
                        f"resource {name!r} has no query file resources/{name}.iql",
                        hint="create it, give 'file:', or declare the resource with "
                        "'resource_type:' (e.g. awscc.s3.buckets)",
                    )
            if query_file is not None and sql is None:
                queries = self._read_queries(query_file, file or f"{name}.iql", path)
        elif file is not None:
            c.warn((*path, "file"), f"'file' is not used by script resource {name!r}")
        self._check_templates(item, path, name)

        resource_type: str | None = None
        if resource_type_raw is not None:
            if kind not in ("resource", "query", "multi"):
                c.error(
                    (*path, "resource_type"), f"'resource_type' is not used by {kind!r} resources"
                )
            else:
                resource_type = self._resolve_type(
                    resource_type_raw, (*path, "resource_type"), region, region_path
                )

        props = self._props(item.get("props"), name, (*path, "props"))
        exports = self._exports(item.get("exports"), name, (*path, "exports"))
        if resource_type is not None and query_file is None and sql is None:
            self._check_declarative(resource_type, props, exports, path, item.get("exports"))
        protected = _string_list(c, item.get("protected"), (*path, "protected"), "protected")
        known = {p.name for p in props} | {e.name for e in exports} | {e.column for e in exports}
        for p_index, secret in enumerate(protected):
            if secret not in known:
                c.warn(
                    (*path, "protected", p_index),
                    f"protected name {secret!r} is neither a prop nor an export of "
                    f"resource {name!r}",
                    did_you_mean(secret, known),
                )
        auth = item.get("auth")
        access = self._access(item, name, path, kind)
        return ResourceDef(
            name=name,
            type=kind,
            file=file,
            sql=sql,
            run=run,
            props=props,
            exports=exports,
            protected=protected,
            return_vals=self._return_vals(item.get("return_vals"), (*path, "return_vals")),
            condition=condition,
            skip_validation=_bool(c, item, "skip_validation", path),
            depends_on=_string_list(c, item.get("depends_on"), (*path, "depends_on"), "depends_on"),
            resource_type=resource_type,
            replace=_bool(c, item, "replace", path),
            line=c.line(path),
            auth=auth if isinstance(auth, dict) else None,
            query_file=query_file,
            queries=queries,
            description=description if isinstance(description, str) else None,
            sql_line=c.positions.text_start((*path, "sql"))[1] if sql is not None else None,
            run_line=c.positions.text_start((*path, "run"))[1] if run is not None else None,
            condition_line=c.positions.text_start((*path, "if"))[1]
            if condition is not None
            else None,
            path=path,
            access=access,
            skip_on_delete=_bool(c, item, "skip_on_delete", path),
        )

    def _access(
        self, item: Mapping[str, Any], name: str, path: NodePath, kind: str
    ) -> ResourceAccess:
        """``region``, ``role_arn``, ``role_session_name``, ``external_id``, ``profile`` and
        1.x ``auth``: where and as whom the resource's AWS calls go."""
        c = self.c
        values: dict[str, str] = {}
        for key in ACCESS_KEYS:
            if key not in item:
                continue
            value = _optional_str(c, item, key, path)
            if value is None:
                continue
            if not value.strip():
                c.error((*path, key), f"{key} of resource {name!r} is empty")
                continue
            values[key] = value.strip()
        auth = self._auth(item.get("auth"), name, (*path, "auth"))
        if not values and auth is None:
            return ResourceAccess()
        if kind == "script":
            where = next(iter(values), "auth")
            c.error(
                (*path, where),
                f"'{where}' is not used by script resource {name!r} (its command makes its own "
                "calls)",
            )
            return ResourceAccess()
        literal = {k: v for k, v in values.items() if "{{" not in v and "{%" not in v}
        region = literal.get("region")
        if region is not None and not _REGION_NAME.fullmatch(region):
            c.error(
                (*path, "region"),
                f"region {region!r} of resource {name!r} is not a region name",
                hint="give one such as us-east-1 or eu-west-1",
            )
        role = literal.get("role_arn")
        if role is not None and not _ROLE_ARN.fullmatch(role):
            c.error(
                (*path, "role_arn"),
                f"role_arn {role!r} of resource {name!r} is not an IAM role ARN",
                hint="arn:aws:iam::<12-digit account>:role/<name>",
            )
        for key in ("role_session_name", "external_id"):
            if key in values and "role_arn" not in values:
                c.error(
                    (*path, key),
                    f"{key} of resource {name!r} is used only with role_arn",
                    hint="add the role_arn to assume, or remove it",
                )
        if "profile" in values and auth is not None:
            c.error(
                (*path, "profile"),
                f"resource {name!r} gives both a profile and auth credentials; use one",
                hint="keep 'auth' (the variables holding the keys) or 'profile', not both",
            )
        for key, value in values.items():
            self._check_template(value, (*path, key))
        return ResourceAccess(
            region=values.get("region"),
            role_arn=values.get("role_arn"),
            role_session_name=values.get("role_session_name"),
            external_id=values.get("external_id"),
            profile=values.get("profile"),
            auth=auth,
        )

    def _auth(self, value: Any, name: str, path: NodePath) -> AwsAuth | None:
        """stackql-deploy 1.x ``auth``: ``{aws: {type, keyIDenvvar, credentialsenvvar}}`` (the
        provider key may be left out). Blocks of other providers are ignored (warned)."""
        c = self.c
        if value is None:
            return None
        if not isinstance(value, dict):
            c.error(path, f"auth of resource {name!r} must be a mapping, not {_type_name(value)}")
            return None
        fields = (AUTH_KEY_ID, AUTH_SECRET, AUTH_TOKEN, *AUTH_BASIC, "type")
        if any(k in value for k in fields):
            blocks: list[tuple[str, Any, NodePath]] = [("aws", value, path)]
        else:
            blocks = [(str(k), v, (*path, k)) for k, v in value.items()]
        found: AwsAuth | None = None
        for provider, block, bpath in blocks:
            if provider.split("::", 1)[0].lower() not in _AWS_PROVIDERS:
                c.warn(
                    bpath,
                    f"auth for provider {provider!r} of resource {name!r} is ignored "
                    "(stack-deploy manages AWS resources only)",
                )
                continue
            if not isinstance(block, dict):
                c.error(bpath, f"auth.{provider} must be a mapping, not {_type_name(block)}")
                continue
            basic = [k for k in AUTH_BASIC if k in block]
            if basic:
                c.error(
                    (*bpath, basic[0]),
                    f"auth of resource {name!r}: {basic[0]} (a user name and password) cannot "
                    "sign AWS requests",
                    hint=f"name the variables holding the access key: {AUTH_KEY_ID} and "
                    f"{AUTH_SECRET}",
                )
                continue
            names: dict[str, str] = {}
            for key in (AUTH_KEY_ID, AUTH_SECRET, AUTH_TOKEN):
                if key not in block:
                    continue
                text = block[key]
                if not isinstance(text, str) or not text.strip():
                    c.error((*bpath, key), f"auth {key} must name a variable")
                    continue
                names[key] = text.strip()
            missing = [k for k in (AUTH_KEY_ID, AUTH_SECRET) if k not in block]
            if missing:
                c.error(
                    bpath,
                    f"auth of resource {name!r} has no {' or '.join(missing)}",
                    hint=f"AWS needs both the access key id ({AUTH_KEY_ID}) and the secret "
                    f"key ({AUTH_SECRET}) variables",
                )
                continue
            if AUTH_KEY_ID in names and AUTH_SECRET in names:
                found = AwsAuth(names[AUTH_KEY_ID], names[AUTH_SECRET], names.get(AUTH_TOKEN))
        return found

    def _inside(self, candidate: Path, path: NodePath, name: str) -> Path | None:
        """``candidate`` when it resolves inside the stack folder (symlinks followed)."""
        if is_inside(candidate, self.stack_dir):
            return candidate
        self.c.error(
            path,
            f"the query file of resource {name!r} resolves (through a symlink) to "
            f"{candidate.resolve()}, outside the stack folder",
            hint="copy the query file into the stack's resources/ folder",
        )
        return None

    def _read_queries(self, query_file: Path, rel: str, path: NodePath) -> QueryFile | None:
        shown = os.path.normpath(
            os.path.join(os.path.dirname(self.c.positions.default_file), "resources", rel)
        )
        try:
            return read_query_file(query_file, stack_dir=self.stack_dir, display=shown)
        except StackDeployError as exc:
            self.c.add_exception(exc, path)
            return None

    def _check_templates(self, item: Mapping[str, Any], path: NodePath, name: str) -> None:
        """Compile the resource's ``sql``, ``run`` and ``if`` now, so a syntax error stops
        the run before any resource is touched (props are checked in :meth:`_props`)."""
        for key in ("sql", "run"):
            text = item.get(key)
            if isinstance(text, str):
                self._check_template(text, (*path, key))
        condition = item.get("if")
        if not isinstance(condition, str) or not condition.strip():
            return
        if "{{" in condition or "{%" in condition:
            self._check_template(condition, (*path, "if"))
            return
        file, line = self.c.positions.text_start((*path, "if"))
        try:
            _expression_environment().compile_expression(condition.strip())
        except TemplateSyntaxError as exc:
            self.c.problems.append(
                Problem(
                    file,
                    line,
                    f"the 'if' of resource {name!r} is not a valid expression: {exc.message}",
                    "write a Jinja expression such as stack_env == 'prd'",
                )
            )
        except (RecursionError, SyntaxError, MemoryError):
            self.c.problems.append(
                Problem(
                    file,
                    line,
                    f"the 'if' of resource {name!r} is nested too deeply",
                    "simplify the expression",
                )
            )

    def _check_template(self, text: str, path: NodePath) -> None:
        """Compile ``text`` (the string at ``path``) when it holds a template."""
        if "{{" not in text and "{%" not in text and "{#" not in text:
            return
        file, line = self.c.positions.text_start(path)
        try:
            check_syntax(text, file=file, line=line)
        except TemplateError as exc:
            self.c.add_exception(exc, path)

    def _check_value_templates(self, value: Any, path: NodePath) -> None:
        """Compile every template string inside a global's or prop's value."""
        for sub, string in iter_strings(value, path):
            self._check_template(string, sub)

    def _check_declarative(
        self,
        type_name: str,
        props: tuple[PropDef, ...],
        exports: tuple[ExportDef, ...],
        path: NodePath,
        raw_exports: Any,
    ) -> None:
        """Props and exports of a declarative resource must name properties of its type."""
        try:
            schema = self._registry.get(type_name)
        except StackDeployError as exc:
            self.c.add_exception(exc, (*path, "resource_type"))
            return
        columns = sorted(schema.columns)
        for prop in props:
            if schema.canonical_key((), prop.name) is None:
                self.c.error(
                    prop.path[:4],
                    f"prop {prop.name!r} is not a property of {type_name}",
                    did_you_mean(prop.name, columns) or f"see: stack-deploy describe {type_name}",
                )
        raw = raw_exports if isinstance(raw_exports, list) else []
        for export in exports:
            if export.column in _DECLARATIVE_EXTRA_COLUMNS:
                continue
            if schema.canonical_key((), export.column) is None:
                index = next(
                    (
                        i
                        for i, item in enumerate(raw)
                        if item == export.column
                        or (isinstance(item, dict) and export.column in item)
                    ),
                    None,
                )
                where = (*path, "exports", index) if index is not None else (*path, "exports")
                self.c.error(
                    where,
                    f"export {export.column!r} is not a property of {type_name}",
                    did_you_mean(export.column, columns)
                    or f"see: stack-deploy describe {type_name}",
                )

    def _resolve_type(
        self, name: str, path: NodePath, region: str, region_path: NodePath | None
    ) -> str | None:
        # Imported here: the registry is only needed for declarative resources.
        from stackdeploy.schema.registry import get_registry

        try:
            registry = get_registry(region)
        except TypeNotFoundError as exc:
            self.c.add_exception(exc, region_path or path)
            registry = get_registry(DEFAULT_REGION)
        self._registry = registry
        try:
            return registry.resolve_type_name(name)
        except TypeNotFoundError as exc:
            self.c.add_exception(exc, path)
            return None

    def _props(self, value: Any, resource: str, path: NodePath) -> tuple[PropDef, ...]:
        c = self.c
        if value is None:
            return ()
        if not isinstance(value, list):
            c.error(
                path,
                f"props of resource {resource!r} must be a list of "
                f"{{name, value}} mappings, not {_type_name(value)}",
            )
            return ()
        out: list[PropDef] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(value):
            ppath = (*path, index)
            if not isinstance(item, dict):
                c.error(
                    ppath,
                    f"a prop of resource {resource!r} must be a mapping "
                    f"{{name, value}}, not {_type_name(item)}",
                )
                continue
            meant = c.unknown_keys(item, PROP_KEYS, ppath, f"a prop of resource {resource!r}")
            pname = item.get("name")
            if not isinstance(pname, str) or not pname.strip():
                if pname is None and "name" in meant:
                    continue
                c.error(
                    ppath,
                    f"a prop of resource {resource!r} has no 'name'"
                    if pname is None
                    else f"a prop's name must be a string, not {_type_name(pname)}",
                )
                continue
            pname = pname.strip()
            if pname in seen:
                c.error(
                    (*ppath, "name"),
                    f"duplicate prop {pname!r} in resource "
                    f"{resource!r} (first defined on line {seen[pname]})",
                )
                continue
            seen[pname] = c.line(ppath)
            merge = _string_list(c, item.get("merge"), (*ppath, "merge"), "merge")
            has_value, has_values = "value" in item, "values" in item
            value_path: NodePath = (*ppath, "value")
            raw_value: Any = None
            values: dict[str, Any] | None = None
            if has_value and has_values:
                c.error(
                    ppath,
                    f"prop {pname!r} of resource {resource!r} has both 'value' and 'values'",
                    hint="keep one",
                )
                continue
            if has_value:
                raw_value = self._include(item["value"], value_path)
                item["value"] = raw_value
            elif has_values:
                values, value_path = self._values(
                    item["values"], pname, resource, (*ppath, "values")
                )
                if values is None:
                    continue
                raw_value = values.get(self.env)
            elif not merge:
                if not meant & {"value", "values", "merge"}:
                    c.error(
                        ppath,
                        f"prop {pname!r} of resource {resource!r} has no 'value' or 'values'",
                    )
                continue
            self._check_value_templates(raw_value, value_path)
            out.append(
                PropDef(
                    name=pname,
                    value=raw_value,
                    values=values,
                    merge=merge,
                    line=c.line(ppath),
                    path=value_path,
                    description=item.get("description")
                    if isinstance(item.get("description"), str)
                    else None,
                    protected=_bool(c, item, "protected", ppath),
                )
            )
        return tuple(out)

    def _values(
        self, value: Any, prop: str, resource: str, path: NodePath
    ) -> tuple[dict[str, Any] | None, NodePath]:
        c = self.c
        if not isinstance(value, dict):
            c.error(
                path,
                f"values of prop {prop!r} must map each environment to "
                f"{{value: ...}}, not {_type_name(value)}",
            )
            return None, path
        out: dict[str, Any] = {}
        ok = True
        for env, entry in value.items():
            epath = (*path, env)
            if not isinstance(entry, dict) or "value" not in entry:
                c.error(epath, f"values.{env} of prop {prop!r} must be a mapping {{value: ...}}")
                ok = False
                continue
            c.unknown_keys(entry, ("value",), epath, f"values.{env} of prop {prop!r}")
            entry["value"] = self._include(entry["value"], (*epath, "value"))
            out[str(env)] = entry["value"]
        if not ok:
            return None, path
        if self.env not in out:
            c.error(
                path,
                f"prop {prop!r} of resource {resource!r} has no value for "
                f"environment {self.env!r} (values has {', '.join(map(repr, out)) or 'none'})",
                hint=f"add '{self.env}: {{value: ...}}' under values",
            )
            return None, path
        return out, (*path, self.env, "value")

    def _exports(self, value: Any, resource: str, path: NodePath) -> tuple[ExportDef, ...]:
        c = self.c
        if value is None:
            return ()
        if not isinstance(value, list):
            c.error(
                path, f"exports of resource {resource!r} must be a list, not {_type_name(value)}"
            )
            return ()
        out: list[ExportDef] = []
        seen: set[str] = set()
        for index, item in enumerate(value):
            epath = (*path, index)
            export: ExportDef | None = None
            if isinstance(item, str) and item.strip():
                export = ExportDef(item.strip())
            elif isinstance(item, dict) and len(item) == 1:
                column, alias = next(iter(item.items()))
                if isinstance(column, str) and isinstance(alias, str) and alias.strip():
                    export = ExportDef(column.strip(), alias.strip())
            if export is None:
                c.error(
                    epath,
                    f"an export of resource {resource!r} must be a column name "
                    f"or {{column: alias}}, not {_type_name(item)}",
                )
                continue
            if export.name in seen:
                c.error(epath, f"resource {resource!r} exports {export.name!r} twice")
                continue
            seen.add(export.name)
            out.append(export)
        return tuple(out)

    def _return_vals(self, value: Any, path: NodePath) -> dict[str, tuple[ReturnVal, ...]]:
        c = self.c
        if value is None:
            return {}
        if not isinstance(value, dict):
            c.error(
                path, f"return_vals must map create/update/delete to lists, not {_type_name(value)}"
            )
            return {}
        out: dict[str, tuple[ReturnVal, ...]] = {}
        for op, items in value.items():
            opath = (*path, op)
            if op not in RETURN_VAL_OPS:
                c.error(
                    opath,
                    f"return_vals key {op!r} must be create, update or delete",
                    did_you_mean(str(op), RETURN_VAL_OPS),
                )
                continue
            if not isinstance(items, list):
                c.error(opath, f"return_vals.{op} must be a list, not {_type_name(items)}")
                continue
            vals: list[ReturnVal] = []
            for index, entry in enumerate(items):
                if isinstance(entry, str) and entry.strip():
                    vals.append(ReturnVal(entry.strip(), entry.strip()))
                elif isinstance(entry, dict) and len(entry) == 1:
                    fld, target = next(iter(entry.items()))
                    if isinstance(fld, str) and isinstance(target, str):
                        vals.append(ReturnVal(fld.strip(), target.strip()))
                        continue
                    c.error((*opath, index), "return_vals items must be Field or {Field: target}")
                else:
                    c.error((*opath, index), "return_vals items must be Field or {Field: target}")
            out[str(op)] = tuple(vals)
        return out

    def _check_stack_exports(
        self,
        exports: tuple[str, ...],
        globals_: tuple[GlobalDef, ...],
        resources: tuple[ResourceDef, ...],
    ) -> None:
        known = {"stack_name", "stack_env"} | {g.name for g in globals_}
        for r in resources:
            for e in r.exports:
                known.update((e.name, f"{r.name}.{e.name}"))
        for index, name in enumerate(exports):
            if name not in known:
                self.c.warn(
                    ("exports", index),
                    f"stack export {name!r} is not a global or an export of any resource",
                    did_you_mean(name, known),
                )


def build_manifest(
    loaded: Loaded, *, manifest_path: Path, stack_env: str, strict: bool = False
) -> tuple[Manifest, list[Problem]]:
    """Validate ``loaded`` (the parsed manifest) and build the :class:`Manifest`.

    Returns the manifest and its warnings. Raises :class:`ManifestProblems` listing every
    error (and, with ``strict``, every warning) when there is at least one.
    """
    builder = _Builder(loaded, manifest_path=manifest_path, stack_env=stack_env, strict=strict)
    manifest = builder.build()
    errors = builder.c.errors
    if errors:
        # Errors come in file order so the listing reads top to bottom.
        raise ManifestProblems(sorted(errors, key=lambda p: (p.file != _main(loaded), p.line)))
    return manifest, builder.c.warnings


def _main(loaded: Loaded) -> str:
    return loaded.positions.default_file
