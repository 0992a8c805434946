"""The awscc SQL engine: run stackql-style SQL against Cloud Control without stackql.

:class:`QueryEngine` takes SQL text (one or more statements separated by ``;``), parses each
statement with sqlglot (SQLite dialect) and runs it:

- SELECT (anything SQLite can evaluate: CTEs, joins, subqueries, aggregates, JSON
  functions): every provider table reference (``awscc.<svc>.<res>``, the ``aws`` provider's
  Cloud Control tables) is resolved to a table (:mod:`stackdeploy.query.tables`), its key
  predicates are pushed down to the API (:mod:`stackdeploy.query.planner`), the fetched rows
  are loaded into an in-memory SQLite table per reference and the statement, rewritten to use
  those tables, is evaluated by SQLite with the extra functions of
  :mod:`stackdeploy.query.functions`.
- INSERT / UPDATE / DELETE: Cloud Control mutations (:mod:`stackdeploy.query.dml`).

Every statement of a text is *checked* before the first one runs (:meth:`QueryEngine.check`:
parse, tables, columns compiled by SQLite against empty tables, DML values validated against
the schema), so a typo in the last statement never leaves the first one's mutation behind.
Errors are :class:`QueryError` carrying the query's file and line and never quoting the
query text beyond the offending word (rendered queries may hold secrets); a Cloud Control
failure is a :class:`QueryCloudControlError` that also keeps the API's error code.
ResourceNotFound on a GetResource is the only answer that reads as "no rows".
"""

from __future__ import annotations

import difflib
import itertools
import logging
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from stackdeploy.cloud.protocol import CloudControlAPI
from stackdeploy.errors import (
    CloudControlError,
    LocatedError,
    QueryError,
    StackDeployError,
    ValidationError,
)
from stackdeploy.query import dml
from stackdeploy.query.planner import column_line, provider_tables, pushdown
from stackdeploy.query.tables import TableSpec, resolve_table
from stackdeploy.schema.naming import to_column

log = logging.getLogger(__name__)

DIALECT = "sqlite"
DEFAULT_PARALLELISM = 16


