"""Find the awscc tables a statement reads and the key predicates that can go to the API.

Cloud Control cannot filter, so a SELECT is run in two steps: fetch the rows the API can give
(one GetResource per Identifier, a ListResources per region, ...) and let SQLite evaluate the
statement over them. This module does the first half's thinking on the sqlglot tree:

- :func:`provider_tables` finds every ``<provider>.<svc>.<res>`` reference (``awscc``,
  ``aws``, or any other provider, which the engine then refuses by name), wherever it sits
  (CTEs, joins, subqueries);
- :func:`pushdown` collects, for one reference, the ``column = constant`` and
  ``column IN (constants...)`` conjuncts that restrict it: those of the WHERE clause of the
  SELECT it belongs to and those of its own JOIN ... ON. Pushing a predicate only narrows what
  is fetched; SQLite still evaluates every predicate afterwards, so a predicate pushed too
  eagerly can never widen a result.

Constants are evaluated by a callback (SQLite itself, in the engine), so ``'a' || 'b'`` or
``string('x')`` count as constants too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlglot import exp

# Evaluates a constant expression (no column, no subquery) to a Python value.
Evaluator = Callable[[exp.Expression], Any]


@dataclass
class TableRef:
    """One ``<provider>.<svc>.<res>`` reference in a statement."""

    node: exp.Table
    service: str  # "sagemaker"
    resource: str  # "clusters" / "clusters_list_only"
    alias: str  # the name columns are qualified with: the alias, else the resource name
    # lower-cased column name -> allowed values (intersection of every pushed predicate)
    keys: dict[str, list[Any]] = field(default_factory=dict)
    provider: str = "awscc"

    @property
    def name(self) -> str:
        return f"{self.provider}.{self.service}.{self.resource}"

    @property
    def line(self) -> int | None:
        meta = self.node.this.meta if isinstance(self.node.this, exp.Identifier) else {}
        line = meta.get("line")
        return int(line) if isinstance(line, int) else None


def _ident_name(node: exp.Expression | None) -> str:
    return node.name if node is not None else ""


def provider_tables(statement: exp.Expression) -> list[TableRef]:
    """Every three-part (``<provider>.<svc>.<res>``) table node in ``statement``, in source
    order. A table-valued function (``json_each(...)``) or a CTE name is never one."""
    refs: list[TableRef] = []
    for table in statement.find_all(exp.Table):
        catalog = _ident_name(table.args.get("catalog"))
        if not catalog or not table.db or not isinstance(table.this, exp.Identifier):
            continue
        alias = table.alias or table.name
        refs.append(
            TableRef(
                node=table,
                service=table.db.lower(),
                resource=table.name.lower(),
                alias=alias,
                provider=catalog.lower(),
            )
        )
    refs.sort(key=lambda r: (r.line or 0, _start(r.node)))
    return refs


def _start(node: exp.Table) -> int:
    meta = node.this.meta if isinstance(node.this, exp.Identifier) else {}
    start = meta.get("start")
    return int(start) if isinstance(start, int) else 0


def conjuncts(condition: exp.Expression | None) -> list[exp.Expression]:
    """Split ``a AND (b AND c)`` into ``[a, b, c]``; OR and NOT stay whole."""
    if condition is None:
        return []
    while isinstance(condition, exp.Paren):
        condition = condition.this
    if isinstance(condition, exp.And):
        return conjuncts(_node(condition.left)) + conjuncts(_node(condition.right))
    return [condition]


def _enclosing_select(node: exp.Expression) -> exp.Select | None:
    parent = node.parent
    while parent is not None and not isinstance(parent, exp.Select):
        parent = parent.parent
    return parent


def _is_constant(node: exp.Expression) -> bool:
    """No column reference and no subquery: its value does not depend on any row."""
    if isinstance(node, exp.Column | exp.Select | exp.Subquery | exp.Star):
        return False
    return not any(
        isinstance(child, exp.Column | exp.Select | exp.Subquery) for child in node.walk()
    )


def _column_matches(
    column: exp.Column,
    alias: str | None,
    key_names: Iterable[str],
    exact: Mapping[str, str] | None = None,
) -> str | None:
    """The lower-cased key name when ``column`` is one of the key columns of the table
    called ``alias`` (unqualified columns match any table). A key listed in ``exact`` matches
    only when spelt exactly so (``Identifier``, where ``identifier`` names a property)."""
    name = column.name.lower()
    if name not in key_names:
        return None
    if exact and name in exact and column.name != exact[name]:
        return None
    qualifier = column.table
    if qualifier and (alias is None or qualifier.lower() != alias.lower()):
        return None
    # Three- or four-part column names (awscc.svc.res.col) are not qualified by an alias.
    if column.args.get("db") or column.args.get("catalog"):
        return None
    return name


def _candidate_conditions(ref: TableRef) -> list[exp.Expression]:
    select = _enclosing_select(ref.node)
    found: list[exp.Expression] = []
    if select is not None:
        found.extend(conjuncts(select.args["where"].this if select.args.get("where") else None))
    join = ref.node.parent
    if isinstance(join, exp.Join) and join.args.get("on") is not None:
        found.extend(conjuncts(join.args["on"]))
    return found


def pushdown(
    ref: TableRef,
    key_names: Iterable[str],
    evaluate: Evaluator,
    *,
    matched: dict[str, list[exp.Expression]] | None = None,
    exact: Mapping[str, str] | None = None,
) -> dict[str, list[Any]]:
    """Constant values each key column of ``ref`` is restricted to, by equality or IN.

    Several predicates on one key intersect (``a = 1 AND a IN (1, 2)`` gives ``[1]``; an empty
    list means no row can match). Keys without a predicate are absent from the result. With
    ``matched``, the predicate nodes that pinned each key are collected there; keys in
    ``exact`` (lower-cased name -> spelling) match only their exact spelling.
    """
    return key_values(
        _candidate_conditions(ref),
        key_names,
        evaluate,
        alias=ref.alias,
        matched=matched,
        exact=exact,
    )


def key_values(
    conditions: Iterable[exp.Expression],
    key_names: Iterable[str],
    evaluate: Evaluator,
    *,
    alias: str | None = None,
    leftover: list[exp.Expression] | None = None,
    matched: dict[str, list[exp.Expression]] | None = None,
    exact: Mapping[str, str] | None = None,
) -> dict[str, list[Any]]:
    """The key-column values that ``conditions`` (conjuncts) pin down; see :func:`pushdown`.

    Conditions that pin nothing are appended to ``leftover`` when it is given; those that pin
    a key are collected per key in ``matched``.
    """
    names = {n.lower() for n in key_names}
    result: dict[str, list[Any]] = {}
    for condition in conditions:
        key: str | None = None
        values: list[Any] = []
        if isinstance(condition, exp.EQ):
            left, right = _node(condition.left), _node(condition.right)
            if isinstance(left, exp.Column) and _is_constant(right):
                key = _column_matches(left, alias, names, exact)
                values = [evaluate(right)] if key else []
            elif isinstance(right, exp.Column) and _is_constant(left):
                key = _column_matches(right, alias, names, exact)
                values = [evaluate(left)] if key else []
        elif (
            isinstance(condition, exp.In)
            and isinstance(condition.this, exp.Column)
            and not condition.args.get("query")
            and condition.expressions
            and all(_is_constant(e) for e in condition.expressions)
        ):
            key = _column_matches(condition.this, alias, names, exact)
            values = [evaluate(e) for e in condition.expressions] if key else []
        if key is None:
            if leftover is not None:
                leftover.append(condition)
            continue
        if matched is not None:
            matched.setdefault(key, []).append(condition)
        values = [_hashable(v) for v in values if v is not None]  # `= NULL` matches nothing
        if key in result:
            result[key] = [v for v in result[key] if v in values]
        else:
            result[key] = list(dict.fromkeys(values))
    return result


def _node(value: Any) -> exp.Expression:
    """sqlglot >= 30 types child nodes as its ``Expr`` base class; every node is an
    Expression at run time."""
    return cast(exp.Expression, value)


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bytes) else str(value)


def column_line(statement: exp.Expression, name: str) -> int | None:
    """The line (within the statement) of the first column reference called ``name``."""
    wanted = name.lower()
    for column in statement.find_all(exp.Column):
        if column.name.lower() == wanted and isinstance(column.this, exp.Identifier):
            line = column.this.meta.get("line")
            if isinstance(line, int):
                return line
    return None
