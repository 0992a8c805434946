"""SQL functions of the awscc dialect, run through a real SQLite connection (docs/query.md, "SELECT")."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from stackdeploy.query.functions import (
    aws_policy_equal,
    json_equal,
    pop_last_error,
    register,
    split_part,
    string,
)


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    register(conn)
    yield conn
    conn.close()


def one(conn: sqlite3.Connection, sql: str, *params: Any) -> Any:
    return conn.execute(sql, params).fetchone()[0]


# --------------------------------------------------------------------------------------------
# split_part
# --------------------------------------------------------------------------------------------

SPLIT_PART_CASES = [
    ("a|b|c", "|", 1, "a"),
    ("a|b|c", "|", 2, "b"),
    ("a|b|c", "|", 3, "c"),
    ("a|b|c", "|", -1, "c"),
    ("a|b|c", "|", -3, "a"),
    ("a|b|c", "|", 4, None),  # out of range
    ("a|b|c", "|", -4, None),
    ("a|b|c", "|", 0, None),  # n = 0
    ("a|b|c", "", 1, None),  # empty separator
    ("a,,b", ",", 2, ""),  # empty parts are kept
    (",a", ",", 1, ""),
    ("a,", ",", -1, ""),
    ("", ",", 1, ""),
    ("", ",", 2, None),
    ("abc", ",", 1, "abc"),  # no separator: the whole text is part 1
    ("a::b::c", "::", 2, "b"),  # multi-character separator
    ("arn:aws:iam::123:role/x", ":", 5, "123"),
    ("igw-1|vpc-1", "|", 2, "vpc-1"),  # compound identifiers
    ("ünï|cödé", "|", 2, "cödé"),
    (None, "|", 1, None),
    ("a|b", None, 1, None),
    ("a|b", "|", None, None),
    (12345, "3", 1, "12"),  # numbers are split as text
    ("a|b", "|", 2.0, "b"),
]


@pytest.mark.parametrize(("text", "sep", "n", "expected"), SPLIT_PART_CASES)
def test_split_part_in_sqlite(
    db: sqlite3.Connection, text: Any, sep: Any, n: Any, expected: str | None
) -> None:
    assert one(db, "SELECT split_part(?, ?, ?)", text, sep, n) == expected


@pytest.mark.parametrize(("text", "sep", "n", "expected"), SPLIT_PART_CASES)
def test_split_part_in_python(text: Any, sep: Any, n: Any, expected: str | None) -> None:
    assert split_part(text, sep, n) == expected


@pytest.mark.parametrize("bad", ["x", 1.5])
def test_split_part_rejects_non_integer_part(db: sqlite3.Connection, bad: Any) -> None:
    with pytest.raises(sqlite3.OperationalError):
        one(db, "SELECT split_part('a|b', '|', ?)", bad)
    message = pop_last_error()
    assert message is not None and message.startswith("split_part(): part number")


def test_split_part_over_a_table(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE t (id TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", [("rtb-1|0.0.0.0/0",), ("rtb-2|::/0",)])
    rows = db.execute(
        "SELECT split_part(id, '|', 1), SPLIT_PART(id, '|', -1) FROM t ORDER BY 1"
    ).fetchall()
    assert rows == [("rtb-1", "0.0.0.0/0"), ("rtb-2", "::/0")]


# --------------------------------------------------------------------------------------------
# json_equal
# --------------------------------------------------------------------------------------------

JSON_EQUAL_CASES = [
    ('{"a":1,"b":2}', '{"b":2,"a":1}', 1),  # key order ignored
    ('{"a":{"x":[1,2],"y":null}}', '{"a":{"y":null,"x":[1,2]}}', 1),  # deep
    ("[1,2]", "[2,1]", 0),  # arrays are ordered
    ("[1,2]", "[1,2]", 1),
    ('{"A":1}', '{"a":1}', 0),  # keys are case-sensitive
    ('{"a":"X"}', '{"a":"x"}', 0),  # values are case-sensitive
    ("1", "1.0", 1),  # same number
    ("true", "1", 0),  # a boolean is not a number
    ("false", "0", 0),
    ("null", "null", 1),
    ('"a"', '"a"', 1),
    ('{"a":1}', '{"a":1,"b":2}', 0),
    ("[]", "{}", 0),
    ('[{"Key":"k","Value":"v"}]', '[{"Value":"v","Key":"k"}]', 1),
    ('  {"a" : 1 }  ', '{"a":1}', 1),  # whitespace ignored
    ('{"a":[{"b":[1,{"c":true}]}]}', '{"a":[{"b":[1,{"c":true}]}]}', 1),
    ('{"a":[{"b":[1,{"c":true}]}]}', '{"a":[{"b":[1,{"c":false}]}]}', 0),
]


@pytest.mark.parametrize(("a", "b", "expected"), JSON_EQUAL_CASES)
def test_json_equal(db: sqlite3.Connection, a: str, b: str, expected: int) -> None:
    assert one(db, "SELECT json_equal(?, ?)", a, b) == expected
    assert one(db, "SELECT JSON_EQUAL(?, ?)", b, a) == expected  # symmetric, any case
    assert json_equal(a, b) == expected


def test_json_equal_null_gives_null(db: sqlite3.Connection) -> None:
    assert one(db, "SELECT json_equal(NULL, '1')") is None
    assert one(db, "SELECT json_equal('1', NULL)") is None


def test_json_equal_accepts_sqlite_numbers(db: sqlite3.Connection) -> None:
    assert one(db, "SELECT json_equal(json_extract('{\"a\":5}', '$.a'), '5')") == 1
    assert one(db, "SELECT json_equal(5, 5.0)") == 1


@pytest.mark.parametrize(("a", "b"), [("{bad", "{}"), ("{}", "not json"), ("", "1")])
def test_json_equal_invalid_json_is_an_error(db: sqlite3.Connection, a: str, b: str) -> None:
    with pytest.raises(sqlite3.OperationalError):
        one(db, "SELECT json_equal(?, ?)", a, b)
    message = pop_last_error()
    assert message is not None
    assert message.startswith("json_equal(): ")
    assert "not valid JSON" in message
    assert pop_last_error() is None  # read once


def test_json_equal_in_a_statecheck_query(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE vpcs (tags TEXT)")
    db.execute("INSERT INTO vpcs VALUES (?)", ('[{"Key":"env","Value":"prd"}]',))
    count = one(
        db,
        "SELECT COUNT(*) FROM vpcs WHERE json_equal(tags, ?)",
        '[{"Value":"prd","Key":"env"}]',
    )
    assert count == 1


# --------------------------------------------------------------------------------------------
# aws_policy_equal
# --------------------------------------------------------------------------------------------


def policy(**statement: Any) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]})


ARN_A = "arn:aws:s3:::Bucket-A"
ARN_B = "arn:aws:s3:::bucket-b"

POLICY_CASES = [
    # identical text
    (policy(Action="s3:GetObject", Resource="*"), policy(Action="s3:GetObject", Resource="*"), 1),
    # Action arrays are unordered, same size
    (policy(Action=["s3:A", "s3:B"]), policy(Action=["s3:B", "s3:A"]), 1),
    (policy(Action=["s3:A", "s3:B"]), policy(Action=["s3:A"]), 0),
    (policy(Action=["s3:A", "s3:A"]), policy(Action=["s3:A", "s3:B"]), 0),  # multiset, not set
    (policy(NotAction=["s3:A", "s3:B"]), policy(NotAction=["s3:B", "s3:A"]), 1),
    (policy(Resource=[ARN_A, ARN_B]), policy(Resource=[ARN_B, ARN_A]), 1),
    (policy(NotResource=[ARN_A, ARN_B]), policy(NotResource=[ARN_B, ARN_A]), 1),
    # a one-element array equals its string
    (policy(Action=["s3:GetObject"]), policy(Action="s3:GetObject"), 1),
    (policy(Resource="*"), policy(Resource=["*"]), 1),
    (policy(Action=["s3:A", "s3:B"]), policy(Action="s3:A"), 0),
    # arn: strings there compare case-insensitively; others do not
    (policy(Resource=ARN_A), policy(Resource=ARN_A.lower()), 1),
    (policy(Resource=[ARN_A.upper()]), policy(Resource=ARN_A), 1),
    (policy(Action="s3:GetObject"), policy(Action="s3:getobject"), 0),
    # principals, nested AWS / Service arrays
    (
        policy(Principal={"AWS": ["arn:aws:iam::1:root", "arn:aws:iam::2:root"]}),
        policy(Principal={"AWS": ["arn:aws:iam::2:ROOT", "arn:aws:iam::1:root"]}),
        1,
    ),
    (
        policy(Principal={"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]}),
        policy(Principal={"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]}),
        1,
    ),
    (
        policy(Principal={"Service": ["ec2.amazonaws.com"]}),
        policy(Principal={"Service": "ec2.amazonaws.com"}),
        1,
    ),
    (
        policy(Principal={"Service": "EC2.amazonaws.com"}),
        policy(Principal={"Service": "ec2.amazonaws.com"}),
        0,
    ),
    (policy(NotPrincipal={"AWS": ["a", "b"]}), policy(NotPrincipal={"AWS": ["b", "a"]}), 1),
    # object keys compare case-insensitively
    (
        policy(Action="s3:A"),
        json.dumps({"version": "2012-10-17", "statement": [{"effect": "Allow", "action": "s3:A"}]}),
        1,
    ),
    # key order of objects never matters
    ('{"Statement":[],"Version":"1"}', '{"Version":"1","Statement":[]}', 1),
    # Statement arrays are ordered
    (
        json.dumps({"Statement": [{"Sid": "1"}, {"Sid": "2"}]}),
        json.dumps({"Statement": [{"Sid": "2"}, {"Sid": "1"}]}),
        0,
    ),
    # other arrays (tags, conditions) are ordered
    (
        json.dumps({"Tags": [{"Key": "a"}, {"Key": "b"}]}),
        json.dumps({"Tags": [{"Key": "b"}, {"Key": "a"}]}),
        0,
    ),
    (
        policy(Condition={"StringEquals": {"aws:SourceVpc": ["v1", "v2"]}}),
        policy(Condition={"StringEquals": {"aws:SourceVpc": ["v2", "v1"]}}),
        0,
    ),
    # a one-element array outside those keys is not its string
    (json.dumps({"Tags": ["a"]}), json.dumps({"Tags": "a"}), 0),
    # values elsewhere are case-sensitive, even arns
    (
        json.dumps({"Condition": {"ArnLike": {"x": ARN_A}}}),
        json.dumps({"Condition": {"ArnLike": {"x": ARN_A.lower()}}}),
        0,
    ),
    # different effect
    (policy(Action="s3:A"), policy(Action="s3:A").replace("Allow", "Deny"), 0),
    # numbers and booleans keep their JSON types
    ('{"a": 1}', '{"a": 1.0}', 1),
    ('{"a": true}', '{"a": 1}', 0),
    # extra key
    ('{"a": 1}', '{"a": 1, "b": 2}', 0),
]


@pytest.mark.parametrize(("a", "b", "expected"), POLICY_CASES)
def test_aws_policy_equal(db: sqlite3.Connection, a: str, b: str, expected: int) -> None:
    assert one(db, "SELECT aws_policy_equal(?, ?)", a, b) == expected
    assert one(db, "SELECT AWS_POLICY_EQUAL(?, ?)", b, a) == expected  # symmetric
    assert aws_policy_equal(a, b) == expected


def test_aws_policy_equal_identical_text_short_circuits(db: sqlite3.Connection) -> None:
    # Identical text is equal even if it is not JSON (stackql compares the text first).
    assert one(db, "SELECT aws_policy_equal('same', 'same')") == 1


def test_aws_policy_equal_null_and_invalid(db: sqlite3.Connection) -> None:
    assert one(db, "SELECT aws_policy_equal(NULL, '{}')") is None
    with pytest.raises(sqlite3.OperationalError):
        one(db, "SELECT aws_policy_equal('{}', '{bad')")
    message = pop_last_error()
    assert message is not None and message.startswith("aws_policy_equal(): second argument")


# --------------------------------------------------------------------------------------------
# string() and registration
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ['[{"op":"add"}]', "", 5, 1.5, None])
def test_string_is_the_identity(db: sqlite3.Connection, value: Any) -> None:
    assert one(db, "SELECT string(?)", value) == value
    assert string(value) == value


def test_functions_are_deterministic(db: sqlite3.Connection) -> None:
    # SQLite only allows deterministic functions in index expressions.
    db.execute("CREATE TABLE r (id TEXT)")
    db.execute("CREATE INDEX r_first ON r (split_part(id, '|', 1))")
    db.execute(
        "CREATE INDEX r_json ON r (json_equal(id, '1'), aws_policy_equal(id, '1'), string(id))"
    )


def test_register_is_per_connection() -> None:
    plain = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError, match="no such function"):
        plain.execute("SELECT split_part('a', ',', 1)")
    register(plain)
    assert one(plain, "SELECT split_part('a', ',', 1)") == "a"
    plain.close()


def test_wrong_argument_count_is_rejected(db: sqlite3.Connection) -> None:
    with pytest.raises(sqlite3.OperationalError, match="wrong number of arguments"):
        db.execute("SELECT split_part('a', ',')")
