"""The model of one CloudFormation resource schema: identifiers, property metadata, lookups.

A :class:`ResourceSchema` wraps the raw registry JSON and answers the questions the rest of
stack-deploy asks: what identifies a resource, which paths are read-only / create-only /
write-only, which arrays are order-insensitive, what a property's sub-schema is (``$ref``
resolved), how a snake_case or CamelCase key maps to the schema's exact property name, and
what the handlers' permissions and time-outs are.

Paths are tuples of tokens relative to ``properties``: ``("InstanceGroups", "*",
"CurrentCount")``. In schema patterns ``*`` stands for any array index; in concrete paths an
index is an ``int``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any

from stackdeploy.schema.naming import awscc_table, property_lookup_key, to_column

Path = tuple[str | int, ...]
Pattern = tuple[str, ...]

# CloudFormation's documented default for handlers.<op>.timeoutInMinutes.
DEFAULT_TIMEOUT_MINUTES = 120
OPERATIONS = ("create", "read", "update", "delete", "list")
_COMBINATORS = ("oneOf", "anyOf", "allOf")


def parse_pointer(pointer: str) -> Pattern:
    """``/properties/A/*/B`` -> ``("A", "*", "B")`` (JSON pointer escapes undone)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/") if p != ""]
    if parts and parts[0] == "properties":
        parts = parts[1:]
    return tuple(parts)


def format_path(path: Sequence[str | int]) -> str:
    """``("A", 0, "B")`` -> ``/A/0/B`` (a JSON Patch / pointer path)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _token_matches(pattern_token: str, token: str | int) -> bool:
    if pattern_token == "*":
        return True
    return str(token) == pattern_token


def path_matches(pattern: Pattern, path: Sequence[str | int], *, prefix_ok: bool = True) -> bool:
    """True when ``path`` is ``pattern`` or (with ``prefix_ok``) lies under it.

    A schema pattern names a property; everything beneath it shares its nature, so a path
    under a read-only property is read-only too.
    """
    if len(path) < len(pattern) or (not prefix_ok and len(path) != len(pattern)):
        return False
    return all(_token_matches(p, t) for p, t in zip(pattern, path, strict=False))


class ResourceSchema:
    """One resource type's schema with metadata helpers. Immutable after construction."""

    def __init__(
        self,
        raw: Mapping[str, Any],
        *,
        region: str = "us-east-1",
        handlers: Mapping[str, Any] | None = None,
    ) -> None:
        self.raw: Mapping[str, Any] = raw
        self.region = region
        self.type_name: str = raw["typeName"]
        # cfn-lint before 1.5x stripped handlers; a supplement (handlers.json) restores them.
        self.handlers: Mapping[str, Any] = raw.get("handlers") or handlers or {}

    def __repr__(self) -> str:
        return f"ResourceSchema({self.type_name!r})"

    # ------------------------------------------------------------------ names
    @property
    def awscc_name(self) -> str:
        return awscc_table(self.type_name)

    @cached_property
    def properties(self) -> Mapping[str, Any]:
        """Top-level property schemas (not resolved)."""
        return self.raw.get("properties", {})

    @cached_property
    def definitions(self) -> Mapping[str, Any]:
        return self.raw.get("definitions", {})

    @cached_property
    def columns(self) -> dict[str, str]:
        """awscc column name -> property name, for the top level."""
        return {to_column(name): name for name in self.properties}

    # ------------------------------------------------------------- metadata
    def _patterns(self, key: str) -> tuple[Pattern, ...]:
        return tuple(parse_pointer(p) for p in self.raw.get(key, []))

    @cached_property
    def primary_identifier(self) -> tuple[str, ...]:
        """Names of the primary identifier's properties, in order (top-level in practice)."""
        return tuple("/".join(parse_pointer(p)) for p in self.raw.get("primaryIdentifier", []))

    @cached_property
    def additional_identifiers(self) -> tuple[tuple[str, ...], ...]:
        return tuple(
            tuple("/".join(parse_pointer(p)) for p in group)
            for group in self.raw.get("additionalIdentifiers", [])
        )

    @cached_property
    def read_only(self) -> tuple[Pattern, ...]:
        return self._patterns("readOnlyProperties")

    @cached_property
    def create_only(self) -> tuple[Pattern, ...]:
        return self._patterns("createOnlyProperties")

    @cached_property
    def write_only(self) -> tuple[Pattern, ...]:
        return self._patterns("writeOnlyProperties")

    @cached_property
    def deprecated(self) -> tuple[Pattern, ...]:
        return self._patterns("deprecatedProperties")

    @cached_property
    def required(self) -> tuple[str, ...]:
        return tuple(self.raw.get("required", []))

    def is_read_only(self, path: Sequence[str | int]) -> bool:
        return any(path_matches(p, path) for p in self.read_only)

    def is_create_only(self, path: Sequence[str | int]) -> bool:
        return any(path_matches(p, path) for p in self.create_only)

    def is_write_only(self, path: Sequence[str | int]) -> bool:
        return any(path_matches(p, path) for p in self.write_only)

    def create_only_under(self, path: Sequence[str | int]) -> list[Pattern]:
        """Create-only patterns at or beneath ``path`` (a change there forces replacement)."""
        n = len(path)
        return [
            p
            for p in self.create_only
            if len(p) >= n and all(_token_matches(a, b) for a, b in zip(p, path, strict=False))
        ]

    # -------------------------------------------------------------- tagging
    @cached_property
    def taggable(self) -> bool:
        tagging = self.raw.get("tagging")
        if isinstance(tagging, Mapping):
            return bool(tagging.get("taggable", True)) and self.tag_property is not None
        if "taggable" in self.raw:
            return bool(self.raw["taggable"]) and self.tag_property is not None
        return self.tag_property is not None

    @cached_property
    def tag_property(self) -> str | None:
        """Top-level property holding the tags (``Tags`` usually), if the schema has one."""
        tagging = self.raw.get("tagging")
        if isinstance(tagging, Mapping) and tagging.get("tagProperty"):
            name = "/".join(parse_pointer(tagging["tagProperty"]))
            return name if name in self.properties else None
        for candidate in ("Tags", "TagList", "TagSet"):
            if candidate in self.properties:
                return candidate
        return None

    @cached_property
    def tags_are_map(self) -> bool:
        """True when tags are an object ``{key: value}`` rather than a list of Key/Value."""
        if self.tag_property is None:
            return False
        node = self.properties[self.tag_property]
        types = self.node_types(node)
        # Glue and Greengrass say ["object", "string"] (a map or its JSON text).
        return ("object" in types and "array" not in types) or (
            "patternProperties" in self.resolve(node) and "array" not in types
        )

    # ------------------------------------------------------------- handlers
    def handler_permissions(self, operation: str) -> list[str]:
        handler = self.handlers.get(operation) or {}
        return list(handler.get("permissions", []))

    def timeout_minutes(self, operation: str) -> int:
        handler = self.handlers.get(operation) or {}
        return int(handler.get("timeoutInMinutes", DEFAULT_TIMEOUT_MINUTES))

    def has_handler(self, operation: str) -> bool:
        """Whether Cloud Control supports ``operation``. Without handler data (cfn-lint before
        1.5x stripped it) every operation is assumed supported."""
        if not self.handlers:
            return True
        if "handlers" not in self.raw:
            # The handlers.json supplement is partial (often only "list"): it never says an
            # operation is unsupported, so an operation it does not list is assumed supported.
            return True
        return operation in self.handlers

    @cached_property
    def list_required(self) -> tuple[str, ...]:
        """Properties ListResources needs in ResourceModel (list ``handlerSchema.required``)."""
        handler = self.handlers.get("list") or {}
        schema = handler.get("handlerSchema") or {}
        return tuple(schema.get("required", []))

    # -------------------------------------------------------- sub-schemas
    def resolve(self, node: Any) -> dict[str, Any]:
        """Follow ``$ref`` (``#/definitions/X`` or ``#/properties/X``) until a plain node."""
        seen = 0
        while isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                break
            target: Any = self.raw
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            # Keep sibling keywords of the $ref (insertionOrder often sits beside it).
            extra = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **extra} if extra else target
            seen += 1
            if seen > 64:  # a cycle; stop rather than loop forever
                break
        return dict(node) if isinstance(node, Mapping) else {}

    def branches(self, node: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """The node itself and every (resolved) oneOf/anyOf/allOf branch, depth first."""
        resolved = self.resolve(node)
        yield resolved
        for key in _COMBINATORS:
            for branch in resolved.get(key, []) or []:
                yield from self.branches(branch)

    def object_properties(self, node: Mapping[str, Any]) -> dict[str, Any]:
        """All property schemas an object node can have, across its combinator branches."""
        merged: dict[str, Any] = {}
        for branch in self.branches(node):
            for name, sub in (branch.get("properties") or {}).items():
                merged.setdefault(name, sub)
        return merged

    def subschema(self, path: Sequence[str | int]) -> dict[str, Any] | None:
        """The resolved schema of the value at ``path``; None where the schema says nothing.

        Array indices (ints or ``*``) step into ``items``; names step into ``properties``
        (across oneOf/anyOf/allOf branches) or ``patternProperties`` /
        ``additionalProperties`` for maps.
        """
        node: dict[str, Any] = {"type": "object", "properties": dict(self.properties)}
        for token in path:
            if isinstance(token, int) or token == "*":
                items = None
                for branch in self.branches(node):
                    if "items" in branch:
                        items = branch["items"]
                        break
                if items is None:
                    return None
                node = self.resolve(items)
                continue
            props = self.object_properties(node)
            if token in props:
                node = self.resolve(props[token])
                continue
            found = None
            for branch in self.branches(node):
                patterns = branch.get("patternProperties")
                if isinstance(patterns, Mapping) and patterns:
                    found = next(iter(patterns.values()))
                    break
                additional = branch.get("additionalProperties")
                if isinstance(additional, Mapping):
                    found = additional
                    break
            if found is None:
                return None
            node = self.resolve(found)
        return node

    def node_types(self, node: Mapping[str, Any] | None) -> set[str]:
        """JSON types a value described by ``node`` may have, across combinator branches
        (empty when the schema says nothing: no ``type``, no properties or items)."""
        if node is None:
            return set()
        types: set[str] = set()
        for branch in self.branches(node):
            t = branch.get("type")
            if isinstance(t, str):
                types.add(t)
            elif isinstance(t, list):
                types.update(x for x in t if isinstance(x, str))
            elif "properties" in branch or "patternProperties" in branch:
                types.add("object")
            elif "items" in branch:
                types.add("array")
        return types

    def types_at(self, path: Sequence[str | int]) -> set[str]:
        """JSON types the value at ``path`` may have (empty when unknown)."""
        return self.node_types(self.subschema(path))

    def insertion_order(self, path: Sequence[str | int]) -> bool:
        """False when the array at ``path`` is order-insensitive (``insertionOrder: false``)."""
        node = self.subschema(path)
        if node is None:
            return True
        return node.get("insertionOrder", True) is not False

    # ------------------------------------------------------------ key names
    def canonical_key(self, parent: Sequence[str | int], key: str) -> str | None:
        """The schema's exact property name for ``key`` under the object at ``parent``.

        Accepts the exact name, the awscc snake_case column (``f_sx_lustre_config``), or any
        spelling equal ignoring case and separators. None when nothing matches.
        """
        if parent:
            node = self.subschema(parent)
            candidates = self.object_properties(node) if node is not None else {}
        else:
            candidates = dict(self.properties)
        return match_name(key, candidates)

    # ----------------------------------------------------------- identifiers
    def identifier_of(self, props: Mapping[str, Any]) -> str | None:
        """The Cloud Control identifier for a model, compound parts joined with ``|``."""
        values = []
        for name in self.primary_identifier:
            value: Any = props
            for part in name.split("/"):
                value = value.get(part) if isinstance(value, Mapping) else None
            if value is None or value == "":
                return None
            values.append(str(value))
        return "|".join(values) if values else None

    def identifier_parts(self, identifier: str) -> dict[str, str]:
        """Split an identifier (``a|b`` or a JSON object) into primary identifier values."""
        import json

        text = identifier.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if isinstance(data, dict):
                return {k: str(v) for k, v in data.items()}
        names = self.primary_identifier
        if len(names) == 1:
            return {names[0]: identifier}
        parts = identifier.split("|")
        if len(parts) != len(names):
            return {}
        return dict(zip(names, parts, strict=True))

    def list_columns(self) -> list[str]:
        """Columns of ``<table>_list_only``: the primary identifier's, snake_case."""
        return [to_column(name.split("/")[-1]) for name in self.primary_identifier]


def match_name(key: str, candidates: Iterable[str]) -> str | None:
    """Find ``key`` among ``candidates``: exact, awscc column form, then loose match."""
    names = list(candidates)
    if key in names:
        return key
    for name in names:
        if to_column(name) == key:
            return name
    loose = property_lookup_key(key.lstrip("_"))
    matches = [name for name in names if property_lookup_key(name) == loose]
    if len(matches) == 1:
        return matches[0]
    return None
