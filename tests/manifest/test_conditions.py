"""Manifest ``if``: Python-like conditions evaluate as stackql-deploy 1.x's ``eval`` would,
without ``eval``; anything that cannot be evaluated is an error naming file and line.

For conditions that are plain Python once rendered, Python itself (``eval`` on the fixed test
strings, with only the whitelisted builtins) is the oracle the results are checked against.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from stackdeploy.cli import main
from stackdeploy.conditions import FUNCTIONS
from stackdeploy.errors import TemplateError
from stackdeploy.templating import evaluate_condition, render

CONTEXT = {
    "stack_env": "prd",
    "region": "us-east-1",
    "count": "3",
    "zero": "0",
    "subnets": ["subnet-a", "subnet-b"],
    "tags": {"team": "data", "cost-centre": "42"},
    "vpc.cidr": "10.0.0.0/16",
    "enabled": True,
    "flag_text": "false",
    "empty": "",
    "nothing": None,
}

# Rendered with the context, then evaluated by Python: the oracle for stackql-deploy 1.x.
PYTHON_CASES = [
    "'{{ stack_env }}' == 'prd'",
    "'{{ stack_env }}' == 'dev'",
    "'{{ stack_env }}' != 'prd'",
    "'{{ stack_env }}' in ['dev', 'prd']",
    "'{{ stack_env }}' not in ['dev', 'prd']",
    "'{{ stack_env }}' in ('dev', 'tst')",
    '"{{ stack_env }}" == "prd"',
    "{{ count }} > 2",
    "{{ count }} >= 4",
    "int('{{ count }}') > 2",
    "int('{{ count }}') == 3 and '{{ stack_env }}' == 'prd'",
    "int('{{ zero }}') or '{{ stack_env }}' == 'dev'",
    "len({{ subnets }}) == 2",
    "len({{ subnets }}) > 2",
    "len('{{ stack_env }}') == 3",
    "len('{{ empty }}') == 0",
    "not '{{ empty }}'",
    "not len({{ subnets }})",
    "'{{ region }}'.startswith('us-')",
    "'{{ region }}'.endswith('-2')",
    "'{{ stack_env }}'.upper() == 'PRD'",
    "'{{ region }}'.split('-')[0] == 'us'",
    "'subnet-a' in {{ subnets }}",
    "'subnet-z' not in {{ subnets }}",
    "{{ enabled }}",
    "{{ enabled }} == True",
    "not {{ enabled }}",
    "{{ enabled }} and '{{ stack_env }}' == 'prd'",
    "{{ count }} + 1 == 4",
    "{{ count }} * 2 > 5 or False",
    "{{ count }} % 2 == 1",
    "{{ count }} // 2 == 1",
    "1 < {{ count }} < 5",
    "str({{ count }}) == '3'",
    "float('{{ count }}') == 3.0",
    "'{{ stack_env }}' == 'prd' if {{ enabled }} else False",
    "max(1, {{ count }}) == 3",
    "abs(-{{ count }}) == 3",
    "'{{ tags.team }}' == 'data'",
    "{{ count }}",
    "{{ zero }}",
    "True",
    "False",
    "not True",
    "'prd' in 'prd,dev'",
    "[1, 2] == [1, 2]",
    "{'a': 1} == {'a': 1}",
]


@pytest.mark.parametrize("condition", PYTHON_CASES)
def test_conditions_evaluate_like_python_eval(condition: str) -> None:
    # stack-deploy renders booleans as true/false (JSON), which conditions read as literals.
    names = {"__builtins__": FUNCTIONS, "true": True, "false": False}
    expected = bool(eval(render(condition, CONTEXT), names))  # the oracle: Python itself
    assert evaluate_condition(condition, CONTEXT) is expected


# Bare expressions (Jinja style: names are variables, | applies filters), stackql-deploy 2.x
# string forms, and YAML values.
CASES = [
    (True, True),
    (False, False),
    ("true", True),
    ("FALSE", False),
    (" True ", True),
    ("stack_env == 'prd'", True),
    ("stack_env in ['dev', 'prd']", True),
    ("stack_env not in ['dev', 'prd']", False),
    ("stack_env != 'prd' or region == 'us-east-1'", True),
    ("not (stack_env == 'prd')", False),
    ("len(subnets) == 2", True),
    ("len(subnets) > 0 and stack_env == 'prd'", True),
    ("int(count) > 2", True),
    ("count | int > 2", True),
    ("count | int + 1 == 4", True),
    ("subnets | length == 2", True),
    ("missing | default('x') == 'x'", True),
    ("vpc.cidr == '10.0.0.0/16'", True),
    ("vpc.cidr.startswith('10.')", True),
    ("tags['cost-centre'] == '42'", True),
    ("tags.get('owner', 'nobody') == 'nobody'", True),
    ("'team' in tags", True),
    ("enabled", True),
    ("enabled and true", True),
    ("nothing is None", True),
    ("nothing is none", True),
    ("region is not None", True),
    ("missing is defined", False),
    ("missing is not defined", True),
    ("region is defined and region == 'us-east-1'", True),
    ("missing is defined and missing == 1", False),  # short-circuit: missing is not read
    ("count is string", True),
    ("int(count) is divisibleby(3)", True),
    ("'a' ~ 'b' == 'ab'", True),  # Jinja-only syntax
    ("flag_text == 'false'", True),
    ("int(count)", True),
    ("int(zero)", False),
    # stackql-deploy 2.x forms: rendered, unquoted, compared as strings
    ("{{ stack_env }} == prd", True),
    ("{{ stack_env }} != prd", False),
    ("{{ stack_env }} in [dev,prd]", True),
    ("{{ stack_env }} in [dev, tst]", False),
    ("{{ stack_env }} not in [dev, tst]", True),
    ("{{ region }} == us-east-1", True),
    ("{{ stack_env }} == 'prd'", True),  # 2.x: quotes are dropped before comparing
]


@pytest.mark.parametrize(("condition", "expected"), CASES)
def test_conditions(condition: object, expected: bool) -> None:
    assert evaluate_condition(condition, CONTEXT) is expected


ERRORS = [
    ("environment == 'production'", "undefined variable 'environment'"),
    ("'{{ stack_envv }}' == 'prd'", "undefined variable 'stack_envv'"),
    ("vpc.cidrr == 'x'", "undefined variable 'vpc.cidrr'"),
    ("tags['owner'] == 'x'", "undefined variable"),
    ("stack_env ==", "is not a valid expression"),
    ("stack_env", "evaluated to 'prd', not true or false"),
    ("'{{ flag_text }}'", "evaluated to 'false', not true or false"),
    ("{{ stack_env }}", "'prd' is not a variable"),
    ("{{ stack_env }} == 'prd' and True", "'prd' is not a variable"),
    ("'{{ empty }}'.strip() and True", "not true or false"),
    ("{{ empty }}", "is empty"),
    ("'{{ count }}' > 2", "not supported between instances of 'str' and 'int'"),
    ("int('{{ stack_env }}') > 2", "invalid literal for int()"),
    ("1 / 0", "division by zero"),
    ("subnets[5] == 'x'", "list index out of range"),
    ("__import__('os').system('true')", "unknown function __import__()"),
    ("open('/etc/passwd')", "unknown function open()"),
    ("''.__class__", "cannot read attribute '__class__'"),
    ("stack_env.__class__.__mro__", "cannot read attribute"),
    ("'{}'.format(1) == '1'", "has no method 'format'"),
    ("(lambda: True)()", "cannot use lambda"),
    ("[x for x in subnets]", "cannot use list comprehensions"),
    ("f'{stack_env}' == 'prd'", "cannot use f-strings"),
    ("2 ** 1000 > 1", "exponent too large"),
    ("'a' * 10**9 == ''", "result too large"),
    ("'a' * 100000000 == ''", "result too large"),
    ("count | nosuchfilter", "No filter named 'nosuchfilter'"),
    ("missing | int > 1", "undefined variable 'missing'"),
    ("count | int > 'a'", "not supported between instances of 'int' and 'str'"),
    ("count is nosuchtest", "is not a test"),
    ("len(x=1)", "keyword arguments"),
    ("(" * 500 + "1" + ")" * 500, "nested"),
    (3, "must be a string or a bool"),
]


@pytest.mark.parametrize(("condition", "message"), ERRORS)
def test_condition_errors_name_file_and_line(condition: object, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        evaluate_condition(condition, CONTEXT, file="stackql_manifest.yml", line=12)
    text = str(info.value)
    assert text.startswith("stackql_manifest.yml:12: "), text
    assert message in text, text


def test_rendered_condition_error_shows_the_rendered_text() -> None:
    with pytest.raises(TemplateError) as info:
        evaluate_condition("{{ stack_env }} == 'prd' and True", CONTEXT)
    assert "(rendered \"prd == 'prd' and True\")" in str(info.value)
    assert info.value.hint is not None and "'{{ stack_env }}' == 'prd'" in info.value.hint


def test_misspelled_variable_gets_a_suggestion() -> None:
    with pytest.raises(TemplateError) as info:
        evaluate_condition("regin == 'us-east-1'", CONTEXT)
    assert info.value.hint == "did you mean 'region'?"


def test_comparing_a_rendered_string_with_a_number_says_how_to_convert() -> None:
    with pytest.raises(TemplateError) as info:
        evaluate_condition("count > 2", CONTEXT)
    assert info.value.hint is not None and "int(" in info.value.hint


MANIFEST = """\
version: 1
name: cond
providers: [awscc]
globals:
  - name: region
    value: us-east-1
  - name: subnet_count
    value: "2"
