"""The one Jinja environment of stack-deploy: manifests, queries and ``if`` conditions.

Everything that renders a template goes through :func:`render` (or :func:`evaluate_condition`
for manifest ``if``), so every template sees the same filters, the same strictness and the
same serialisation rules. The rules follow stackql-deploy's templating, minus its pitfalls
(docs/templates.md, "Differences from stackql-deploy", lists them):

* **Strict**: an undefined variable is an error at render time, naming the file, the line
  and the variable, with a did-you-mean hint (stackql-deploy renders ``''`` or leaves ``{{…}}``).
* **Sandboxed**: templates come from stack authors and query files, so attribute access to
  internals (``''.__class__``) is refused; conditions are Jinja expressions, never ``eval``.
* **JSON out**: a dict or list printed with ``{{ x }}`` renders as compact JSON (not Python
  ``repr``), bools as ``true``/``false`` and ``None`` as ``''``, so values paste
  into SQL string literals the way stackql-deploy pastes them.
* **Tera aliases**: stackql-deploy 2.x uses Tera, so ``json_encode``, ``get(key=)``,
  ``range(end=)``, ``replace(from=, to=)`` and named filter arguments (``other=``) work too.

User documentation: docs/templates.md.
"""

from __future__ import annotations

import base64
import difflib
import json
import logging
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, pass_context
from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.runtime import missing
from jinja2.sandbox import SandboxedEnvironment, safe_range

from stackdeploy.errors import StackDeployError, TemplateError

__all__ = [
    "FilterError",
    "check_syntax",
    "evaluate_condition",
    "make_environment",
    "nest_dotted",
    "render",
    "rewrite_this",
    "serialise_value",
]

log = logging.getLogger(__name__)

# Name Jinja gives to code compiled from a string; its frames carry template line numbers.
_TEMPLATE_FILENAME = "<template>"


class FilterError(ValueError):
    """A filter got a value it cannot handle; :func:`render` adds the file and line."""


# --------------------------------------------------------------------------------------------
# Undefined values that remember what was undefined
# --------------------------------------------------------------------------------------------


class _UndefinedVariable(UndefinedError):
    """An UndefinedError that keeps the undefined name and the object it was looked up on."""

    def __init__(self, message: str, *, name: str | None, obj: Any) -> None:
        super().__init__(message)
        self.name = name
        self.obj = obj


class _StrictUndefined(StrictUndefined):
    """StrictUndefined whose error carries the name, so messages can say *which* variable."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        if self._undefined_exception is not UndefinedError:
            # The sandbox reuses Undefined to report unsafe access (SecurityError): keep that.
            raise self._undefined_exception(self._undefined_message)
        raise _UndefinedVariable(
            self._undefined_message, name=self._undefined_name, obj=self._undefined_obj
        )


# Jinja binds its dunder methods (``__str__``, ``__iter__``, ``__eq__``...) to the base
# class's function object, so overriding the method alone would not reach them: rebind every
# slot that points at the original.
for _base in (Undefined, StrictUndefined):
    for _attr, _value in list(vars(_base).items()):
        if _value is Undefined._fail_with_undefined_error and _attr != "_fail_with_undefined_error":
            setattr(_StrictUndefined, _attr, _StrictUndefined._fail_with_undefined_error)


def _check_defined(value: Any) -> Any:
    """Raise the undefined error now if ``value`` (or something inside it) is undefined.

    A dict literal such as ``{ "K": missing }`` holds an Undefined object without failing;
    filters call this so the error names ``missing`` instead of failing deep in ``json``.
    """
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, Mapping):
        for item in value.values():
            _check_defined(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_defined(item)
    return value


# --------------------------------------------------------------------------------------------
# Serialisation (as stackql-deploy pastes values; docs/templates.md)
# --------------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _maybe_json_container(text: str) -> Any:
    """Parse ``text`` when it is a JSON object or array; otherwise return it unchanged.

    Only containers are parsed: a string such as ``"20"`` or ``"true"`` stays a string so
    that the schema (not the look of the text) decides its type downstream.
    """
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def _embed_nested_json(value: Any) -> Any:
    """Copy of ``value`` where nested strings holding a JSON object or array are parsed."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, Mapping):
        return {str(k): _embed_nested_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_embed_nested_json(v) for v in value]
    if isinstance(value, str):
        parsed = _maybe_json_container(value)
        return value if parsed is value else _embed_nested_json(parsed)
    return value


