"""Rendering a stack's templates: pure functions over a loaded stack and an explicit context.

Nothing here remembers anything between calls. The engine's run state gathers what a
resource may see (exports of the resources before it, its own ``this.*`` and callbacks) into
:class:`ContextInputs`; :func:`build_context` turns that into the nested template context of
one resource, and :func:`render_props`, :func:`render_text` and :func:`condition_holds`
render with it. Only the names a resource's templates refer to are put in its context, so
building one costs the size of what the resource uses, not the size of the stack: rendering a
whole stack is linear in its size.

Precedence (later wins): ``vars``, globals, resource-scoped globals, exports of earlier
resources, resource namespaces (``<res>.<export>``, ``<res>.idempotency_token``, the
resource's own ``this.*`` fields), ``callback``, ``stack_name``/``stack_env``/
``resource_name``/``idempotency_token``; props, rendered in order, shadow all of these.
A name that holds a plain value is never replaced by a namespace of the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from stackdeploy.errors import DeployError, ManifestError, QueryError
from stackdeploy.manifest.loader import NodePath
from stackdeploy.manifest.model import GlobalDef, PropDef, ResourceDef
from stackdeploy.manifest.stack import (
    RESOURCE_SCOPED_NAMES,
    LoadedStack,
    as_json,
    is_placeholder,
    known_names,
    merge_values,
    referenced_names,
)
from stackdeploy.manifest.validate import did_you_mean
from stackdeploy.templating import evaluate_condition, render, rewrite_this

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class ContextInputs:
    """What one resource sees of the run, gathered by the run state.

    ``exports``: unscoped export names -> value (the resolution of which resource's value
    each name holds is the run state's); ``namespaces``: resource name -> its namespace
    (scoped exports, ``idempotency_token``, ``callback``, and for the resource itself its
    ``this.*`` fields); ``callback``: the unscoped ``callback`` the resource sees;
    ``extra``: unscoped names added for this resource only (teardown's aliased columns).
    """

    token: str
    exports: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    namespaces: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: _EMPTY)
    callback: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


# -- values -------------------------------------------------------------------------------


def render_value(
    stack: LoadedStack,
    value: Any,
    context: Mapping[str, Any],
    path: NodePath,
    *,
    resource_name: str | None = None,
) -> Any:
    """Render every string inside ``value`` (maps and lists recursively).

    Numbers, bools and nulls keep their types; a string that renders to JSON text stays a
    string (the schema coercion of declarative resources turns it into an object, and
    queries paste it verbatim). ``path`` locates ``value`` in the manifest for errors.
    """
    if isinstance(value, str):
        text = value
        if resource_name is not None and "this." in text:
            text = rewrite_this(text, resource_name)
        if "{{" not in text and "{%" not in text and "{#" not in text:
            return value
        file, line = stack.manifest.positions.text_start(path)
        return render(text, context, file=file, line=line, hint_names=lambda: known_names(stack))
    if isinstance(value, dict):
        return {
            key: render_value(stack, item, context, (*path, key), resource_name=resource_name)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            render_value(stack, item, context, (*path, index), resource_name=resource_name)
            for index, item in enumerate(value)
        ]
    return value


def _globals_base(stack: LoadedStack) -> dict[str, Any]:
    """What globals see: env vars (bare and under ``vars``) and ``stack_*``."""
    ctx: dict[str, Any] = dict(stack.env_vars)
    ctx["vars"] = dict(stack.env_vars)
    ctx["stack_name"] = stack.manifest.name
    ctx["stack_env"] = stack.env
    return ctx


def _render_global(
    stack: LoadedStack, g: GlobalDef, ctx: Mapping[str, Any], resource: str | None
) -> Any:
    value = render_value(stack, g.value, ctx, g.path, resource_name=resource)
    if value is None or (isinstance(value, str) and not value.strip()):
        file, line = stack.manifest.positions.where(g.path)
        where = f" for resource {resource!r}" if resource else ""
        raise ManifestError(
            f"global {g.name!r} rendered empty{where}",
            file=file,
            line=line,
            hint="give the variables it uses a value (--env-file, -e KEY=VALUE)",
        )
    return value


def render_globals(stack: LoadedStack) -> tuple[dict[str, Any], tuple[GlobalDef, ...]]:
    """The stack-level globals rendered in order, and the resource-scoped ones (unrendered)."""
    ctx = _globals_base(stack)
    rendered: dict[str, Any] = {}
    scoped: list[GlobalDef] = []
    scoped_names: set[str] = set()
    for g in stack.manifest.globals:
        if referenced_names(g.value) & (RESOURCE_SCOPED_NAMES | scoped_names):
            # Uses resource_name (the tag pattern) or such a global: render per resource.
            scoped_names.add(g.name)
            scoped.append(g)
            continue
        value = _render_global(stack, g, ctx, None)
        ctx[g.name] = value
        rendered[g.name] = value
    return rendered, tuple(scoped)


def resource_globals(stack: LoadedStack, res: ResourceDef, token: str) -> dict[str, Any]:
    """The resource-scoped globals rendered for ``res`` (in manifest order)."""
    if not stack.scoped_globals:
        return {}
    ctx = _globals_base(stack)
    ctx.update(stack.globals)
    ctx["resource_name"] = res.name
    ctx["idempotency_token"] = token
    out: dict[str, Any] = {}
    for g in stack.scoped_globals:
        value = _render_global(stack, g, ctx, res.name)
        ctx[g.name] = value
        out[g.name] = value
    return out


# -- contexts -----------------------------------------------------------------------------


def build_context(
    stack: LoadedStack,
    res: ResourceDef,
    inputs: ContextInputs,
    *,
    scoped_globals: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The nested template context of ``res`` (no props: see :func:`render_props`).

    ``scoped_globals`` are the resource-scoped globals already rendered for ``res`` (from
    :func:`resource_globals`; computed when not given).
    """
    ctx: dict[str, Any] = {"vars": dict(stack.env_vars)}
    ctx.update(stack.globals)
    if stack.scoped_globals:
        ctx.update(
            scoped_globals
            if scoped_globals is not None
            else resource_globals(stack, res, inputs.token)
        )
    ctx.update(inputs.exports)
    for name, namespace in inputs.namespaces.items():
        current = ctx.get(name)
        if current is None:
            ctx[name] = dict(namespace)
        elif isinstance(current, Mapping):
            ctx[name] = {**current, **namespace}
        # else: a plain value of that name wins over the namespace.
    if inputs.callback is not None:
        ctx["callback"] = inputs.callback
    ctx.update(inputs.extra)
    ctx["stack_name"] = stack.manifest.name
    ctx["stack_env"] = stack.env
    ctx["resource_name"] = res.name
    ctx["idempotency_token"] = inputs.token
    if res.access.region is not None:
        # The resource's own region is its {{ region }}: its props and queries follow it.
        ctx["region"] = render_value(stack, res.access.region, ctx, (*res.path, "region"))
    return ctx


def render_access(
    stack: LoadedStack, res: ResourceDef, context: Mapping[str, Any]
) -> dict[str, str]:
    """The resource's ``region``, ``role_arn``, ``role_session_name``, ``external_id`` and
    ``profile`` rendered (only the keys it sets)."""
    out: dict[str, str] = {}
    for key, text in res.access.templates().items():
        value = render_value(stack, text, context, (*res.path, key), resource_name=res.name)
        out[key] = str(value).strip()
    return out


def render_props(
    stack: LoadedStack, res: ResourceDef, context: Mapping[str, Any]
) -> dict[str, Any]:
    """The resource's props rendered in order (name -> value, manifest order).

    Each prop sees ``context`` and the props before it (and shadows a global or export of
    the same name). ``merge`` is applied after the prop's own value. Raises
    :class:`~stackdeploy.errors.TemplateError` (undefined variable, with the prop's file
    and line) or :class:`~stackdeploy.errors.ManifestError` (bad merge).
    """
    ctx = dict(context)
    out: dict[str, Any] = {}
    for prop in res.props:
        value = render_value(stack, prop.value, ctx, prop.path, resource_name=res.name)
        if prop.merge:
            value = _merge(stack, res, prop, value, ctx)
        out[prop.name] = value
        ctx[prop.name] = value
    return out


def _merge(
    stack: LoadedStack, resource: ResourceDef, prop: PropDef, value: Any, ctx: Mapping[str, Any]
) -> Any:
    file = stack.manifest.display_path
    line = (
        stack.manifest.positions.where((*prop.path[:4], "merge"))[1]
        if len(prop.path) >= 4
        else prop.line
    )
    base = as_json(value)
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
        item = as_json(ctx[name])
        if is_placeholder(item) or is_placeholder(base):
            # The real value is not known yet, nor is the merge.
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


def render_text(
    stack: LoadedStack,
    res: ResourceDef,
    text: str,
    context: Mapping[str, Any],
    *,
    file: str,
    line: int,
) -> str:
    """Render a query body, inline ``sql`` or ``run`` strictly (``this.`` rewritten).

    ``line`` is the line of ``file`` where ``text`` starts, so an undefined variable is
    reported as ``resources/x.iql:<line>: undefined variable 'y'``.
    """
    return render(
        rewrite_this(text, res.name),
        context,
        file=file,
        line=line,
        hint_names=lambda: known_names(stack),
    )


def condition_holds(stack: LoadedStack, res: ResourceDef, context: Mapping[str, Any]) -> bool:
    """Evaluate the resource's ``if`` (True when it has none). The condition sees the
    resource context but not the props."""
    if res.condition is None:
        return True
    return evaluate_condition(
        rewrite_this(res.condition, res.name, expression=True),
        context,
        file=stack.manifest.display_path,
        line=res.condition_line or res.line,
    )


# -- results back into the run -------------------------------------------------------------


def export_values(
    res: ResourceDef, row: Mapping[str, Any], *, file: str | None, line: int | None
) -> dict[str, Any]:
    """The resource's declared exports from a result row: ``{name: value}``.

    A declared column missing from the row is an error (stackql-deploy would export ``''``).
    A NULL stays ``None`` (it renders as empty text). When two exports share a name, the
    first wins.
    """
    missing = [e.column for e in res.exports if e.column not in row]
    if missing:
        columns = ", ".join(map(str, row)) or "no columns"
        raise QueryError(
            f"exports of resource {res.name!r}: column(s) {', '.join(missing)} "
            f"missing from the result (it has {columns})",
            file=file,
            line=line,
            hint="select every column listed under the resource's exports",
        )
    out: dict[str, Any] = {}
    for e in res.exports:
        out.setdefault(e.name, row[e.column])
    return out


def return_values(res: ResourceDef, op: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The RETURNING row's fields listed in ``return_vals.<op>``, as ``this.*`` fields.

    A missing or empty field is an error.
    """
    captured, problems = return_values_lenient(res, op, row)
    if problems:
        raise DeployError(
            f"resource {res.name!r}: {problems[0]}",
            hint="RETURNING gives the immediate ProgressEvent: TypeName, Identifier, "
            "RequestToken, OperationStatus, ...",
        )
    return captured


def return_values_lenient(
    res: ResourceDef, op: str, row: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """As :func:`return_values`, but a missing or empty field is skipped and described in
    the returned problems instead (``return_vals.delete``: the resource is going away, so a
    field that cannot be captured is a warning, as in stackql-deploy 2.x)."""
    captured: dict[str, Any] = {}
    problems: list[str] = []
    for rv in res.return_vals.get(op, ()):
        value = row.get(rv.field)
        if value is None or value == "":
            where = "missing from" if rv.field not in row else "empty in"
            problems.append(f"return_vals.{op} field {rv.field!r} is {where} the RETURNING row")
            continue
        captured[rv.target] = value
    return captured, problems


def callback_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """A RETURNING row as ``callback.*``: JSON object text parsed so nested paths work
    (``callback.ResourceModel.BucketName``)."""
    return {str(k): as_json(v) for k, v in row.items()}