resources:
  - name: wanted
    resource_type: awscc.sqs.queues
    if: "int('{{ subnet_count }}') > 1 and '{{ stack_env }}' in ['dev', 'prd']"
    props:
      - name: queue_name
        value: "{{ stack_name }}-{{ stack_env }}-wanted"
  - name: skipped
    resource_type: awscc.sqs.queues
    if: "len('{{ stack_env }}') > 5"
    props:
      - name: queue_name
        value: "{{ stack_name }}-{{ stack_env }}-skipped"
"""


def test_conditions_through_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    stack = tmp_path / "cond"
    stack.mkdir()
    (stack / "stackql_manifest.yml").write_text(MANIFEST)
    sandbox = ["--sandbox", "--sandbox-state", str(tmp_path / "s.db")]
    runner = CliRunner()
    built = runner.invoke(main, ["build", str(stack), "dev", *sandbox, "--output", "json"])
    assert built.exit_code == 0, built.output
    listed = runner.invoke(
        main,
        [
            "query",
            "SELECT queue_name FROM awscc.sqs.queues WHERE region = 'us-east-1'",
            *sandbox,
            "--output",
            "json",
        ],
    )
    names = sorted(row["queue_name"] for row in __import__("json").loads(listed.stdout))
    assert names == ["cond-dev-wanted"]

    broken = MANIFEST.replace("len('{{ stack_env }}') > 5", "len({{ stack_env }}) > 5")
    (stack / "stackql_manifest.yml").write_text(broken)
    failed = runner.invoke(main, ["build", str(stack), "dev", *sandbox])
    assert failed.exit_code == 1
    (line,) = failed.stderr.strip().splitlines()[-1:]
    assert line.startswith(f"Error: {stack}/stackql_manifest.yml:18: condition ")
    assert "'dev' is not a variable" in line


# -- Python's eval as an oracle on generated expressions ------------------------------------

_ATOMS = st.sampled_from(
    [
        "0",
        "1",
        "3",
        "-2",
        "2.5",
        "'a'",
        "'prd'",
        "''",
        "True",
        "False",
        "None",
        "[1, 'a']",
        "('a', 'b')",
        "len('abc')",
        "int('4')",
        "str(5)",
    ]
)
_BINARY = ["+", "-", "*", "%", "//", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or"]


def _expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        _ATOMS,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(_BINARY), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda e: f"(not {e})"),
            inner.map(lambda e: f"({e} if {e} else 0)"),
        ),
        max_leaves=8,
    )


@settings(max_examples=300, deadline=None)
@given(_expressions())
def test_generated_expressions_match_python(expression: str) -> None:
    try:
        value = eval(expression, {"__builtins__": FUNCTIONS})  # the oracle
    except Exception:
        with pytest.raises(TemplateError):
            evaluate_condition(expression, {})
        return
    if isinstance(value, bool | int | float):
        assert evaluate_condition(expression, {}) is bool(value)
    else:
        with pytest.raises(TemplateError, match="not true or false"):
            evaluate_condition(expression, {})
