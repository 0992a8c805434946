"""Read YAML (and JSON) documents keeping the line of every node, and resolve ``file()``.

Values come back as plain ``dict`` / ``list`` / scalars, so nothing of the bookkeeping can
leak into what is rendered or sent to AWS. Positions live beside the data in a
:class:`Positions` table keyed by the *path* of each node from the document root
(``("resources", 2, "props", 0, "value")``): paths are stable where ``id()`` of a value is
not, and they let an included file's positions be grafted under the node it replaces.

``file(rel/path)`` (stackql-deploy 2.x) : a string that is exactly ``file(...)`` is replaced
by the content of ``<stack>/resources/<rel/path>``, parsed as JSON (``.json``) or YAML
(``.yml`` / ``.yaml``). Included content is searched for further includes (recursively, with
cycle detection) and is still rendered later like any other value. An include may not leave
the stack folder (absolute paths, ``..``, symlinks pointing outside).

Documents are untrusted input, so parsing is bounded: nesting deeper than
:data:`MAX_DEPTH` levels is refused before Python's recursion limit is near, and so are
aliases that would expand the document past :data:`ALIAS_EXPANSION_LIMIT` nodes (a
"billion laughs" bomb is a few hundred bytes that expand to billions of nodes) or that
refer to the node holding them. Both are checked while the YAML is composed, before anything
is built from it, wherever the aliases are (under ignored keys too). A value YAML cannot
construct (``2001-02-30``, a 5,000-digit number) is an error naming its line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from stackdeploy.errors import ManifestError
from stackdeploy.textfile import is_inside, read_text, unsafe_relative_path

NodePath = tuple[str | int, ...]
Location = tuple[str, int]

# A whole string that is an include: file(x.json), file( 'x.yml' ), ...
_INCLUDE = re.compile(r"""^\s*file\(\s*(['"]?)([^'"()]+?)\1\s*\)\s*$""")

#: Deepest nesting of maps and lists accepted in a document (includes spliced in count too).
#: Real manifests stay under 20; the bound keeps every recursive walk far from Python's
#: recursion limit.
MAX_DEPTH = 100
#: Nodes a document may expand to once every alias is written out, unless that is no more
#: than :data:`ALIAS_EXPANSION_RATIO` times the nodes it really holds (a big document
#: without aliases is never refused).
ALIAS_EXPANSION_LIMIT = 100_000
ALIAS_EXPANSION_RATIO = 10


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
    """SafeLoader with bounded composition; also keeps registrations out of ``SafeLoader``.

    ``compose_node`` counts, for every node, how many nodes it stands for once aliases are
    expanded (its own plus its children's counts, each alias counting its target's), which
    costs one addition per child: the expansion is measured without ever being performed.
    """

    def __init__(self, stream: str, *, file: str) -> None:
        super().__init__(stream)
        self.file = file
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> nodes it expands to

    def _refuse(self, message: str, mark: yaml.Mark | None, hint: str) -> ManifestError:
        line = mark.line + 1 if mark is not None else None
        return ManifestError(message, file=self.file, line=line, hint=hint)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._sizes:
                raise self._refuse(
                    f"alias *{event.anchor} refers to a node that contains it (a recursive alias)",
                    event.start_mark,
                    "an alias can only repeat a complete node defined before it",
                )
            return cast(yaml.Node, super().compose_node(parent, index))
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise self._refuse(
                f"the document is nested more than {MAX_DEPTH} levels deep",
                self.peek_event().start_mark,
                "flatten the structure (a manifest rarely needs more than 20 levels)",
            )
        try:
            node = cast(yaml.Node, super().compose_node(parent, index))
        finally:
            self._depth -= 1
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(item)] for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        self._sizes[id(node)] = size
        limit = max(ALIAS_EXPANSION_LIMIT, ALIAS_EXPANSION_RATIO * len(self._sizes))
        if size > limit:
            raise self._refuse(
                f"aliases expand this node to more than {limit:,} values (an alias bomb?)",
                node.start_mark,
                "repeat less through anchors and aliases (*name)",
            )
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            # A scalar YAML resolves to a type it then cannot build: 2001-02-30, !!int 0b,
            # a number with more digits than Python converts.
            tag = str(node.tag).rsplit(":", 1)[-1]
            shown = node.value if isinstance(node.value, str) else ""
            if len(shown) > 40:
                shown = shown[:37] + "..."
            reason = str(exc).split(";")[0]
            raise ManifestError(
                f"invalid YAML: cannot read {shown!r} as {tag} ({reason})",
                file=self.file,
                line=node.start_mark.line + 1,
                hint="quote the value to keep it a string",
            ) from None


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
    try:
        loader = _LineLoader(text, file=file)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, file) from None
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
        raise ManifestError(f"invalid YAML: {_yaml_problem(exc)}", file=file, line=line) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, file) from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"invalid YAML: {exc}", file=file) from None
    except RecursionError:
        # MAX_DEPTH keeps composition far from the limit; this is the last line of defence.
        raise ManifestError(
            "the document is nested too deeply", file=file, hint="flatten the structure"
        ) from None
    finally:
        loader.dispose()
    return Loaded(data, positions, duplicates)


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's problem in words that stand alone (some only make sense with the context)."""
    context, problem = exc.context or "", exc.problem or ""
    if context.startswith("expected a single document"):
        return "the file holds more than one YAML document (a second '---')"
    if context.startswith("found duplicate anchor") and exc.context_mark is not None:
        return f"{context.split(';')[0]} (first defined on line {exc.context_mark.line + 1})"
    return problem or context or "invalid YAML"


