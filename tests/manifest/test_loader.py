"""YAML loading with positions, and file() includes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackdeploy.errors import ManifestError
from stackdeploy.manifest.loader import (
    Positions,
    include_target,
    parse_yaml,
    resolve_includes,
)

DOC = """\
name: s
providers:
  - awscc
resources:
  - name: a
    props:
      - name: p
        value:
          nested:
            - x
            - "{{ y }}"
  - name: b
    sql: |
      SELECT 1
"""


def test_lines_of_every_node_and_no_markers_in_values() -> None:
    loaded = parse_yaml(DOC, file="m.yml")
    data = loaded.data
    # Plain values: nothing of the bookkeeping leaks in.
    assert data["resources"][0]["props"][0] == {"name": "p", "value": {"nested": ["x", "{{ y }}"]}}
    assert "__line__" not in json.dumps(data)
    pos = loaded.positions
    assert pos.where(()) == ("m.yml", 1)
    assert pos.line(("providers",)) == 2
    assert pos.line(("providers", 0)) == 3
    assert pos.line(("resources", 0)) == 5
    assert pos.line(("resources", 0, "props", 0)) == 7
    assert pos.line(("resources", 0, "props", 0, "value")) == 8
    assert pos.line(("resources", 0, "props", 0, "value", "nested", 1)) == 11
    assert pos.line(("resources", 1, "name")) == 12
    # Unknown deeper paths answer with the deepest known ancestor.
    assert pos.line(("resources", 1, "nope", 3)) == 12
    # A block scalar's text starts on the line after its key.
    assert pos.line(("resources", 1, "sql")) == 13
    assert pos.text_start(("resources", 1, "sql")) == ("m.yml", 14)


def test_duplicate_keys_are_reported() -> None:
    loaded = parse_yaml("name: a\nname: b\n", file="m.yml")
    assert loaded.data == {"name": "b"}
    assert loaded.duplicate_keys == [(("name",), 2)]


def test_yaml_syntax_error_names_file_and_line() -> None:
    with pytest.raises(ManifestError) as info:
        parse_yaml("name: a\nresources:\n  - name: [x\n", file="m.yml")
    assert str(info.value).startswith("m.yml:")
    assert "invalid YAML" in str(info.value)
    assert info.value.line is not None and info.value.line >= 3


def test_yaml_merge_keys_are_flattened() -> None:
    loaded = parse_yaml("base: &b {x: 1}\nitem:\n  <<: *b\n  y: 2\n", file="m.yml")
    assert loaded.data["item"] == {"x": 1, "y": 2}


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("file(a.json)", "a.json"),
        ("  file( 'sub/a.yml' ) ", "sub/a.yml"),
        ('file("a.yaml")', "a.yaml"),
        ("file(a.json) and more", None),
        ("a file(a.json)", None),
        ("{{ file }}", None),
        (42, None),
    ],
)
def test_include_target(text: object, target: str | None) -> None:
    assert include_target(text) == target


def _resolve(tmp_path: Path, value: object) -> tuple[object, Positions]:
    positions = Positions(default_file="m.yml")
    positions.add(("v",), "m.yml", 7)
    out = resolve_includes(
        value, ("v",), positions, resources_dir=tmp_path / "resources", display_dir="stack"
    )
    return out, positions


def test_includes_json_yaml_nested_and_positions(tmp_path: Path) -> None:
    res = tmp_path / "resources"
    (res / "p").mkdir(parents=True)
    (res / "p" / "doc.yml").write_text("a: 1\nb:\n  c: file(p/inner.json)\n")
    (res / "p" / "inner.json").write_text('{"k": [1, 2]}')
    out, positions = _resolve(tmp_path, {"doc": "file(p/doc.yml)", "keep": "x"})
    assert out == {"doc": {"a": 1, "b": {"c": {"k": [1, 2]}}}, "keep": "x"}
    # Nodes of the included file answer with that file's lines.
    assert positions.where(("v", "doc", "b")) == ("stack/resources/p/doc.yml", 2)
    assert positions.where(("v", "doc", "b", "c", "k")) == ("stack/resources/p/inner.json", 1)
    assert positions.where(("v", "keep")) == ("m.yml", 7)


def test_include_of_whole_value(tmp_path: Path) -> None:
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "l.yaml").write_text("- 1\n- two\n")
    out, _ = _resolve(tmp_path, "file(l.yaml)")
    assert out == [1, "two"]


def test_include_errors_name_file_and_line(tmp_path: Path) -> None:
    res = tmp_path / "resources"
    res.mkdir()
    with pytest.raises(ManifestError) as info:
        _resolve(tmp_path, "file(missing.json)")
    assert str(info.value).startswith("m.yml:7: file(missing.json): stack/resources/missing.json")
    (res / "x.txt").write_text("hi")
    with pytest.raises(ManifestError, match=r"m.yml:7: .*unsupported extension '.txt'"):
        _resolve(tmp_path, "file(x.txt)")
    (res / "bad.json").write_text('{"a": ')
    with pytest.raises(ManifestError, match=r"^stack/resources/bad.json:1: invalid JSON"):
        _resolve(tmp_path, "file(bad.json)")
    (res / "bad.yml").write_text("a: 1\nb: [\n")
    with pytest.raises(ManifestError, match=r"^stack/resources/bad.yml:\d+: invalid YAML"):
        _resolve(tmp_path, "file(bad.yml)")


def test_include_cycle_is_fatal(tmp_path: Path) -> None:
    res = tmp_path / "resources"
    res.mkdir()
    (res / "a.yml").write_text("x: file(b.yml)\n")
    (res / "b.yml").write_text("y: file(a.yml)\n")
    with pytest.raises(ManifestError) as info:
        _resolve(tmp_path, "file(a.yml)")
    assert "includes itself (a.yml -> b.yml -> a.yml)" in str(info.value)
    assert str(info.value).startswith("stack/resources/b.yml:1:")
