"""Regular-expression helpers for the sandbox's value generation.

The registry schemas constrain strings with ECMA-262 ``pattern`` regexes. Two things are
needed from them: a Python translation (Python's ``re`` rejects ``\\p{L}`` classes, inline
flags in the middle of a pattern and ``[\\w-.]`` ranges, which ECMA accepts), and strings
that match them, so that generated identifiers and minimal desired states validate.

:func:`python_pattern` translates; :func:`string_for_pattern` walks the parsed regex
(``re._parser``) and builds a matching string, then checks it with ``re.search`` (the
semantics JSON Schema's ``pattern`` uses) and the length limits.
"""

from __future__ import annotations

import random
import re
import string
import warnings
from functools import lru_cache
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
_ALNUM = string.ascii_letters + string.digits
_PUNCT = "!\"#%&'()*,-./:;?@[\\]_{}"
_SYMBOL = "$+<=>^`|~"

# ASCII approximations of the Unicode properties the schemas use (\p{L}, \P{C}, ...).
_UNICODE_CLASSES: dict[str, str] = {
    "L": string.ascii_letters,
    "Lu": string.ascii_uppercase,
    "Ll": string.ascii_lowercase,
    "M": "",
    "N": string.digits,
    "Nd": string.digits,
    "Z": " ",
    "Zs": " ",
    "S": _SYMBOL,
    "P": _PUNCT,
    "C": "".join(chr(c) for c in range(0x20)) + "\x7f",
    "Cc": "".join(chr(c) for c in range(0x20)) + "\x7f",
    "Print": _PRINTABLE,
    "Graph": _PRINTABLE[1:],
    "ASCII": "".join(chr(c) for c in range(0x80)),
    "Alpha": string.ascii_letters,
    "Alnum": _ALNUM,
    "Punct": _PUNCT + _SYMBOL,
    "Digit": string.digits,
    "Upper": string.ascii_uppercase,
    "Lower": string.ascii_lowercase,
    "Space": " \t\n\r\f\v",
    "IsAlphabetic": string.ascii_letters,
    "IsLetter": string.ascii_letters,
}
_UNICODE_PROP = re.compile(r"\\([pP])\{(\w+)\}")
_INLINE_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")


def _class_body(chars: str) -> str:
    """Characters as the inside of a ``[...]`` class (escaped, non-empty)."""
    if not chars:
        return r"\x00"  # matches nothing useful; keeps the class syntactically valid
    return "".join(
        re.escape(c) if c not in string.ascii_letters + string.digits else c for c in chars
    )


def _class_end(pattern: str, start: int) -> int:
    """Index of the ``]`` closing the class opened at ``pattern[start]`` (-1 if none)."""
    i = start + 1
    if pattern.startswith("^", i):
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]":
            return i
        i += 1
    return -1


