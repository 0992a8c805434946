"""Desired-state helpers: turn what a user wrote into what Cloud Control expects.

A desired state comes from a manifest (snake_case keys, every value rendered by Jinja into a
string) or from an ``INSERT`` statement (CloudFormation names, quoted scalars). Before it is
compared, validated or sent, it goes through three steps, each driven by the resource schema:

1. :func:`normalise_keys`: every key, at every depth, becomes the schema's exact property
   name (``f_sx_lustre_config`` -> ``FSxLustreConfig``). Keys of free-form maps (tag maps,
   policy documents, JSON blobs) are left alone: they are data, not property names.
2. :func:`coerce`: rendered strings become the types the schema asks for (``"3"`` -> 3,
   ``"true"`` -> True, JSON text -> object or array), and numbers or booleans given where
   the schema wants a string become strings.
3. :func:`prune`: ``None`` values, and empty strings given for non-string properties, are
   dropped; so are objects and arrays that pruning emptied.

:func:`prepare` runs all three. :func:`validate` / :func:`check` (from
:mod:`stackdeploy.schema.validation`) check the result against the schema, and
:func:`prepare_patch` does the same normalisation for RFC 6902 patch operations.

All functions return new structures; the input is never modified. See docs/schema.md.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

from stackdeploy.errors import ValidationError
from stackdeploy.schema.model import ResourceSchema, format_path, match_name
from stackdeploy.schema.validation import Violation, check, validate

__all__ = [
    "Violation",
    "check",
    "coerce",
    "normalise_keys",
    "prepare",
    "prepare_patch",
    "prune",
    "validate",
]

Node = dict[str, Any]
_MISSING = object()


# ---------------------------------------------------------------- schema nodes
def _root(schema: ResourceSchema) -> Node:
    return {"type": "object", "properties": dict(schema.properties)}


def node_types(schema: ResourceSchema, node: Mapping[str, Any] | None) -> set[str]:
    """JSON types a value described by ``node`` may have (see ``ResourceSchema.node_types``)."""
    return schema.node_types(node)


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # Java-only syntax such as \p{L}: treat as matching anything
        return None


def _map_value_schema(schema: ResourceSchema, node: Mapping[str, Any], key: str) -> Node | None:
    """The schema of ``node[key]`` when ``node`` is a map (patternProperties or
    additionalProperties); None when it is not a map or says nothing."""
    fallback: Any = None
    for branch in schema.branches(node):
        patterns = branch.get("patternProperties")
        if isinstance(patterns, Mapping):
            for pattern, sub in patterns.items():
                rx = _compiled(pattern)
                if rx is None or rx.search(key):
                    return schema.resolve(sub)
                if fallback is None:
                    fallback = sub
        additional = branch.get("additionalProperties")
        if isinstance(additional, Mapping) and fallback is None:
            fallback = additional
    return schema.resolve(fallback) if fallback is not None else None


def child_schema(
    schema: ResourceSchema,
    node: Mapping[str, Any] | None,
    key: str,
    props: Mapping[str, Any] | None = None,
) -> Node | None:
    """The resolved schema of property ``key`` (an exact name) of the object ``node``.

    ``props`` is ``schema.object_properties(node)`` when the caller already has it (walking
    an object looks up every key of the same node).
    """
    if node is None:
        return None
    if props is None:
        props = schema.object_properties(node)
    if key in props:
        return schema.resolve(props[key])
    return _map_value_schema(schema, node, key)


def item_schema(schema: ResourceSchema, node: Mapping[str, Any] | None, index: int) -> Node | None:
    """The resolved schema of the array ``node``'s item ``index``."""
    if node is None:
        return None
    for branch in schema.branches(node):
        items = branch.get("items")
        if isinstance(items, Mapping):
            return schema.resolve(items)
        if isinstance(items, list) and items:  # tuple form: rare, last one repeats
            return schema.resolve(items[min(index, len(items) - 1)])
    return None


