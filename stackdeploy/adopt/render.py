"""Manifest text for adopted resources, and its insertion into an existing manifest (pure).

The generated entries are YAML text written by hand-picked rules (top-level prop names as
awscc columns, nested keys as the CloudFormation names AWS documents and GetResource returns,
block style, a comment saying where each resource came from). An existing
``stackql_manifest.yml`` is never re-serialised: the entries are spliced into its text after
the last line of its ``resources`` list (or a ``resources:`` block is added), so its
comments, quoting and layout stay exactly as they were. :func:`splice_resources` checks the
result parses to the old document plus the new entries before anyone writes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from stackdeploy.adopt.model import Adopted, Placeholder
from stackdeploy.errors import AdoptError
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.naming import to_column

ITEM_INDENT = 2  # "  - name: ..." under "resources:"
_JINJA = re.compile(r"\{\{|\{%|\{#")


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, multi-line text as ``|`` blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_representer)


def dump_yaml(value: Any) -> str:
    """``value`` as block-style YAML text (newline-terminated)."""
    return yaml.dump(
        value,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )


def literal_text(value: Any) -> Any:
    """``value`` with text that Jinja would read as a template wrapped in ``{% raw %}``, so
    a live value renders back to itself. Applied to live values before adoption puts its own
    templates (references, placeholders) in."""
    if isinstance(value, Mapping):
        return {k: literal_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [literal_text(v) for v in value]
    if isinstance(value, str) and _JINJA.search(value):
        return "{% raw %}" + value + "{% endraw %}"
    return value


def prop_column(schema: ResourceSchema, name: str) -> str:
    """The name a prop is written under: its awscc column when that reads back to the
    property (always, in practice), else the CloudFormation name."""
    column = to_column(name)
    return column if schema.canonical_key((), column) == name else name


@dataclass(frozen=True)
class EntryOptions:
    """How one resource is written."""

    declarative: bool
    # Query-file style: the stack tags go into the tags prop as templates (the create query
    # sends them, the exists query finds the resource by them).
    tag_templates: Mapping[str, str] | None = None
    comment: str | None = None


def prop_values(adopted: Adopted, options: EntryOptions) -> dict[str, Any]:
    """The props as written (CloudFormation names), stack-tag templates added for query
    files."""
    props = dict(adopted.props)
    schema = adopted.schema
    if options.tag_templates and schema.tag_property is not None:
        tags = props.get(schema.tag_property)
        if schema.tags_are_map:
            merged = dict(tags) if isinstance(tags, Mapping) else {}
            merged.update(options.tag_templates)
            props[schema.tag_property] = merged
        else:
            items = list(tags) if isinstance(tags, list) else []
            items += [{"Key": k, "Value": v} for k, v in options.tag_templates.items()]
            props[schema.tag_property] = items
    return props


def resource_entry(adopted: Adopted, options: EntryOptions) -> str:
    """One ``resources`` item as YAML text, indented for a ``resources:`` list."""
    schema = adopted.schema
    props = prop_values(adopted, options)
    placeholders = {p.pointer.split("/")[1]: p for p in adopted.placeholders}
    lines: list[str] = []
    if options.comment:
        lines += [f"# {line}" if line else "#" for line in options.comment.splitlines()]
    lines.append(f"- name: {adopted.name}")
    if options.declarative:
        lines.append(f"  resource_type: {schema.type_name}")
    if props:
        lines.append("  props:")
        for name, value in props.items():
            note = _placeholder_note(placeholders.get(name), adopted.placeholders, name)
            lines += [f"    {c}" for c in note]
            body = dump_yaml({"name": prop_column(schema, name)})
            body += dump_yaml({"value": value})
            lines += _as_item(body, indent=4)
    else:
        lines.append("  props: []")
    if adopted.exports:
        lines.append("  exports:")
        lines += [f"    - {column}" for column in adopted.exports]
    return "".join(" " * ITEM_INDENT + line + "\n" for line in lines)


def _placeholder_note(
    own: Placeholder | None, placeholders: Sequence[Placeholder], top: str
) -> list[str]:
    inner = [p for p in placeholders if p.pointer.split("/")[1] == top]
    if not inner:
        return []
    variables = ", ".join("{{ " + p.variable + " }}" for p in inner)
    kind = (
        "write-only, cannot be read back" if all(p.write_only for p in inner) else "not read back"
    )
    return [f"# TODO ({kind}): replace {variables} with the value (see docs/import.md)"]


def _as_item(body: str, *, indent: int) -> list[str]:
    """YAML mapping text as a list item: ``- `` before the first line, aligned after."""
    out = []
    for index, line in enumerate(body.splitlines()):
        prefix = "- " if index == 0 else "  "
        out.append(" " * indent + prefix + line if line else "")
    return out


# --------------------------------------------------------------------------- new manifest
def new_manifest(*, name: str, region: str, entries: Sequence[str], origin: str, env: str) -> str:
    """A complete manifest for a new stack holding ``entries``."""
    head = (
        f"# {name}: resources adopted with `stack-deploy import` from {origin}.\n"
        f"# Check it with: stack-deploy plan <this folder> {env}\n"
        "version: 1\n"
        f"name: {name}\n"
        f"description: {name} stack (adopted from live resources)\n"
        "providers:\n"
        "  - awscc\n"
        "globals:\n"
        "  - name: region\n"
        "    description: AWS region of every resource\n"
        f"    value: {region}\n"
        "resources:\n"
    )
    return head + "".join(entries)


# ------------------------------------------------------------------ splicing into a manifest
def _compose(text: str, file: str) -> yaml.MappingNode:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise AdoptError(f"{file}: not valid YAML: {exc}") from None
    if not isinstance(node, yaml.MappingNode):
        raise AdoptError(f"{file}: the manifest is not a mapping")
    return node


def _key_node(root: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    for k, v in root.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def _last_line(node: yaml.Node, lines: Sequence[str]) -> int:
    """0-based line of the last character of ``node``'s content (comments excluded)."""
    if isinstance(node, yaml.MappingNode) and node.value:
        return _last_line(node.value[-1][1], lines)
    if isinstance(node, yaml.SequenceNode) and node.value:
        return _last_line(node.value[-1], lines)
    end = node.end_mark
    line = end.line
    # A block scalar (| or >) ends at the start of a later line, after its blank lines.
    if end.column == 0 and line > node.start_mark.line:
        line -= 1
    while line > node.start_mark.line and line < len(lines) and not lines[line].strip():
        line -= 1
    return line


