"""Query files (``resources/<name>.iql``): split into anchored blocks (docs/query.md, "Query files").

A query file holds one SQL block per *anchor*::

    /*+ exists, retries=3, retry_delay=5 */
    SELECT count(*) AS count FROM awscc.ec2.vpcs WHERE ...

The rules are stackql-deploy's (docs/engine.md describes the anchors): an anchor line has
``/*+`` as its first non-blank text and contains ``*/`` (the rest of that line is dropped);
the body runs to the next anchor and is trimmed; text before the first anchor is ignored;
the header is split on ``,`` into the lowercased name and ``k=v`` options. Where
stackql-deploy silently settles something (duplicates, empty anchors, ``preflight`` next to
``exists``), the outcome is the same but a warning is recorded so ``stack-deploy`` can say so.
Each block keeps the line where its body starts, so errors point into the file.

:func:`read_query_file` is the one way to read a query file from disk: the file must stay
inside the stack folder (no absolute path, ``..`` or symlink out of it), be UTF-8 text, and
every anchor's template must compile; each failure is a :class:`QueryError` naming the file
and line.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackdeploy.errors import QueryError, TemplateError
from stackdeploy.textfile import is_inside, read_text

__all__ = [
    "ANCHOR_ALIASES",
    "INT_OPTIONS",
    "KNOWN_ANCHORS",
    "KNOWN_OPTIONS",
    "Anchor",
    "QueryFile",
    "parse_query_file",
    "read_query_file",
    "split_statements",
]

# stackql-deploy 1.x names, still accepted by 2.x.
ANCHOR_ALIASES: dict[str, str] = {"preflight": "exists", "postdeploy": "statecheck"}

_OPS = ("create", "update", "delete")
KNOWN_ANCHORS: frozenset[str] = frozenset(
    {
        "exists",
        "statecheck",
        "create",
        "update",
        "createorupdate",
        "exports",
        "delete",
        "command",
        "callback",
        "troubleshoot",
        *(f"callback:{op}" for op in _OPS),
        *(f"troubleshoot:{op}" for op in _OPS),
    }
)

INT_OPTIONS: frozenset[str] = frozenset(
    {"retries", "retry_delay", "postdelete_retries", "postdelete_retry_delay"}
)
KNOWN_OPTIONS: frozenset[str] = INT_OPTIONS | {"short_circuit_field", "short_circuit_value"}


@dataclass(frozen=True)
class Anchor:
    """One anchored block: ``name`` (canonical, aliases resolved), typed ``options``,
    the trimmed ``body`` and ``line``, the 1-based file line of the body's first line."""

    name: str
    options: dict[str, Any]
    body: str
    line: int
    # The line of the `/*+ ... */` header itself, for messages about the anchor.
    header_line: int = 0

    def option(self, name: str, default: Any = None) -> Any:
        """The option's value, or ``default`` when the anchor does not set it."""
        return self.options.get(name, default)


@dataclass
class QueryFile:
    """A parsed query file: ``anchors`` by canonical name, in file order."""

    file: str | None
    anchors: dict[str, Anchor] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def get(self, name: str) -> Anchor | None:
        """The anchor called ``name`` (aliases accepted: ``preflight`` -> ``exists``)."""
        return self.anchors.get(_canonical_name(name))

    def has(self, name: str) -> bool:
        """Whether the file defines the anchor (aliases accepted)."""
        return self.get(name) is not None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.has(name)

    def __iter__(self) -> Iterator[Anchor]:
        return iter(self.anchors.values())


def _anchor_header(line: str) -> str | None:
    """The text between ``/*+`` and ``*/`` when ``line`` is an anchor line, else None."""
    stripped = line.lstrip()
    if not stripped.startswith("/*+"):
        return None
    end = stripped.find("*/", 3)
    if end < 0:
        return None
    return stripped[3:end]


def _canonical_name(raw: str) -> str:
    # `callback : create` and `Callback:Create` both mean `callback:create`.
    name = ":".join(part.strip() for part in raw.strip().lower().split(":"))
    return ANCHOR_ALIASES.get(name, name)


def _parse_options(
    parts: list[str], *, anchor: str, file: str | None, line: int, warnings: list[str]
) -> dict[str, Any]:
    where = f"{file}:{line}" if file else f"line {line}"
    options: dict[str, Any] = {}
    for part in parts:
        text = part.strip()
        if not text:
            continue
        key, sep, value = text.partition("=")
        key = key.strip().lower()
        value = value.strip()
        if not sep or not key:
            warnings.append(
                f"{where}: anchor '{anchor}': option '{text}' is not key=value; ignored"
            )
            continue
        if key in INT_OPTIONS:
            try:
                options[key] = int(value)
            except ValueError:
                raise QueryError(
                    f"anchor '{anchor}': option {key} must be a whole number, got {value!r}",
                    file=file,
                    line=line,
                    hint=f"write {key}=3",
                ) from None
            if options[key] < 0:
                raise QueryError(
                    f"anchor '{anchor}': option {key} must not be negative, got {value}",
                    file=file,
                    line=line,
                )
        else:
            if key not in KNOWN_OPTIONS:
                close = difflib.get_close_matches(key, sorted(KNOWN_OPTIONS), n=1)
                suggestion = f"; did you mean '{close[0]}'?" if close else ""
                warnings.append(f"{where}: anchor '{anchor}': unknown option '{key}'{suggestion}")
            options[key] = value
    return options