def _translate_props(pattern: str) -> str:
    """ECMA / Java class syntax as Python ``re`` reads it, without set-operation warnings.

    ``\\p{..}`` becomes an ASCII class; inside ``[...]`` a literal ``[`` and the second of a
    doubled ``&``, ``|``, ``~`` or ``-`` are escaped (ECMA reads them literally, Python warns
    that a future version will read them as nested sets or set operations); Java's
    intersection ``[A&&[B]]`` becomes ``(?:(?=[B])[A])``.
    """
    out: list[str] = []
    in_class = False
    class_start = 0  # index in ``out`` of the open class's '['
    intersect: list[str] = []  # translated [B] operands of '&&' in the open class
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            match = _UNICODE_PROP.match(pattern, i)
            if match:
                negate = match.group(1) == "P"
                chars = _UNICODE_CLASSES.get(match.group(2), string.ascii_letters)
                if negate:
                    chars = "".join(c for c in _PRINTABLE + "\t\n\r" if c not in chars)
                body = _class_body(chars)
                out.append(body if in_class else f"[{body}]")
                i = match.end()
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            class_start = len(out)
            intersect = []
            out.append(ch)
            # A leading ']' or '^]' is literal inside a class.
            if pattern.startswith("^", i + 1):
                out.append("^")
                i += 1
            i += 1
            continue
        if in_class:
            if pattern.startswith("&&[", i):
                end = _class_end(pattern, i + 2)
                if end > 0:
                    intersect.append(_translate_props(pattern[i + 2 : end + 1]))
                    i = end + 1
                    continue
            if ch == "]":
                in_class = False
                out.append(ch)
                if intersect:
                    guards = "".join(f"(?={operand})" for operand in intersect)
                    out.insert(class_start, "(?:" + guards)
                    out.append(")")
                i += 1
                continue
            if ch == "[":
                out.append("\\[")
                i += 1
                continue
            if ch in "&|~-" and pattern.startswith(ch, i + 1):
                out.append(ch + "\\" + ch)
                i += 2
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _compile_quietly(text: str) -> re.Pattern[str] | None:
    """``re.compile`` that treats a FutureWarning (set syntax) as failure."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            return re.compile(text)
    except (re.error, OverflowError, RecursionError, FutureWarning):
        return None


@lru_cache(maxsize=8192)
def python_pattern(pattern: str) -> re.Pattern[str] | None:
    """Compile an ECMA-262 schema pattern with Python's ``re``; None when impossible.

    The compiled pattern's ``.pattern`` re-parses without warnings (``string_for_pattern``
    parses it again, and the test suite turns warnings into errors).
    """
    compiled = _compile_quietly(pattern)
    if compiled is not None:
        return compiled
    text = _translate_props(pattern)
    # ECMA reads '\w-x' inside a class as '\w', '-', 'x'; Python calls it a bad range.
    text = re.sub(r"(\\[wdsWDS])-", r"\1\\-", text)
    # Inline global flags anywhere are moved to the front (Python requires it).
    flags = set("".join(_INLINE_FLAGS.findall(text)))
    if flags:
        text = "(?" + "".join(sorted(flags)) + ")" + _INLINE_FLAGS.sub("", text)
    # '$' followed by a quantifier ('${1,128}') is a no-op quantifier in ECMA.
    text = re.sub(r"\$\{\d+(,\d*)?\}", "$", text)
    return _compile_quietly(text)


def _category_chars(category: Any) -> str:
    name = str(category)
    if "NOT_DIGIT" in name:
        return "".join(c for c in _ALNUM if not c.isdigit())
    if "DIGIT" in name:
        return string.digits
    if "NOT_WORD" in name:
        return "-.:/ "
    if "WORD" in name:
        return _ALNUM + "_"
    if "NOT_SPACE" in name:
        return _ALNUM
    if "SPACE" in name:
        return " "
    if "NOT_LINEBREAK" in name:
        return _ALNUM
    return "\n"


def _class_chars(items: list[Any]) -> str:
    """The printable ASCII characters a parsed ``[...]`` class accepts (plus \\t\\n)."""
    allowed: set[str] = set()
    negate = False
    for op, arg in items:
        if op is sre_c.NEGATE:
            negate = True
        elif op is sre_c.LITERAL:
            allowed.add(chr(arg))
        elif op is sre_c.RANGE:
            lo, hi = arg
            allowed.update(chr(c) for c in range(lo, min(hi, 0x7F) + 1))
            if hi > 0x7F and not any(lo <= ord(c) <= hi for c in _PRINTABLE):
                allowed.add(chr(lo))
        elif op is sre_c.CATEGORY:
            allowed.update(_category_chars(arg))
    pool = _PRINTABLE + "\t\n"
    if negate:
        return "".join(c for c in pool if c not in allowed)
    return "".join(c for c in pool if c in allowed) + "".join(
        sorted(c for c in allowed if c not in pool)
    )


def _pick(chars: str, rng: random.Random) -> str:
    """A random character from ``chars``, preferring letters and digits (plausible ids)."""
    if not chars:
        return ""
    lower = [c for c in chars if c.islower() or c.isdigit()]
    if len(lower) >= 8:
        return rng.choice(lower)
    alnum = [c for c in chars if c.isalnum() and c.isascii()]
    if alnum:
        return rng.choice(alnum)
    friendly = [c for c in chars if c in "-_. "]
    if friendly:
        return friendly[0]
    return rng.choice(chars)


def _is_repeat(op: Any) -> bool:
    return op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, getattr(sre_c, "POSSESSIVE_REPEAT", None))


class _Builder:
    def __init__(self, rng: random.Random, size: int, first_branch: bool, budget: int) -> None:
        self.rng = rng
        self.size = size
        self.first_branch = first_branch
        self.groups: dict[int, str] = {}
        # Nested repeats multiply; past the budget only the required minimum is produced.
        self.budget = budget
        self.emitted = 0

    def build(self, parsed: Any) -> str:
        parts = []
        for op, arg in parsed:
            text = self.node(op, arg)
            if op not in (sre_c.SUBPATTERN, sre_c.BRANCH) and not _is_repeat(op):
                self.emitted += len(text)
            parts.append(text)
        return "".join(parts)

    def node(self, op: Any, arg: Any) -> str:
        if op is sre_c.LITERAL:
            return chr(arg)
        if op is sre_c.NOT_LITERAL:
            return _pick("".join(c for c in _ALNUM if c != chr(arg)), self.rng)
        if op is sre_c.ANY:
            return _pick(_ALNUM, self.rng)
        if op is sre_c.IN:
            return _pick(_class_chars(arg), self.rng)
        if op is sre_c.AT or op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            return ""
        if op is sre_c.BRANCH:
            alternatives = arg[1]
            chosen = alternatives[0] if self.first_branch else self.rng.choice(alternatives)
            return self.build(chosen)
        if op is sre_c.SUBPATTERN:
            group, _add, _del, sub = arg
            text = self.build(sub)
            if group is not None:
                self.groups[group] = text
            return text
        if _is_repeat(op):
            low, high, sub = arg
            high = low + 1000 if high is sre_c.MAXREPEAT else high
            # Repeated groups stay at their minimum (or one) on the plausible first tries:
            # long strings under nested repeats make the validator's search backtrack badly.
            single = len(sub) == 1 and sub[0][0] in (
                sre_c.IN,
                sre_c.ANY,
                sre_c.LITERAL,
                sre_c.NOT_LITERAL,
            )
            size = self.size if single or not self.first_branch else min(self.size, 1)
            count = max(low, min(high, size))
            out = []
            for index in range(count):
                if index >= low and self.emitted >= self.budget:
                    break
                out.append(self.build(sub))
            return "".join(out)
        if op is getattr(sre_c, "ATOMIC_GROUP", None):
            return self.build(arg)
        if op is sre_c.GROUPREF:
            return self.groups.get(arg, "")
        if op is sre_c.GROUPREF_EXISTS:
            group, yes, no = arg
            if group in self.groups:
                return self.build(yes)
            return self.build(no) if no is not None else ""
        return ""


def fits(
    value: str, *, pattern: str | None = None, min_length: int = 0, max_length: int | None = None
) -> bool:
    """Whether ``value`` satisfies a schema's pattern (search semantics) and length limits."""
    if len(value) < min_length or (max_length is not None and len(value) > max_length):
        return False
    if pattern:
        compiled = python_pattern(pattern)
        if compiled is not None and not compiled.search(value):
            return False
    return True


