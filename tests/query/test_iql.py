"""Query files: anchors, options, aliases, line numbers and statement splitting (docs/query.md, "Query files")."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackdeploy.errors import QueryError
from stackdeploy.query.iql import Anchor, QueryFile, parse_query_file, split_statements

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"

VPC_IQL = """\
-- text before the first anchor is ignored
SELECT 'ignored';

/*+ exists */
SELECT COUNT(*) as count FROM awscc.ec2.vpcs
WHERE region = '{{ region }}';

/*+ create */
INSERT INTO awscc.ec2.vpcs (CidrBlock, region)
SELECT '{{ cidr }}', '{{ region }}';

/*+ statecheck, retries=5, retry_delay=10 */
SELECT COUNT(*) as count FROM awscc.ec2.vpcs WHERE cidr_block = '{{ cidr }}';

/*+ exports, retries=3 */
SELECT vpc_id FROM awscc.ec2.vpcs;

/*+ delete */
DELETE FROM awscc.ec2.vpcs WHERE Identifier = '{{ vpc_id }}' AND region = '{{ region }}';
"""


def test_parses_every_anchor_in_file_order() -> None:
    query = parse_query_file(VPC_IQL, file="resources/vpc.iql")
    assert isinstance(query, QueryFile)
    assert query.file == "resources/vpc.iql"
    assert list(query.anchors) == ["exists", "create", "statecheck", "exports", "delete"]
    assert query.warnings == []


def test_bodies_are_trimmed_and_lines_point_at_the_body() -> None:
    query = parse_query_file(VPC_IQL, file="vpc.iql")
    exists = query.anchors["exists"]
    assert exists.body == (
        "SELECT COUNT(*) as count FROM awscc.ec2.vpcs\nWHERE region = '{{ region }}';"
    )
    lines = VPC_IQL.splitlines()
    for anchor in query:
        assert lines[anchor.line - 1].strip() == anchor.body.splitlines()[0].strip()
        assert lines[anchor.header_line - 1].lstrip().startswith("/*+")
    assert exists.line == 5
    assert query.anchors["delete"].line == 19


def test_options_are_typed() -> None:
    query = parse_query_file(VPC_IQL, file="vpc.iql")
    assert query.anchors["statecheck"].options == {"retries": 5, "retry_delay": 10}
    assert query.anchors["exports"].options == {"retries": 3}
    assert query.anchors["exists"].options == {}
    assert query.anchors["exports"].option("retry_delay", 0) == 0


OPTION_CASES = [
    ("retries=3", {"retries": 3}),
    (" retries = 3 , retry_delay = 2 ", {"retries": 3, "retry_delay": 2}),
    (
        "postdelete_retries=10, postdelete_retry_delay=5",
        {"postdelete_retries": 10, "postdelete_retry_delay": 5},
    ),
    (
        "short_circuit_field=OperationStatus, short_circuit_value=SUCCESS",
        {"short_circuit_field": "OperationStatus", "short_circuit_value": "SUCCESS"},
    ),
    ("RETRIES=2", {"retries": 2}),
    ("short_circuit_value=a=b", {"short_circuit_value": "a=b"}),
    ("retries=0", {"retries": 0}),
]


@pytest.mark.parametrize(("options", "expected"), OPTION_CASES)
def test_option_forms(options: str, expected: dict[str, object]) -> None:
    query = parse_query_file(f"/*+ callback, {options} */\nSELECT 1", file="f.iql")
    assert query.anchors["callback"].options == expected
    assert query.warnings == []


@pytest.mark.parametrize("bad", ["retries=abc", "retry_delay=1.5", "retries=", "retries=-1"])
def test_bad_integer_option_is_an_error_with_location(bad: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_query_file(f"\n\n/*+ exists, {bad} */\nSELECT 1", file="f.iql")
    assert str(info.value).startswith("f.iql:3: anchor 'exists': option ")


def test_unknown_option_and_bare_word_are_warnings() -> None:
    query = parse_query_file("/*+ exists, retrys=3, fast */\nSELECT 1", file="f.iql")
    assert query.anchors["exists"].options == {"retrys": "3"}
    assert query.warnings == [
        "f.iql:1: anchor 'exists': unknown option 'retrys'; did you mean 'retries'?",
        "f.iql:1: anchor 'exists': option 'fast' is not key=value; ignored",
    ]


NAME_CASES = [
    ("exists", "exists"),
    ("EXISTS", "exists"),
    ("preflight", "exists"),
    ("PostDeploy", "statecheck"),
    ("statecheck", "statecheck"),
    ("createorupdate", "createorupdate"),
    ("callback:create", "callback:create"),
    ("Callback : Delete", "callback:delete"),
    ("troubleshoot:update", "troubleshoot:update"),
    ("command", "command"),
]


@pytest.mark.parametrize(("written", "canonical"), NAME_CASES)
def test_anchor_names_and_aliases(written: str, canonical: str) -> None:
    query = parse_query_file(f"/*+ {written} */\nSELECT 1", file="f.iql")
    assert list(query.anchors) == [canonical]
    assert query.anchors[canonical].name == canonical
    assert query.has(canonical)
    assert query.get(written) is query.anchors[canonical]
    assert query.warnings == []


def test_get_and_has_accept_aliases() -> None:
    query = parse_query_file("/*+ exists */\nSELECT 1", file="f.iql")
    assert query.get("preflight") is query.anchors["exists"]
    assert query.has("PREFLIGHT")
    assert "exists" in query
    assert not query.has("statecheck")
    assert query.get("statecheck") is None


def test_unknown_anchor_is_kept_with_a_did_you_mean_warning() -> None:
    query = parse_query_file("/*+ statechek */\nSELECT 1", file="f.iql")
    assert query.has("statechek")
    assert query.warnings == ["f.iql:1: unknown anchor 'statechek'; did you mean 'statecheck'?"]


def test_later_duplicate_replaces_earlier_with_warning() -> None:
    text = "/*+ exists */\nSELECT 1\n/*+ create */\nINSERT 1\n/*+ exists, retries=2 */\nSELECT 2\n"
    query = parse_query_file(text, file="f.iql")
    exists = query.anchors["exists"]
    assert (exists.body, exists.options, exists.line) == ("SELECT 2", {"retries": 2}, 6)
    assert query.warnings == ["f.iql:5: anchor 'exists' replaces the one at line 1"]
    assert list(query.anchors) == ["create", "exists"]


def test_alias_collision_is_settled_by_file_order() -> None:
    # stackql-deploy settles preflight+exists by hash order (quirk 11); here the later wins.
    text = "/*+ exists */\nSELECT 'e'\n/*+ preflight */\nSELECT 'p'\n"
    query = parse_query_file(text, file="f.iql")
    assert query.anchors["exists"].body == "SELECT 'p'"
    assert "('exists' and 'preflight' mean the same)" in query.warnings[0]
    reverse = parse_query_file(
        "/*+ preflight */\nSELECT 'p'\n/*+ exists */\nSELECT 'e'\n", file="f.iql"
    )
    assert reverse.anchors["exists"].body == "SELECT 'e'"


def test_anchor_followed_by_anchor_is_dropped_with_warning() -> None:
    text = "/*+ create */\n\n   \n/*+ createorupdate */\nINSERT 1\n/*+ delete */\n"
    query = parse_query_file(text, file="f.iql")
    assert list(query.anchors) == ["createorupdate"]
    assert len(query.warnings) == 2
    assert query.warnings[0].startswith("f.iql:1: anchor 'create' has no query")
    assert query.warnings[1].startswith("f.iql:6: anchor 'delete' has no query")


ANCHOR_LINE_CASES = [
    # (line, is an anchor line)
    ("/*+ exists */", True),
    ("   /*+ exists */", True),  # 2.x: first non-blank text (1.x wanted column 0)
    ("\t/*+ exists */ trailing text is dropped", True),
    ("/*+ exists", False),  # no closing */ on the line
    ("SELECT 1 /*+ exists */", False),  # not the first text
    ("/* exists */", False),  # a plain comment
    ("-- /*+ exists */", False),
]


@pytest.mark.parametrize(("line", "is_anchor"), ANCHOR_LINE_CASES)
def test_anchor_line_detection(line: str, is_anchor: bool) -> None:
    text = f"/*+ command */\nSELECT 0\n{line}\nSELECT 1\n"
    query = parse_query_file(text, file="f.iql")
    if is_anchor:
        assert query.anchors["exists"].body == "SELECT 1"
        assert query.anchors["exists"].line == 4
        assert query.anchors["command"].body == "SELECT 0"
    else:
        assert "exists" not in query.anchors
        assert query.anchors["command"].body == f"SELECT 0\n{line}\nSELECT 1"


def test_text_on_the_anchor_line_after_the_comment_is_dropped() -> None:
    query = parse_query_file("/*+ exists */ SELECT 'lost'\nSELECT 'kept'", file="f.iql")
    assert query.anchors["exists"].body == "SELECT 'kept'"


def test_leading_blank_lines_in_body_move_the_line() -> None:
    query = parse_query_file("\n/*+ exists */\n\n\n    SELECT 1\n  \n", file="f.iql")
    anchor = query.anchors["exists"]
    assert (anchor.body, anchor.line, anchor.header_line) == ("SELECT 1", 5, 2)


def test_no_anchors_and_empty_file() -> None:
    assert parse_query_file("SELECT 1;", file="f.iql").anchors == {}
    assert parse_query_file("", file="f.iql").anchors == {}
    assert parse_query_file("", file=None).warnings == []


def test_windows_line_endings() -> None:
    query = parse_query_file(
        "/*+ exists */\r\nSELECT 1\r\n/*+ delete */\r\nDELETE 1\r\n", file="f.iql"
    )
    assert query.anchors["exists"] == Anchor("exists", {}, "SELECT 1", 2, header_line=1)
    assert query.anchors["delete"].body == "DELETE 1"


def test_warnings_without_a_file_name_use_line_numbers() -> None:
    query = parse_query_file("/*+ exist */\nSELECT 1", file=None)
    assert query.warnings == ["line 1: unknown anchor 'exist'; did you mean 'exists'?"]


def test_seed_page_queries_parse() -> None:
    pages = sorted(SEEDS.glob("*.txt"))
    if not pages:
        pytest.skip("seed pages not available")
    text = pages[0].read_text()
    # The page is markdown: each ```sql block holding an anchor is a query file of its own.
    blocks = [block.split("```", 1)[0] for block in text.split("```sql")[1:]]
    names: list[str] = []
    for block in blocks:
        query = parse_query_file(block, file="clusters.iql")
        names.extend(query.anchors)
        assert query.warnings == []
    assert names == ["create", "create", "update", "delete"]


# --------------------------------------------------------------------------------------------
# split_statements
# --------------------------------------------------------------------------------------------

SPLIT_CASES = [
    ("SELECT 1", ["SELECT 1"]),
    ("SELECT 1;", ["SELECT 1"]),
    ("SELECT 1; SELECT 2;", ["SELECT 1", "SELECT 2"]),
    ("SELECT 'a;b'; SELECT 2", ["SELECT 'a;b'", "SELECT 2"]),
    ("SELECT 'it''s; here'", ["SELECT 'it''s; here'"]),
    ('SELECT "col;name" FROM t', ['SELECT "col;name" FROM t']),
    ("SELECT 1 -- a; comment\n; SELECT 2", ["SELECT 1 -- a; comment", "SELECT 2"]),
    ("SELECT /* ; */ 1; SELECT 2", ["SELECT /* ; */ 1", "SELECT 2"]),
    ("SELECT [a;b] FROM t", ["SELECT [a;b] FROM t"]),
    (";;  ;\n", []),
    ("SELECT 1; -- trailing comment\n", ["SELECT 1"]),
    ("SELECT 1; /* only a comment */", ["SELECT 1"]),
    ("", []),
]


@pytest.mark.parametrize(("sql", "expected"), SPLIT_CASES)
def test_split_statements(sql: str, expected: list[str]) -> None:
    assert split_statements(sql) == expected


# -- read_query_file: the one way a query file is read from disk ------------------------------


def _stack(tmp_path: Path) -> Path:
    stack = tmp_path / "stack"
    (stack / "resources").mkdir(parents=True)
    return stack


def test_read_query_file_parses_a_good_file(tmp_path: Path) -> None:
    from stackdeploy.query.iql import read_query_file

    stack = _stack(tmp_path)
    path = stack / "resources" / "q.iql"
    path.write_bytes(b"\xef\xbb\xbf/*+ exists */\nSELECT 1 AS count -- caf\xc3\xa9\n")
    parsed = read_query_file(path, stack_dir=stack, display="stack/resources/q.iql")
    assert parsed.file == "stack/resources/q.iql"
    assert parsed.get("exists") is not None and parsed.get("exists").line == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"/*+ exists */\nSELECT 1 -- caf\xe9\n",
            "q.iql:2: not UTF-8 text: byte 0xe9 at column 16 cannot be decoded",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "q.iql:3: this is a binary file, not text"),
        ("/*+ exists */\nSELECT 1\n".encode("utf-16"), "q.iql:1: this file is UTF-16 text"),
        (b"/*+ exists, retries=abc */\nSELECT 1\n", "q.iql:1: anchor 'exists': option retries"),
        (
            b"/*+ exists */\nSELECT 1\n/*+ create */\nSELECT '{{ x | nosuch }}'\n",
            "q.iql:4: anchor 'create': template syntax error: No filter named 'nosuch'",
        ),
    ],
)
def test_read_query_file_errors_name_the_file_and_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    from stackdeploy.errors import QueryError
    from stackdeploy.query.iql import read_query_file

    stack = _stack(tmp_path)
    path = stack / "resources" / "q.iql"
    path.write_bytes(content)
    with pytest.raises(QueryError) as info:
        read_query_file(path, stack_dir=stack, display="q.iql")
    assert str(info.value).startswith(message), str(info.value)


def test_read_query_file_refuses_paths_outside_the_stack(tmp_path: Path) -> None:
    from stackdeploy.errors import QueryError
    from stackdeploy.query.iql import read_query_file

    stack = _stack(tmp_path)
    outside = tmp_path / "outside.iql"
    outside.write_text("/*+ exists */\nSELECT 1\n")
    link = stack / "resources" / "link.iql"
    link.symlink_to(outside)
    for path in (outside, stack / "resources" / ".." / ".." / "outside.iql", link):
        with pytest.raises(QueryError, match="outside the stack folder"):
            read_query_file(path, stack_dir=stack)
    inside = stack / "resources" / "inside.iql"
    inside.symlink_to(stack / "resources" / "real.iql")
    (stack / "resources" / "real.iql").write_text("/*+ exists */\nSELECT 1\n")
    assert read_query_file(inside, stack_dir=stack).has("exists")
