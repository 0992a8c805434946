"""Validate a desired state against its CloudFormation resource schema.

The registry schemas are JSON Schema draft-07 plus AWS's own keywords (``requiredXor``,
``dependentExcluded``, ``enumCaseInsensitive``, ``insertionOrder``, ``relationshipRef``, ...)
and custom ``format`` names. Validation uses :mod:`jsonschema`'s Draft 7 validator, which
ignores keywords it does not know; formats are not checked at all (no format checker).

A few schema defects are repaired in a private copy before compiling, so that one bad regex
cannot crash validation: patterns written in Java-only syntax (``\\p{L}``) are dropped, a
``patternProperties`` key that Python cannot compile becomes "any key", and a malformed
``type`` is removed. Remote ``$ref`` targets are never fetched.

Every violation is reported (not only the first), each with the JSON pointer of the property
it concerns. Compiled validators are cached per schema object, because the sandbox validates
on every request.
"""

from __future__ import annotations

import ast
import difflib
import re
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackdeploy.errors import ValidationError
from stackdeploy.schema.model import ResourceSchema, format_path, match_name
from stackdeploy.schema.naming import property_lookup_key

_MODES = ("create", "update", "model")
_KNOWN_TYPES = frozenset({"string", "integer", "number", "boolean", "object", "array", "null"})
_ANY_KEY = "^.*$"
READ_ONLY_MESSAGE = "read-only property, set by AWS"


