"""Sweep over every resource type in us-east-1: awscc snake_case names map back unambiguously.

Two properties of the naming (docs/schema.md, "Name collisions"):

1. Top level: ``to_column`` is injective per type and every column resolves back to its
   property through ``ResourceSchema.canonical_key``.
2. Every nested object level reachable through the schema (definitions walked, each ``$ref``
   expanded once per type so recursive schemas terminate): the snake_case form of each
   property resolves back to exactly that property, and ``desired.normalise_keys`` turns a
   document written entirely in snake_case back into the CloudFormation spelling while
   leaving the keys of free-form maps alone.

Every collision found is printed; the test passes only when the collisions are exactly
``KNOWN_COLLISIONS``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from stackdeploy.schema import desired
from stackdeploy.schema.model import ResourceSchema, match_name
from stackdeploy.schema.naming import property_lookup_key, to_column
from stackdeploy.schema.registry import get_registry

# (type name, where, property, what its column resolved to). Empty: with the cfn-lint data
# pinned in pyproject.toml no two properties of one object level share an awscc column, and
# no two differ only by case or separators. If a cfn-lint upgrade adds one, list it here with
# a comment saying how a user can still reach the property (the exact CamelCase name always
# resolves first) and document it in docs/schema.md.
KNOWN_COLLISIONS: list[tuple[str, str, str, str | None]] = []

# A free-form map key written by the user, which must survive normalisation untouched.
MAP_KEY = "user_Key-1"


@pytest.fixture(scope="module")
def schemas() -> list[ResourceSchema]:
    registry = get_registry("us-east-1")
    return [registry.get(name) for name in registry.type_names()]


def object_levels(schema: ResourceSchema) -> Iterator[tuple[str, list[str]]]:
    """(where, property names) for every object level of the schema, each $ref once."""
    seen: set[str] = set()
    stack: list[tuple[Any, str]] = [(v, "/" + k) for k, v in schema.properties.items()]
    stack += [(v, "#/definitions/" + k) for k, v in schema.definitions.items()]
    while stack:
        node, where = stack.pop()
        if isinstance(node, list):
            stack.extend((x, where) for x in node)
            continue
        if not isinstance(node, Mapping):
            continue
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in seen:
                continue
            seen.add(ref)
        props = schema.object_properties(node)
        if props:
            yield where, list(props)
        stack.extend((v, f"{where}/{k}") for k, v in props.items())
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), Mapping):
                stack.append((node[key], where + "/*"))
        patterns = node.get("patternProperties")
        if isinstance(patterns, Mapping):
            stack.extend((v, where + "/*") for v in patterns.values())
        for key in ("oneOf", "anyOf", "allOf"):
            stack.extend((b, where) for b in node.get(key) or [])


def find_collisions(schema: ResourceSchema) -> list[tuple[str, str, str, str | None]]:
    found: list[tuple[str, str, str, str | None]] = []
    columns: dict[str, str] = {}
    for prop in schema.properties:
        column = to_column(prop)
        if column in columns:
            found.append((schema.type_name, "/", prop, columns[column]))
        columns.setdefault(column, prop)
        back = schema.canonical_key((), column)
        if back != prop:
            found.append((schema.type_name, "/", prop, back))
    for where, names in object_levels(schema):
        loose = Counter(property_lookup_key(n) for n in names)
        for prop in names:
            back = match_name(to_column(prop), names)
            if back != prop:
                found.append((schema.type_name, where, prop, back))
            elif loose[property_lookup_key(prop)] > 1:
                # Resolves by its column, but a loose spelling would be ambiguous.
                found.append((schema.type_name, where, prop, "ambiguous loose spelling"))
    return found


def test_no_unknown_collisions(schemas: list[ResourceSchema]) -> None:
    collisions: list[tuple[str, str, str, str | None]] = []
    levels = 0
    for schema in schemas:
        collisions.extend(find_collisions(schema))
        levels += sum(1 for _ in object_levels(schema))
    for c in collisions:
        print("collision:", *c)
    print(f"{len(schemas)} types, {levels} nested object levels, {len(collisions)} collisions")
    assert len(schemas) > 1000 and levels > 10000  # the sweep really walked the schemas
    assert collisions == KNOWN_COLLISIONS


def snake_and_camel(schema: ResourceSchema) -> tuple[dict[str, Any], dict[str, Any]]:
    """A document using every reachable property once, in snake_case and in CFN spelling.

    Each ``$ref`` is expanded once per document (recursion guard and size bound); further
    occurrences become a scalar. Free-form maps get a user key that must not change.
    """
    expanded: set[str] = set()

    def build(node: Any) -> tuple[Any, Any]:
        if not isinstance(node, Mapping):
            return "v", "v"
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in expanded:
                return "v", "v"
            expanded.add(ref)
        resolved = schema.resolve(node)
        props = schema.object_properties(resolved)
        if props:
            snake: dict[str, Any] = {}
            camel: dict[str, Any] = {}
            for name, sub in props.items():
                s, c = build(sub)
                snake[to_column(name)], camel[name] = s, c
            return snake, camel
        for branch in schema.branches(resolved):
            items = branch.get("items")
            if isinstance(items, Mapping):
                s, c = build(items)
                return [s], [c]
            values = branch.get("additionalProperties")
            patterns = branch.get("patternProperties")
            if isinstance(patterns, Mapping) and patterns:
                values = next(iter(patterns.values()))
            if isinstance(values, Mapping):
                s, c = build(values)
                return {MAP_KEY: s}, {MAP_KEY: c}
        return "v", "v"

    snake, camel = build({"type": "object", "properties": dict(schema.properties)})
    if not isinstance(snake, dict):  # a type without properties
        return {}, {}
    return snake, camel


def test_normalise_keys_recovers_every_name(schemas: list[ResourceSchema]) -> None:
    failures: list[str] = []
    for schema in schemas:
        snake, camel = snake_and_camel(schema)
        if desired.normalise_keys(schema, snake) != camel:
            failures.append(schema.type_name)
    assert failures == []
