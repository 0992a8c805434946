"""The awscc SQL engine: run stackql-style SQL against Cloud Control without stackql.

:class:`QueryEngine` takes SQL text (one or more statements separated by ``;``), parses each
statement with sqlglot (SQLite dialect) and runs it:

- SELECT (anything SQLite can evaluate: CTEs, joins, subqueries, aggregates, JSON
  functions): every ``awscc.<svc>.<res>`` reference is resolved to a table
  (:mod:`stackdeploy.query.tables`), its key predicates are pushed down to the API
  (:mod:`stackdeploy.query.planner`), the fetched rows are loaded into an in-memory SQLite
  table per reference and the statement, rewritten to use those tables, is evaluated by
  SQLite with the extra functions of :mod:`stackdeploy.query.functions`.
- INSERT / UPDATE / DELETE: Cloud Control mutations (:mod:`stackdeploy.query.dml`).

The statement is compiled by SQLite (``EXPLAIN``) against empty tables before any API call,
so an unknown column costs nothing. Errors are :class:`QueryError` carrying the query's file
and line; a Cloud Control failure is a :class:`QueryCloudControlError` that also keeps the
API's error code. ResourceNotFound on a GetResource is the only answer that reads as "no
rows".
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

from stackdeploy.errors import (
    CloudControlError,
    LocatedError,
    QueryError,
    StackDeployError,
    ValidationError,
)
from stackdeploy.query import dml
from stackdeploy.query.planner import awscc_tables, column_line, pushdown
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


def _tokenize(sql: str) -> list[Token]:
    return list(sqlglot.Dialect.get_or_raise(DIALECT).tokenize(sql))


def split_statements(sql: str, *, line: int = 1, file: str | None = None) -> list[Statement]:
    """Split SQL text into statements at top-level ``;`` (by the tokenizer, so a ``;``
    inside a string or comment does not split)."""
    try:
        tokens = _tokenize(sql)
    except TokenError as exc:
        raise QueryError(f"cannot read the SQL: {exc}", file=file, line=line) from exc
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
                    )
                )
            current = []
            continue
        current.append(token)
    return statements


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
        cloud: Any,
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

    def execute_all(
        self, sql: str, *, file: str | None = None, line: int | None = None
    ) -> list[QueryResult]:
        """Run every statement of ``sql`` in order; return each one's result."""
        statements = split_statements(sql, line=line or 1, file=file)
        if not statements:
            raise QueryError("no SQL statement to run", file=file, line=line)
        return [self.run_statement(s, file=file) for s in statements]

    def check(self, statement: Statement, *, file: str | None = None) -> None:
        """Everything about ``statement`` that can be known without calling Cloud Control:
        it parses, is a SELECT, INSERT, UPDATE or DELETE, and names known awscc tables.
        Raises the :class:`QueryError` (file and line) that running it would. Checking every
        statement of a script first means a mistake in the last one stops the script before
        the first one changes anything."""
        _check_empty_items(statement, file)
        tree = self._parse(statement, file)
        if not isinstance(tree, exp.Insert | exp.Update | exp.Delete | exp.Query):
            raise QueryError(
                f"unsupported statement {tree.key.upper()}",
                file=file,
                line=statement.line,
                hint="awscc SQL supports SELECT, INSERT, UPDATE and DELETE",
            )
        for ref in awscc_tables(tree):
            try:
                resolve_table(ref.name, region=self.region)
            except QueryError as exc:
                where = statement.line + (ref.line - 1 if ref.line else 0)
                raise QueryError(exc.bare_message, file=file, line=where, hint=exc.hint) from exc

    def run_statement(self, statement: Statement, *, file: str | None = None) -> QueryResult:
        """Run one statement (see :func:`split_statements`)."""
        try:
            return self._run(statement, file)
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

    def _run(self, statement: Statement, file: str | None) -> QueryResult:
        _check_empty_items(statement, file)
        tree = self._parse(statement, file)
        log.debug("running %s", statement.text)
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
                raise QueryError(
                    f"unsupported statement {tree.key.upper()}",
                    hint="awscc SQL supports SELECT, INSERT, UPDATE and DELETE",
                )
        return QueryResult(
            outcome.columns, outcome.rows, outcome.progress_event, statement.text, statement.line
        )

    def _parse(self, statement: Statement, file: str | None) -> exp.Expression:
        try:
            tree = sqlglot.parse_one(statement.text, read=DIALECT)
        except ParseError as exc:
            first = exc.errors[0] if exc.errors else {}
            description = str(first.get("description") or exc).split(". Line")[0]
            description = re.sub(r"<Token token_type: TokenType\.(\w+).*?>", r"\1", description)
            near = first.get("highlight")
            message = f"syntax error: {description}" + (f" near {near!r}" if near else "")
            rel = first.get("line")
            raise QueryError(
                message,
                file=file,
                line=statement.line + (rel - 1 if isinstance(rel, int) else 0),
            ) from exc
        except TokenError as exc:
            raise QueryError(f"cannot read the SQL: {exc}", file=file, line=statement.line) from exc
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

                raise QueryError(f"cannot evaluate {sql}: {pop_last_error() or exc}") from exc

        return evaluate

    # -- SELECT ------------------------------------------------------------------------------

    def _select(
        self,
        tree: exp.Expression,
        conn: sqlite3.Connection,
        statement: Statement,
        file: str | None,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        refs = awscc_tables(tree)
        evaluate = self._evaluator(conn)
        plans: list[tuple[Any, TableSpec, dict[str, list[Any]], str]] = []
        for index, ref in enumerate(refs):
            where = statement.line + (ref.line - 1 if ref.line else 0)
            try:
                spec = resolve_table(ref.name, region=self.region)
            except QueryError as exc:
                raise QueryError(exc.bare_message, file=file, line=where, hint=exc.hint) from exc
            keys = pushdown(ref, spec.key_names, evaluate)
            missing = spec.missing_keys(keys)
            if missing:
                raise QueryError(
                    f"{ref.name} needs {' and '.join(missing)} in the WHERE clause",
                    file=file,
                    line=where,
                    hint=_missing_hint(spec, missing, self.region),
                )
            plans.append((ref, spec, keys, f"_awscc_{index}"))
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
        cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for _, spec, keys, temp in plans:
            cache_key = (spec.name.lower(), tuple(sorted((k, tuple(v)) for k, v in keys.items())))
            rows = cache.get(cache_key)
            if rows is None:
                rows = cache[cache_key] = self._fetch(spec, keys)
            _fill_table(conn, temp, spec.columns, rows)
        cursor = self._sqlite(conn, sql, tree, specs, statement, file)
        columns = [d[0] for d in cursor.description or ()]
        result = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return columns, result

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
    if spec.kind == "resource" and any(m.lower() != "region" for m in missing):
        hint += f" (listing {spec.type_name} needs it), or give Identifier = '...'"
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
