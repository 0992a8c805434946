"""Read YAML (and JSON) documents keeping the line of every node, and resolve ``file()``.

Values come back as plain ``dict`` / ``list`` / scalars, so nothing of the bookkeeping can
leak into what is rendered or sent to AWS. Positions live beside the data in a
:class:`Positions` table keyed by the *path* of each node from the document root
(``("resources", 2, "props", 0, "value")``): paths are stable where ``id()`` of a value is
not, and they let an included file's positions be grafted under the node it replaces.

``file(rel/path)`` (stackql-deploy 2.x) : a string that is exactly ``file(...)`` is replaced
by the content of ``<stack>/resources/<rel/path>``, parsed as JSON (``.json``) or YAML
(``.yml`` / ``.yaml``). Included content is searched for further includes (recursively, with
cycle detection) and is still rendered later like any other value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stackdeploy.errors import ManifestError

NodePath = tuple[str | int, ...]
Location = tuple[str, int]

# A whole string that is an include: file(x.json), file( 'x.yml' ), ...
_INCLUDE = re.compile(r"""^\s*file\(\s*(['"]?)([^'"()]+?)\1\s*\)\s*$""")


@dataclass
class Positions:
    """Path -> (file, line) for every node of a document (and of what it includes).

    ``where(path)`` answers for the deepest recorded node on the path, so asking about a
    scalar returns the line of its key (or sequence item), and a value spliced in from an
    included file answers with that file's own lines.
    """

    entries: dict[NodePath, Location] = field(default_factory=dict)
    default_file: str = ""
    # Where a string's text starts: the line after the key for block scalars (| and >).
    text_starts: dict[NodePath, Location] = field(default_factory=dict)

    def add(self, path: NodePath, file: str, line: int) -> None:
        self.entries[path] = (file, line)

    def where(self, path: NodePath) -> Location:
        """The (file, line) of ``path`` or of its deepest recorded ancestor."""
        probe = tuple(path)
        while True:
            found = self.entries.get(probe)
            if found is not None:
                return found
            if not probe:
                return (self.default_file, 1)
            probe = probe[:-1]

    def line(self, path: NodePath) -> int:
        return self.where(path)[1]

    def text_start(self, path: NodePath) -> Location:
        """The (file, line) where the text of the string at ``path`` starts."""
        return self.text_starts.get(tuple(path)) or self.where(path)

    def graft(self, prefix: NodePath, other: Positions) -> None:
        """Record ``other``'s entries under ``prefix`` (an included document's positions)."""
        for sub, location in other.entries.items():
            self.entries[prefix + sub] = location
        for sub, location in other.text_starts.items():
            self.text_starts[prefix + sub] = location


@dataclass
class Loaded:
    """A parsed document: its data, its positions and the problems met while reading it."""

    data: Any
    positions: Positions
    duplicate_keys: list[tuple[NodePath, int]] = field(default_factory=list)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader; only here so nothing we register leaks into ``yaml.SafeLoader``."""


def _walk(
    loader: _LineLoader,
    node: yaml.Node,
    path: NodePath,
    file: str,
    positions: Positions,
    duplicates: list[tuple[NodePath, int]],
) -> None:
    """Record the line of ``node`` and of everything under it, in the constructed shape."""
    positions.add(path, file, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        block = node.style in ("|", ">")
        positions.text_starts[path] = (file, node.start_mark.line + 1 + (1 if block else 0))
    elif isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        # construct_document already flattened merge keys (<<) into node.value.
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue
            if key in seen:
                duplicates.append(((*path, key), key_node.start_mark.line + 1))
            seen.add(key)
            child = (*path, key)
            _walk(loader, value_node, child, file, positions, duplicates)
            # For a key the line people look for is the key's own line.
            positions.add(child, file, key_node.start_mark.line + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(loader, item, (*path, index), file, positions, duplicates)


def parse_yaml(text: str, *, file: str) -> Loaded:
    """Parse one YAML document, recording the line of every node. Syntax errors are fatal."""
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        positions = Positions(default_file=file)
        duplicates: list[tuple[NodePath, int]] = []
        if node is not None:
            _walk(loader, node, (), file, positions, duplicates)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ManifestError(f"invalid YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"invalid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    return Loaded(data, positions, duplicates)


def parse_json(text: str, *, file: str) -> Loaded:
    """Parse a JSON document. Lines are recorded for the root only (JSON has no node marks)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno) from None
    positions = Positions(default_file=file)
    positions.add((), file, 1)
    return Loaded(data, positions)


def load_file(path: Path, *, display: str | None = None) -> Loaded:
    """Read and parse ``path`` as JSON (``.json``) or YAML (anything else)."""
    shown = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"cannot read file: {exc.strerror}", file=shown) from None
    if path.suffix.lower() == ".json":
        return parse_json(text, file=shown)
    return parse_yaml(text, file=shown)


def include_target(value: Any) -> str | None:
    """The relative path of a ``file(...)`` include string, else None."""
    if not isinstance(value, str) or "file(" not in value:
        return None
    match = _INCLUDE.match(value)
    return match.group(2).strip() if match else None


def iter_strings(value: Any, path: NodePath = ()) -> Iterator[tuple[NodePath, str]]:
    """Every string inside ``value`` with its path (``path`` + the keys/indexes to it)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_strings(item, (*path, index))


def _replace_at(root: Any, path: NodePath, new: Any) -> Any:
    if not path:
        return new
    parent = root
    for token in path[:-1]:
        parent = parent[token]
    parent[path[-1]] = new
    return root


def resolve_includes(
    value: Any,
    path: NodePath,
    positions: Positions,
    *,
    resources_dir: Path,
    display_dir: str,
    _chain: tuple[Path, ...] = (),
) -> Any:
    """Replace every ``file(...)`` string inside ``value`` (at ``path``) by the file's content.

    Returns the new value (the root itself may be an include). ``positions`` gains the
    included files' positions under the replaced paths. Errors are fatal and name the
    file and line of the ``file(...)`` string.
    """
    for sub, text in list(iter_strings(value, ())):
        target = include_target(text)
        if target is None:
            continue
        where_file, where_line = positions.where(path + sub)
        candidate = (resources_dir / target).resolve()
        # Shown beside the manifest path the user gave (``stacks/x/resources/tags.yml``).
        shown = os.path.normpath(os.path.join(display_dir, "resources", target))
        if candidate in _chain:
            cycle = " -> ".join(p.name for p in (*_chain, candidate))
            raise ManifestError(
                f"file({target}) includes itself ({cycle})", file=where_file, line=where_line
            )
        if candidate.suffix.lower() not in (".json", ".yml", ".yaml"):
            raise ManifestError(
                f"file({target}): unsupported extension {candidate.suffix or '(none)'!r}",
                file=where_file,
                line=where_line,
                hint="include .json, .yml or .yaml files",
            )
        if not candidate.is_file():
            raise ManifestError(
                f"file({target}): {shown} not found",
                file=where_file,
                line=where_line,
                hint="file() paths are relative to the stack's resources/ folder",
            )
        loaded = load_file(candidate, display=shown)
        included = resolve_includes(
            loaded.data,
            (),
            loaded.positions,
            resources_dir=resources_dir,
            display_dir=display_dir,
            _chain=(*_chain, candidate),
        )
        # Nodes inside the included value answer with the included file's own lines.
        positions.graft(path + sub, loaded.positions)
        value = _replace_at(value, sub, included)
    return value
