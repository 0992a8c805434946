"""The reference of one resource type, as data: fields, methods, examples, manifest snippets.

:func:`type_reference` reads a type's registry schema and builds a :class:`TypeReference`
that :mod:`stackdeploy.reference.markdown` renders as a page. Everything here is derived from
the schema alone (no values are generated), so a page is deterministic.

Examples carry ``<name>`` placeholders that a reader (or a test) replaces with real values:

- inside single quotes (``'<bucket_name>'``): the value's text, as SQL string content (a
  quote doubled); objects and arrays as compact JSON text. ``NULL`` (without the quotes)
  leaves an optional column out of an INSERT;
- inside double quotes in a JSON patch (``"<log_group_class>"``): JSON string content;
- bare in a JSON patch (``<retention_in_days>``): a JSON value (number, true, object...);
- after ``value:`` in a manifest (``value: <bucket_name>``): a YAML (or JSON) value; ``null``
  leaves an optional prop out.

Names are the awscc column names of the properties (``cluster_name``), so a placeholder reads
like the SELECT column that returns the same value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stackdeploy.schema.model import OPERATIONS, ResourceSchema, format_path
from stackdeploy.schema.naming import awscc_service_name, to_column
from stackdeploy.schema.registry import get_schema

# Depth of nested fields shown on a page (top-level properties are depth 1), as the awscc
# provider docs do; deeper members are in the schema (``describe --format json``).
MAX_FIELD_DEPTH = 4
# Some types (QuickSight dashboards) nest thousands of members; a page stays readable.
MAX_FIELD_ROWS = 800

PLACEHOLDER = re.compile(r"<([a-z0-9_]+)>")

# Titles of the example code blocks (``title="..."`` on the fence): stable, tests find
# examples by them.
TITLE_SELECT_GET = "Get one resource (all properties)"
TITLE_SELECT_LIST = "List identifiers"
TITLE_INSERT_REQUIRED = "Create with the required properties"
TITLE_INSERT_ALL = "Create with all properties"
TITLE_UPDATE = "Update"
TITLE_DELETE = "Delete"
TITLE_DECLARATIVE = "stackql_manifest.yml (declarative)"
TITLE_QUERY_MANIFEST = "stackql_manifest.yml (query file)"
TITLE_QUERY_FILE = "resources/{name}.iql"

# Region of the examples when none is given.
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Field:
    """One property (or nested member) of a type, as a row of the fields table."""

    name: str  # awscc spelling, dotted for nested members: instance_groups[].instance_count
    pointer: str  # the schema path: /InstanceGroups/*/InstanceCount
    type: str  # JSON type(s): string, integer, object, array, "string | object"
    description: str
    flags: tuple[str, ...]  # required, read-only, create-only, write-only, identifier
    depth: int


@dataclass(frozen=True)
class Method:
    """A Cloud Control operation as the awscc SQL surface exposes it."""

    name: str  # get_resource, list_resources, create_resource, update_resource, ...
    table: str
    verb: str  # SELECT, INSERT, UPDATE, DELETE
    params: tuple[str, ...]


@dataclass(frozen=True)
class Example:
    """One SQL or YAML code block of a page."""

    title: str
    language: str  # sql, yaml
    code: str
    caption: str = ""


@dataclass(frozen=True)
class TypeReference:
    """Everything a reference page of one resource type shows."""

    type_name: str
    table: str  # awscc.sagemaker.clusters
    list_table: str  # awscc.sagemaker.clusters_list_only
    service: str
    resource: str  # clusters
    singular: str  # cluster (the resource name used in manifests)
    region: str
    description: str
    docs_url: str
    fields: tuple[Field, ...]
    list_fields: tuple[Field, ...]
    fields_truncated: int  # nested rows left out (MAX_FIELD_ROWS)
    methods: tuple[Method, ...]
    select_examples: tuple[Example, ...]
    insert_examples: tuple[Example, ...]
    update_example: Example | None
    update_note: str
    delete_example: Example | None
    declarative: Example
    declarative_note: str
    query_manifest: Example
    query_file: Example
    query_note: str
    permissions: tuple[tuple[str, tuple[str, ...]], ...]  # (operation, permissions)
    identifier: tuple[str, ...]  # columns of the primary identifier
    create_required: tuple[str, ...]  # property names the required INSERT sets
    writable: tuple[str, ...]  # property names the full INSERT sets
    updatable: tuple[str, ...]  # property names the UPDATE example patches
    handlers: tuple[str, ...]  # operations the type supports


# --------------------------------------------------------------------------- helpers


def _clean(text: Any) -> str:
    """Schema description -> one line, safe inside a Markdown table cell."""
    if not isinstance(text, str):
        return ""
    text = " ".join(text.split())
    # Relative links in AWS descriptions point at pages that are not here: keep the words.
    text = re.sub(r"\[([^\]]*)\]\((?!https?://)[^)]*\)", r"\1", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|")


def _type_label(schema: ResourceSchema, node: Mapping[str, Any] | None) -> str:
    types = schema.node_types(node)
    if not types:
        return "any"
    return " | ".join(sorted(types))


def _enum_note(schema: ResourceSchema, node: Mapping[str, Any] | None) -> str:
    if node is None:
        return ""
    values: list[Any] = []
    for branch in schema.branches(node):
        for value in branch.get("enum") or []:
            if value not in values:
                values.append(value)
    if not values or len(values) > 16:
        return ""
    shown = ", ".join(f"`{_clean(str(v))}`" for v in values)
    return f"Allowed values: {shown}."


def _description(node: Mapping[str, Any], resolved: Mapping[str, Any]) -> str:
    return str(node.get("description") or resolved.get("description") or "")


def _children(
    schema: ResourceSchema, node: Mapping[str, Any]
) -> tuple[dict[str, Any], tuple[str, ...], str]:
    """(member schemas, required members, path step) of an object or array-of-object node."""
    resolved = schema.resolve(node)
    types = schema.node_types(node)
    if "array" in types and "object" not in types:
        items = None
        for branch in schema.branches(node):
            if "items" in branch:
                items = branch["items"]
                break
        if not isinstance(items, Mapping):
            return {}, (), "*"
        item = schema.resolve(items)
        return schema.object_properties(items), tuple(item.get("required", [])), "*"
    if "object" in types:
        return schema.object_properties(node), tuple(resolved.get("required", [])), ""
    return {}, (), ""


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        items = node.get("items")
        if isinstance(items, Mapping) and isinstance(items.get("$ref"), str):
            found.add(items["$ref"])
    return found


class _FieldWalker:
    def __init__(self, schema: ResourceSchema) -> None:
        self.schema = schema
        self.rows: list[Field] = []
        self.truncated = 0
        self.identifiers = set(schema.primary_identifier) | {
            name for group in schema.additional_identifiers for name in group
        }

    def flags(self, path: tuple[str, ...], required: bool) -> tuple[str, ...]:
        schema = self.schema
        flags = []
        if len(path) == 1 and path[0] in self.identifiers:
            flags.append("identifier")
        if required:
            flags.append("required")
        if schema.is_read_only(path):
            flags.append("read-only")
        if schema.is_create_only(path):
            flags.append("create-only")
        if schema.is_write_only(path):
            flags.append("write-only")
        return tuple(flags)

    def walk(
        self,
        name: str,
        node: Mapping[str, Any],
        path: tuple[str, ...],
        display: str,
        required: bool,
        depth: int,
        seen: frozenset[str],
    ) -> None:
        if depth > 1 and len(self.rows) >= MAX_FIELD_ROWS:
            self.truncated += 1
            return
        schema = self.schema
        resolved = schema.resolve(node)
        description = _clean(_description(node, resolved))
        enum = _enum_note(schema, node)
        if enum:
            description = f"{description} {enum}".strip()
        self.rows.append(
            Field(
                name=display,
                pointer=format_path(path),
                type=_type_label(schema, node),
                description=description,
                flags=self.flags(path, required),
                depth=depth,
            )
        )
        if depth >= MAX_FIELD_DEPTH:
            return
        refs = _refs(node)
        if refs & seen:  # a recursive definition: its members are already listed above
            return
        members, required_members, step = _children(schema, node)
        prefix = f"{display}[]" if step == "*" else display
        base = (*path, "*") if step == "*" else path
        for member, sub in members.items():
            self.walk(
                member,
                sub,
                (*base, member),
                f"{prefix}.{to_column(member).lstrip('_') or member}",
                member in required_members,
                depth + 1,
                seen | refs,
            )


def _fields(schema: ResourceSchema) -> tuple[tuple[Field, ...], int]:
    walker = _FieldWalker(schema)
    required = set(schema.required)
    for name, node in schema.properties.items():
        walker.walk(name, node, (name,), to_column(name), name in required, 1, frozenset())
    walker.rows.append(Field("region", "", "string", "AWS region.", (), 1))
    return tuple(walker.rows), walker.truncated


def create_required(schema: ResourceSchema) -> tuple[str, ...]:
    """Top-level properties a create needs: ``required`` plus the first alternative of the
    root's ``oneOf`` / ``anyOf`` / ``requiredXor`` (and those inside ``allOf``), in schema
    order. Read-only properties are never among them."""
    names: list[str] = list(schema.required)

    def visit(node: Mapping[str, Any]) -> None:
        for key in ("oneOf", "anyOf"):
            branches = node.get(key)
            if isinstance(branches, list) and branches and isinstance(branches[0], Mapping):
                names.extend(branches[0].get("required", []))
                visit(branches[0])
        xor = node.get("requiredXor")
        if isinstance(xor, list) and xor:
            names.append(xor[0])
        for sub in node.get("allOf", []) or []:
            if isinstance(sub, Mapping) and "if" not in sub:
                names.extend(sub.get("required", []))
                visit(sub)

    visit(schema.raw)
    wanted = set(names)
    return tuple(p for p in schema.properties if p in wanted and not schema.is_read_only((p,)))


def writable_properties(schema: ResourceSchema) -> tuple[str, ...]:
    """Properties a create may set (every one that is not read-only), in schema order."""
    return tuple(p for p in schema.properties if not schema.is_read_only((p,)))


def exclusive_alternatives(schema: ResourceSchema) -> frozenset[str]:
    """Properties the UPDATE example leaves out: those of the root's other ``oneOf`` /
    ``requiredXor`` alternatives than the first (the one :func:`create_required` picks),
    whose setting beside the first is invalid, and those whose presence puts conditions on
    other properties (a root ``if``)."""
    first: set[str] = set()
    others: set[str] = set()

    def visit(node: Mapping[str, Any]) -> None:
        branches = node.get("oneOf")
        if isinstance(branches, list) and branches and isinstance(branches[0], Mapping):
            first.update(branches[0].get("required", []))
            for branch in branches[1:]:
                if isinstance(branch, Mapping):
                    others.update(branch.get("required", []))
        xor = node.get("requiredXor")
        if isinstance(xor, list) and xor:
            first.add(xor[0])
            others.update(xor[1:])
        for sub in node.get("allOf", []) or []:
            if not isinstance(sub, Mapping):
                continue
            condition = sub.get("if")
            if isinstance(condition, Mapping):
                # Setting this property changes what the others must be (DynamoDB's local
                # secondary indexes need two key attributes): not patched on its own.
                conditional.update(condition.get("required", []))
            else:
                visit(sub)

    conditional: set[str] = set()
    visit(schema.raw)
    return frozenset((others - first) | conditional)


def updatable_properties(schema: ResourceSchema) -> tuple[str, ...]:
    """Top-level properties the UPDATE example patches: those an update can change in place
    (not read-only, not create-only, without a create-only member, whose change is a
    replacement; not part of the primary identifier), except the alternatives that exclude
    the required INSERT's choice."""
    if not schema.has_handler("update"):
        return ()
    excluded = exclusive_alternatives(schema)
    return tuple(
        p
        for p in schema.properties
        if not schema.is_read_only((p,))
        and not schema.is_create_only((p,))
        and not schema.create_only_under((p,))
        and p not in excluded
        and p not in schema.primary_identifier  # the identifier names the resource
    )