def string_for_pattern(
    pattern: str,
    rng: random.Random,
    *,
    min_length: int = 0,
    max_length: int | None = None,
) -> str | None:
    """A string matching ``pattern`` within the length limits; None when none was found."""
    compiled = python_pattern(pattern)
    if compiled is None:
        return None
    try:
        parsed = sre_parse.parse(compiled.pattern, compiled.flags)
    except (re.error, RecursionError, OverflowError):
        return None
    sizes = [6, 1, 0, 3, 12, 24, 48, 100, 256]
    if min_length > 6:
        # Aim straight for the minimum: the repeat size that produces about min_length.
        sizes = [min_length, *sizes, min_length * 2]
    for attempt in range(24):
        size = sizes[attempt] if attempt < len(sizes) else rng.randint(0, 64)
        budget = max(min_length, min(max_length or 256, 256), 1)
        builder = _Builder(rng, size, attempt < len(sizes) // 2, budget)
        try:
            text = builder.build(parsed)
        except (RecursionError, ValueError):
            return None
        if fits(text, pattern=pattern, min_length=min_length, max_length=max_length):
            return text
        if len(text) < min_length and compiled.search(text):
            # Unanchored pattern: padding outside the match keeps it matching.
            padded = text + "a" * (min_length - len(text))
            if fits(padded, pattern=pattern, min_length=min_length, max_length=max_length):
                return padded
    return None