# ------------------------------------------------------------ normalise_keys
def normalise_keys(schema: ResourceSchema, state: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` with every key at every depth renamed to the schema's exact property name.

    Accepts exact names, awscc snake_case columns and loose spellings (case and separators
    ignored). Keys of free-form maps stay as written; unknown keys stay as written (so
    validation can report them). JSON text standing for an object or array has its keys
    normalised too (and stays text; :func:`coerce` parses it).
    """
    result = _normalise(schema, _root(schema), dict(state))
    return result if isinstance(result, dict) else dict(state)


def _normalise(schema: ResourceSchema, node: Node | None, value: Any) -> Any:
    if node is None:
        # The schema says nothing here: copy, so the result never shares the caller's data.
        return copy.deepcopy(value) if isinstance(value, Mapping | list) else value
    if isinstance(value, Mapping):
        props = schema.object_properties(node)
        out: dict[str, Any] = {}
        if not props:
            # A map or a free-form object: keys are data. Values may still be structured.
            for key, sub in value.items():
                out[key] = _normalise(schema, _map_value_schema(schema, node, str(key)), sub)
            return out
        renamed: dict[str, str] = {}
        for key in value:
            name = match_name(key, props) if isinstance(key, str) else None
            # The first spelling to claim a name keeps it; an exact spelling always wins.
            if name is not None and key != name and (name in value or name in renamed.values()):
                name = None
            renamed[key] = name if name is not None else key
        for key, sub in value.items():
            new_key = renamed[key]
            out[new_key] = _normalise(schema, child_schema(schema, node, new_key, props), sub)
        return out
    if isinstance(value, list):
        return [_normalise(schema, item_schema(schema, node, i), v) for i, v in enumerate(value)]
    if isinstance(value, str) and _looks_like_json_container(value):
        types = node_types(schema, node)
        if types & {"object", "array"}:
            try:
                parsed = json.loads(value)
            except ValueError:
                return value
            if isinstance(parsed, dict | list):
                normalised = _normalise(schema, node, parsed)
                if normalised != parsed:
                    return json.dumps(normalised, separators=(",", ":"))
    return value


def _looks_like_json_container(text: str) -> bool:
    stripped = text.lstrip()
    return stripped.startswith(("{", "["))


# ------------------------------------------------------------------- coerce
def coerce(schema: ResourceSchema, state: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` with values converted to the schema's types at every depth.

    Keys must already be the schema's names (see :func:`normalise_keys`). Values the schema
    says nothing about, and values that cannot be converted, are left as they are.
    """
    result = _coerce(schema, _root(schema), dict(state))
    return result if isinstance(result, dict) else dict(state)


def coerce_value(schema: ResourceSchema, node: Node | None, value: Any) -> Any:
    """Coerce one value by its (resolved) schema node; public for patch values."""
    return _coerce(schema, node, value)


_INT_TEXT = re.compile(r"[+-]?\d+")
_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _coerce(schema: ResourceSchema, node: Node | None, value: Any) -> Any:
    if isinstance(value, date):
        # YAML reads an unquoted 2012-10-17 (a policy Version) as a date, which is not JSON:
        # its text is the only thing it can mean, wherever it is.
        value = value.isoformat()
    if isinstance(value, Mapping) and node is None:
        return {k: _coerce(schema, None, v) for k, v in value.items()}
    if isinstance(value, list) and node is None:
        return [_coerce(schema, None, v) for v in value]
    if node is None or value is None:
        return value
    types = node_types(schema, node)
    if isinstance(value, str):
        value = _coerce_text(value, types)
    elif isinstance(value, bool):
        if types and "boolean" not in types and "string" in types:
            value = "true" if value else "false"
    elif isinstance(value, int | float):
        value = _coerce_number(value, types)
    elif isinstance(value, Mapping | list) and types == {"string"}:
        # A structure where only text is accepted (a JSON blob such as a state machine
        # definition or a dashboard body): send its JSON text.
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, Mapping):
        props = schema.object_properties(node)
        return {
            k: _coerce(schema, child_schema(schema, node, str(k), props), v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_coerce(schema, item_schema(schema, node, i), v) for i, v in enumerate(value)]
    return value


def _coerce_text(text: str, types: set[str]) -> Any:
    if not types:
        return text
    stripped = text.strip()
    if types & {"object", "array"} and _looks_like_json_container(stripped):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = _MISSING
        if (isinstance(parsed, dict) and "object" in types) or (
            isinstance(parsed, list) and "array" in types
        ):
            return parsed
    if "string" in types:
        return text  # text is acceptable as it is; never guess a scalar type over it
    if "boolean" in types and stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    if types & {"integer", "number"} and _INT_TEXT.fullmatch(stripped):
        return int(stripped)  # an int is a valid JSON number and compares exactly
    if types & {"integer", "number"} and _FLOAT_TEXT.fullmatch(stripped):
        number = float(stripped)
        if "number" in types:
            return number
        if math.isfinite(number) and number.is_integer():
            return int(number)  # "3.0" for an integer
    if "null" in types and stripped.lower() == "null":
        return None
    return text


def _coerce_number(value: int | float, types: set[str]) -> Any:
    if not types:
        return value
    if isinstance(value, float) and "number" not in types and "integer" in types:
        if math.isfinite(value) and value.is_integer():
            return int(value)
        return value
    if not types & {"integer", "number"} and "string" in types:
        return _number_text(value)
    return value


def _number_text(value: int | float) -> str:
    # str() gives what the user most likely typed in YAML: 3 -> "3", 1.5 -> "1.5".
    return str(value)


# -------------------------------------------------------------------- prune
def prune(schema: ResourceSchema, state: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` without ``None`` values and without empty strings given for non-string
    properties, at every depth.

    An object or array that pruning emptied is dropped too (everything in it was "not
    set"); an empty ``{}`` or ``[]`` the user wrote is kept as written.
    """
    result = _prune(schema, _root(schema), dict(state))
    return result if isinstance(result, dict) else {}


def _drop_scalar(schema: ResourceSchema, node: Node | None, value: Any) -> bool:
    if value is None:
        return True
    if value == "" and isinstance(value, str):
        types = node_types(schema, node)
        return bool(types) and "string" not in types
    return False


def _prune(schema: ResourceSchema, node: Node | None, value: Any) -> Any:
    """The pruned value, or ``_MISSING`` when the whole value should go."""
    if isinstance(value, Mapping):
        props = schema.object_properties(node) if node is not None else {}
        out: dict[str, Any] = {}
        for key, sub in value.items():
            sub_node = child_schema(schema, node, str(key), props)
            if _drop_scalar(schema, sub_node, sub):
                continue
            pruned = _prune(schema, sub_node, sub)
            if pruned is not _MISSING:
                out[key] = pruned
        return _MISSING if value and not out else out
    if isinstance(value, list):
        items: list[Any] = []
        for index, sub in enumerate(value):
            sub_node = item_schema(schema, node, index)
            if _drop_scalar(schema, sub_node, sub):
                continue
            pruned = _prune(schema, sub_node, sub)
            if pruned is not _MISSING:
                items.append(pruned)
        return _MISSING if value and not items else items
    return value


# ------------------------------------------------------------------ prepare
def prepare(schema: ResourceSchema, state: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`normalise_keys`, then :func:`coerce`, then :func:`prune`."""
    return prune(schema, coerce(schema, normalise_keys(schema, state)))


# -------------------------------------------------------------- prepare_patch
_PATCH_OPS = ("add", "remove", "replace", "move", "copy", "test")


def prepare_patch(schema: ResourceSchema, ops: Any) -> list[dict[str, Any]]:
    """RFC 6902 operations with paths and values in the schema's names and types.

    ``ops`` is a list of operation objects or its JSON text. Paths may omit the leading
    slash; each segment is resolved to the schema's property name (array indices and ``-``
    kept); ``value`` has its keys normalised and is coerced by the schema at ``path``.
    Raises :class:`ValidationError` naming the index of a malformed operation.
    """
    if isinstance(ops, str | bytes):
        try:
            ops = json.loads(ops)
        except ValueError as exc:
            raise ValidationError(
                f"{schema.type_name}: patch document is not valid JSON: {exc}",
                [f"patch document: {exc}"],
                hint="give a JSON array of operations such as "
                '[{"op": "replace", "path": "/Name", "value": "x"}]',
            ) from None
    if isinstance(ops, Mapping):
        ops = [ops]
    if not isinstance(ops, list):
        raise ValidationError(
            f"{schema.type_name}: a patch document must be a list of operations, "
            f"got {type(ops).__name__}",
            ["patch document: not a list"],
        )
    return [_prepare_op(schema, index, op) for index, op in enumerate(ops)]


def _op_error(schema: ResourceSchema, index: int, problem: str) -> ValidationError:
    return ValidationError(
        f"{schema.type_name}: patch operation {index}: {problem}",
        [f"patch operation {index}: {problem}"],
        hint="each operation needs 'op' (add, remove, replace, move, copy, test) and 'path'",
    )


def _prepare_op(schema: ResourceSchema, index: int, op: Any) -> dict[str, Any]:
    if not isinstance(op, Mapping):
        raise _op_error(schema, index, f"not an object: {op!r}")
    name = op.get("op")
    if name not in _PATCH_OPS:
        raise _op_error(schema, index, f"unknown or missing 'op' {name!r}")
    path = op.get("path")
    if not isinstance(path, str):
        raise _op_error(schema, index, "missing 'path'")
    out = dict(op)
    tokens = normalise_pointer(schema, path)
    out["path"] = format_path(tokens)
    if name in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise _op_error(schema, index, f"'{name}' needs 'from'")
        out["from"] = format_path(normalise_pointer(schema, source))
    if name in ("add", "replace", "test"):
        if "value" not in op:
            raise _op_error(schema, index, f"'{name}' needs 'value'")
        node = _node_at(schema, tokens)
        value = _normalise(schema, node, op["value"])
        out["value"] = _coerce(schema, node, value)
    return out


def _split_pointer(path: str) -> list[str]:
    text = path.strip()
    if not text:
        return []
    if not text.startswith("/"):
        text = "/" + text
    return [p.replace("~1", "/").replace("~0", "~") for p in text.split("/")[1:]]


def normalise_pointer(schema: ResourceSchema, path: str) -> list[str | int]:
    """Resolve each segment of a JSON pointer (leading slash optional) to schema names.

    Digits become ``int`` indices where the schema has an array there (or says nothing);
    ``-`` is kept; unknown names are kept as written.
    """
    node: Node | None = _root(schema)
    tokens: list[str | int] = []
    for segment in _split_pointer(path):
        types = node_types(schema, node)
        if segment == "-" or (segment.isdigit() and ("array" in types or not types)):
            token: str | int = segment if segment == "-" else int(segment)
            node = item_schema(schema, node, 0 if segment == "-" else int(segment))
        else:
            props = schema.object_properties(node) if node is not None else {}
            name = match_name(segment, props) if props else None
            token = name if name is not None else segment
            node = child_schema(schema, node, token)
        tokens.append(token)
    return tokens


def _node_at(schema: ResourceSchema, tokens: list[str | int]) -> Node | None:
    node: Node | None = _root(schema)
    for token in tokens:
        if isinstance(token, int) or token == "-":
            node = item_schema(schema, node, token if isinstance(token, int) else 0)
        else:
            node = child_schema(schema, node, token)
        if node is None:
            return None
    return node