def _compact_json(value: Any) -> str:
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, default=_json_default, allow_nan=False
    )


def serialise_value(value: Any) -> str:
    """Text for a value pasted into a template or query (as stackql-deploy pastes it).

    Strings are unchanged; bools are ``true``/``false``; other numbers their decimal text;
    ``None`` is ``''``; dicts and lists are compact JSON (insertion order kept) in which
    nested strings that hold a JSON object or array are embedded as JSON.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, Mapping | list | tuple):
        return _compact_json(_embed_nested_json(value))
    return str(value)


def _finalize(value: Any) -> Any:
    # Undefined must reach Jinja's own str() so that the strict error is raised there.
    if isinstance(value, Undefined | str):
        return value
    return serialise_value(value)


# --------------------------------------------------------------------------------------------
# Filters and globals
# --------------------------------------------------------------------------------------------


def _as_value(value: Any, filter_name: str) -> Any:
    """Accept a Python object or its JSON text (every filter does, as in stackql-deploy)."""
    _check_defined(value)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise FilterError(f"{filter_name}: expected JSON text, got {value[:60]!r}") from exc
    return value


def _as_list(value: Any, filter_name: str) -> list[Any]:
    parsed = _as_value(value, filter_name)
    if isinstance(parsed, tuple):
        parsed = list(parsed)
    if not isinstance(parsed, list):
        raise FilterError(f"{filter_name}: expected a list, got {type(parsed).__name__}")
    return parsed


def _as_object(value: Any, filter_name: str) -> dict[str, Any]:
    parsed = _as_value(value, filter_name)
    if not isinstance(parsed, Mapping):
        raise FilterError(f"{filter_name}: expected an object, got {type(parsed).__name__}")
    return dict(parsed)


def filter_from_json(value: Any) -> Any:
    """JSON text -> value; a value that is already parsed passes through."""
    _check_defined(value)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise FilterError(f"from_json: invalid JSON text {value[:60]!r}: {exc}") from exc


def filter_json_encode(value: Any, pretty: bool = False) -> str:
    """Tera's ``json_encode``: the value as JSON (compact, or indented with ``pretty=true``)."""
    _check_defined(value)
    if pretty:
        return json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)
    return _compact_json(value)


def _pointer_token(key: str) -> str:
    # JSON Pointer escaping (RFC 6901): '~' first, then '/'.
    return key.replace("~", "~0").replace("/", "~1")


def filter_generate_patch_document(value: Any) -> str:
    """Object (or JSON object text) -> JSON Patch text of ``add`` ops, one per key, sorted.

    String values that hold a JSON object or array are embedded parsed (stackql-deploy
    compatible: a tags list passed as JSON text becomes a list). Scalar-looking strings such
    as ``"20"`` or ``"true"`` stay strings; the query engine coerces each op's value by the
    schema type of its path, which turns ``"20"`` into ``20`` only where an integer is due.
    """
    props = _as_object(value, "generate_patch_document")
    _check_defined(props)
    ops = [
        {"op": "add", "path": f"/{_pointer_token(str(key))}", "value": _embed_nested_json(val)}
        for key, val in sorted(props.items(), key=lambda kv: str(kv[0]))
    ]
    return _compact_json(ops)


def filter_base64_encode(value: Any) -> str:
    """Padded standard base64 of the UTF-8 text (non-strings are serialised first)."""
    _check_defined(value)
    return base64.b64encode(serialise_value(value).encode("utf-8")).decode("ascii")


def _dedupe_key(item: Any) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":"), default=_json_default)


def filter_merge_lists(value: Any, other: Any = None) -> list[Any]:
    """``value`` then ``other``, de-duplicated by JSON text, first occurrence kept."""
    if other is None:
        raise FilterError("merge_lists: missing argument other=")
    merged: list[Any] = []
    seen: set[str] = set()
    for item in [*_as_list(value, "merge_lists"), *_as_list(other, "merge_lists")]:
        key = _dedupe_key(item)
        if key not in seen:
            seen.add(key)
            merged.append(item)
    return merged