def parse_query_file(text: str, *, file: str | None) -> QueryFile:
    """Split a query file's text into its anchors (docs/query.md, "Query files").

    Raises :class:`~stackdeploy.errors.QueryError` only for options that cannot be typed
    (``retries=abc``); everything stackql-deploy tolerates is accepted with a warning.
    """
    result = QueryFile(file=file)
    lines = text.splitlines()
    headers: list[tuple[int, str]] = []  # (0-based line index, header text)
    for index, line in enumerate(lines):
        header = _anchor_header(line)
        if header is not None:
            headers.append((index, header))

    seen_raw: dict[str, str] = {}  # canonical name -> raw name used, for alias messages
    for position, (index, header) in enumerate(headers):
        header_line = index + 1
        where = f"{file}:{header_line}" if file else f"line {header_line}"
        end = headers[position + 1][0] if position + 1 < len(headers) else len(lines)
        body_lines = lines[index + 1 : end]
        raw_name, *option_parts = header.split(",")
        raw = raw_name.strip().lower()
        name = _canonical_name(raw_name)
        if not name:
            result.warnings.append(f"{where}: anchor without a name; ignored")
            continue
        body = "\n".join(body_lines).strip()
        if not body:
            result.warnings.append(
                f"{where}: anchor '{raw}' has no query (it is followed directly by "
                "another anchor or the end of the file); ignored"
            )
            continue
        first = next(i for i, body_line in enumerate(body_lines) if body_line.strip())
        options = _parse_options(
            option_parts, anchor=raw, file=file, line=header_line, warnings=result.warnings
        )
        if name not in KNOWN_ANCHORS:
            close = difflib.get_close_matches(name, sorted(KNOWN_ANCHORS), n=1)
            suggestion = f"; did you mean '{close[0]}'?" if close else ""
            result.warnings.append(f"{where}: unknown anchor '{raw}'{suggestion}")
        if name in result.anchors:
            previous = result.anchors[name]
            earlier = seen_raw[name]
            also = f" ('{earlier}' and '{raw}' mean the same)" if earlier != raw else ""
            result.warnings.append(
                f"{where}: anchor '{raw}' replaces the one at line {previous.header_line}{also}"
            )
            # Re-insert so that file order reflects the anchor actually used.
            del result.anchors[name]
        seen_raw[name] = raw
        result.anchors[name] = Anchor(
            name=name,
            options=options,
            body=body,
            line=index + 1 + first + 1,
            header_line=header_line,
        )
    return result


def read_query_file(path: Path, *, stack_dir: Path, display: str | None = None) -> QueryFile:
    """Read, check and parse the query file at ``path`` of the stack in ``stack_dir``.

    ``display`` is the path shown in messages (default ``str(path)``). Raises
    :class:`~stackdeploy.errors.QueryError` naming ``display`` (and the line, where there is
    one) when the file resolves outside ``stack_dir`` (through ``..``, an absolute path or a
    symlink), cannot be read, is binary or not UTF-8, has an option that cannot be typed
    (``retries=abc``), or an anchor whose template does not compile (syntax error, unknown
    filter, nesting too deep). What stackql-deploy tolerates (unknown anchors, duplicates,
    empty anchors) is accepted with a warning in ``QueryFile.warnings``.
    """
    shown = display or str(path)
    if not is_inside(path, stack_dir):
        raise QueryError(
            f"the query file is outside the stack folder {stack_dir}",
            file=shown,
            hint="query files live under the stack's resources/ folder; copy it there",
        )
    if not path.exists():
        raise QueryError("query file not found", file=shown)
    text = read_text(path, display=shown, error=QueryError)
    parsed = parse_query_file(text, file=shown)
    # Imported here: templating pulls in Jinja, which parsing anchors alone does not need.
    from stackdeploy.templating import check_syntax

    for anchor in parsed:
        try:
            check_syntax(anchor.body, file=shown, line=anchor.line)
        except TemplateError as exc:
            raise QueryError(
                f"anchor '{anchor.name}': {exc.bare_message}",
                file=exc.file,
                line=exc.line,
                hint=exc.hint,
            ) from None
    return parsed


def split_statements(sql: str) -> list[str]:
    """Split SQL text on ``;`` outside quotes and comments.

    Quoted text ('...', "...", `...`, [...]) is never split. Comments stay with the
    statement around them; a piece that holds only comments and blanks is dropped.
    """
    statements: list[str] = []
    start = 0
    has_code = False
    i = 0
    n = len(sql)

    def flush(end: int) -> None:
        statement = sql[start:end].strip()
        if statement and has_code:
            statements.append(statement)

    while i < n:
        ch = sql[i]
        if ch in ("'", '"', "`"):
            has_code = True
            i += 1
            while i < n:
                if sql[i] == ch:
                    # A doubled quote is an escaped quote inside the literal.
                    if i + 1 < n and sql[i + 1] == ch:
                        i += 2
                        continue
                    break
                i += 1
        elif ch == "[":
            has_code = True
            close = sql.find("]", i + 1)
            i = n - 1 if close < 0 else close
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = n - 1 if newline < 0 else newline
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = n - 1 if close < 0 else close + 1
        elif ch == ";":
            flush(i)
            start = i + 1
            has_code = False
        elif not ch.isspace():
            has_code = True
        i += 1
    flush(n)
    return statements
