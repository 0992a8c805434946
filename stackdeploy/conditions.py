"""Safe evaluation of manifest ``if`` conditions with Python's expression semantics.

stackql-deploy 1.x renders a condition and hands it to Python's ``eval``; its users write
``len(...)``, ``int(...)``, ``x in [a, b]``, ``not in``, ``and``/``or``/``not``,
``'{{ a }}'.startswith('x')`` and comparisons of rendered values. This module gives the same
answers without ``eval``: the text is parsed with :mod:`ast` and walked by a small evaluator
that allows only a whitelist of nodes, functions and methods. Beyond Python it understands
what a Jinja expression adds, so a bare condition reads like the rest of the templates:

- names are context variables (``stack_env == 'prd'``, ``vpc.cidr`` for nested values);
  ``true``/``false``/``none``/``null`` are literals when no variable has that name;
- ``x | int``, ``x | default('a')``: Jinja filters. A filter binds tighter than any
  operator in Jinja but looser than arithmetic in Python, so an expression holding ``|`` is
  evaluated by the (sandboxed) Jinja expression compiler instead, with the same functions;
- ``x is defined``, ``x is not none``, ``x is number``: Jinja tests; ``x is None`` is
  Python's identity test.

Anything else (attribute access outside the whitelist, lambdas, comprehensions, f-strings,
unknown functions) is refused with a message naming the construct. Errors are raised as
:class:`ConditionProblem` subclasses; :func:`stackdeploy.templating.evaluate_condition` turns
them into :class:`~stackdeploy.errors.TemplateError` naming the file and line.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "ConditionProblem",
    "ConditionSyntaxError",
    "ConditionUndefined",
    "evaluate_expression",
]

# Largest string or list an operator may build (``'a' * 10**9`` would exhaust memory).
MAX_SIZE = 1_000_000
MAX_EXPONENT = 128

_LITERAL_NAMES: dict[str, Any] = {"true": True, "false": False, "none": None, "null": None}

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "abs": abs,
    "min": min,
    "max": max,
    "any": any,
    "all": all,
    "round": round,
    "sorted": sorted,
    "list": list,
}

# Methods callable on values of each type (no ``format``: it reaches attributes).
METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        {
            *("lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith"),
            *("split", "rsplit", "splitlines", "replace", "join", "zfill", "casefold"),
            *("isdigit", "isnumeric", "isdecimal", "isalpha", "isalnum", "isspace"),
            *("islower", "isupper", "title", "capitalize", "count", "find", "rfind"),
            *("index", "rindex", "removeprefix", "removesuffix"),
        }
    ),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    dict: frozenset({"get", "keys", "values", "items"}),
}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}

_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}

# What a refused node is called in messages.
_NODE_NAMES: dict[type, str] = {
    ast.Lambda: "lambda",
    ast.ListComp: "list comprehensions",
    ast.SetComp: "set comprehensions",
    ast.DictComp: "dict comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.JoinedStr: "f-strings",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.Starred: "* unpacking",
}


class ConditionProblem(Exception):
    """The condition cannot be evaluated; ``hint`` says what to write instead."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConditionSyntaxError(ConditionProblem):
    """The text is not a Python expression."""


class ConditionUndefined(ConditionProblem):
    """A name (or a key of a nested value) is not in the context."""

    def __init__(self, name: str) -> None:
        super().__init__(f"undefined variable '{name}'")
        self.name = name