def filter_merge_objects(value: Any, other: Any = None) -> dict[str, Any]:
    """Shallow merge of two objects; keys of ``other`` win."""
    if other is None:
        raise FilterError("merge_objects: missing argument other=")
    merged = _as_object(value, "merge_objects")
    merged.update(_as_object(other, "merge_objects"))
    return merged


def _sql_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def filter_sql_list(value: Any) -> str:
    """List (or JSON list text) -> ``('a','b')``; empty -> ``(NULL)``.

    Unlike stackql-deploy, single quotes inside items are doubled (stackql-deploy leaves them), so a value can
    never end the SQL literal early. ``None`` items become ``NULL``.
    """
    items = _as_list(value, "sql_list")
    if not items:
        return "(NULL)"
    parts = ["NULL" if item is None else _sql_quote(serialise_value(item)) for item in items]
    return "(" + ",".join(parts) + ")"


def filter_sql_escape(value: Any) -> str:
    """Double every single quote, for pasting into a ``'...'`` SQL literal."""
    _check_defined(value)
    return serialise_value(value).replace("'", "''")


def filter_to_aws_tag_filters(value: Any) -> str:
    """``[{"Key":k,"Value":v}]`` (or a ``{k: v}`` map) -> ``[{"Key":k,"Values":[v]}]`` text."""
    parsed = _as_value(value, "to_aws_tag_filters")
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(parsed, Mapping):
        pairs = parsed.items()
    elif isinstance(parsed, list | tuple):
        collected = []
        for tag in parsed:
            if not isinstance(tag, Mapping) or "Key" not in tag:
                raise FilterError('to_aws_tag_filters: expected items like {"Key": k, "Value": v}')
            collected.append((tag["Key"], tag.get("Value")))
        pairs = collected
    else:
        raise FilterError("to_aws_tag_filters: expected a list of tags or a tag map")
    return _compact_json([{"Key": k, "Values": [] if v is None else [v]} for k, v in pairs])


_NO_DEFAULT = object()


def filter_get(value: Any, key: Any = None, default: Any = _NO_DEFAULT) -> Any:
    """Tera's ``get(key=...)``: the key of an object (or JSON object text)."""
    if key is None:
        raise FilterError("get: missing argument key=")
    obj = _as_object(value, "get")
    if key in obj:
        return obj[key]
    if default is not _NO_DEFAULT:
        return default
    hint = _did_you_mean(str(key), [str(k) for k in obj])
    raise FilterError(f"get: key {key!r} not found{hint}")


def filter_replace(
    value: Any, old: Any = None, new: Any = None, count: int | None = None, **tera: Any
) -> str:
    """Jinja ``replace(old, new[, count])`` that also takes Tera's ``replace(from=, to=)``."""
    if "from" in tera:
        old = tera.pop("from")
    if "to" in tera:
        new = tera.pop("to")
    if tera:
        raise FilterError(f"replace: unexpected argument(s) {', '.join(sorted(tera))}")
    if old is None or new is None:
        raise FilterError("replace: needs old and new (or from= and to=)")
    _check_defined(value)
    text = serialise_value(value)
    return text.replace(str(old), str(new), -1 if count is None else count)


def global_range(*args: int, start: int = 0, end: int | None = None, step_by: int = 1) -> Any:
    """``range(n)``/``range(a, b[, step])`` as in Jinja, or Tera's ``range(end=, start=, step_by=)``.

    Uses the sandbox's bounded range so a template cannot allocate a huge list.
    """
    if args:
        return safe_range(*args)
    if end is None:
        raise FilterError("range: needs an end (range(end=5) or range(5))")
    return safe_range(start, end, step_by)


def global_uuid() -> str:
    """A new random UUID (version 4) on every call."""
    return str(uuid.uuid4())


_NO_VALUE = object()