def _is_string(schema: ResourceSchema, prop: str) -> bool:
    return schema.types_at((prop,)) == {"string"}


def _identifier_columns(schema: ResourceSchema) -> tuple[str, ...]:
    return tuple(to_column(p.split("/")[-1]) for p in schema.primary_identifier)


def _identifier_placeholder(schema: ResourceSchema) -> str:
    return "|".join(f"<{c}>" for c in _identifier_columns(schema)) or "<identifier>"


def _singular(type_name: str) -> str:
    last = type_name.split("::")[-1]
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", last)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"_+", "_", text.lower())


def _docs_url(type_name: str) -> str:
    parts = type_name.lower().split("::")
    return (
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/"
        f"aws-resource-{parts[1]}-{parts[2]}.html"
    )


# --------------------------------------------------------------------------- examples


def _select_examples(schema: ResourceSchema, region: str) -> tuple[Example, ...]:
    table = schema.awscc_name
    examples = []
    if schema.has_handler("read"):
        columns = ["region", *(to_column(p) for p in schema.properties)]
        body = ",\n".join(columns)
        examples.append(
            Example(
                TITLE_SELECT_GET,
                "sql",
                f"SELECT\n{body}\nFROM {table}\n"
                f"WHERE region = '{region}' AND Identifier = '{_identifier_placeholder(schema)}';",
                f"Gets all properties of one `{_singular(schema.type_name)}` "
                "(GetResource; absent = no row).",
            )
        )
    if schema.has_handler("list"):
        columns = ["region", *schema.list_columns()]
        where = [f"region = '{region}'"]
        where += [f"{to_column(p)} = '<{to_column(p)}>'" for p in schema.list_required]
        examples.append(
            Example(
                TITLE_SELECT_LIST,
                "sql",
                f"SELECT\n{','.join(chr(10) + c for c in columns).lstrip()}\n"
                f"FROM {table}_list_only\nWHERE " + "\nAND ".join(where) + ";",
                "Lists the identifiers of the `"
                + schema.awscc_name.rsplit(".", 1)[-1]
                + "` in a region (ListResources, every page)"
                + (
                    f"; the list handler needs {', '.join(f'`{to_column(p)}`' for p in schema.list_required)}."
                    if schema.list_required
                    else "."
                ),
            )
        )
    return tuple(examples)