def evaluate_expression(
    text: str,
    context: Mapping[str, Any],
    *,
    tests: Callable[[str, Any, Sequence[Any]], bool] | None = None,
    has_test: Callable[[str], bool] = lambda name: False,
    filtered: Callable[[], Any] | None = None,
) -> Any:
    """The value of the expression ``text`` over ``context`` (nested dicts, no dotted keys).

    ``tests`` applies a Jinja test by name (``has_test`` says which exist); ``filtered``
    evaluates the whole text as a Jinja expression, used when it applies a filter (``|``).
    Raises :class:`ConditionSyntaxError` when ``text`` does not parse,
    :class:`ConditionUndefined` for an unknown name and :class:`ConditionProblem` for
    anything refused or failing (``int('x')``, ``'3' > 2``).
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConditionSyntaxError(exc.msg or "invalid syntax") from exc
    except (RecursionError, MemoryError, ValueError) as exc:  # ValueError: a NUL byte
        raise ConditionProblem("the condition is too deeply nested or malformed") from exc
    if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) for n in ast.walk(tree)):
        if filtered is None:
            raise ConditionProblem("filters (|) are not available here")
        return filtered()
    evaluator = _Evaluator(context, tests, has_test)
    try:
        return evaluator.eval(tree.body)
    except RecursionError as exc:
        raise ConditionProblem("the condition is too deeply nested") from exc


class _Evaluator:
    def __init__(
        self,
        context: Mapping[str, Any],
        tests: Callable[[str, Any, Sequence[Any]], bool] | None,
        has_test: Callable[[str], bool],
    ) -> None:
        self.context = context
        self.tests = tests
        self.has_test = has_test

    # -- dispatch ------------------------------------------------------------------------

    def eval(self, node: ast.expr) -> Any:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            what = _NODE_NAMES.get(type(node), type(node).__name__)
            raise ConditionProblem(
                f"conditions cannot use {what}",
                hint="use comparisons, and/or/not, in, len(), int(), str() and filters",
            )
        try:
            return method(node)
        except ConditionProblem:
            raise
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise ConditionProblem(f"{ast.unparse(node)}: {exc}", hint=_type_hint(exc)) from exc

    # -- leaves --------------------------------------------------------------------------

    def _Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, bytes) or node.value is Ellipsis:
            raise ConditionProblem(f"conditions cannot use {ast.unparse(node)}")
        return node.value

    def _Name(self, node: ast.Name) -> Any:
        name = node.id
        if name in self.context:
            return self.context[name]
        if name in _LITERAL_NAMES:
            return _LITERAL_NAMES[name]
        raise ConditionUndefined(name)

    def _List(self, node: ast.List) -> list[Any]:
        return [self.eval(e) for e in node.elts]

    def _Tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self.eval(e) for e in node.elts)

    def _Set(self, node: ast.Set) -> set[Any]:
        return {self.eval(e) for e in node.elts}

    def _Dict(self, node: ast.Dict) -> dict[Any, Any]:
        if any(k is None for k in node.keys):
            raise ConditionProblem("conditions cannot use ** unpacking")
        return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]

    # -- lookups -------------------------------------------------------------------------

    def _Attribute(self, node: ast.Attribute) -> Any:
        value = self.eval(node.value)
        if isinstance(value, Mapping):
            if node.attr in value:
                return value[node.attr]
            raise ConditionUndefined(_dotted(node))
        raise ConditionProblem(
            f"{ast.unparse(node)}: cannot read attribute {node.attr!r} of a {type(value).__name__}",
            hint="attributes are keys of nested values (vpc.cidr); methods must be called",
        )

    def _Subscript(self, node: ast.Subscript) -> Any:
        value = self.eval(node.value)
        key = self.eval(node.slice)
        if isinstance(value, Mapping) and key not in value:
            raise ConditionUndefined(f"{_dotted(node.value)}[{key!r}]")
        if not isinstance(value, Mapping | list | tuple | str):
            raise ConditionProblem(
                f"{ast.unparse(node)}: a {type(value).__name__} cannot be indexed"
            )
        return value[key]

    def _Slice(self, node: ast.Slice) -> slice:
        parts = [None if p is None else self.eval(p) for p in (node.lower, node.upper, node.step)]
        return slice(*parts)

    # -- operators -----------------------------------------------------------------------

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not operand
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return +operand
        raise ConditionProblem(f"conditions cannot use the operator in {ast.unparse(node)}")

    def _BinOp(self, node: ast.BinOp) -> Any:
        func = _BINARY.get(type(node.op))
        if func is None:
            raise ConditionProblem(f"conditions cannot use the operator in {ast.unparse(node)}")
        left, right = self.eval(node.left), self.eval(node.right)
        if (
            isinstance(node.op, ast.Pow)
            and isinstance(right, int | float)
            and abs(right) > MAX_EXPONENT
        ):
            raise ConditionProblem(f"{ast.unparse(node)}: exponent too large")
        if isinstance(node.op, ast.Mult):
            _check_repeat(node, left, right)
        result = func(left, right)
        if isinstance(result, str | list | tuple) and len(result) > MAX_SIZE:
            raise ConditionProblem(f"{ast.unparse(node)}: result too large")
        return result

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        # Python's semantics: short-circuit, and the deciding operand is the value.
        is_and = isinstance(node.op, ast.And)
        value: Any = None
        for operand in node.values:
            value = self.eval(operand)
            if bool(value) != is_and:
                return value
        return value

    def _Compare(self, node: ast.Compare) -> bool:
        left_node = node.left
        left = _MISSING
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.Is | ast.IsNot):
                outcome = self._is(left_node, left, right_node)
                if isinstance(op, ast.IsNot):
                    outcome = not outcome
                right = _MISSING
            else:
                if left is _MISSING:
                    left = self.eval(left_node)
                right = self.eval(right_node)
                outcome = _COMPARE[type(op)](left, right)
            if not outcome:
                return False
            left_node, left = right_node, right
        return True

    def _is(self, left_node: ast.expr, left: Any, right: ast.expr) -> bool:
        """Python identity with None/True/False, otherwise a Jinja test (``is defined``)."""
        if isinstance(right, ast.Constant) and right.value in (None, True, False):
            value = self.eval(left_node) if left is _MISSING else left
            return value is right.value
        name, args = _call_parts(right)
        if name is None or not self.has_test(name) or self.tests is None:
            raise ConditionProblem(
                f"{ast.unparse(right)} is not a test",
                hint="use 'is None', 'is defined', 'is number', ... or compare with ==",
            )
        if name in ("defined", "undefined"):
            try:
                self.eval(left_node) if left is _MISSING else left
                defined = True
            except ConditionUndefined:
                defined = False
            return defined if name == "defined" else not defined
        value = self.eval(left_node) if left is _MISSING else left
        return bool(self.tests(name, value, [self.eval(a) for a in args]))

    def _IfExp(self, node: ast.IfExp) -> Any:
        return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)

    # -- calls and filters ---------------------------------------------------------------

    def _Call(self, node: ast.Call) -> Any:
        if node.keywords:
            raise ConditionProblem(
                f"{ast.unparse(node)}: keyword arguments are not supported in calls",
                hint="use a filter for named arguments: x | default(value='a')",
            )
        args = [self.eval(a) for a in node.args]
        func = node.func
        if isinstance(func, ast.Name):
            if func.id == "_scope" and len(args) == 1:  # rewrite_this for names like my-vpc
                if args[0] in self.context:
                    return self.context[args[0]]
                raise ConditionUndefined(str(args[0]))
            builtin = FUNCTIONS.get(func.id)
            if builtin is None:
                raise ConditionProblem(
                    f"unknown function {func.id}()",
                    hint="the functions are " + ", ".join(sorted(FUNCTIONS)),
                )
            return builtin(*args)
        if isinstance(func, ast.Attribute):
            target = self.eval(func.value)
            allowed = next((m for t, m in METHODS.items() if isinstance(target, t)), frozenset())
            if func.attr not in allowed:
                raise ConditionProblem(
                    f"{ast.unparse(func)}(): {type(target).__name__} has no method "
                    f"{func.attr!r} that conditions may call"
                )
            return getattr(target, func.attr)(*args)
        self.eval(func)  # refuses what conditions cannot use (a lambda...)
        raise ConditionProblem(f"conditions cannot call {ast.unparse(func)}")


_MISSING: Any = object()


def _call_parts(node: ast.expr) -> tuple[str | None, list[ast.expr]]:
    """``name`` -> ("name", []); ``name(a, b)`` -> ("name", [a, b]); else (None, [])."""
    if isinstance(node, ast.Name):
        return node.id, []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        return node.func.id, list(node.args)
    return None, []


def _dotted(node: ast.expr) -> str:
    return ast.unparse(node)


def _check_repeat(node: ast.BinOp, left: Any, right: Any) -> None:
    for seq, count in ((left, right), (right, left)):
        repeats = isinstance(seq, str | list | tuple) and isinstance(count, int)
        if repeats and len(seq) * max(count, 0) > MAX_SIZE:
            raise ConditionProblem(f"{ast.unparse(node)}: result too large")


def _type_hint(exc: Exception) -> str | None:
    text = str(exc)
    if "not supported between instances of" in text and "'str'" in text:
        return "rendered values are strings: convert with int(...) or float(...) to compare numbers"
    if "invalid literal for int()" in text:
        return "int() needs a whole number; check the rendered value"
    return None