class QueryCloudControlError(QueryError):
    """A Cloud Control call made by a query failed; keeps the API's error details."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        hint: str | None = None,
        error_code: str | None = None,
        status_message: str | None = None,
        request_token: str | None = None,
    ) -> None:
        super().__init__(message, file=file, line=line, hint=hint)
        self.error_code = error_code
        self.status_message = status_message
        self.request_token = request_token


@dataclass
class QueryResult:
    """The outcome of one statement: result rows, and the final ProgressEvent for DML."""

    columns: list[str]
    rows: list[dict[str, Any]]
    progress_event: Any = None
    statement: str = ""
    line: int = 1


@dataclass(frozen=True)
class Statement:
    """One statement of a SQL text, with the line it starts on (in the original file)."""

    text: str
    line: int
    tokens: tuple[Token, ...] = field(default=(), repr=False, compare=False)
    # The column (1-based) the statement starts at on its first line.
    col: int = 1


def _tokenize(sql: str) -> list[Token]:
    return list(sqlglot.Dialect.get_or_raise(DIALECT).tokenize(sql))


def split_statements(sql: str, *, line: int = 1, file: str | None = None) -> list[Statement]:
    """Split SQL text into statements at top-level ``;`` (by the tokenizer, so a ``;``
    inside a string or comment does not split)."""
    try:
        tokens = _tokenize(sql)
    except TokenError:
        raise _token_error(sql, file=file, line=line) from None
    statements: list[Statement] = []
    current: list[Token] = []
    for token in [*tokens, None]:
        if token is None or token.token_type == TokenType.SEMICOLON:
            if current:
                first, last = current[0], current[-1]
                statements.append(
                    Statement(
                        text=sql[first.start : last.end + 1],
                        line=line + first.line - 1,
                        tokens=tuple(current),
                        col=_column_at(sql, first.start),
                    )
                )
            current = []
            continue
        current.append(token)
    return statements


def _column_at(text: str, offset: int) -> int:
    """1-based column of ``offset`` in ``text``."""
    return offset - (text.rfind("\n", 0, offset) + 1) + 1


_QUOTES = {"'": "string literal", '"': "quoted name", "`": "quoted name", "[": "quoted name"}


def _unterminated(sql: str) -> tuple[str, int] | None:
    """The kind and offset of the first string, quoted name or block comment that never
    closes (what makes the tokenizer give up), or None."""
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                return "comment", i
            i = end + 2
        elif ch in _QUOTES:
            close = "]" if ch == "[" else ch
            j = i + 1
            while True:
                j = sql.find(close, j)
                if j < 0:
                    return _QUOTES[ch], i
                if close != "]" and sql.startswith(close * 2, j):
                    j += 2  # a doubled quote stands for itself
                    continue
                break
            i = j + 1
        else:
            i += 1
    return None


def _token_error(sql: str, *, file: str | None, line: int) -> QueryError:
    """A tokenizer failure as one line with its position, never quoting the text."""
    found = _unterminated(sql)
    if found is None:
        return QueryError(
            "cannot read the SQL: a character or literal the SQL tokenizer does not accept",
            file=file,
            line=line,
        )
    what, offset = found
    rel_line = sql.count("\n", 0, offset)
    return QueryError(
        f"cannot read the SQL: a {what} opened at column {_column_at(sql, offset)} is never closed",
        file=file,
        line=line + rel_line,
        hint="close it, or double a quote that belongs inside it ('it''s')",
    )


_STATEMENT_WORDS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


def _check_first_word(statement: Statement, file: str | None) -> None:
    """``SELEC 1``: name the unknown statement word instead of a parser complaint about
    whatever follows it."""
    if not statement.tokens:
        return
    first = statement.tokens[0]
    if first.token_type in (TokenType.VAR, TokenType.IDENTIFIER) and first.text.upper() not in (
        _STATEMENT_WORDS
    ):
        close = difflib.get_close_matches(first.text.upper(), _STATEMENT_WORDS, n=1, cutoff=0.6)
        raise QueryError(
            f"syntax error: {first.text!r} does not start a statement",
            file=file,
            line=statement.line,
            hint=f"did you mean {close[0]}?"
            if close
            else "statements start with SELECT, WITH, INSERT, UPDATE or DELETE",
        )


def _check_empty_items(statement: Statement, file: str | None) -> None:
    """Reject ``( ,``, ``, ,`` and ``, )``: sqlglot silently drops the empty item (the seed
    page's "required properties" INSERT has an empty column name), which would shift every
    value to the wrong column."""
    tokens = statement.tokens
    for prev, token in itertools.pairwise(tokens):
        pair = (prev.token_type, token.token_type)
        if pair in (
            (TokenType.L_PAREN, TokenType.COMMA),
            (TokenType.COMMA, TokenType.COMMA),
            (TokenType.COMMA, TokenType.R_PAREN),
        ):
            raise QueryError(
                f"syntax error: empty item in a list near {prev.text!r}{token.text!r}",
                file=file,
                line=statement.line + token.line - 1,
                hint="a column list needs a name between its commas",
            )


class QueryEngine:
    """Runs awscc SQL over a :class:`~stackdeploy.cloud.client.CloudControl` client.

    ``region`` is used where a table has no region predicate and does not require one
    (``awscc.cloud_control.*``). ``parallelism`` bounds the concurrent GetResource calls of
    one table (1 = sequential). The engine holds no state between statements and may be
    shared by threads.
    """

    def __init__(
        self,
        cloud: CloudControlAPI,
        *,
        region: str = "us-east-1",
        parallelism: int = DEFAULT_PARALLELISM,
    ) -> None:
        self.cloud = cloud
        self.region = region
        self.parallelism = max(1, int(parallelism))

    # -- public ------------------------------------------------------------------------------

    def execute(self, sql: str, *, file: str | None = None, line: int | None = None) -> QueryResult:
        """Run every statement of ``sql`` in order; return the last one's result."""
        results = self.execute_all(sql, file=file, line=line)
        return results[-1]

    def preview_insert(
        self, sql: str, *, file: str | None = None, line: int | None = None
    ) -> dml.InsertPreview | None:
        """What the first INSERT of ``sql`` would create, without creating it.

        Returns ``(schema, region, desired state as CreateResource would receive it)``, or
        None when ``sql`` holds no single-row INSERT. The planner diffs a query-file
        resource's live state against this. Errors are the same as :meth:`execute`'s.
        """
        for statement in split_statements(sql, line=line or 1, file=file):
            try:
                found = self._preview(statement, file)
            except QueryError as exc:
                if exc.file or exc.line:
                    raise
                raise QueryError(
                    exc.bare_message, file=file, line=statement.line, hint=exc.hint
                ) from exc
            if found is not None:
                return found
        return None

    def _preview(self, statement: Statement, file: str | None) -> dml.InsertPreview | None:
        tree = self._parse(statement, file)
        if not isinstance(tree, exp.Insert):
            return None
        with self._connection() as conn:
            evaluate = self._evaluator(conn)
            return dml.preview_insert(
                tree,
                evaluate,
                lambda query: self._select(query, conn, statement, file),
                region=self.region,
            )

    def check_sql(
        self,
        sql: str,
        *,
        file: str | None = None,
        line: int | None = None,
        values: bool = True,
    ) -> None:
        """:meth:`check` every statement of ``sql`` (no Cloud Control call)."""
        statements = split_statements(sql, line=line or 1, file=file)
        if not statements:
            raise QueryError("no SQL statement to run", file=file, line=line)
        for statement in statements:
            self.check(statement, file=file, values=values)

    def execute_all(
        self, sql: str, *, file: str | None = None, line: int | None = None
    ) -> list[QueryResult]:
        """Run every statement of ``sql`` in order; return each one's result. Every statement
        is checked (:meth:`check`) before the first one runs."""
        statements = split_statements(sql, line=line or 1, file=file)
        if not statements:
            raise QueryError("no SQL statement to run", file=file, line=line)
        for statement in statements:
            self.check(statement, file=file)
        return [self.run_statement(s, file=file) for s in statements]

    def check(self, statement: Statement, *, file: str | None = None, values: bool = True) -> None:
        """Everything that can be checked without calling Cloud Control: syntax, tables,
        required key predicates, columns (compiled by SQLite against empty tables) and, for
        DML with literal values, the desired state against the schema. Raises
        :class:`QueryError` like :meth:`run_statement`. ``values=False`` leaves out what
        depends on the values (DML targets are still resolved): the planner checks queries
        whose values are not known yet that way."""
        self._located(statement, file, lambda: self._check(statement, file, values))

    def run_statement(self, statement: Statement, *, file: str | None = None) -> QueryResult:
        """Run one statement (see :func:`split_statements`)."""
        return self._located(statement, file, lambda: self._run(statement, file))

    def _located(self, statement: Statement, file: str | None, action: Any) -> Any:
        """Run ``action``; any error becomes a QueryError located at the statement."""
        try:
            return action()
        except LocatedError as exc:
            if exc.file or exc.line:
                raise
            raise type(exc)(
                exc.bare_message, file=file, line=statement.line, hint=exc.hint
            ) from exc
        except CloudControlError as exc:
            raise QueryCloudControlError(
                exc.message,
                file=file,
                line=statement.line,
                hint=exc.hint,
                error_code=exc.error_code,
                status_message=exc.status_message,
                request_token=exc.request_token,
            ) from exc
        except ValidationError as exc:
            raise QueryError(exc.message, file=file, line=statement.line, hint=exc.hint) from exc
        except StackDeployError as exc:
            raise QueryError(exc.message, file=file, line=statement.line, hint=exc.hint) from exc

    # -- dispatch ----------------------------------------------------------------------------

    def _check(self, statement: Statement, file: str | None, values: bool = True) -> None:
        tree = self._parse(statement, file)
        if not values and isinstance(tree, exp.Insert | exp.Update | exp.Delete):
            dml._target(tree.this, tree.key.upper(), region=self.region)
            return
        with self._connection() as conn:
            evaluate = self._evaluator(conn)
            region = self.region
            if isinstance(tree, exp.Insert):

                def compile_only(query: exp.Expression) -> None:
                    self._prepare_select(query.copy(), conn, statement, file)
                    return None

                dml.prepare_insert(tree, evaluate, compile_only, region=region)
            elif isinstance(tree, exp.Update):
                dml.prepare_update(tree, evaluate, region=region)
            elif isinstance(tree, exp.Delete):
                dml.prepare_delete(tree, evaluate, region=region)
            elif isinstance(tree, exp.Query):
                self._prepare_select(tree.copy(), conn, statement, file)
            else:
                raise _unsupported(tree)

    def _run(self, statement: Statement, file: str | None) -> QueryResult:
        tree = self._parse(statement, file)
        log.debug("running the statement at line %s", statement.line)
        with self._connection() as conn:
            evaluate = self._evaluator(conn)
            if isinstance(tree, exp.Insert):
                outcome = dml.run_insert(
                    tree,
                    self.cloud,
                    evaluate,
                    lambda query: self._select(query, conn, statement, file),
                    region=self.region,
                )
            elif isinstance(tree, exp.Update):
                outcome = dml.run_update(tree, self.cloud, evaluate, region=self.region)
            elif isinstance(tree, exp.Delete):
                outcome = dml.run_delete(tree, self.cloud, evaluate, region=self.region)
            elif isinstance(tree, exp.Query):
                columns, rows = self._select(tree, conn, statement, file)
                return QueryResult(columns, rows, None, statement.text, statement.line)
            else:
                raise _unsupported(tree)
        return QueryResult(
            outcome.columns, outcome.rows, outcome.progress_event, statement.text, statement.line
        )

    def _parse(self, statement: Statement, file: str | None) -> exp.Expression:
        _check_first_word(statement, file)
        _check_empty_items(statement, file)
        try:
            tree = sqlglot.parse_one(statement.text, read=DIALECT)
        except ParseError as exc:
            raise _parse_error(exc, statement, file) from None
        except TokenError:
            raise _token_error(statement.text, file=file, line=statement.line) from None
        if tree is None:
            raise QueryError("no SQL statement to run", file=file, line=statement.line)
        return cast(exp.Expression, tree)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        # One private in-memory database per statement: statements never see each other's
        # rows and an engine can be shared by threads.
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        try:
            _register_functions(conn)
            yield conn
        finally:
            conn.close()

    def _evaluator(self, conn: sqlite3.Connection) -> dml.Evaluator:
        def evaluate(node: exp.Expression) -> Any:
            sql = node.sql(dialect=DIALECT)
            try:
                return conn.execute(f"SELECT {sql}").fetchone()[0]
            except sqlite3.Error as exc:
                from stackdeploy.query.functions import pop_last_error

                # The expression is not quoted: a rendered value may be a secret.
                raise QueryError(f"cannot evaluate a value: {pop_last_error() or exc}") from exc

        return evaluate

    # -- SELECT ------------------------------------------------------------------------------

    def _select(
        self,
        tree: exp.Expression,
        conn: sqlite3.Connection,
        statement: Statement,
        file: str | None,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        plans, sql = self._prepare_select(tree, conn, statement, file)
        cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for spec, keys, temp in plans:
            cache_key = (spec.name.lower(), tuple(sorted((k, tuple(v)) for k, v in keys.items())))
            rows = cache.get(cache_key)
            if rows is None:
                rows = cache[cache_key] = self._fetch(spec, keys)
            _fill_table(conn, temp, spec.columns, rows)
        specs = [spec for spec, _, _ in plans]
        cursor = self._sqlite(conn, sql, tree, specs, statement, file)
        columns = [d[0] for d in cursor.description or ()]
        result = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return columns, result

    def _prepare_select(
        self,
        tree: exp.Expression,
        conn: sqlite3.Connection,
        statement: Statement,
        file: str | None,
    ) -> tuple[list[tuple[TableSpec, dict[str, list[Any]], str]], str]:
        """Resolve the tables of a SELECT, push its key predicates down, create an empty
        SQLite table per reference and compile the rewritten statement: what a run fetches
        (spec, keys, table name) and the SQL it then evaluates. No API call."""
        refs = provider_tables(tree)
        evaluate = self._evaluator(conn)
        plans: list[tuple[Any, TableSpec, dict[str, list[Any]], str]] = []
        for ref in refs:
            where = statement.line + (ref.line - 1 if ref.line else 0)
            try:
                spec = resolve_table(ref.name, region=self.region)
            except QueryError as exc:
                raise QueryError(exc.bare_message, file=file, line=where, hint=exc.hint) from exc
            matched: dict[str, list[exp.Expression]] = {}
            keys = spec.canonical_keys(
                pushdown(ref, spec.key_names, evaluate, matched=matched, exact=spec.exact_keys)
            )
            missing = spec.missing_keys(keys)
            if missing:
                raise QueryError(
                    f"{ref.name} needs {' and '.join(missing)} in the WHERE clause",
                    file=file,
                    line=where,
                    hint=_missing_hint(spec, missing, self.region),
                )
            if spec.consumes_identifier:
                # The column means the type's Identifier property here; the predicate was for
                # the API, and every row fetched for it satisfies it.
                for condition in spec.canonical_keys(matched).get("identifier", []):
                    condition.replace(exp.true())
            plans.append((ref, spec, keys, f"_awscc_{len(plans)}"))
        for ref, spec, _, temp in plans:
            _create_table(conn, temp, spec.columns)
            ref.node.replace(
                exp.Table(
                    this=exp.to_identifier(temp, quoted=True),
                    alias=exp.TableAlias(this=exp.to_identifier(ref.alias)),
                )
            )
        sql = tree.sql(dialect=DIALECT)
        specs = [spec for _, spec, _, _ in plans]
        # Compile first: unknown columns and functions fail before any API call.
        self._sqlite(conn, f"EXPLAIN {sql}", tree, specs, statement, file)
        return [(spec, keys, temp) for _, spec, keys, temp in plans], sql

    def _fetch(self, spec: TableSpec, keys: dict[str, list[Any]]) -> list[dict[str, Any]]:
        if any(not values for values in keys.values()):
            return []  # contradictory predicates (a = 'x' AND a = 'y'): nothing can match
        workers = self.parallelism
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="awscc-get") as pool:
            return spec.fetch(self.cloud, keys, default_region=self.region, executor=pool)

    def _sqlite(
        self,
        conn: sqlite3.Connection,
        sql: str,
        tree: exp.Expression,
        specs: list[TableSpec],
        statement: Statement,
        file: str | None,
    ) -> sqlite3.Cursor:
        try:
            return conn.execute(sql)
        except sqlite3.Error as exc:
            raise _sqlite_error(exc, tree, specs, statement, file) from exc


def _unsupported(tree: exp.Expression) -> QueryError:
    return QueryError(
        f"unsupported statement {tree.key.upper()}",
        hint="awscc SQL supports SELECT, INSERT, UPDATE and DELETE",
    )


# Parser messages that name sqlglot internals -> what they mean for SQL.
_PARSER_WORDS = [
    (re.compile(r"Required keyword: '\w+' missing for <class"), "incomplete expression"),
    (re.compile(r"Invalid expression / Unexpected token"), "unexpected word"),
    (re.compile(r"Expecting ([^<.]+)"), "expected {0}"),
]


def _parse_error(exc: ParseError, statement: Statement, file: str | None) -> QueryError:
    """A parser failure as one line: the file line and column and the offending word, never
    the query text around it (it may hold rendered secrets) nor sqlglot's class names."""
    first = exc.errors[0] if exc.errors else {}
    raw = str(first.get("description") or "")
    # What is left of the parser's words once anything that could be query text (quoted)
    # or a library class (<...>) is gone: "Expected END after CASE".
    plain = re.sub(r"<[^>]*>|'[^']*'|\"[^\"]*\"", "", raw).strip(" .:")
    description = plain[:1].lower() + plain[1:] if plain else "cannot parse the statement"
    for pattern, text in _PARSER_WORDS:
        found = pattern.search(raw)
        if found:
            description = text.format(*(g.strip() for g in found.groups()))
            break
    rel, col = first.get("line"), first.get("col")
    line = statement.line + (rel - 1 if isinstance(rel, int) else 0)
    where, near = "", ""
    token = _token_at(statement, rel, col)
    if token is not None:
        start_col = token.col - len(token.text) + 1 if "\n" not in token.text else token.col
        where = f" at column {_file_column(statement, token.line, start_col)}"
        if token.token_type in (TokenType.STRING, TokenType.NATIONAL_STRING):
            near = " near a string literal"  # named, not quoted: it may be a secret
        else:
            text = token.text if len(token.text) <= 40 else token.text[:37] + "..."
            near = f" near {text!r}"
    elif isinstance(rel, int) and isinstance(col, int):
        first_line = statement.tokens[0].line if statement.tokens else 1
        where = f" at column {_file_column(statement, first_line + rel - 1, col)}"
    return QueryError(f"syntax error{where}: {description}{near}", file=file, line=line)


def _file_column(statement: Statement, token_line: int, col: int) -> int:
    """A column on a token line of the statement's source, as the file shows it."""
    first_line = statement.tokens[0].line if statement.tokens else token_line
    if token_line == first_line:
        first = statement.tokens[0] if statement.tokens else None
        start = first.col - len(first.text) + 1 if first is not None else 1
        return col - start + statement.col
    return col


def _token_at(statement: Statement, rel_line: Any, col: Any) -> Token | None:
    """The token the parser stopped at (its position is relative to the statement's text;
    the statement's tokens carry positions in the whole source)."""
    if not isinstance(rel_line, int) or not isinstance(col, int) or not statement.tokens:
        return None
    first = statement.tokens[0]
    shift = first.col - len(first.text)  # columns before the statement on its first line
    for token in statement.tokens:
        rel = token.line - first.line + 1
        token_col = token.col - shift if rel == 1 else token.col
        if rel == rel_line and token_col == col:
            return token
    return None


def _register_functions(conn: sqlite3.Connection) -> None:
    from stackdeploy.query import functions

    functions.register(conn)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _create_table(conn: sqlite3.Connection, name: str, columns: list[str]) -> None:
    # No declared types: values keep the type they were inserted with (TEXT JSON, INTEGER...)
    conn.execute(f"CREATE TABLE {_quote(name)} ({', '.join(_quote(c) for c in columns)})")


def _fill_table(
    conn: sqlite3.Connection, name: str, columns: list[str], rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    marks = ", ".join("?" for _ in columns)
    conn.executemany(
        f"INSERT INTO {_quote(name)} VALUES ({marks})",
        [tuple(row.get(c) for c in columns) for row in rows],
    )


def _missing_hint(spec: TableSpec, missing: list[str], region: str) -> str:
    parts = []
    for name in missing:
        if name.lower() == "region":
            parts.append(f"region = '{region}'")
        else:
            parts.append(f"{name} = '...'")
    hint = "add " + " AND ".join(parts)
    if spec.kind in ("resource", "tags") and any(m.lower() != "region" for m in missing):
        hint += f" (listing {spec.type_name} needs it)"
        if spec.kind == "resource":
            key = "data__Identifier" if spec.provider == "aws" else "Identifier"
            hint += f", or give {key} = '...'"
    return hint


_NO_COLUMN = re.compile(r"no such column: (?:(?P<table>[\w\"]+)\.)?(?P<column>[\w\"]+)")


def _sqlite_error(
    exc: sqlite3.Error,
    tree: exp.Expression,
    specs: list[TableSpec],
    statement: Statement,
    file: str | None,
) -> QueryError:
    text = str(exc)
    line = statement.line
    hint: str | None = None
    if "user-defined function raised exception" in text:
        from stackdeploy.query.functions import pop_last_error

        text = pop_last_error() or text
    missing = _NO_COLUMN.match(text)
    if missing:
        column = missing.group("column").strip('"')
        rel = column_line(tree, column)
        if rel is not None:
            line = statement.line + rel - 1
        names = list(dict.fromkeys(c for spec in specs for c in spec.columns))
        lowered = {c.lower(): c for c in names}
        snake = to_column(column).lower()
        if snake in lowered and snake != column.lower():
            hint = f"columns are snake_case: did you mean {lowered[snake]}?"
        else:
            close = difflib.get_close_matches(column.lower(), list(lowered), n=3, cutoff=0.6)
            if close:
                hint = "did you mean " + ", ".join(lowered[c] for c in close) + "?"
        where = f" in {', '.join(s.name for s in specs)}" if specs else ""
        return QueryError(f"unknown column {column!r}{where}", file=file, line=line, hint=hint)
    if text.startswith("no such table:"):
        hint = "awscc tables are named awscc.<service>.<resource>, e.g. awscc.ec2.vpcs"
    elif text.startswith("ambiguous column name:"):
        hint = "qualify the column with its table alias, e.g. t.region"
    elif text.startswith("no such function:"):
        hint = "see docs/query.md for the functions available"
    return QueryError(f"SQL error: {text}", file=file, line=line, hint=hint)