def _reindent(text: str, indent: int) -> str:
    shift = indent - ITEM_INDENT
    if shift == 0:
        return text
    out = []
    for line in text.splitlines(keepends=True):
        if shift > 0:
            out.append(" " * shift + line if line.strip() else line)
        else:
            out.append(line[-shift:] if line[:-shift].strip() == "" else line)
    return "".join(out)


def _insert_lines(text: str, after_line: int, block: str) -> str:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return "".join(lines[: after_line + 1]) + block + "".join(lines[after_line + 1 :])


def splice_list_items(text: str, key: str, block: str, *, file: str, before: str | None) -> str:
    """``text`` with ``block`` (list items at ``ITEM_INDENT``) appended to the top-level
    list ``key``; the key is created (before the key ``before``, else at the end) when the
    manifest has none."""
    newline = "\r\n" if "\r\n" in text else "\n"
    root = _compose(text.replace("\r\n", "\n"), file)
    found = _key_node(root, key)
    body = text.replace("\r\n", "\n")
    if found is None:
        addition = f"{key}:\n{block}"
        anchor = _key_node(root, before) if before else None
        if anchor is not None:
            line = anchor[0].start_mark.line
            lines = body.splitlines(keepends=True)
            # Keep the comments right above the next key with that key.
            while line > 0 and lines[line - 1].lstrip().startswith("#"):
                line -= 1
            result = "".join(lines[:line]) + addition + "".join(lines[line:])
        else:
            result = body + ("" if body.endswith("\n") or not body else "\n") + addition
        return result.replace("\n", newline)
    key_node, value = found
    if isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null"):
        result = _insert_lines(body, key_node.start_mark.line, block)
        if value.value:  # "resources: ~": drop the null
            lines = result.splitlines(keepends=True)
            line = key_node.start_mark.line
            lines[line] = lines[line].replace(value.value, "", 1).rstrip() + "\n"
            result = "".join(lines)
        return result.replace("\n", newline)
    if not isinstance(value, yaml.SequenceNode):
        raise AdoptError(f"{file}: '{key}' is not a list", hint=f"make {key} a YAML list")
    if value.flow_style:
        if value.value:
            raise AdoptError(
                f"{file}:{value.start_mark.line + 1}: '{key}' is a flow-style list ([...]); "
                "stack-deploy import appends only to a block-style list",
                hint=f"write {key} as '- ' items, one per line",
            )
        start, end = value.start_mark.index, value.end_mark.index
        result = body[:start].rstrip(" ") + "\n" + block.rstrip("\n") + body[end:]
        if not result.endswith("\n"):
            result += "\n"
        return result.replace("\n", newline)
    first = value.value[0]
    lines = body.splitlines(keepends=True)
    dash_line = lines[first.start_mark.line]
    dash = dash_line.find("-", 0, first.start_mark.column + 1)
    if dash < 0:
        dash = ITEM_INDENT
    result = _insert_lines(body, _last_line(value, lines), _reindent(block, dash))
    return result.replace("\n", newline)


def splice_resources(text: str, entries: Sequence[str], *, file: str) -> str:
    """``text`` with the resource ``entries`` added to its ``resources`` list.

    The result must parse to the original document with exactly those resources appended,
    or an ``AdoptError`` is raised (nothing is returned to be written).
    """
    block = "".join(entries)
    result = splice_list_items(text, "resources", block, file=file, before="exports")
    check_spliced(text, result, "resources", _items(block), file=file)
    return result


def splice_global(text: str, name: str, value: str, *, file: str) -> str:
    """``text`` with a global ``name`` added (used for ``region`` when query files need it)."""
    block = dump_yaml([{"name": name, "value": value}])
    block = "".join(" " * ITEM_INDENT + line + "\n" for line in block.splitlines())
    result = splice_list_items(text, "globals", block, file=file, before="resources")
    check_spliced(text, result, "globals", _items(block), file=file)
    return result


def _items(block: str) -> list[Any]:
    return list(yaml.safe_load("items:\n" + block)["items"])


def check_spliced(
    before: str, after: str, key: str, added: Sequence[Mapping[str, Any]], *, file: str
) -> None:
    """The spliced text must hold the old document plus ``added`` at the end of ``key``."""
    old = yaml.safe_load(before) or {}
    try:
        new = yaml.safe_load(after)
    except yaml.YAMLError as exc:  # a bug in the splicing, never the user's doing
        raise AdoptError(f"{file}: adding to '{key}' would break the YAML: {exc}") from None
    want = dict(old)
    want[key] = list(old.get(key) or []) + list(added)
    if new != want:
        raise AdoptError(
            f"{file}: cannot add to '{key}' without changing what is already there",
            hint="add the resources by hand from the --dry-run output",
        )