def filter_default(
    subject: Any, default_value: Any = "", boolean: bool = False, *, value: Any = _NO_VALUE
) -> Any:
    """Jinja's ``default`` that also takes Tera's spelling ``default(value=x)``.

    Jinja names the filtered value ``value``, so ``default(value='x')`` would collide with
    it; stackql-deploy 2.x (Tera) stacks write exactly that.
    """
    from jinja2 import Undefined

    if value is not _NO_VALUE:
        default_value = value
    if isinstance(subject, Undefined) or (boolean and not subject):
        return default_value
    return subject


FILTERS: dict[str, Callable[..., Any]] = {
    "default": filter_default,
    "d": filter_default,
    "from_json": filter_from_json,
    "json_encode": filter_json_encode,
    "generate_patch_document": filter_generate_patch_document,
    "base64_encode": filter_base64_encode,
    "merge_lists": filter_merge_lists,
    "merge_objects": filter_merge_objects,
    "sql_list": filter_sql_list,
    "sql_escape": filter_sql_escape,
    "to_aws_tag_filters": filter_to_aws_tag_filters,
    "get": filter_get,
    "replace": filter_replace,
}

GLOBALS: dict[str, Any] = {"uuid": global_uuid, "range": global_range}  # + _scope, below


def make_environment() -> SandboxedEnvironment:
    """A new sandboxed, strict environment with every stack-deploy filter and global."""
    env = SandboxedEnvironment(
        undefined=_StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters.update(FILTERS)
    env.globals.update(GLOBALS)
    env.globals["_scope"] = global_scope
    return env


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------

_env_lock = threading.Lock()
_default_env: SandboxedEnvironment | None = None
_template_cache: OrderedDict[str, Any] = OrderedDict()
_TEMPLATE_CACHE_SIZE = 512


def _environment() -> SandboxedEnvironment:
    global _default_env
    with _env_lock:
        if _default_env is None:
            _default_env = make_environment()
        return _default_env


def _compile(text: str) -> Any:
    """Compiled template for ``text``, cached: queries are rendered again on every retry."""
    env = _environment()
    with _env_lock:
        cached = _template_cache.get(text)
        if cached is not None:
            _template_cache.move_to_end(text)
            return cached
    template = env.from_string(text)
    with _env_lock:
        _template_cache[text] = template
        while len(_template_cache) > _TEMPLATE_CACHE_SIZE:
            _template_cache.popitem(last=False)
    return template


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{matches[0]}'?" if matches else ""


def _hint_for(name: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def _dotted_names(mapping: Mapping[str, Any], prefix: str = "", depth: int = 3) -> list[str]:
    """Every ``a``, ``a.b``, ``a.b.c`` reachable in the context, for did-you-mean hints."""
    names: list[str] = []
    for key, value in mapping.items():
        if not isinstance(key, str):
            continue
        full = f"{prefix}{key}"
        names.append(full)
        if depth > 1 and isinstance(value, Mapping):
            names.extend(_dotted_names(value, f"{full}.", depth - 1))
    return names


def _template_line(exc: BaseException) -> int | None:
    """Template line of the innermost template frame in the traceback, if any."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _source_line(text: str, lineno: int | None) -> str:
    if lineno is None:
        return ""
    lines = text.splitlines()
    return lines[lineno - 1] if 0 < lineno <= len(lines) else ""


def _undefined_error(
    exc: UndefinedError,
    text: str,
    lineno: int | None,
    context: Mapping[str, Any],
    file: str | None,
    line: int | None,
) -> TemplateError:
    name = getattr(exc, "name", None)
    obj = getattr(exc, "obj", missing)
    if name is None:
        # An error from a plain UndefinedError (should not happen): keep Jinja's words.
        return TemplateError(str(exc), file=file, line=line)
    if obj is missing:
        hint = _hint_for(str(name), _dotted_names(context, depth=1))
        return TemplateError(f"undefined variable '{name}'", file=file, line=line, hint=hint)
    # An attribute or key that is missing on a defined value: recover the dotted path from
    # the source line (`vpc.vpc_idd` -> 'vpc.vpc_idd') to name it the way the author wrote it.
    source = _source_line(text, lineno)
    what = type(obj).__name__
    if isinstance(name, int):
        match = re.search(rf"([A-Za-z_][\w.]*)\[\s*{name}\s*\]", source)
        full = f"{match.group(1)}[{name}]" if match else f"[{name}]"
        size = f" of {len(obj)}" if isinstance(obj, list | tuple) else ""
        return TemplateError(
            f"undefined variable '{full}' (no element {name} in {what}{size})",
            file=file,
            line=line,
        )
    key = re.escape(str(name))
    match = re.search(
        rf"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\.{key}\b|\[\s*['\"]{key}['\"]\s*\])", source
    )
    full = f"{match.group(1)}.{name}" if match else str(name)
    if isinstance(obj, Mapping):
        prefix = full.rsplit(".", 1)[0] + "." if "." in full else ""
        hint = _hint_for(full, [f"{prefix}{k}" for k in obj if isinstance(k, str)])
    else:
        hint = _hint_for(full, _dotted_names(context))
    return TemplateError(
        f"undefined variable '{full}' ({what} has no attribute or key '{name}')",
        file=file,
        line=line,
        hint=hint,
    )


def _syntax_hint(message: str) -> str:
    # Jinja says "No filter named 'sql_lst'." (or test): suggest the closest known name.
    match = re.match(r"No (filter|test) named '([^']+)'", message)
    if match:
        env = _environment()
        known = env.filters if match.group(1) == "filter" else env.tests
        suggestion = _hint_for(match.group(2), known)
        if suggestion:
            return suggestion
        return f"see docs/templates.md for the available {match.group(1)}s"
    return "check the {{ }} and {% %} delimiters and the expression inside them"


def _abs_line(line: int, lineno: int | None) -> int | None:
    return None if lineno is None else line + lineno - 1


def render(
    text: str,
    context: Mapping[str, Any],
    *,
    file: str | None = None,
    line: int = 1,
    hint_names: Callable[[], Iterable[str]] | None = None,
) -> str:
    """Render ``text`` strictly with ``context``.

    ``line`` is the line of ``file`` where ``text`` starts, so errors point into the file:
    a problem on the template's third line is reported at ``line + 2``. Dotted context keys
    (``vpc.vpc_id``) are nested first (:func:`nest_dotted`); a context built nested costs
    nothing here. ``hint_names`` gives, only when a variable is undefined, more names to
    suggest from than the context holds (contexts may hold only what a template uses).
    Raises :class:`~stackdeploy.errors.TemplateError` for undefined variables, syntax errors,
    unsafe access and filter errors.
    """
    ctx = nest_dotted(context) if any(isinstance(k, str) and "." in k for k in context) else context
    template = _compile_located(text, file, line)
    try:
        return str(template.render(ctx))
    except RecursionError:
        # A macro calling itself (nesting is already bounded by compiling).
        raise _too_deep(file, line) from None
    except UndefinedError as exc:
        lineno = _template_line(exc)
        hint_ctx: Mapping[str, Any] = ctx
        if hint_names is not None:
            hint_ctx = {**dict.fromkeys(hint_names()), **ctx}
        error = _undefined_error(exc, text, lineno, hint_ctx, file, _abs_line(line, lineno))
        match = re.match(r"undefined variable '([^']+)'", error.bare_message)
        error.undefined = match.group(1) if match else None
        raise error from exc
    except SecurityError as exc:
        raise TemplateError(
            f"unsafe template: {exc}",
            file=file,
            line=_abs_line(line, _template_line(exc)),
            hint="templates cannot reach Python internals (names starting with '_')",
        ) from exc
    except StackDeployError:
        raise
    except (FilterError, JinjaTemplateError, TypeError, ValueError, ArithmeticError,
            KeyError, IndexError, AttributeError) as exc:  # fmt: skip
        raise TemplateError(
            f"template error: {exc}", file=file, line=_abs_line(line, _template_line(exc))
        ) from exc


def check_syntax(text: str, *, file: str | None = None, line: int = 1) -> None:
    """Compile ``text`` as :func:`render` would, without rendering it.

    Raises :class:`~stackdeploy.errors.TemplateError` (file and line as :func:`render`) for a
    syntax error, an unknown filter, or a template too deeply nested to compile. Loading a
    stack checks every template this way, so such a mistake stops the run before any call.
    The compiled template is cached, so rendering it later costs nothing more.
    """
    _compile_located(text, file, line)


def _compile_located(text: str, file: str | None, line: int) -> Any:
    try:
        return _compile(text)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"template syntax error: {exc.message}",
            file=file,
            line=_abs_line(line, exc.lineno),
            hint=_syntax_hint(exc.message or ""),
        ) from exc
    except (RecursionError, SyntaxError, MemoryError):
        # Jinja's parser recurses per nesting level, and the Python code it generates for
        # a hundred nested blocks exceeds Python's own indentation limit (IndentationError).
        raise _too_deep(file, line) from None


def _too_deep(file: str | None, line: int | None) -> TemplateError:
    return TemplateError(
        "template nested too deeply (or a macro that calls itself)",
        file=file,
        line=line,
        hint="simplify the expression",
    )


# --------------------------------------------------------------------------------------------
# Context helpers
# --------------------------------------------------------------------------------------------


def nest_dotted(mapping: Mapping[str, Any], warnings: list[str] | None = None) -> dict[str, Any]:
    """``{"a.b.c": 1}`` -> ``{"a": {"b": {"c": 1}}}`` so that ``{{ a.b.c }}`` works.

    Deterministic whatever the insertion order (stackql-deploy settles this by hash order,
    docs/templates.md): plain keys are placed first, then dotted keys from the shortest to the
    longest (ties by name). A dotted key is merged into an existing dict (copied, never
    mutated) and replaces a key of the same name there; when the existing value is not a
    dict, the existing value wins and a warning is logged (and appended to ``warnings``).
    """
    result: dict[str, Any] = {}
    dotted: list[tuple[list[str], Any]] = []
    for key, value in mapping.items():
        if isinstance(key, str) and "." in key and all(key.split(".")):
            dotted.append((key.split("."), value))
        else:
            result[key] = value
    dotted.sort(key=lambda item: (len(item[0]), item[0]))
    copied: set[int] = set()  # ids of dicts already copied into `result`, safe to mutate
    for parts, value in dotted:
        node = result
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part, missing)
            if child is missing:
                child = {}
                copied.add(id(child))
                node[part] = child
            elif isinstance(child, Mapping):
                if id(child) not in copied:
                    child = dict(child)
                    copied.add(id(child))
                    node[part] = child
            else:
                message = (
                    f"context key '{'.'.join(parts)}' ignored: "
                    f"'{'.'.join(parts[: depth + 1])}' already holds a non-object value"
                )
                log.warning(message)
                if warnings is not None:
                    warnings.append(message)
                break
            node = child
        else:
            node[parts[-1]] = value
    return result


# `{{ ... }}` and `{% ... %}` blocks; the body is scanned by hand for string literals.
_BLOCK_START = re.compile(r"\{\{|\{%")
_THIS = re.compile(r"(?<![\w.])this\.(?=[A-Za-z_])")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*\Z")


def _rewrite_code(text: str, start: int, closer: str | None, target: str) -> tuple[str, int]:
    """Rewrite ``this.`` in the code from ``start`` up to ``closer`` (or the end).

    String literals are copied unchanged. Returns the rewritten code and where it ended.
    """
    segment: list[str] = []
    i = code_start = start
    while i < len(text):
        ch = text[i]
        if ch in ("'", '"'):
            segment.append(_THIS.sub(target, text[code_start:i]))
            end = i + 1
            while end < len(text) and text[end] != ch:
                end += 2 if text[end] == "\\" else 1
            segment.append(text[i : end + 1])
            i = code_start = end + 1
            continue
        if closer is not None and text.startswith(closer, i):
            break
        i += 1
    segment.append(_THIS.sub(target, text[code_start:i]))
    return "".join(segment), i


def rewrite_this(text: str, resource_name: str, *, expression: bool = False) -> str:
    """Rewrite ``this.<field>`` to ``<resource_name>.<field>`` inside ``{{ }}``/``{% %}``.

    Text outside the delimiters and string literals inside them are left alone: ``'this.x'``
    in a template is literal text, not a reference. With ``expression=True`` (an ``if``
    condition), text without any delimiter is code as a whole (``this.id != ''``). A
    resource name that is not a Jinja identifier (``my-vpc``) is addressed as
    ``_scope("my-vpc").``, which looks the name up in the context.
    """
    target = (
        f"{resource_name}."
        if _IDENTIFIER.match(resource_name)
        else f"_scope({json.dumps(resource_name)})."
    )
    if expression and _BLOCK_START.search(text) is None:
        return _rewrite_code(text, 0, None, target)[0]
    out: list[str] = []
    pos = 0
    while True:
        start = _BLOCK_START.search(text, pos)
        if start is None:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos : start.end()])
        code, pos = _rewrite_code(
            text, start.end(), "}}" if start.group() == "{{" else "%}", target
        )
        out.append(code)


@pass_context
def global_scope(context: Any, name: str) -> Any:
    """``_scope('my-vpc')``: a context variable whose name is not a Jinja identifier."""
    value = context.resolve_or_missing(name)
    if value is missing:
        return context.environment.undefined(name=name)
    return value


# --------------------------------------------------------------------------------------------
# Conditions (manifest `if`; user doc: docs/templates.md "Conditions")
# --------------------------------------------------------------------------------------------

# stackql-deploy 2.x compares the rendered text as strings: `L == R`, `L != R`, `X [not] in [a,b]`.
_STACKQL_COMPARE = re.compile(r"^\s*(?P<l>[^=!\s]+)\s*(?P<op>==|!=)\s*(?P<r>[^=!\s]+)\s*$")
_STACKQL_IN = re.compile(r"^\s*(?P<x>[^\s\[\]]+)\s+(?P<neg>not\s+)?in\s+\[(?P<items>[^\]]*)\]\s*$")
_QUOTE_HINT = "quote rendered values, for example \"'{{ stack_env }}' == 'prd'\""


def _unquote(token: str) -> str:
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


def _stackql_condition(text: str) -> bool | None:
    """stackql-deploy 2.x's rendered forms: ``a == b``, ``a != b``, ``x [not] in [a,b]``."""
    match = _STACKQL_COMPARE.match(text)
    if match:
        equal = _unquote(match["l"]) == _unquote(match["r"])
        return equal if match["op"] == "==" else not equal
    match = _STACKQL_IN.match(text)
    if match:
        items = [_unquote(item) for item in match["items"].split(",") if item.strip()]
        found = _unquote(match["x"]) in items
        return not found if match["neg"] else found
    return None


def _jinja_test(name: str, value: Any, args: Any) -> bool:
    return bool(_environment().call_test(name, value, list(args)))


def _jinja_expression(text: str, ctx: Mapping[str, Any]) -> Any:
    """A Jinja expression, with the condition functions (``len``, ``int``...) in scope."""
    from stackdeploy.conditions import FUNCTIONS

    compiled = _environment().compile_expression(text, undefined_to_none=False)
    return _check_defined(compiled(**{**FUNCTIONS, **ctx}))


def evaluate_condition(
    expr: Any, context: Mapping[str, Any], *, file: str | None = None, line: int | None = None
) -> bool:
    """Evaluate a manifest ``if`` as stackql-deploy does, safely (never Python ``eval``).

    ``{{ }}`` in the condition are rendered first (strictly). The text is then evaluated with
    Python's expression semantics, as stackql-deploy 1.x's ``eval`` would, by the whitelist
    evaluator of :mod:`stackdeploy.conditions`: literals, comparisons, ``in``/``not in``,
    ``and``/``or``/``not``, ``len()``, ``int()``, ``str()``..., string methods; bare names
    are context variables and ``|`` applies a filter. When the rendered text is not such an
    expression (``prd == prd``), stackql-deploy 2.x's string comparison (``L == R``,
    ``L != R``, ``X [not] in [a,b]``) decides. The result must be a bool (a number counts by
    its truth, as in Python); anything else, and anything that cannot be evaluated, is a
    :class:`TemplateError` naming ``file`` and ``line``.
    """
    from stackdeploy.conditions import (
        ConditionProblem,
        ConditionSyntaxError,
        ConditionUndefined,
        evaluate_expression,
    )

    if isinstance(expr, bool):
        return expr
    if not isinstance(expr, str):
        raise TemplateError(f"condition {expr!r} must be a string or a bool", file=file, line=line)
    ctx = nest_dotted(context) if any(isinstance(k, str) and "." in k for k in context) else context
    text = expr
    rendered = "{{" in expr or "{%" in expr
    if rendered:
        text = render(expr, ctx, file=file, line=line or 1)
    stripped = text.strip()
    shown = f"condition {expr!r}" + (f" (rendered {stripped!r})" if rendered else "")
    if not stripped:
        raise TemplateError(
            f"{shown} is empty", file=file, line=line, hint="an if must be true or false"
        )
    if stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    env = _environment()
    try:
        result = evaluate_expression(
            stripped,
            ctx,
            tests=_jinja_test,
            has_test=env.tests.__contains__,
            filtered=lambda: _jinja_expression(stripped, ctx),
        )
    except ConditionSyntaxError as exc:
        result = _condition_fallback(stripped, ctx, rendered)
        if result is None:
            raise TemplateError(
                f"{shown} is not a valid expression: {exc.message}",
                file=file,
                line=line,
                hint="write a comparison such as stack_env == 'prd'"
                + (f", or {_QUOTE_HINT}" if rendered else ""),
            ) from exc
    except ConditionUndefined as exc:
        fallback = _stackql_condition(stripped) if rendered else None
        if fallback is not None:
            return fallback
        if rendered and exc.name.split(".")[0].split("[")[0] not in _expression_names(expr):
            raise TemplateError(
                f"{shown}: {exc.name!r} is not a variable", file=file, line=line, hint=_QUOTE_HINT
            ) from exc
        raise TemplateError(
            f"{shown}: undefined variable '{exc.name}'",
            file=file,
            line=line,
            hint=_hint_for(exc.name, _dotted_names(ctx, depth=1)),
        ) from exc
    except ConditionProblem as exc:
        raise TemplateError(
            f"{shown} failed: {exc.message}", file=file, line=line, hint=exc.hint
        ) from exc
    except UndefinedError as exc:  # from a filtered (Jinja) expression
        name = getattr(exc, "name", None) or str(exc)
        raise TemplateError(
            f"{shown}: undefined variable '{name}'",
            file=file,
            line=line,
            hint=_hint_for(str(name), _dotted_names(ctx, depth=1)),
        ) from exc
    except (JinjaTemplateError, FilterError, StackDeployError, TypeError, ValueError,
            ArithmeticError, LookupError, RecursionError) as exc:  # fmt: skip
        message = getattr(exc, "message", None) or str(exc)
        raise TemplateError(f"{shown} failed: {message}", file=file, line=line) from exc
    if isinstance(result, bool):
        return result
    if isinstance(result, int | float):
        return bool(result)  # Python's truth of a number, as stackql-deploy 1.x's eval
    raise TemplateError(
        f"{shown} evaluated to {serialise_value(result)!r}, not true or false",
        file=file,
        line=line,
        hint="compare explicitly, for example enabled == 'true'",
    )


def _expression_names(expr: str) -> set[str]:
    """Identifiers written in the condition outside ``{{ }}`` (not produced by rendering)."""
    outside = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", expr, flags=re.S)
    outside = re.sub(r"'[^']*'|\"[^\"]*\"", " ", outside)  # string literals
    return set(re.findall(r"[A-Za-z_]\w*", outside))


def _condition_fallback(text: str, ctx: Mapping[str, Any], rendered: bool) -> bool | None:
    """What Python cannot parse: a Jinja-only expression, or 2.x's string comparison."""
    try:
        value = _jinja_expression(text, ctx)
    except (JinjaTemplateError, TypeError, ValueError, RecursionError, StackDeployError):
        value = None
    if isinstance(value, bool):
        return value
    return _stackql_condition(text) if rendered else None