def _insert(schema: ResourceSchema, props: tuple[str, ...], region: str) -> str:
    table = schema.awscc_name
    columns = [*props, "region"]
    values = [f"'<{to_column(p)}>'" for p in props] + [f"'{region}'"]
    return (
        f"INSERT INTO {table} (\n"
        + ",\n".join(f" {c}" for c in columns)
        + "\n)\nSELECT\n"
        + ",\n".join(f" {v}" for v in values)
        + "\nRETURNING *;"
    )


def _patch_value(schema: ResourceSchema, prop: str) -> str:
    column = to_column(prop)
    return f'"<{column}>"' if _is_string(schema, prop) else f"<{column}>"


def _update(schema: ResourceSchema, props: tuple[str, ...], region: str) -> str:
    ops = ",\n".join(
        f'  {{"op": "add", "path": "/{p}", "value": {_patch_value(schema, p)}}}' for p in props
    )
    return (
        f"UPDATE {schema.awscc_name}\n"
        f"SET PatchDocument = string('[\n{ops}\n]')\n"
        f"WHERE region = '{region}'\n"
        f"AND Identifier = '{_identifier_placeholder(schema)}';"
    )


def _delete(schema: ResourceSchema, region: str) -> str:
    return (
        f"DELETE FROM {schema.awscc_name}\n"
        f"WHERE region = '{region}'\n"
        f"AND Identifier = '{_identifier_placeholder(schema)}';"
    )


