"""Manifest text: entries, values that look like templates, splicing into existing text."""

from __future__ import annotations

import pytest
import yaml

from stackdeploy.adopt.model import Adopted, LiveResource, Placeholder
from stackdeploy.adopt.render import (
    EntryOptions,
    literal_text,
    resource_entry,
    splice_global,
    splice_resources,
)
from stackdeploy.errors import AdoptError
from stackdeploy.schema.registry import get_schema
from stackdeploy.templating import render

ENTRY = "  - name: extra\n    resource_type: AWS::SQS::Queue\n    props: []\n"
ADDED = {"name": "extra", "resource_type": "AWS::SQS::Queue", "props": []}


def test_an_entry_reads_back_as_the_props_it_was_made_from() -> None:
    schema = get_schema("AWS::Lambda::Function")
    adopted = Adopted(
        name="fn",
        live=LiveResource(schema, "fn", {}),
        props={
            "Code": "{{ FN_CODE }}",
            **literal_text(
                {
                    "Description": "multi\nline",
                    "Environment": {"Variables": {"GREETING": "hi {{ name }}", "N": "10"}},
                    "FunctionName": "fn",
                }
            ),
            "Role": "{{ role.arn }}",
            "Timeout": 30,
        },
        placeholders=(Placeholder("/Code", "FN_CODE", True),),
        exports=("function_name", "arn"),
    )
    text = resource_entry(adopted, EntryOptions(declarative=True, comment="fn: adopted"))
    assert text.startswith(
        "  # fn: adopted\n  - name: fn\n    resource_type: AWS::Lambda::Function\n"
    )
    assert "      # TODO (write-only, cannot be read back): replace {{ FN_CODE }}" in text
    (entry,) = yaml.safe_load("resources:\n" + text)["resources"]
    values = {p["name"]: p["value"] for p in entry["props"]}
    assert values["code"] == "{{ FN_CODE }}" and values["role"] == "{{ role.arn }}"
    assert values["timeout"] == 30 and values["description"] == "multi\nline"
    # "10" stays text; live text that looks like a template renders back to itself.
    variables = values["environment"]["Variables"]
    assert variables["N"] == "10"
    assert render(variables["GREETING"], {}) == "hi {{ name }}"
    assert entry["exports"] == ["function_name", "arn"]


def test_literal_text_wraps_only_what_jinja_would_read() -> None:
    assert literal_text({"a": ["{{ x }}", "{% if x %}", "{#", "plain {x}"]}) == {
        "a": [
            "{% raw %}{{ x }}{% endraw %}",
            "{% raw %}{% if x %}{% endraw %}",
            "{% raw %}{#{% endraw %}",
            "plain {x}",
        ]
    }


COMMENTED = """\
# my stack
version: 1
name: s   # inline comment
resources:
  # the first one
  - name: first
    resource_type: AWS::SQS::Queue
    props:
      - name: description
        value: |
          kept
          as is

# stack exports below
exports:
  - first_url
"""


def test_entries_go_after_the_last_resource_and_nothing_else_moves() -> None:
    result = splice_resources(COMMENTED, [ENTRY], file="m.yml")
    head, tail = COMMENTED.split("          as is\n")
    assert result == head + "          as is\n" + ENTRY + tail


@pytest.mark.parametrize(
    ("text", "expected_tail"),
    [
        # items at column 0
        ("name: s\nresources:\n- name: a\n  props: []\n", "- name: a\n  props: []\n- name: extra"),
        # deeper items
        ("name: s\nresources:\n    - name: a\n", "    - name: a\n    - name: extra"),
        # empty flow list
        ("name: s\nresources: []\n", "resources:\n  - name: extra"),
        # no resources key: before exports
        ("name: s\nexports:\n  - x\n", "resources:\n  - name: extra"),
        # a null list
        ("name: s\nresources:\n", "resources:\n  - name: extra"),
    ],
)
def test_splicing_follows_the_existing_layout(text: str, expected_tail: str) -> None:
    result = splice_resources(text, [ENTRY], file="m.yml")
    assert expected_tail in result
    doc = yaml.safe_load(result)
    assert doc["resources"][-1] == ADDED


def test_windows_line_endings_are_kept() -> None:
    text = "name: s\r\nresources:\r\n  - name: a\r\n"
    result = splice_resources(text, [ENTRY], file="m.yml")
    assert "\r\n" in result and "\n" not in result.replace("\r\n", "")


def test_a_flow_list_with_items_is_refused() -> None:
    with pytest.raises(AdoptError, match="flow-style list"):
        splice_resources("name: s\nresources: [{name: a}]\n", [ENTRY], file="m.yml")


def test_a_region_global_is_added_where_globals_are() -> None:
    text = "name: s\nglobals:\n  - name: x\n    value: 1\nresources: []\n"
    result = splice_global(text, "region", "eu-west-1", file="m.yml")
    assert yaml.safe_load(result)["globals"] == [
        {"name": "x", "value": 1},
        {"name": "region", "value": "eu-west-1"},
    ]
    bare = splice_global("name: s\nresources: []\n", "region", "eu-west-1", file="m.yml")
    assert bare.index("globals:") < bare.index("resources:")
