"""Reading generated reference pages in tests: their code blocks and placeholder filling.

The placeholder rules are the page's own (see :mod:`stackdeploy.reference.model`):
``'<x>'`` is SQL string content (``NULL`` without the quotes leaves a column out),
``"<x>"`` JSON string content, a bare ``<x>`` a JSON value, ``value: <x>`` a YAML value.
"""

from __future__ import annotations

import json
import re
from typing import Any

from stackdeploy.reference.model import PLACEHOLDER

_FENCE = re.compile(
    r'^(?P<indent>[ ]*)```(?P<lang>\w+) title="(?P<title>[^"]+)"\n(?P<body>.*?)^(?P=indent)```$',
    re.MULTILINE | re.DOTALL,
)


def code_blocks(page: str) -> dict[str, tuple[str, str]]:
    """Titled code blocks of a page: title -> (language, code), indentation removed."""
    blocks: dict[str, tuple[str, str]] = {}
    for match in _FENCE.finditer(page):
        indent = len(match.group("indent"))
        body = "\n".join(line[indent:] for line in match.group("body").splitlines())
        assert match.group("title") not in blocks, f"two blocks titled {match.group('title')}"
        blocks[match.group("title")] = (match.group("lang"), body)
    return blocks


def placeholders(text: str) -> list[str]:
    """Placeholder names in order of first appearance."""
    seen: list[str] = []
    for name in PLACEHOLDER.findall(text):
        if name not in seen:
            seen.append(name)
    return seen


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"))


def fill_sql(sql: str, values: dict[str, Any]) -> str:
    """Replace every placeholder of an SQL example with its value (KeyError if missing)."""

    def quoted(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        if value is None:
            return "NULL"
        return "'" + _text(value).replace("'", "''") + "'"

    def compound(match: re.Match[str]) -> str:
        parts = PLACEHOLDER.findall(match.group(0))
        return "'" + "|".join(_text(values[p]).replace("'", "''") for p in parts) + "'"

    def json_string(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        return json.dumps(_text(value)).replace("'", "''")

    def json_value(match: re.Match[str]) -> str:
        return json.dumps(values[match.group(1)]).replace("'", "''")

    sql = re.sub(r"'<[a-z0-9_]+>(?:\|<[a-z0-9_]+>)+'", compound, sql)
    sql = re.sub(r"'<([a-z0-9_]+)>'", quoted, sql)
    sql = re.sub(r'"<([a-z0-9_]+)>"', json_string, sql)
    sql = PLACEHOLDER.sub(json_value, sql)
    return sql


def fill_yaml(text: str, values: dict[str, Any]) -> str:
    """Replace ``value: <x>`` placeholders of a manifest with JSON (valid YAML) values."""

    def sub(match: re.Match[str]) -> str:
        return json.dumps(values[match.group(1)])

    return PLACEHOLDER.sub(sub, text)