# ---------------------------------------------------------------------- manifests


def _yaml_props(schema: ResourceSchema, props: tuple[str, ...], indent: str) -> list[str]:
    lines = [f"{indent}props:"] if props else []
    for p in props:
        column = to_column(p)
        lines.append(f"{indent}  - name: {column}")
        lines.append(f"{indent}    value: <{column}>")
    return lines


def _manifest_head(schema: ResourceSchema, region: str, description: str) -> list[str]:
    return [
        "version: 1",
        f"name: {_singular(schema.type_name).replace('_', '-')}-stack",
        f"description: {description}",
        "providers:",
        "  - awscc",
        "globals:",
        "  - name: region",
        f"    value: {region}",
        "resources:",
    ]


def _exports(schema: ResourceSchema) -> list[str]:
    columns = list(_identifier_columns(schema))
    return ["    exports:", *(f"      - {c}" for c in columns)] if columns else []


def declarative_note(schema: ResourceSchema) -> str:
    """How a declarative resource of this type is found again on the next run."""
    generated = any(schema.is_read_only((p,)) for p in schema.primary_identifier)
    if not generated:
        names = ", ".join(f"`{to_column(p)}`" for p in schema.primary_identifier)
        return (
            f"stack-deploy finds the resource again by its identifier ({names}): "
            "set it in the props, or AWS picks one and the next run cannot find it."
        )
    if schema.taggable:
        if schema.has_handler("list"):
            return (
                "AWS assigns the identifier: stack-deploy tags the resource with the stack, "
                "environment and resource names and finds it again by those tags."
            )
        return (
            "AWS assigns the identifier and the type has no list handler, so a declarative "
            "resource cannot be found again after a create: use a query file whose exists "
            "query finds it."
        )
    keys = [p for p in schema.properties if schema.is_create_only((p,))]
    if keys and schema.has_handler("list"):
        names = ", ".join(f"`{to_column(p)}`" for p in keys)
        return (
            "AWS assigns the identifier and the type cannot be tagged: stack-deploy finds the "
            f"resource again by the create-only properties the props set ({names})."
        )
    return (
        "AWS assigns the identifier, the type cannot be tagged and has no create-only "
        "property to find it by (or no list handler): use a query file whose exists query "
        "finds it."
    )


