"""Reading check and export query results the stackql-deploy way, without its quirks.

A *check* (exists, statecheck) answers present/absent: a ``count`` column of 1 or 0, or a
row (captured as ``this.*``), or no row. Unlike stackql-deploy an error is never read as
"absent" (quirk 2), a ``count`` above 1 or several rows are errors, and ``retries`` means
attempts, with no sleep after the last one (quirk 8).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stackdeploy.errors import QueryError

T = TypeVar("T")


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a check query: ``present`` and, for row checks, the captured row."""

    present: bool
    row: dict[str, Any] = field(default_factory=dict)
    #: Every row of a check that found several resources (``many=True``): duplicates.
    rows: tuple[dict[str, Any], ...] = ()


def _count_column(row: Mapping[str, Any]) -> str | None:
    for key in row:
        if str(key).lower() == "count":
            return str(key)
    return None


def _shown_rows(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows of a check that matched several resources, as a user can act on them."""
    shown = []
    for row in rows[:10]:
        values = [str(v) for v in row.values() if v not in (None, "")]
        shown.append("|".join(values) or "(empty row)")
    more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
    return ", ".join(shown) + more


def interpret_check(
    rows: Sequence[Mapping[str, Any]],
    *,
    what: str,
    file: str | None,
    line: int | None,
    many: bool = False,
) -> CheckResult:
    """Present / absent from a check query's rows (docs/query.md, "Query files").

    Several rows mean several resources answer to one manifest entry (duplicates, made by
    hand or by an older tool): an error naming them, unless ``many`` (teardown deletes
    them all), which returns them in ``rows``."""
    if not rows:
        return CheckResult(False)
    first = rows[0]
    count_key = _count_column(first)
    if count_key is not None:
        raw = first[count_key]
        try:
            count = int(raw) if raw is not None else 0
        except (TypeError, ValueError):
            raise QueryError(
                f"{what} returned count {raw!r}, not a number", file=file, line=line
            ) from None
        if count > 1:
            raise QueryError(
                f"{what} matched {count} resources; a check must match at most one",
                file=file,
                line=line,
                hint="make the query select exactly the resource this manifest entry manages",
            )
        if len(rows) > 1:
            raise QueryError(f"{what} returned {len(rows)} count rows", file=file, line=line)
        return CheckResult(count == 1)
    if len(rows) > 1:
        if many:
            return CheckResult(True, dict(first), tuple(dict(r) for r in rows))
        raise QueryError(
            f"{what} found {len(rows)} resources where there should be one (duplicates): "
            f"{_shown_rows(rows)}",
            file=file,
            line=line,
            hint="stack-deploy teardown deletes all of them; or delete the extra ones "
            "(stack-deploy query \"DELETE FROM ... WHERE Identifier = '...'\") and build "
            "again; if they are not duplicates, make the query select exactly the resource "
            "this manifest entry manages",
        )
    if all(v is None for v in first.values()):
        return CheckResult(False)
    return CheckResult(True, dict(first))


def attempt(
    func: Callable[[], T],
    done: Callable[[T], bool],
    *,
    attempts: int,
    delay: float,
    sleep: Callable[[float], None],
) -> T:
    """Call ``func`` up to ``attempts`` times until ``done(result)``; sleep ``delay``
    seconds between attempts (never after the last). Errors propagate at once."""
    attempts = max(1, attempts)
    result = func()
    for _ in range(attempts - 1):
        if done(result):
            break
        sleep(delay)
        result = func()
    return result