@dataclass(frozen=True, order=True)
class Violation:
    """One way a desired state breaks its schema: where (JSON pointer) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.message}"


# ------------------------------------------------------------------ compiling
def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _sanitise(node: Any) -> Any:
    """A copy of a schema node that Python's ``re`` and jsonschema can run safely."""
    if isinstance(node, list):
        return [_sanitise(x) for x in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "pattern" and isinstance(value, str) and not _compiles(value):
            continue  # Java regex syntax; AWS checks it, we cannot: accept rather than crash
        if key == "type" and not _valid_type(value):
            continue
        if key == "patternProperties" and isinstance(value, Mapping):
            fixed: dict[str, Any] = {}
            for pattern, sub in value.items():
                name = pattern if _compiles(pattern) else _ANY_KEY
                while name in fixed:  # two broken patterns: keep both value schemas apart
                    name = "(?:)" + name
                fixed[name] = _sanitise(sub)
            out[key] = fixed
            continue
        if key in ("properties", "definitions") and isinstance(value, Mapping):
            # Property names are data here, never keywords: copy them without inspection.
            out[key] = {k: _sanitise(v) for k, v in value.items()}
            continue
        out[key] = _sanitise(value)
    return out


def _valid_type(value: Any) -> bool:
    if isinstance(value, str):
        return value in _KNOWN_TYPES
    return isinstance(value, list) and all(isinstance(x, str) and x in _KNOWN_TYPES for x in value)


def _no_remote(uri: str) -> Any:
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(uri)  # never fetch anything over the network


class _Compiled:
    def __init__(self, schema: ResourceSchema) -> None:
        from jsonschema import Draft7Validator
        from referencing import Registry

        raw = {k: v for k, v in schema.raw.items() if k not in ("$id", "$schema", "id")}
        cleaned = _sanitise(raw)
        # Cloud Control rejects unknown top-level properties whatever the schema says.
        cleaned["additionalProperties"] = False
        cleaned.pop("patternProperties", None)
        self.validator = Draft7Validator(cleaned, registry=Registry(retrieve=_no_remote))  # type: ignore[call-arg]


_cache: weakref.WeakKeyDictionary[ResourceSchema, _Compiled] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _compiled(schema: ResourceSchema) -> _Compiled:
    compiled = _cache.get(schema)
    if compiled is None:
        compiled = _Compiled(schema)
        with _cache_lock:
            compiled = _cache.setdefault(schema, compiled)
    return compiled


# ----------------------------------------------------------------- validating
def validate(
    schema: ResourceSchema, state: Mapping[str, Any], *, mode: str = "create"
) -> list[Violation]:
    """Every violation of ``schema`` by ``state``, sorted by path.

    ``mode="create"``: required properties enforced, read-only properties rejected.
    ``mode="update"``: required enforced, read-only properties allowed (a full model read
    back and patched carries them). ``mode="model"``: types, values and unknown properties
    only (a model read from AWS lacks write-only and required-but-write-only properties).
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, not {mode!r}")
    from jsonschema.exceptions import _WrappedReferencingError
    from referencing.exceptions import Unresolvable

    found: set[Violation] = set()
    try:
        for error in _compiled(schema).validator.iter_errors(state):
            found.update(_convert(error, mode))
    except (Unresolvable, _WrappedReferencingError) as exc:  # a broken $ref in the schema
        found.add(Violation("", f"cannot check the schema here ({exc})"))
    if mode == "create" and isinstance(state, Mapping):
        found.update(_read_only_violations(schema, state))
    return sorted(found, key=_sort_key)


def _sort_key(v: Violation) -> tuple[list[tuple[int, str]], str]:
    parts = [(0, p.rjust(8, "0")) if p.isdigit() else (1, p) for p in v.path.split("/")]
    return parts, v.message


def check(schema: ResourceSchema, state: Mapping[str, Any], *, mode: str = "create") -> None:
    """Raise :class:`ValidationError` listing the violations, if there are any."""
    violations = validate(schema, state, mode=mode)
    if not violations:
        return
    texts = [str(v) for v in violations]
    shown = "; ".join(texts[:3])
    more = f"; and {len(texts) - 3} more" if len(texts) > 3 else ""
    count = f"{len(texts)} schema violation{'s' if len(texts) != 1 else ''}"
    raise ValidationError(
        f"{schema.type_name}: desired state has {count}: {shown}{more}",
        texts,
        hint=f"see the properties with `stack-deploy describe {schema.type_name}`",
    )


# ------------------------------------------------------------ error messages
def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _convert(error: Any, mode: str) -> Iterator[Violation]:
    path = list(error.absolute_path)
    kind = error.validator
    if kind == "required":
        if mode == "model":
            return
        name = _quoted_name(error.message, " is a required property")
        yield Violation(format_path([*path, name]), "required property is missing")
    elif kind == "additionalProperties" and isinstance(error.instance, Mapping):
        yield from _unknown_properties(error, path)
    elif kind == "type":
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(repr(n) for n in names)
        yield Violation(format_path(path), f"{_short(error.instance)} is not of type {wanted}")
    elif kind in ("oneOf", "anyOf"):
        if (
            mode == "model"
            and error.context
            and all(e.validator == "required" for e in error.context)
        ):
            return  # every branch fails only on required properties, which "model" ignores
        yield Violation(format_path(path), _combinator_message(error, mode))
    else:
        yield Violation(format_path(path), _shorten_message(error))


def _quoted_name(message: str, suffix: str) -> str:
    text = message[: -len(suffix)] if message.endswith(suffix) else message
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.strip("'\"")
    return str(value)


def _shorten_message(error: Any) -> str:
    message: str = error.message
    full = repr(error.instance)
    if len(full) > 60 and message.startswith(full):
        message = _short(error.instance) + message[len(full) :]
    if len(message) > 300:
        message = message[:297] + "..."
    return message


def _unknown_properties(error: Any, path: list[Any]) -> Iterator[Violation]:
    node = error.schema if isinstance(error.schema, Mapping) else {}
    allowed = list((node.get("properties") or {}).keys())
    patterns = [re.compile(p) for p in (node.get("patternProperties") or {})]
    for key in error.instance:
        if key in allowed or any(p.search(key) for p in patterns):
            continue
        yield Violation(format_path([*path, key]), "unknown property" + _did_you_mean(key, allowed))


def _did_you_mean(key: str, allowed: Sequence[str]) -> str:
    if not allowed:
        return ""
    exact = match_name(key, allowed)  # a snake_case spelling that was not normalised
    if exact is not None:
        return f"; did you mean '{exact}'?"
    loose = {property_lookup_key(name): name for name in allowed}
    close = difflib.get_close_matches(property_lookup_key(key), list(loose), n=3, cutoff=0.7)
    if not close:
        return ""
    names = " or ".join(f"'{loose[c]}'" for c in close)
    return f"; did you mean {names}?"


def _combinator_message(error: Any, mode: str) -> str:
    branches = error.validator_value if isinstance(error.validator_value, list) else []
    if error.validator == "oneOf" and not error.context:
        # Valid under several branches: typically {} or both of two exclusive properties.
        names = _branch_property_names(error, branches)
        hint = f": give exactly one of {', '.join(names)}" if names else ""
        return f"{_short(error.instance)} matches more than one of the allowed forms{hint}"
    relevant = [e for e in error.context if not (mode == "model" and e.validator == "required")]
    if not relevant:
        return f"{_short(error.instance)} matches none of the allowed forms"
    from jsonschema.exceptions import best_match

    best = best_match(relevant)
    assert best is not None
    where = format_path(list(best.absolute_path)[len(error.absolute_path) :])
    detail = best.message
    if best.validator == "additionalProperties":
        detail = "unknown property: " + detail
    return f"matches none of the allowed forms (closest: {where or '/'}: {_trim(detail)})"


def _trim(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _branch_property_names(error: Any, branches: list[Any]) -> list[str]:
    names: list[str] = []
    resolver = error._resolver if hasattr(error, "_resolver") else None
    for branch in branches:
        if not isinstance(branch, Mapping):
            continue
        if "$ref" in branch and resolver is not None:
            try:
                branch = resolver.lookup(branch["$ref"]).contents
            except Exception:  # an unresolvable ref only costs us the hint
                continue
        for name in branch.get("properties") or {}:
            if name not in names:
                names.append(name)
    return names


# ------------------------------------------------------------------ read-only
def _read_only_violations(schema: ResourceSchema, state: Mapping[str, Any]) -> Iterator[Violation]:
    reported: list[tuple[Any, ...]] = []
    for pattern in sorted(schema.read_only, key=len):
        for path in _matches(state, pattern):
            if any(path[: len(r)] == r for r in reported):
                continue  # already under a reported read-only property
            reported.append(path)
            yield Violation(format_path(path), READ_ONLY_MESSAGE)


def _matches(
    value: Any, pattern: Sequence[str], prefix: tuple[Any, ...] = ()
) -> Iterator[tuple[Any, ...]]:
    if not pattern:
        yield prefix
        return
    token, rest = pattern[0], pattern[1:]
    if isinstance(value, list):
        if token == "*" or token.isdigit():
            for index, item in enumerate(value):
                if token == "*" or int(token) == index:
                    yield from _matches(item, rest, (*prefix, index))
        return
    if isinstance(value, Mapping) and token in value:
        yield from _matches(value[token], rest, (*prefix, token))