def _declarative(schema: ResourceSchema, region: str, writable: tuple[str, ...]) -> Example:
    name = _singular(schema.type_name)
    lines = _manifest_head(schema, region, f"one {schema.type_name}, declared by its props")
    lines += [f"  - name: {name}", f"    resource_type: {schema.awscc_name}"]
    lines += _yaml_props(schema, writable, "    ")
    lines += _exports(schema)
    return Example(
        TITLE_DECLARATIVE,
        "yaml",
        "\n".join(lines),
        "No query file: the props are the desired state (snake_case or CloudFormation "
        "names; nested keys too). Remove the props you do not need or set them to `null`.",
    )


def _tag_filter(schema: ResourceSchema, name_expr: str) -> tuple[str, str] | None:
    """(tags prop value in YAML, SQL predicate on the tags column) naming the resource."""
    prop = schema.tag_property
    if prop is None or not schema.taggable:
        return None
    column = to_column(prop)
    if schema.tags_are_map:
        return (
            f'Name: "{name_expr}"',
            f"AND json_extract({column}, '$.Name') = '{name_expr}'",
        )
    item = schema.subschema((prop, "*")) or {}
    members = schema.object_properties(item) if item else {}
    key = next((m for m in members if m.lower() in ("key", "tagkey")), "Key")
    value = next((m for m in members if m.lower() in ("value", "tagvalue")), "Value")
    return (
        f'- {key}: Name\n  {value}: "{name_expr}"',
        f"AND EXISTS (\n    SELECT 1 FROM json_each({column})\n"
        f"    WHERE json_extract(value, '$.{key}') = 'Name'\n"
        f"    AND json_extract(value, '$.{value}') = '{name_expr}'\n)",
    )


def _scalar(schema: ResourceSchema, prop: str) -> bool:
    types = schema.types_at((prop,))
    return bool(types) and types <= {"string", "integer", "number", "boolean"}


def _sql_value(schema: ResourceSchema, prop: str) -> str:
    """A rendered prop compared with its column: strings quoted and escaped, others bare."""
    column = to_column(prop)
    if _is_string(schema, prop):
        return f"'{{{{ {column} | sql_escape }}}}'"
    return f"{{{{ {column} }}}}"


