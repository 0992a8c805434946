"""From a live model to the props a manifest declares (pure: schema in, data out).

GetResource returns everything AWS knows about a resource; a manifest should hold only what
its author decides. :func:`clean_live` keeps the properties a create or update can set and
drops, at every depth:

- read-only properties (identifiers AWS chose, ARNs, computed values) and deprecated ones;
- write-only properties (GetResource should not return them; if an endpoint does, they are
  secrets or inputs that must not be copied into a file);
- values equal to the schema's ``default`` (unless the property is required there);
- ``null`` and empty objects or arrays (they say nothing AWS would not assume);
- in the tag property, the stack-deploy tags (``stackql:stack-name``, ``stackql:stack-env``,
  ``stackql:resource-name``: the engine adds them itself) and the ``aws:`` system tags.

:func:`add_placeholders` then fills what a create needs but cannot be read back (a required
write-only property such as a Lambda function's ``Code``) with ``{{ VARIABLE }}`` templates
the user must give. Names stay CloudFormation names here; :mod:`.render` writes the top
level as awscc columns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stackdeploy.adopt.model import STACK_TAG_KEYS, SYSTEM_TAG_PREFIX, Placeholder
from stackdeploy.plan.diff import values_equal
from stackdeploy.schema.desired import child_schema, item_schema, validate
from stackdeploy.schema.model import ResourceSchema, parse_pointer

_MISSING: Any = object()


def clean_live(schema: ResourceSchema, live: Mapping[str, Any]) -> dict[str, Any]:
    """The settable part of ``live`` (see the module docstring), in schema property order
    with the tag property last."""
    root: dict[str, Any] = {"type": "object", "properties": dict(schema.properties)}
    # Properties the schema does not know (an endpoint's extras) are not settable: dropped.
    return _schema_order(schema, _clean_object(schema, root, live, ()))


def _skipped(schema: ResourceSchema, path: tuple[str | int, ...]) -> bool:
    return (
        schema.is_read_only(path)
        or schema.is_write_only(path)
        or any(_matches(p, path) for p in schema.deprecated)
    )


def _matches(pattern: tuple[str, ...], path: tuple[str | int, ...]) -> bool:
    if len(path) < len(pattern):
        return False
    return all(p == "*" or p == str(t) for p, t in zip(pattern, path, strict=False))


def _clean_object(
    schema: ResourceSchema,
    node: Mapping[str, Any] | None,
    value: Mapping[str, Any],
    path: tuple[str | int, ...],
) -> dict[str, Any]:
    props = schema.object_properties(node) if node is not None else {}
    required = set(node.get("required", []) or []) if node is not None else set()
    out: dict[str, Any] = {}
    for key, sub in value.items():
        sub_path = (*path, key)
        if _skipped(schema, sub_path):
            continue
        if not path and props and key not in props:
            continue  # not a property of the type: nothing a create could set
        if not path and key == schema.tag_property:
            sub = _clean_tags(sub)
        sub_node = child_schema(schema, node, str(key), props) if node is not None else None
        cleaned = _clean(schema, sub_node, sub, sub_path)
        if cleaned is _MISSING:
            continue
        if (
            sub_node is not None
            and "default" in sub_node
            and key not in required
            and values_equal(cleaned, sub_node["default"])
        ):
            continue
        out[key] = cleaned
    return out


def _clean(
    schema: ResourceSchema, node: Mapping[str, Any] | None, value: Any, path: tuple[str | int, ...]
) -> Any:
    """The cleaned value, or ``_MISSING`` when nothing of it is worth declaring."""
    if value is None:
        return _MISSING
    if isinstance(value, Mapping):
        if not value:
            return _MISSING
        inner = _clean_object(schema, node, value, path)
        return inner if inner else _MISSING
    if isinstance(value, list):
        if not value:
            return _MISSING
        items = []
        for index, item in enumerate(value):
            cleaned = _clean(schema, item_schema(schema, node, index), item, (*path, index))
            if cleaned is not _MISSING:
                items.append(cleaned)
        return items if items else _MISSING
    return value


def _clean_tags(value: Any) -> Any:
    def kept(key: Any) -> bool:
        text = str(key)
        return text not in STACK_TAG_KEYS and not text.startswith(SYSTEM_TAG_PREFIX)

    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if kept(k)}
    if isinstance(value, list):
        return [t for t in value if not (isinstance(t, Mapping) and not kept(t.get("Key")))]
    return value


# ------------------------------------------------------------------------- placeholders
def placeholder_variable(resource: str, pointer: str) -> str:
    """``("fn", "/Code")`` -> ``FN_CODE``: an upper-case template variable name."""
    from stackdeploy.schema.naming import to_column

    parts = [resource] + [
        to_column(p) if isinstance(p, str) else str(p) for p in parse_pointer(pointer)
    ]
    return re.sub(r"[^A-Za-z0-9]+", "_", "_".join(parts)).strip("_").upper()


def add_placeholders(
    schema: ResourceSchema, props: dict[str, Any], resource: str
) -> tuple[dict[str, Any], tuple[Placeholder, ...]]:
    """``props`` with a ``{{ VARIABLE }}`` wherever a create needs a value the live model
    cannot give (a required property that is missing: write-only, or not returned)."""
    out = _deep_copy(props)
    found: list[Placeholder] = []
    seen: set[str] = set()
    for _ in range(4):  # a placeholder object may itself miss required members: rare, bounded
        missing = [
            v.path
            for v in validate(schema, out, mode="create")
            if v.message == "required property is missing" and v.path not in seen
        ]
        if not missing:
            break
        for pointer in missing:
            seen.add(pointer)
            tokens = _pointer_tokens(pointer)
            parent = _node_at(out, tokens[:-1])
            if not isinstance(parent, dict):
                continue
            variable = placeholder_variable(resource, pointer)
            placeholder = Placeholder(pointer, variable, write_only=schema.is_write_only(tokens))
            # A property whose every member is write-only (Lambda's Code) is write-only too,
            # in effect: nothing of it can be read back.
            if not placeholder.write_only:
                sub = schema.subschema(tokens)
                members = schema.object_properties(sub) if sub is not None else {}
                if members and all(schema.is_write_only((*tokens, m)) for m in members):
                    placeholder = Placeholder(pointer, variable, write_only=True)
            parent[str(tokens[-1])] = placeholder.template
            found.append(placeholder)
    return _schema_order(schema, out), tuple(found)


def _schema_order(schema: ResourceSchema, props: dict[str, Any]) -> dict[str, Any]:
    """Top-level props in schema property order, the tag property last (unknown ones after)."""
    order = [p for p in schema.properties if p != schema.tag_property]
    if schema.tag_property is not None:
        order.append(schema.tag_property)
    ordered = {k: props[k] for k in order if k in props}
    ordered.update({k: v for k, v in props.items() if k not in ordered})
    return ordered


def _pointer_tokens(pointer: str) -> tuple[str | int, ...]:
    tokens: list[str | int] = []
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        tokens.append(int(token) if token.isdigit() else token)
    return tuple(tokens)


def _node_at(value: Any, tokens: tuple[str | int, ...]) -> Any:
    for token in tokens:
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and isinstance(token, int) and token < len(value):
            value = value[token]
        else:
            return None
    return value


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def placeholder_pointers(placeholders: tuple[Placeholder, ...]) -> list[str]:
    """Display form of the placeholders' paths (``Code``, ``LoginProfile.Password``)."""
    from stackdeploy.plan.diff import display_pointer

    return [display_pointer(p.pointer) for p in placeholders]


__all__ = [
    "add_placeholders",
    "clean_live",
    "placeholder_pointers",
    "placeholder_variable",
]
