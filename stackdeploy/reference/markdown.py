"""A :class:`~stackdeploy.reference.model.TypeReference` as a Markdown page.

The page is written for the documentation site (MkDocs with the Material theme: content tabs
``=== "..."`` and titled code blocks) and stays readable as plain Markdown. It holds no date
or version stamp, so generating it twice gives the same bytes.
"""

from __future__ import annotations

from stackdeploy.reference.model import Example, Field, TypeReference

_OPERATION_LABELS = {
    "read": "Read",
    "create": "Create",
    "update": "Update",
    "list": "List",
    "delete": "Delete",
}


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else "" for line in text.splitlines())


def _code(example: Example) -> str:
    return f'```{example.language} title="{example.title}"\n{example.code}\n```'


def _tab(label: str, body: str) -> str:
    return f'=== "{label}"\n\n{_indent(body)}\n'


def _fields_table(fields: tuple[Field, ...]) -> str:
    lines = [
        "| Name | Property | Type | Flags | Description |",
        "|---|---|---|---|---|",
    ]
    for f in fields:
        flags = ", ".join(f.flags)
        pointer = f"`{f.pointer}`" if f.pointer else ""
        lines.append(f"| `{f.name}` | {pointer} | {f.type} | {flags} | {f.description} |")
    return "\n".join(lines)


def _overview(ref: TypeReference) -> str:
    identifier = " \\| ".join(f"`{c}`" for c in ref.identifier) or "-"
    supported = ", ".join(ref.handlers) or "none"
    rows = [
        ("Name", f"`{ref.resource}`"),
        ("Type", "Resource"),
        ("Description", ref.description or "-"),
        ("Id", f"`{ref.table}`"),
        ("CloudFormation type", f"[`{ref.type_name}`]({ref.docs_url})"),
        ("Identifier", identifier),
        ("Operations", supported),
    ]
    lines = ["| | |", "|---|---|"]
    lines += [f"| **{k}** | {v} |" for k, v in rows]
    return "\n".join(lines)


def render_type_page(ref: TypeReference) -> str:
    """The Markdown reference page of one type."""
    out: list[str] = [
        f"# {ref.resource}",
        "",
        f"Creates, updates, deletes or gets a `{ref.singular}` resource or lists "
        f"`{ref.resource}` in a region.",
        "",
        "## Overview",
        "",
        _overview(ref),
        "",
        "## Fields",
        "",
        "Flags: *required* (a create needs it), *read-only* (AWS sets it), *create-only* "
        "(a change replaces the resource), *write-only* (never returned), *identifier*.",
        "",
    ]
    fields_body = _fields_table(ref.fields)
    if ref.fields_truncated:
        fields_body += (
            f"\n\n{ref.fields_truncated} more nested members are not shown: "
            f"`stack-deploy describe {ref.type_name} --format json` lists the top level and "
            "the schema has them all."
        )
    out.append(_tab("get (all properties)", fields_body))
    if ref.list_fields and "list" in ref.handlers:
        out.append(_tab("list (identifiers only)", _fields_table(ref.list_fields)))
    out += [
        f"For more information, see [`{ref.type_name}`]({ref.docs_url}).",
        "",
        "## Methods",
        "",
        "| Name | Resource | Accessible by | Required params |",
        "|---|---|---|---|",
    ]
    for m in ref.methods:
        params = ", ".join(m.params)
        out.append(f"| `{m.name}` | `{m.table.rsplit('.', 1)[-1]}` | `{m.verb}` | `{params}` |")
    out += [
        "",
        "Examples use `<name>` placeholders: replace `'<name>'` with the value's text (JSON "
        'for objects and arrays, a quote doubled), `"<name>"` in a patch with JSON string '
        "content, a bare `<name>` with a JSON value, and `value: <name>` in a manifest with "
        "a YAML value. Names are the awscc column names of the properties.",
        "",
        "## `SELECT` examples",
        "",
    ]
    if ref.select_examples:
        for example in ref.select_examples:
            out.append(_tab(example.title, f"{example.caption}\n\n{_code(example)}"))
    else:
        out += ["This type has neither a read nor a list handler.", ""]
    out += ["## `INSERT` examples", ""]
    if ref.insert_examples:
        for example in ref.insert_examples:
            out.append(_tab(example.title, f"{example.caption}\n\n{_code(example)}"))
    else:
        out += ["This type has no create handler.", ""]
    out += ["## `UPDATE` example", "", ref.update_note, ""]
    if ref.update_example is not None:
        out += [_code(ref.update_example), ""]
    out += ["## `DELETE` example", ""]
    if ref.delete_example is not None:
        out += [_code(ref.delete_example), ""]
    else:
        out += ["This type has no delete handler.", ""]
    out += [
        "## Manifest",
        "",
        "Deploy it with `stack-deploy build STACK_DIR dev` (add `--sandbox` to try it locally).",
        "",
        _tab(
            "Declarative",
            f"{ref.declarative.caption} {ref.declarative_note}\n\n{_code(ref.declarative)}",
        ),
        _tab(
            "Query file",
            f"{ref.query_manifest.caption} {ref.query_note}\n\n"
            f"{_code(ref.query_manifest)}\n\n{_code(ref.query_file)}",
        ),
        "## Permissions",
        "",
        f"To operate on `{ref.resource}`, these IAM permissions are required:",
        "",
    ]
    if not ref.permissions or not any(perms for _, perms in ref.permissions):
        out += ["The bundled schema lists no permissions for this type.", ""]
    for op, perms in ref.permissions:
        body = "```text\n" + ",\n".join(perms) + "\n```" if perms else "(none listed)"
        out.append(_tab(_OPERATION_LABELS[op], body))
    return "\n".join(out).rstrip() + "\n"
