"""Query files for adopted resources: ``resources/<name>.iql`` in the stackql-deploy idiom.

Each file has the six anchors of a stackql-deploy resource, in the awscc SQL of docs/query.md:

- ``exists`` selects the identifier's columns (captured as ``this.*``). How it finds the
  resource (:class:`Finder`) depends on the type: by an identifier made of props (a bucket's
  name); by the stack tags through ``awscc.tagging.tagged_resources``, joined with the
  type's ``_list_only`` table so deleted resources the tagging API still lists are ignored
  (what AWS names, such as a VPC id); by the stack tags read from the type's own table where
  the tagging API cannot map the ARN to the identifier; or by create-only props (types that
  cannot be tagged).
- ``statecheck`` compares every prop with the live value: ``=`` for scalars, ``JSON_EQUAL``
  for objects and arrays, ``AWS_POLICY_EQUAL`` for policy documents, tags as key -> value
  maps (order and ``aws:`` tags ignored) and order-insensitive arrays sorted. Props that
  cannot be compared (write-only placeholders, values AWS returns with more than the props
  say) are listed in a comment instead.
- ``create`` (INSERT of every prop), ``update`` (a patch of every prop that can change in
  place), ``exports`` (the identifier and ARN, read back) and ``delete``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from stackdeploy.adopt.model import STACK_TAG_KEYS, SYSTEM_TAG_PREFIX, Adopted
from stackdeploy.adopt.render import prop_column
from stackdeploy.plan.diff import values_equal
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.naming import to_column

FinderKind = Literal["identifier", "tagging", "table_tags", "create_only"]

# The stack tags as written in queries (the template variables every resource has).
TAG_TEMPLATES: dict[str, str] = {
    STACK_TAG_KEYS[0]: "{{ stack_name }}",
    STACK_TAG_KEYS[1]: "{{ stack_env }}",
    STACK_TAG_KEYS[2]: "{{ resource_name }}",
}


@dataclass(frozen=True)
class Finder:
    """How the exists query finds the resource.

    ``arn_to_id``: for ``tagging``, how the identifier is read off the tagging API's ARN:
    ``arn`` (the identifier is the ARN), ``slash`` / ``colon`` (its last ``/`` or ``:``
    part), or ``column:<col>`` (join the type's table on that ARN column).
    ``type_filter``: the tagging API ResourceTypeFilter (``ec2:vpc``, ``sqs``).
    ``keys``: for ``create_only``, the props matched.
    """

    kind: FinderKind
    arn_to_id: str | None = None
    type_filter: str | None = None
    keys: tuple[str, ...] = field(default_factory=tuple)


def identifier_columns(schema: ResourceSchema) -> list[str]:
    return [to_column(p.split("/")[-1]) for p in schema.primary_identifier]


def identifier_template(schema: ResourceSchema, finder: Finder) -> str:
    """The identifier as the anchors write it: from props, or from ``this.*``."""
    if finder.kind == "identifier":
        parts = ["{{ " + prop_column(schema, p) + " }}" for p in schema.primary_identifier]
    else:
        parts = ["{{ this." + c + " }}" for c in identifier_columns(schema)]
    return "|".join(parts)


def _literal(value: Any, column: str) -> str:
    """``'{{ column }}'`` (escaped when the value holds a quote) or a bare number/boolean."""
    if isinstance(value, bool) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return "{{ " + column + " }}"
    text = json.dumps(value) if isinstance(value, Mapping | list) else str(value)
    if "'" in text:
        return "'{{ " + column + " | sql_escape }}'"
    return "'{{ " + column + " }}'"


def _is_policy(value: Any) -> bool:
    return isinstance(value, Mapping) and "Statement" in value


def _tags_map_sql(source: str, *, live: bool) -> str:
    where = f" WHERE json_extract(value, '$.Key') NOT LIKE '{SYSTEM_TAG_PREFIX}%'" if live else ""
    return (
        "(SELECT json_group_object(json_extract(value, '$.Key'), json_extract(value, '$.Value'))"
        f" FROM json_each({source}){where})"
    )


def _sorted_array_sql(source: str) -> str:
    return f"(SELECT json_group_array(json(value)) FROM (SELECT value FROM json_each({source}) ORDER BY value))"


def comparison(schema: ResourceSchema, prop: str, value: Any) -> str:
    """A SQL expression that is 1 when the live column equals the prop ``prop``."""
    column = to_column(prop)
    name = prop_column(schema, prop)
    literal = _literal(value, name)
    if prop == schema.tag_property and isinstance(value, list):
        return (
            f"JSON_EQUAL({_tags_map_sql(column, live=True)}, {_tags_map_sql(literal, live=False)})"
        )
    if isinstance(value, bool | int | float | str):
        return f"{column} = {literal}"
    if _is_policy(value):
        return f"AWS_POLICY_EQUAL({column}, {literal})"
    if isinstance(value, list) and not schema.insertion_order((prop,)):
        return f"JSON_EQUAL({_sorted_array_sql(column)}, {_sorted_array_sql(literal)})"
    return f"JSON_EQUAL({column}, {literal})"


def _where_region(alias: str = "") -> str:
    return f"{alias}region = '{{{{ region }}}}'"


def exists_query(adopted: Adopted, finder: Finder, props: Mapping[str, Any]) -> str:
    schema = adopted.schema
    table = schema.awscc_name
    columns = identifier_columns(schema)
    if finder.kind == "identifier":
        return (
            f"SELECT {', '.join(columns)}\n"
            f"FROM {table}\n"
            f"WHERE Identifier = '{identifier_template(schema, finder)}'\n"
            f"AND {_where_region()};"
        )
    if finder.kind == "create_only":
        conditions = [comparison(schema, k, props[k]) for k in finder.keys]
        return (
            f"SELECT {', '.join(columns)}\n"
            f"FROM {table}\n"
            f"WHERE {_where_region()}\n" + "".join(f"AND {c}\n" for c in conditions)
        ).rstrip("\n") + ";"
    if finder.kind == "table_tags":
        return (
            f"SELECT {', '.join(columns)}\n"
            f"FROM {table}\n"
            f"WHERE {_where_region()}\n"
            + "".join(f"AND {_tag_condition(schema, k, v)}\n" for k, v in TAG_TEMPLATES.items())
        ).rstrip("\n") + ";"
    return _tagging_exists(schema, finder)


def _tag_condition(schema: ResourceSchema, key: str, template: str) -> str:
    column = to_column(schema.tag_property or "Tags")
    if schema.tags_are_map:
        return f"json_extract({column}, '$.\"{key}\"') = '{template}'"
    return (
        f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_extract(value, '$.Key') = "
        f"'{key}' AND json_extract(value, '$.Value') = '{template}')"
    )


def _tag_filters_text() -> str:
    filters = [{"Key": k, "Values": [v]} for k, v in TAG_TEMPLATES.items()]
    return json.dumps(filters, separators=(",", ":"))


def _tagging_exists(schema: ResourceSchema, finder: Finder) -> str:
    table = schema.awscc_name
    columns = identifier_columns(schema)
    column = columns[0]
    type_filter = (
        f"\n    AND ResourceTypeFilters = '[\"{finder.type_filter}\"]'"
        if finder.type_filter
        else ""
    )
    tagged_where = (
        f"    WHERE {_where_region()}\n    AND TagFilters = '{_tag_filters_text()}'{type_filter}\n"
    )
    relation = finder.arn_to_id or "arn"
    if relation.startswith("column:"):
        arn_column = relation.split(":", 1)[1]
        return (
            "WITH tagged AS\n(\n"
            "    SELECT ResourceARN\n"
            "    FROM awscc.tagging.tagged_resources\n"
            f"{tagged_where}"
            ")\n"
            f"SELECT {', '.join('r.' + c for c in columns)}\n"
            f"FROM {table} r\n"
            "INNER JOIN tagged t\n"
            f"ON r.{arn_column} = t.ResourceARN\n"
            f"WHERE {_where_region('r.')};"
        )
    expression = {
        "arn": "ResourceARN",
        "slash": "split_part(ResourceARN, '/', -1)",
        "colon": "split_part(ResourceARN, ':', -1)",
    }[relation]
    # The join with the list drops resources the tagging API still lists after deletion.
    return (
        "WITH tagged AS\n(\n"
        f"    SELECT {expression} AS {column}\n"
        "    FROM awscc.tagging.tagged_resources\n"
        f"{tagged_where}"
        "),\n"
        "live AS\n(\n"
        f"    SELECT {column}\n"
        f"    FROM {table}_list_only\n"
        f"    WHERE {_where_region()}\n"
        ")\n"
        f"SELECT l.{column}\n"
        "FROM live l\n"
        "INNER JOIN tagged t\n"
        f"ON l.{column} = t.{column};"
    )


def statecheck_query(
    adopted: Adopted, finder: Finder, props: Mapping[str, Any]
) -> tuple[str, list[str]]:
    """The statecheck and the props it leaves out (not comparable)."""
    schema = adopted.schema
    live = adopted.live.properties
    placeholder_tops = {p.pointer.split("/")[1] for p in adopted.placeholders}
    tests: list[tuple[str, str]] = []
    skipped: list[str] = []
    for prop, value in props.items():
        name = prop_column(schema, prop)
        if prop in placeholder_tops:
            skipped.append(name)
            continue
        if prop != schema.tag_property and not _same_as_live(
            adopted.props.get(prop), live.get(prop)
        ):
            skipped.append(name)
            continue
        tests.append((f"test_{to_column(prop)}", comparison(schema, prop, value)))
    source = (
        f"FROM {schema.awscc_name}\n"
        f"WHERE Identifier = '{identifier_template(schema, finder)}'\n"
        f"AND {_where_region()}"
    )
    if not tests:
        return f"SELECT COUNT(*) AS count\n{source};", skipped
    select = ",\n".join(f"    {sql} AS {alias}" for alias, sql in tests)
    where = "\nAND ".join(f"{alias} = 1" for alias, _ in tests)
    indented = "\n".join("    " + line for line in source.splitlines())
    return (
        f"SELECT COUNT(*) AS count FROM\n(\n    SELECT\n{select}\n{indented}\n) t\nWHERE {where};",
        skipped,
    )


def _same_as_live(declared: Any, live: Any) -> bool:
    """True when the prop (before references were put in) is the whole live value, so a
    comparison of the whole column holds."""
    if isinstance(declared, str) and declared.startswith("{{ "):
        return True  # a reference: it renders to the live value
    if isinstance(declared, Mapping) and isinstance(live, Mapping):
        return declared.keys() == live.keys() and all(
            _same_as_live(declared[k], live[k]) for k in declared
        )
    if isinstance(declared, list) and isinstance(live, list):
        return len(declared) == len(live) and all(
            _same_as_live(d, x) for d, x in zip(declared, live, strict=True)
        )
    if isinstance(declared, str) and isinstance(live, str) and declared != live:
        # "{{ bucket.arn }}/*": a reference followed by literal text
        return "{{ " in declared
    return values_equal(declared, live)


def create_query(adopted: Adopted, props: Mapping[str, Any]) -> str:
    schema = adopted.schema
    names = list(props)
    values = [_literal(props[p], prop_column(schema, p)) for p in names]
    return (
        f"INSERT INTO {schema.awscc_name} (\n"
        + "".join(f" {n},\n" for n in names)
        + " region\n)\nSELECT\n"
        + "".join(f" {v},\n" for v in values)
        + " '{{ region }}'\nRETURNING *;"
    )


def update_query(adopted: Adopted, finder: Finder, props: Mapping[str, Any]) -> str | None:
    schema = adopted.schema
    names = [p for p in props if not schema.is_create_only((p,))]
    if not names:
        return None
    body = ",\n".join(f'    "{p}": {prop_column(schema, p)}' for p in names)
    return (
        f"UPDATE {schema.awscc_name}\n"
        "SET PatchDocument = string('{{ {\n"
        f"{body}\n"
        "} | generate_patch_document }}')\n"
        f"WHERE Identifier = '{identifier_template(schema, finder)}'\n"
        f"AND {_where_region()};"
    )


def exports_query(adopted: Adopted, finder: Finder) -> str:
    return (
        f"SELECT {', '.join(adopted.exports)}\n"
        f"FROM {adopted.schema.awscc_name}\n"
        f"WHERE Identifier = '{identifier_template(adopted.schema, finder)}'\n"
        f"AND {_where_region()};"
    )


def delete_query(adopted: Adopted, finder: Finder) -> str:
    return (
        f"DELETE FROM {adopted.schema.awscc_name}\n"
        f"WHERE Identifier = '{identifier_template(adopted.schema, finder)}'\n"
        f"AND {_where_region()};"
    )


_HOW = {
    "identifier": "by its identifier, made of its props",
    "tagging": "by its stack tags (tagging API), among the live resources of its type",
    "table_tags": "by its stack tags, read from every resource of its type",
    "create_only": "by its create-only props (the type cannot be tagged)",
}


def query_file(
    adopted: Adopted, finder: Finder, props: Mapping[str, Any], *, comment: Sequence[str] = ()
) -> str:
    """The whole ``resources/<name>.iql`` text (``props`` as written in the manifest)."""
    schema = adopted.schema
    statecheck, skipped = statecheck_query(adopted, finder, props)
    header = [
        f"-- {adopted.name}: {schema.type_name} ({schema.awscc_name}), adopted with "
        "stack-deploy import.",
        *[f"-- {line}" for line in comment],
        f"-- exists finds it {_HOW[finder.kind]}.",
    ]
    if skipped:
        header.append(
            "-- statecheck does not compare "
            + ", ".join(skipped)
            + " (not readable, or returned with more than the props say); the plan's "
            "property diff still does."
        )
    parts = ["\n".join(header), "", "/*+ exists */", exists_query(adopted, finder, props), ""]
    parts += ["/*+ statecheck, retries=3, retry_delay=5 */", statecheck, ""]
    parts += ["/*+ create */", create_query(adopted, props), ""]
    update = update_query(adopted, finder, props)
    if update is not None:
        parts += ["/*+ update */", update, ""]
    if adopted.exports:
        parts += ["/*+ exports */", exports_query(adopted, finder), ""]
    parts += ["/*+ delete */", delete_query(adopted, finder), ""]
    return "\n".join(parts)