def _query_file(
    schema: ResourceSchema, region: str
) -> tuple[Example, Example, str, tuple[str, ...]]:
    """The query-file style: manifest, ``resources/<name>.iql`` and a note."""
    name = _singular(schema.type_name)
    table = schema.awscc_name
    id_columns = _identifier_columns(schema)
    generated = any(schema.is_read_only((p,)) for p in schema.primary_identifier)
    required = create_required(schema)
    props = list(required)
    if not generated:
        props += [p for p in schema.primary_identifier if p not in props and "/" not in p]
    props += [p for p in schema.list_required if p not in props and not schema.is_read_only((p,))]
    name_expr = "{{ stack_name }}-{{ stack_env }}-{{ resource_name }}"
    tags = _tag_filter(schema, name_expr) if generated else None
    if tags is not None and schema.tag_property in props:
        tags = None  # a required tags property is the user's to fill
    props = [p for p in schema.properties if p in props]  # schema order
    region_sql = "'{{ region }}'"
    note = ""

    # exists: by identifier when the props give it, else by a Name tag or the props.
    list_keys = [f"AND {to_column(p)} = {_sql_value(schema, p)}" for p in schema.list_required]
    if not generated:
        ident = "|".join(f"{{{{ {c} }}}}" for c in id_columns)
        exists = (
            f"SELECT {', '.join(id_columns)}\nFROM {table}\nWHERE region = {region_sql}\n"
            f"AND Identifier = '{ident}';"
        )
        note = "The identifier comes from the props, so `exists` reads the resource directly."
    else:
        if tags is not None:
            predicates = [*list_keys, tags[1]]
            note = (
                "AWS assigns the identifier: `exists` lists the resources and finds this one "
                "by its `Name` tag, then captures the identifier as `this.*` for the other "
                "queries."
            )
        else:
            keys = [
                p
                for p in props
                if _scalar(schema, p)
                and not schema.is_write_only((p,))
                and p not in schema.list_required
            ]
            predicates = [
                *list_keys,
                *(f"AND {to_column(p)} = {_sql_value(schema, p)}" for p in keys),
            ]
            note = (
                "AWS assigns the identifier and the type cannot be tagged: `exists` lists the "
                "resources and finds this one by the values of its props"
                + (f" ({', '.join(f'`{to_column(p)}`' for p in keys)})" if keys else "")
                + ", then captures the identifier as `this.*`."
            )
            if not keys and not list_keys:
                note += (
                    " Nothing in the props tells one resource from another: add a predicate "
                    "that does before using this query file."
                )
        if not schema.has_handler("list"):
            note += (
                " This type has no list handler, so a resource whose identifier AWS assigns "
                "cannot be found by a query: pass its identifier in a global instead."
            )
        exists = (
            f"SELECT {', '.join(id_columns)}\nFROM {table}\nWHERE region = {region_sql}\n"
            + "\n".join(predicates)
            + ";"
        )
    this_ident = "|".join(f"{{{{ this.{c} }}}}" for c in id_columns)
    by_id = f"WHERE region = {region_sql}\nAND Identifier = '{this_ident}'"

    checks = [
        f"AND {to_column(p)} = {_sql_value(schema, p)}"
        for p in props
        if _scalar(schema, p) and not schema.is_write_only((p,))
    ]
    statecheck = f"SELECT COUNT(*) AS count\nFROM {table}\n{by_id}" + "".join(
        "\n" + c for c in checks
    )
    insert_props = list(props)
    if tags is not None and schema.tag_property:
        insert_props.append(schema.tag_property)
    insert_props = [p for p in schema.properties if p in insert_props]
    create = (
        f"INSERT INTO {table} (\n"
        + ",\n".join(f" {c}" for c in [*insert_props, "region"])
        + "\n)\nSELECT\n"
        + ",\n".join(f" '{{{{ {to_column(p)} }}}}'" for p in insert_props)
        + (",\n" if insert_props else "")
        + f" {region_sql}\nRETURNING *;"
    )
    updatable = [p for p in insert_props if p in updatable_properties(schema)]
    anchors = [
        ("exists", exists),
        ("statecheck, retries=3, retry_delay=5", statecheck + ";"),
        ("create", create),
    ]
    if updatable:
        entries = ",\n".join(f'    "{p}": {to_column(p)}' for p in updatable)
        anchors.append(
            (
                "update",
                f"UPDATE {table}\nSET PatchDocument = string('{{{{ {{\n{entries}\n}} "
                f"| generate_patch_document }}}}')\n{by_id};",
            )
        )
    exports_cols = ", ".join(id_columns)
    anchors.append(("exports", f"SELECT {exports_cols}\nFROM {table}\n{by_id};"))
    if schema.has_handler("delete"):
        anchors.append(("delete", f"DELETE FROM {table}\n{by_id};"))
    iql = "\n\n".join(f"/*+ {header} */\n{body}" for header, body in anchors)

    lines = _manifest_head(schema, region, f"one {schema.type_name}, managed by a query file")
    lines += [f"  - name: {name}"]
    lines += _yaml_props(schema, tuple(props), "    ")
    if tags is not None and schema.tag_property:
        if not props:
            lines.append("    props:")
        column = to_column(schema.tag_property)
        lines += [f"      - name: {column}", "        value:"]
        lines += [f"          {line}" for line in tags[0].splitlines()]
    lines += _exports(schema)
    manifest = Example(
        TITLE_QUERY_MANIFEST,
        "yaml",
        "\n".join(lines),
        f"stackql-deploy compatible: the resource's queries are in `resources/{name}.iql`.",
    )
    query = Example(TITLE_QUERY_FILE.format(name=name), "sql", iql)
    return manifest, query, note, tuple(props)


