"""SQL functions the awscc dialect has beyond SQLite's own (docs/query.md, "SELECT").

Stacks written for stackql call ``split_part``, ``JSON_EQUAL``, ``AWS_POLICY_EQUAL`` and
``string()``; :func:`register` adds them to a SQLite connection. The Python functions are
also usable directly (tests, the planner's comparisons).

SQL NULL in gives NULL out, as SQLite's own functions do. SQLite reports an exception in a
user function only as "user-defined function raised exception", so the real message is kept
per thread: the query engine reads it with :func:`pop_last_error` to say what went wrong.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "POLICY_UNORDERED_KEYS",
    "aws_policy_equal",
    "json_equal",
    "pop_last_error",
    "register",
    "split_part",
    "string",
]

_state = threading.local()


class SQLFunctionError(ValueError):
    """A SQL function got arguments it cannot handle (for example invalid JSON)."""


def pop_last_error() -> str | None:
    """The message of the last error raised by one of these functions on this thread.

    Cleared by reading, so a later, unrelated failure is not blamed on it.
    """
    message: str | None = getattr(_state, "last_error", None)
    _state.last_error = None
    return message


def _remember_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any) -> Any:
        try:
            return func(*args)
        except Exception as exc:
            _state.last_error = f"{func.__name__}(): {exc}"
            raise

    return wrapper


# --------------------------------------------------------------------------------------------
# split_part
# --------------------------------------------------------------------------------------------


def split_part(text: Any, sep: Any, n: Any) -> str | None:
    """The ``n``-th part of ``text`` split on ``sep`` (1-based; negative counts from the end).

    Empty parts are kept (``split_part('a,,b', ',', 2)`` is ``''``). NULL arguments, ``n``
    out of range, ``n = 0`` and an empty ``sep`` give NULL.
    """
    if text is None or sep is None or n is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text, sep = str(text), str(sep)
    try:
        index = int(n)
    except (TypeError, ValueError):
        raise SQLFunctionError(f"part number must be an integer, got {n!r}") from None
    if isinstance(n, float) and n != index:
        raise SQLFunctionError(f"part number must be an integer, got {n!r}")
    if not sep or index == 0:
        return None
    parts = text.split(sep)
    if abs(index) > len(parts):
        return None
    return parts[index - 1] if index > 0 else parts[index]


# --------------------------------------------------------------------------------------------
# JSON comparisons
# --------------------------------------------------------------------------------------------


def _load(value: Any, which: str) -> Any:
    """A SQL argument as a JSON value: text is parsed; SQLite numbers are taken as they are."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise SQLFunctionError(f"{which} argument is not valid JSON: {exc}") from None
    return value


def _is_number(value: Any) -> bool:
    # JSON true is not the number 1, although Python says True == 1.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_values_equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_values_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_values_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def json_equal(a: Any, b: Any) -> int | None:
    """1 when two JSON texts hold the same value, else 0.

    Object key order is ignored; arrays are ordered; keys are case-sensitive; ``1`` equals
    ``1.0`` but not ``true``. Invalid JSON is an error; NULL in gives NULL.
    """
    if a is None or b is None:
        return None
    return int(_json_values_equal(_load(a, "first"), _load(b, "second")))


# Keys whose arrays are sets in IAM policies (compared case-insensitively, see below).
POLICY_UNORDERED_KEYS: frozenset[str] = frozenset(
    key.lower()
    for key in (
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "AWS",
        "Service",
    )
)


def _policy_strings_equal(a: str, b: str) -> bool:
    if a.lower().startswith("arn:") or b.lower().startswith("arn:"):
        return a.casefold() == b.casefold()
    return a == b


def _policy_set_item_equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return _policy_strings_equal(a, b)
    return _policy_equal(a, b, unordered=False)


def _policy_equal(a: Any, b: Any, *, unordered: bool) -> bool:
    """Compare two parsed policy values; ``unordered`` when under an Action-like key."""
    if unordered:
        # A one-element array means the same as its only element.
        if isinstance(a, list) and len(a) == 1 and not isinstance(b, list):
            a = a[0]
        if isinstance(b, list) and len(b) == 1 and not isinstance(a, list):
            b = b[0]
        if isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                return False
            remaining = list(b)
            for item in a:
                for index, candidate in enumerate(remaining):
                    if _policy_set_item_equal(item, candidate):
                        del remaining[index]
                        break
                else:
                    return False
            return True
        if isinstance(a, str) and isinstance(b, str):
            return _policy_strings_equal(a, b)
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        left = {str(k).lower(): v for k, v in a.items()}
        right = {str(k).lower(): v for k, v in b.items()}
        if len(left) != len(a) or len(right) != len(b) or left.keys() != right.keys():
            return False
        return all(
            _policy_equal(left[k], right[k], unordered=k in POLICY_UNORDERED_KEYS) for k in left
        )
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(
            _policy_equal(x, y, unordered=False) for x, y in zip(a, b, strict=True)
        )
    return bool(a == b)


def aws_policy_equal(a: Any, b: Any) -> int | None:
    """1 when two IAM policy documents (JSON text) mean the same, else 0 (docs/query.md, "SELECT").

    Identical text is equal. Otherwise: object keys compare case-insensitively; arrays
    under Action, NotAction, Resource, NotResource, Principal, NotPrincipal, AWS and Service
    are unordered (same size), a one-element array there equals its string, and ``arn:``
    strings there compare case-insensitively; every other array (Statement, tags, ...) is
    ordered. Invalid JSON is an error; NULL in gives NULL.
    """
    if a is None or b is None:
        return None
    if isinstance(a, str) and isinstance(b, str) and a == b:
        return 1
    return int(_policy_equal(_load(a, "first"), _load(b, "second"), unordered=False))


def string(value: Any) -> Any:
    """``string(x)``: the identity; stackql uses it to mark a PatchDocument literal."""
    return value


_FUNCTIONS: tuple[tuple[str, int, Callable[..., Any]], ...] = (
    ("split_part", 3, split_part),
    ("json_equal", 2, json_equal),
    ("aws_policy_equal", 2, aws_policy_equal),
    ("string", 1, string),
)


def register(conn: sqlite3.Connection) -> None:
    """Add ``split_part``, ``json_equal``, ``aws_policy_equal`` and ``string`` to ``conn``.

    SQLite function names are case-insensitive, so ``JSON_EQUAL`` works as well.
    """
    for name, nargs, func in _FUNCTIONS:
        conn.create_function(name, nargs, _remember_errors(func), deterministic=True)