def _reader_error(exc: yaml.reader.ReaderError, text: str, file: str) -> ManifestError:
    """A character YAML does not allow (a control character), with its line."""
    character = exc.character if isinstance(exc.character, str) else chr(exc.character)
    return ManifestError(
        f"invalid YAML: character {character!r} is not allowed in YAML",
        file=file,
        line=text.count("\n", 0, exc.position) + 1,
        hint="remove it, or write it as an escape (\\x07) inside a double-quoted string",
    )


def depth_of(value: Any) -> int:
    """How deeply maps and lists nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(value, 0)]
    seen: set[int] = set()
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            if id(item) in seen:  # shared by aliases: its depth is already counted
                continue
            seen.add(id(item))
            depth += 1
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            todo.extend((child, depth) for child in children)
    return deepest


def parse_json(text: str, *, file: str) -> Loaded:
    """Parse a JSON document. Lines are recorded for the root only (JSON has no node marks)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno) from None
    except RecursionError:
        data = None
        too_deep = True
    else:
        too_deep = depth_of(data) > MAX_DEPTH
    if too_deep:
        raise ManifestError(
            f"the document is nested more than {MAX_DEPTH} levels deep",
            file=file,
            hint="flatten the structure",
        )
    positions = Positions(default_file=file)
    positions.add((), file, 1)
    return Loaded(data, positions)


def load_file(path: Path, *, display: str | None = None) -> Loaded:
    """Read and parse ``path`` as JSON (``.json``) or YAML (anything else)."""
    shown = display or str(path)
    text = read_text(path, display=shown, error=ManifestError)
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
        unsafe = unsafe_relative_path(target)
        if unsafe is not None:
            raise ManifestError(
                f"file({target}) is refused: {unsafe}",
                file=where_file,
                line=where_line,
                hint="file() paths are relative to the stack's resources/ folder and stay "
                "inside the stack folder",
            )
        candidate = (resources_dir / target).resolve()
        # Shown beside the manifest path the user gave (``stacks/x/resources/tags.yml``).
        shown = os.path.normpath(os.path.join(display_dir, "resources", target))
        if not is_inside(resources_dir / target, resources_dir.parent):
            raise ManifestError(
                f"file({target}) is refused: it resolves (through a symlink) to "
                f"{candidate}, outside the stack folder",
                file=where_file,
                line=where_line,
                hint="copy the document into the stack folder",
            )
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
        # Each included document is already bounded (by induction), so this keeps the
        # spliced result bounded as well.
        if len(path + sub) + depth_of(included) > MAX_DEPTH:
            raise ManifestError(
                f"file({target}) nests the document more than {MAX_DEPTH} levels deep",
                file=where_file,
                line=where_line,
                hint="flatten the included document",
            )
        # Nodes inside the included value answer with the included file's own lines.
        positions.graft(path + sub, loaded.positions)
        value = _replace_at(value, sub, included)
    return value