# ------------------------------------------------------------------------------ main


def type_reference(name: str, region: str = DEFAULT_REGION) -> TypeReference:
    """The reference of a type (``AWS::S3::Bucket`` or ``awscc.s3.buckets``)."""
    schema = get_schema(name, region)
    return reference_of(schema, region)


def reference_of(schema: ResourceSchema, region: str = DEFAULT_REGION) -> TypeReference:
    table = schema.awscc_name
    resource = table.rsplit(".", 1)[-1]
    fields, truncated = _fields(schema)
    list_fields = tuple(
        f
        for f in fields
        if f.depth == 1 and (f.name in schema.list_columns() or f.name == "region")
    )
    required = create_required(schema)
    writable = writable_properties(schema)
    updatable = updatable_properties(schema)
    handlers = tuple(op for op in OPERATIONS if schema.has_handler(op))

    methods = []
    if "create" in handlers:
        methods.append(Method("create_resource", table, "INSERT", (*required, "region")))
    if "delete" in handlers:
        methods.append(Method("delete_resource", table, "DELETE", ("Identifier", "region")))
    if "update" in handlers:
        methods.append(
            Method("update_resource", table, "UPDATE", ("Identifier", "PatchDocument", "region"))
        )
    if "list" in handlers:
        methods.append(
            Method(
                "list_resources",
                f"{table}_list_only",
                "SELECT",
                ("region", *(to_column(p) for p in schema.list_required)),
            )
        )
    if "read" in handlers:
        methods.append(Method("get_resource", table, "SELECT", ("Identifier", "region")))

    inserts: list[Example] = []
    if "create" in handlers:
        inserts.append(
            Example(
                TITLE_INSERT_REQUIRED,
                "sql",
                _insert(schema, required, region),
                "Only what a create needs"
                + (
                    "."
                    if required
                    else ": this type requires no property (AWS fills in the defaults)."
                ),
            )
        )
        inserts.append(
            Example(
                TITLE_INSERT_ALL,
                "sql",
                _insert(schema, writable, region),
                "Every property a create may set; give `NULL` (unquoted) for the ones you "
                "leave out.",
            )
        )
    update_example = None
    if "update" not in handlers:
        update_note = (
            "This type has no update handler: Cloud Control refuses updates, so a change "
            "means deleting and re-creating the resource."
        )
    elif not updatable:
        update_note = (
            "Every property is create-only or read-only: a change means deleting and "
            "re-creating the resource."
        )
    else:
        update_note = (
            "An RFC 6902 JSON Patch of the properties that can change in place (`add` sets a "
            "property whether it is set or not); keep the operations you need."
        )
        update_example = Example(TITLE_UPDATE, "sql", _update(schema, updatable, region))
    delete_example = (
        Example(TITLE_DELETE, "sql", _delete(schema, region)) if "delete" in handlers else None
    )
    query_manifest, query_file, query_note, _ = _query_file(schema, region)
    return TypeReference(
        type_name=schema.type_name,
        table=table,
        list_table=f"{table}_list_only",
        service=awscc_service_name(schema.type_name),
        resource=resource,
        singular=_singular(schema.type_name),
        region=region,
        description=_clean(schema.raw.get("description")),
        docs_url=_docs_url(schema.type_name),
        fields=fields,
        list_fields=list_fields,
        fields_truncated=truncated,
        methods=tuple(methods),
        select_examples=_select_examples(schema, region),
        insert_examples=tuple(inserts),
        update_example=update_example,
        update_note=update_note,
        delete_example=delete_example,
        declarative=_declarative(schema, region, writable),
        declarative_note=declarative_note(schema),
        query_manifest=query_manifest,
        query_file=query_file,
        query_note=query_note,
        permissions=tuple(
            (op, tuple(schema.handler_permissions(op)))
            for op in ("read", "create", "update", "list", "delete")
            if op in handlers
        ),
        identifier=_identifier_columns(schema),
        create_required=required,
        writable=writable,
        updatable=updatable,
        handlers=handlers,
    )
