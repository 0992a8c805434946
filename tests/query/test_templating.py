"""The shared Jinja environment: filters, strictness, sandbox, serialisation, conditions."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from jinja2.sandbox import SandboxedEnvironment

from stackdeploy.errors import TemplateError
from stackdeploy.query.iql import parse_query_file
from stackdeploy.templating import (
    evaluate_condition,
    make_environment,
    nest_dotted,
    render,
    rewrite_this,
    serialise_value,
)

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"


# --------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------


def test_make_environment_is_sandboxed_strict_and_keeps_newlines() -> None:
    env = make_environment()
    assert isinstance(env, SandboxedEnvironment)
    assert env.autoescape is False
    assert env.from_string("a\n").render() == "a\n"
    for name in (
        "from_json",
        "tojson",
        "json_encode",
        "generate_patch_document",
        "base64_encode",
        "merge_lists",
        "merge_objects",
        "sql_list",
        "sql_escape",
        "to_aws_tag_filters",
        "get",
        "replace",
    ):
        assert name in env.filters, name
    assert {"uuid", "range"} <= set(env.globals)


def test_make_environment_returns_independent_environments() -> None:
    first, second = make_environment(), make_environment()
    first.filters["extra"] = str
    assert "extra" not in second.filters


def test_render_keeps_trailing_newline() -> None:
    assert render("SELECT 1;\n", {}) == "SELECT 1;\n"


# --------------------------------------------------------------------------------------------
# Filters, table-driven: (template, context, expected output)
# --------------------------------------------------------------------------------------------

FILTER_CASES = [
    # from_json: text or already-parsed values
    ("{{ (x | from_json).a }}", {"x": '{"a": 5}'}, "5"),
    ("{{ (x | from_json)[1] }}", {"x": "[1, 2]"}, "2"),
    ("{{ (x | from_json).a }}", {"x": {"a": "already"}}, "already"),
    ("{{ x | from_json }}", {"x": '{"a": [1, true]}'}, '{"a":[1,true]}'),
    # tojson is Jinja's (HTML-safe escapes); json_encode is Tera's (compact, plain)
    ("{{ x | tojson }}", {"x": {"a": "<'>"}}, '{"a": "\\u003c\\u0027\\u003e"}'),
    ("{{ x | json_encode }}", {"x": {"a": "<'>", "b": [1, None]}}, '{"a":"<\'>","b":[1,null]}'),
    ("{{ x | json_encode }}", {"x": "text"}, '"text"'),
    ("{{ x | json_encode(pretty=true) }}", {"x": {"a": 1}}, '{\n  "a": 1\n}'),
    # generate_patch_document: sorted add ops; JSON containers in strings embedded
    (
        "{{ x | generate_patch_document }}",
        {"x": {"B": "b", "A": 1}},
        '[{"op":"add","path":"/A","value":1},{"op":"add","path":"/B","value":"b"}]',
    ),
    (
        "{{ x | generate_patch_document }}",
        {"x": '{"Tags": "[{\\"Key\\":\\"k\\",\\"Value\\":\\"v\\"}]"}'},
        '[{"op":"add","path":"/Tags","value":[{"Key":"k","Value":"v"}]}]',
    ),
    (
        # scalar-looking strings stay strings: the schema coerces them downstream
        "{{ {'Size': size, 'On': flag} | generate_patch_document }}",
        {"size": "20", "flag": "true"},
        '[{"op":"add","path":"/On","value":"true"},{"op":"add","path":"/Size","value":"20"}]',
    ),
    (
        "{{ {'Opt': none, 'Real': real} | generate_patch_document }}",
        {"none": None, "real": True},
        '[{"op":"add","path":"/Opt","value":null},{"op":"add","path":"/Real","value":true}]',
    ),
    (
        "{{ {'a/b~c': 1} | generate_patch_document }}",
        {},
        '[{"op":"add","path":"/a~1b~0c","value":1}]',
    ),
    ("{{ {} | generate_patch_document }}", {}, "[]"),
    # base64_encode: padded standard base64 of UTF-8
    ("{{ 'héllo' | base64_encode }}", {}, base64.b64encode("héllo".encode()).decode()),
    ("{{ 'ab' | base64_encode }}", {}, "YWI="),
    ("{{ x | base64_encode }}", {"x": {"a": 1}}, base64.b64encode(b'{"a":1}').decode()),
    # merge_lists: concat, de-duplicated by JSON text, order kept, text or objects
    ("{{ a | merge_lists(other=b) }}", {"a": [3, 1], "b": [1, 2, 3, 4]}, "[3,1,2,4]"),
    ("{{ a | merge_lists(other=b) }}", {"a": "[1, 1]", "b": "[]"}, "[1]"),
    (
        "{{ a | merge_lists(other=b) }}",
        {"a": '[{"k":1,"v":2}]', "b": [{"v": 2, "k": 1}, {"k": 2}]},
        '[{"k":1,"v":2},{"k":2}]',
    ),
    ("{{ a | merge_lists(other=b) | length }}", {"a": [], "b": ["x"]}, "1"),
    # merge_objects: shallow, right wins
    (
        "{{ a | merge_objects(other=b) }}",
        {"a": {"x": 1, "n": {"p": 1}}, "b": '{"n": {"q": 2}, "y": 3}'},
        '{"x":1,"n":{"q":2},"y":3}',
    ),
    # sql_list / sql_escape
    ("{{ x | sql_list }}", {"x": ["a", "b"]}, "('a','b')"),
    ("{{ x | sql_list }}", {"x": '["a"]'}, "('a')"),
    ("{{ x | sql_list }}", {"x": []}, "(NULL)"),
    ("{{ x | sql_list }}", {"x": "[]"}, "(NULL)"),
    ("{{ x | sql_list }}", {"x": ["it's", 1, True, None]}, "('it''s','1','true',NULL)"),
    ("{{ x | sql_escape }}", {"x": "O'Brien's"}, "O''Brien''s"),
    ("{{ x | sql_escape }}", {"x": "plain"}, "plain"),
    # to_aws_tag_filters: JSON text in and out; a tag map is accepted too
    (
        "{{ x | to_aws_tag_filters }}",
        {"x": '[{"Key":"env","Value":"prd"},{"Key":"app","Value":"x"}]'},
        '[{"Key":"env","Values":["prd"]},{"Key":"app","Values":["x"]}]',
    ),
    (
        "{{ x | to_aws_tag_filters }}",
        {"x": {"env": "prd"}},
        '[{"Key":"env","Values":["prd"]}]',
    ),
    ("{{ x | to_aws_tag_filters }}", {"x": []}, "[]"),
    # Tera aliases
    ("{{ x | get(key='a') }}", {"x": {"a": "A"}}, "A"),
    ("{{ x | get(key='a') }}", {"x": '{"a": [1]}'}, "[1]"),
    ("{{ x | get(key='zz', default='d') }}", {"x": {"a": 1}}, "d"),
    ("{{ range(end=3) | join(',') }}", {}, "0,1,2"),
    ("{{ range(start=1, end=7, step_by=3) | join(',') }}", {}, "1,4"),
    ("{{ range(3) | join(',') }}", {}, "0,1,2"),
    ("{{ range(1, 3) | join(',') }}", {}, "1,2"),
    ("{{ 'a-b-c' | replace(from='-', to='_') }}", {}, "a_b_c"),
    ("{{ 'a-b-c' | replace('-', '_') }}", {}, "a_b_c"),
    ("{{ 'a-b-c' | replace('-', '_', 1) }}", {}, "a_b-c"),
    # Jinja's own helpers still work with strict undefined
    ("{{ missing | default('dflt') }}", {}, "dflt"),
    ("{% if missing is defined %}y{% else %}n{% endif %}", {}, "n"),
    ("{{ x.a | default('d') }}", {"x": {}}, "d"),
]


@pytest.mark.parametrize(("template", "context", "expected"), FILTER_CASES)
def test_filters(template: str, context: dict[str, object], expected: str) -> None:
    assert render(template, context) == expected


FILTER_ERRORS = [
    ("{{ x | from_json }}", {"x": "{bad"}, "from_json"),
    ("{{ x | generate_patch_document }}", {"x": "[1]"}, "expected an object"),
    ("{{ x | generate_patch_document }}", {"x": "not json"}, "expected JSON text"),
    ("{{ a | merge_lists(other=b) }}", {"a": [1], "b": {"k": 1}}, "expected a list"),
    ("{{ a | merge_lists }}", {"a": [1]}, "missing argument other="),
    ("{{ a | merge_objects(other=b) }}", {"a": {}, "b": [1]}, "expected an object"),
    ("{{ x | sql_list }}", {"x": "a,b"}, "expected JSON text"),
    ("{{ x | to_aws_tag_filters }}", {"x": '[{"Name":"x"}]'}, "to_aws_tag_filters"),
    ("{{ x | get(key='b') }}", {"x": {"a": 1, "bb": 2}}, "key 'b' not found; did you mean 'bb'"),
    ("{{ 'x' | replace(from='a') }}", {}, "replace: needs"),
    ("{{ range() }}", {}, "range: needs an end"),
    ("{{ range(end=10000000) | list }}", {}, "range"),
]


@pytest.mark.parametrize(("template", "context", "message"), FILTER_ERRORS)
def test_filter_errors_are_template_errors_with_location(
    template: str, context: dict[str, object], message: str
) -> None:
    with pytest.raises(TemplateError) as info:
        render("first line\n" + template, context, file="q.iql", line=20)
    assert message in str(info.value)
    assert str(info.value).startswith("q.iql:21: ")


def test_uuid_is_new_on_every_call() -> None:
    out = render("{{ uuid() }} {{ uuid() }}", {})
    first, second = out.split()
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first
    )
    assert first != second
    assert render("{{ uuid() }}", {}) != render("{{ uuid() }}", {})


# --------------------------------------------------------------------------------------------
# Serialisation (docs/templates.md, "How values are printed")
# --------------------------------------------------------------------------------------------

SERIALISE_CASES = [
    ("text", "text"),
    ("", ""),
    (True, "true"),
    (False, "false"),
    (None, ""),
    (5, "5"),
    (-2, "-2"),
    (1.5, "1.5"),
    ({"K": "v"}, '{"K":"v"}'),
    ({"b": 1, "a": 2}, '{"b":1,"a":2}'),  # insertion order kept
    ([{"Key": "Name", "Value": "x"}], '[{"Key":"Name","Value":"x"}]'),
    ({"n": 1, "t": True, "z": None}, '{"n":1,"t":true,"z":null}'),
    ({"p": '{"Version":"2012"}'}, '{"p":{"Version":"2012"}}'),  # nested JSON text embedded
    ({"l": "[1, 2]"}, '{"l":[1,2]}'),
    ({"s": "20", "b": "true"}, '{"s":"20","b":"true"}'),  # scalar-looking strings stay
    ({"s": "{not json"}, '{"s":"{not json"}'),
    ({"u": "ü"}, '{"u":"ü"}'),
    ((1, 2), "[1,2]"),
]


@pytest.mark.parametrize(("value", "expected"), SERIALISE_CASES)
def test_serialise_value(value: object, expected: str) -> None:
    assert serialise_value(value) == expected


@pytest.mark.parametrize(("value", "expected"), SERIALISE_CASES)
def test_printing_a_value_uses_the_same_serialisation(value: object, expected: str) -> None:
    assert render("{{ v }}", {"v": value}) == expected


def test_values_paste_into_sql_literals_as_compact_json() -> None:
    tags = [{"Key": "Name", "Value": "x"}]
    assert render("'{{ tags }}'", {"tags": tags}) == '\'[{"Key":"Name","Value":"x"}]\''
    # Python's True/False never appear (quirk 4 is about lowercasing them after the fact).
    assert render("{{ flag }} {{ [flag] }}", {"flag": True}) == "true [true]"


# --------------------------------------------------------------------------------------------
# Strictness and error locations
# --------------------------------------------------------------------------------------------

UNDEFINED_CASES = [
    # (template, context, line offset within template, message part, hint part)
    (
        "{{ nod_recovery }}",
        {"node_recovery": 1},
        1,
        "undefined variable 'nod_recovery'",
        "did you mean 'node_recovery'?",
    ),
    ("a\nb\n  {{ x }}", {}, 3, "undefined variable 'x'", None),
    (
        "{{ vpc.vpc_idd }}",
        {"vpc": {"vpc_id": "v"}},
        1,
        "undefined variable 'vpc.vpc_idd'",
        "did you mean 'vpc.vpc_id'?",
    ),
    (
        "{{ vpc.vpc_idd }}",
        {"vpc.vpc_id": "v"},
        1,
        "undefined variable 'vpc.vpc_idd'",
        "did you mean 'vpc.vpc_id'?",
    ),
    ("{{ a.b.c }}", {"a": {"b": {}}}, 1, "undefined variable 'a.b.c'", None),
    ("{{ a['key'] }}", {"a": {"kex": 1}}, 1, "undefined variable 'a.key'", "did you mean 'a.kex'?"),
    (
        "{% for i in items %}{{ i }}{% endfor %}",
        {"itemz": []},
        1,
        "undefined variable 'items'",
        "did you mean 'itemz'?",
    ),
    ("{% if x == 'a' %}y{% endif %}", {}, 1, "undefined variable 'x'", None),
    (
        "line\n{{ {'K': missing_one} | generate_patch_document }}",
        {},
        2,
        "undefined variable 'missing_one'",
        None,
    ),
    ("{{ {'K': gone} | json_encode }}", {}, 1, "undefined variable 'gone'", None),
    ("{{ 'x' ~ nope }}", {}, 1, "undefined variable 'nope'", None),
    ("{{ l[5] }}", {"l": [1]}, 1, "undefined variable 'l[5]' (no element 5 in list of 1)", None),
    ("{{ a.b[2] }}", {"a": {"b": []}}, 1, "undefined variable 'a.b[2]'", None),
]


@pytest.mark.parametrize(("template", "context", "offset", "message", "hint"), UNDEFINED_CASES)
def test_undefined_variable_names_file_line_and_variable(
    template: str, context: dict[str, object], offset: int, message: str, hint: str | None
) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, context, file="resources/vpc.iql", line=10)
    error = info.value
    assert error.file == "resources/vpc.iql"
    assert error.line == 10 + offset - 1
    assert str(error).startswith(f"resources/vpc.iql:{10 + offset - 1}: {message}")
    if hint:
        assert error.hint == hint
    assert error.exit_code == 1


def test_undefined_error_without_file() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{ x }}", {})
    assert str(info.value) == "undefined variable 'x'"


def test_undefined_in_multiline_expression_points_at_its_line() -> None:
    text = 'SET x = \'{{ {\n  "A": a,\n  "B": b\n} | generate_patch_document }}\''
    with pytest.raises(TemplateError) as info:
        render(text, {"a": 1}, file="f.iql", line=1)
    assert "undefined variable 'b'" in str(info.value)
    assert info.value.line is not None and 1 <= info.value.line <= 4


SYNTAX_CASES = [
    ("{{ x", 1),
    ("ok\n{% if x %}\nno end", 2),  # Jinja points at the unclosed block
    ("a\n{{ x | }}", 2),
    ("{{ x | no_such_filter }}", 1),
]


@pytest.mark.parametrize(("template", "offset"), SYNTAX_CASES)
def test_syntax_errors_name_the_line(template: str, offset: int) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, {"x": 1}, file="m.yml", line=5)
    assert info.value.line == 5 + offset - 1
    assert "template syntax error" in str(info.value)


# --------------------------------------------------------------------------------------------
# Sandbox
# --------------------------------------------------------------------------------------------

UNSAFE_TEMPLATES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ x.__dict__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ uuid.__globals__ }}",
    "{{ x.mro() }}",
    "{{ (1).__class__.__base__ }}",
    "{{ ''.format.__self__ }}",
]


@pytest.mark.parametrize("template", UNSAFE_TEMPLATES)
def test_sandbox_blocks_access_to_internals(template: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, {"x": object}, file="evil.iql")
    assert str(info.value).startswith("evil.iql:1: ")


def test_unknown_filter_suggests_the_closest() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{ x | sql_lst }}", {"x": []}, file="q.iql")
    assert str(info.value).startswith("q.iql:1: template syntax error: No filter named 'sql_lst'")
    assert info.value.hint == "did you mean 'sql_list'?"


def test_sandbox_error_mentions_unsafe() -> None:
    with pytest.raises(TemplateError, match="unsafe"):
        render("{{ ''.__class__ }}", {})


# --------------------------------------------------------------------------------------------
# The seed page's UPDATE query
# --------------------------------------------------------------------------------------------

SEED_VARIABLES = {
    # -e values are strings, in the snake_case shape of the seed's manifest
    "node_recovery": "Automatic",
    "cluster_role": "arn:aws:iam::123456789012:role/autoscaler",
    "node_provisioning_mode": "Continuous",
    "auto_scaling": '{"mode":"Enable","auto_scaler_type":"Karpenter"}',
    "tags": '[{"value":"v1","key":"k1"}]',
    "region": "us-east-1",
    "cluster_arn": "arn:aws:sagemaker:us-east-1:123456789012:cluster/abc",
}


def _seed_update_query() -> tuple[str, int]:
    pages = sorted(SEEDS.glob("*.txt"))
    if not pages:
        pytest.skip("seed pages not available")
    text = pages[0].read_text()
    start = text.index("/*+ update */")
    end = text.index("```", start)
    return text[start:end], text[:start].count("\n") + 1


def test_seed_update_template_renders_with_its_variables() -> None:
    source, _ = _seed_update_query()
    anchor = parse_query_file(source, file="clusters.iql").get("update")
    assert anchor is not None
    sql = render(anchor.body, SEED_VARIABLES, file="clusters.iql", line=anchor.line)
    match = re.search(r"string\('(.*)'\)", sql, re.S)
    assert match is not None
    patch = json.loads(match.group(1))
    assert patch == [
        {
            "op": "add",
            "path": "/AutoScaling",
            "value": {"mode": "Enable", "auto_scaler_type": "Karpenter"},
        },
        {"op": "add", "path": "/ClusterRole", "value": SEED_VARIABLES["cluster_role"]},
        {"op": "add", "path": "/NodeProvisioningMode", "value": "Continuous"},
        {"op": "add", "path": "/NodeRecovery", "value": "Automatic"},
        {"op": "add", "path": "/Tags", "value": [{"value": "v1", "key": "k1"}]},
    ]
    assert "WHERE region = 'us-east-1'" in sql
    assert f"AND Identifier = '{SEED_VARIABLES['cluster_arn']}';" in sql


def test_seed_update_template_missing_variable_names_it_and_its_line() -> None:
    source, _ = _seed_update_query()
    anchor = parse_query_file(source, file="clusters.iql").get("update")
    assert anchor is not None
    variables = {k: v for k, v in SEED_VARIABLES.items() if k != "cluster_role"}
    with pytest.raises(TemplateError) as info:
        render(anchor.body, variables, file="clusters.iql", line=anchor.line)
    assert "undefined variable 'cluster_role'" in str(info.value)
    assert info.value.file == "clusters.iql"
    # The dict literal spans the anchor's lines 2-8; the error points inside it.
    assert info.value.line is not None and anchor.line + 1 <= info.value.line <= anchor.line + 7
    variables = {k: v for k, v in SEED_VARIABLES.items() if k != "cluster_arn"}
    with pytest.raises(TemplateError) as info:
        render(anchor.body, variables, file="clusters.iql", line=anchor.line)
    assert str(info.value).startswith(
        f"clusters.iql:{anchor.line + 9}: undefined variable 'cluster_arn'"
    )


# --------------------------------------------------------------------------------------------
# nest_dotted
# --------------------------------------------------------------------------------------------

NEST_CASES = [
    ({"a.b.c": 1}, {"a": {"b": {"c": 1}}}),
    ({"a.b": 1, "a.c": 2, "x": 3}, {"a": {"b": 1, "c": 2}, "x": 3}),
    ({"vpc": {"id": 1}, "vpc.cidr": "10/8"}, {"vpc": {"id": 1, "cidr": "10/8"}}),
    ({"vpc.cidr": "10/8", "vpc": {"id": 1}}, {"vpc": {"id": 1, "cidr": "10/8"}}),
    ({"vpc": {"id": 1}, "vpc.id": 2}, {"vpc": {"id": 2}}),  # the dotted entry wins in a dict
    ({"vpc": "plain", "vpc.id": 2}, {"vpc": "plain"}),  # a plain non-dict value wins
    ({"vpc.id": 2, "vpc": "plain"}, {"vpc": "plain"}),
    ({"a.b": 1, "a.b.c": 2}, {"a": {"b": 1}}),  # shorter wins over deeper
    ({"a.b.c": 2, "a.b": 1}, {"a": {"b": 1}}),
    ({".x": 1, "y.": 2}, {".x": 1, "y.": 2}),  # not dotted paths: kept as they are
    ({}, {}),
]


@pytest.mark.parametrize(("flat", "nested"), NEST_CASES)
def test_nest_dotted(flat: dict[str, object], nested: dict[str, object]) -> None:
    assert nest_dotted(flat) == nested


def test_nest_dotted_does_not_mutate_its_input() -> None:
    inner = {"id": 1}
    flat = {"vpc": inner, "vpc.cidr": "x"}
    nest_dotted(flat)
    assert inner == {"id": 1}
    assert flat == {"vpc": {"id": 1}, "vpc.cidr": "x"}


def test_nest_dotted_reports_collisions() -> None:
    warnings: list[str] = []
    assert nest_dotted({"vpc": "plain", "vpc.id": 2}, warnings) == {"vpc": "plain"}
    assert len(warnings) == 1
    assert "'vpc.id' ignored" in warnings[0]


def test_render_nests_dotted_keys() -> None:
    context = {"vpc.vpc_id": "vpc-1", "vpc_id": "vpc-1", "subnet.ids": ["a", "b"]}
    assert (
        render("{{ vpc.vpc_id }} {{ vpc_id }} {{ subnet.ids }}", context) == 'vpc-1 vpc-1 ["a","b"]'
    )


# --------------------------------------------------------------------------------------------
# rewrite_this
# --------------------------------------------------------------------------------------------

THIS_CASES = [
    ("{{ this.vpc_id }}", "{{ vpc.vpc_id }}"),
    ("{{this.a}} and {{ this.b }}", "{{vpc.a}} and {{ vpc.b }}"),
    ("{%- if this.x -%}{{ this.y }}{% endif %}", "{%- if vpc.x -%}{{ vpc.y }}{% endif %}"),
    ("this.x outside {{ 1 }}", "this.x outside {{ 1 }}"),  # outside delimiters: text
    ("{{ 'this.x' ~ this.y }}", "{{ 'this.x' ~ vpc.y }}"),  # string literals untouched
    ('{{ "a \\" this.x" ~ this.y }}', '{{ "a \\" this.x" ~ vpc.y }}'),
    ("{{ other.this.x }}", "{{ other.this.x }}"),  # not the start of a name
    ("{{ mythis.x }}", "{{ mythis.x }}"),
    ("{{ this }}", "{{ this }}"),  # only `this.` is rewritten
    ("{# this.x #}", "{# this.x #}"),  # comments untouched
    ("{{ this.a }}\n'{{ this.b }}'", "{{ vpc.a }}\n'{{ vpc.b }}'"),
    ("{{ unclosed this.x", "{{ unclosed vpc.x"),
]


@pytest.mark.parametrize(("text", "expected"), THIS_CASES)
def test_rewrite_this(text: str, expected: str) -> None:
    assert rewrite_this(text, "vpc") == expected


EXPRESSION_CASES = [
    ("this.id != ''", "vpc.id != ''"),
    ("this.id != 'this.x'", "vpc.id != 'this.x'"),
    ("'{{ this.id }}' != 'this.x'", "'{{ vpc.id }}' != 'this.x'"),  # templated: as above
]


@pytest.mark.parametrize(("text", "expected"), EXPRESSION_CASES)
def test_rewrite_this_in_expressions(text: str, expected: str) -> None:
    assert rewrite_this(text, "vpc", expression=True) == expected
    condition = rewrite_this(text, "vpc", expression=True)
    assert evaluate_condition(condition, {"vpc.id": "vpc-1"}) is True


def test_rewrite_this_for_names_that_are_not_identifiers() -> None:
    text = rewrite_this("{{ this.vpc_id }}", "my-vpc")
    assert text == '{{ _scope("my-vpc").vpc_id }}'
    assert render(text, {"my-vpc.vpc_id": "vpc-9"}) == "vpc-9"
    with pytest.raises(TemplateError, match="undefined variable"):
        render(text, {"my-vpc.other": 1})


def test_rewritten_this_renders_from_scoped_context() -> None:
    text = rewrite_this("SELECT '{{ this.vpc_id }}'", "example_vpc")
    assert render(text, {"example_vpc.vpc_id": "vpc-123"}) == "SELECT 'vpc-123'"


# --------------------------------------------------------------------------------------------
# evaluate_condition
# --------------------------------------------------------------------------------------------

CONDITION_CASES = [
    (True, {}, True),
    (False, {}, False),
    ("true", {}, True),
    ("False", {}, False),
    (" true ", {}, True),
    ("'{{ stack_env }}' == 'prd'", {"stack_env": "prd"}, True),
    ("'{{ stack_env }}' == 'prd'", {"stack_env": "dev"}, False),
    ("'{{ stack_env }}' != 'prd'", {"stack_env": "dev"}, True),
    ("stack_env == 'prd'", {"stack_env": "prd"}, True),
    ("stack_env in ['dev', 'prd']", {"stack_env": "prd"}, True),
    ("stack_env not in ['dev', 'prd']", {"stack_env": "prd"}, False),
    ("{{ enabled }}", {"enabled": "true"}, True),
    ("{{ enabled }}", {"enabled": False}, False),
    ("enabled", {"enabled": True}, True),
    ("vpc.cidr == '10.0.0.0/16'", {"vpc.cidr": "10.0.0.0/16"}, True),
    ("count | int > 2", {"count": "3"}, True),
    (
        "stack_env == 'prd' and region == 'us-east-1'",
        {"stack_env": "prd", "region": "us-east-1"},
        True,
    ),
    # stackql-deploy 2.x forms: rendered, then compared as strings
    ("{{ stack_env }} == prd", {"stack_env": "prd"}, True),
    ("{{ stack_env }} != prd", {"stack_env": "prd"}, False),
    ("{{ stack_env }} in [dev,prd]", {"stack_env": "prd"}, True),
    ("{{ stack_env }} in [dev, tst]", {"stack_env": "prd"}, False),
]


@pytest.mark.parametrize(("expr", "context", "expected"), CONDITION_CASES)
def test_evaluate_condition(expr: object, context: dict[str, object], expected: bool) -> None:
    assert evaluate_condition(expr, context) is expected


CONDITION_ERRORS = [
    ("environment == 'production'", {"stack_env": "prd"}, "undefined variable 'environment'"),
    ("'{{ stack_envv }}' == 'prd'", {"stack_env": "prd"}, "undefined variable 'stack_envv'"),
    ("stack_env ==", {"stack_env": "prd"}, "not a valid expression"),
    ("stack_env", {"stack_env": "prd"}, "not true or false"),
    ("__import__('os').system('true')", {}, "condition"),
    ("''.__class__", {}, "condition"),
    (3, {}, "must be a string or a bool"),
]


@pytest.mark.parametrize(("expr", "context", "message"), CONDITION_ERRORS)
def test_evaluate_condition_errors_name_the_expression(
    expr: object, context: dict[str, object], message: str
) -> None:
    with pytest.raises(TemplateError) as info:
        evaluate_condition(expr, context, file="stackql_manifest.yml", line=7)
    assert message in str(info.value)
    assert str(info.value).startswith("stackql_manifest.yml:7: ")


def test_evaluate_condition_hint_for_misspelled_name() -> None:
    with pytest.raises(TemplateError) as info:
        evaluate_condition("stack_envv == 'prd'", {"stack_env": "prd"})
    assert info.value.hint == "did you mean 'stack_env'?"


@pytest.mark.parametrize(
    ("template", "context", "expected"),
    [
        ("{{ x | default('a') }}", {}, "a"),
        ("{{ x | default(value='a') }}", {}, "a"),
        ("{{ x | default(value='a') }}", {"x": "b"}, "b"),
        ("{{ x | d('a') }}", {}, "a"),
        ("{{ x | default('a', true) }}", {"x": ""}, "a"),
        ("{{ x | default('a') }}", {"x": ""}, ""),
    ],
)
def test_default_filter_jinja_and_tera_spellings(
    template: str, context: dict[str, str], expected: str
) -> None:
    assert render(template, context) == expected
