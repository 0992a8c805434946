"""The awscc SQL shell: statements typed (or piped) in, run by the query engine, results out.

stackql-deploy's ``shell`` starts the stackql binary's shell; stack-deploy's runs the same
awscc SQL on its own :class:`~stackdeploy.query.engine.QueryEngine`, over the Cloud Control
client the command opened (AWS, an endpoint or the embedded sandbox).

- :class:`ShellSession` is the shell without a terminal: it takes complete inputs (a SQL
  buffer ending in ``;`` or a ``.command``), renders ``{{ }}`` with the ``-e`` variables,
  runs each statement and prints results; errors are printed and the session goes on.
  :meth:`ShellSession.run_lines` drives it from any text (stdin in batch mode).
- :class:`SqlCompleter` completes table names (``awscc.<service>.<table>``, one level at a
  time), column names of the tables the statement names (``alias.column`` too), SQL
  keywords and ``.commands``.
- :func:`table_lines` lays result rows out as an aligned text table (the shell's and the
  ``query`` command's text output).
- :func:`run_interactive` is the prompt_toolkit loop: multi-line editing (Enter runs the
  statement once it ends with ``;``), history in a file, completion on Tab, Ctrl-C clears
  the input, Ctrl-D exits. ``input``/``output`` can be a pipe and a dummy for tests.

prompt_toolkit is imported only by :func:`run_interactive` and :class:`SqlCompleter`'s
module-level use, so batch mode needs no terminal library.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from stackdeploy.cloud.protocol import CloudControlAPI
from stackdeploy.errors import StackDeployError
from stackdeploy.query import catalog

PROMPT = "awscc=> "
CONTINUATION = "awscc-> "
SOURCE = "<shell>"

META_HELP: tuple[tuple[str, str], ...] = (
    (".help", "this list"),
    (".tables [PATTERN]", "tables whose name contains PATTERN (or matches a glob: awscc.s3.*)"),
    (".columns TABLE", "the columns of TABLE and the keys a query of it must give"),
    (".describe TABLE", "the same as .columns"),
    (".region [NAME]", "show or set the default region (for awscc.cloud_control tables)"),
    (".output text|json", "result format"),
    (".timer on|off", "show how long each statement took"),
    (".read FILE", "run the statements of FILE"),
    (".exit, .quit", "leave the shell (Ctrl-D does too)"),
)
META_COMMANDS = (".help", ".tables", ".columns", ".describe", ".region", ".output", ".timer",
                 ".read", ".exit", ".quit")  # fmt: skip
SQL_KEYWORDS = (
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "IS", "NULL", "AS", "JOIN",
    "LEFT", "INNER", "ON", "GROUP", "BY", "ORDER", "HAVING", "LIMIT", "DISTINCT", "COUNT",
    "INSERT", "INTO", "VALUES", "UPDATE", "SET", "DELETE", "WITH", "UNION", "ALL", "CASE",
    "WHEN", "THEN", "ELSE", "END", "json_extract", "json_each", "json_group_array",
    "json_group_object", "SHOW", "SERVICES", "RESOURCES", "DESCRIBE",
)  # fmt: skip

_SHOW_SERVICES = re.compile(
    r"SHOW\s+SERVICES(?:\s+IN\s+awscc)?(?:\s+LIKE\s+'(?P<like>[^']*)')?\Z", re.I
)
_SHOW_RESOURCES = re.compile(
    r"SHOW\s+(?:RESOURCES|TABLES)\s+IN\s+(?:awscc\.)?(?P<service>\w+)(?:\s+LIKE\s+'(?P<like>[^']*)')?\Z",
    re.I,
)
_DESCRIBE = re.compile(r"DESC(?:RIBE)?(?:\s+EXTENDED)?\s+(?P<table>[\w.]+)\Z", re.I)


def statement_complete(text: str) -> bool:
    """True when ``text`` ends with ``;`` outside quotes and comments (ready to run)."""
    quote: str | None = None
    last = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                if text[i + 1 : i + 2] == quote:  # '' inside a string
                    i += 1
                else:
                    quote = None
            i += 1
            continue
        if ch in "'\"`":
            quote = ch
            last = ch
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                return False
            i = end + 2
            continue
        elif not ch.isspace():
            last = ch
        i += 1
    return quote is None and last == ";"


def _like(pattern: str | None) -> Callable[[str], bool]:
    if not pattern:
        return lambda name: True
    regex = re.compile(
        "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern), re.I
    )
    return lambda name: regex.fullmatch(name) is not None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return str(value).replace("\n", "\\n")


def table_lines(columns: list[str], rows: list[dict[str, Any]]) -> Iterator[str]:
    """An aligned text table: header, rule, one line per row (NULL is an empty cell)."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    yield "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()
    yield "  ".join("-" * w for w in widths)
    for r in cells:
        yield "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()


@dataclass
class ShellSettings:
    region: str
    output: str = "text"
    timer: bool = False
    show_queries: bool = False


class ShellSession:
    """One shell session over a Cloud Control client (see the module docstring)."""

    def __init__(
        self,
        cloud: CloudControlAPI,
        *,
        region: str,
        variables: dict[str, str] | None = None,
        out: TextIO,
        err: TextIO,
        output: str = "text",
        interactive: bool = False,
        show_queries: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cloud = cloud
        self.variables = dict(variables or {})
        self.out = out
        self.err = err
        self.interactive = interactive
        self.clock = clock
        self.settings = ShellSettings(region=region, output=output, show_queries=show_queries)
        self.failures = 0
        self.statements = 0
        self._engine: Any = None

    # -- input -------------------------------------------------------------------------

    @staticmethod
    def input_complete(text: str) -> bool:
        """Whether the input is ready to run: a ``.command``, ``exit``/``quit``, empty, or
        SQL ending in ``;``."""
        stripped = text.strip()
        if not stripped or stripped.startswith(".") or stripped.lower() in ("exit", "quit"):
            return True
        return statement_complete(stripped)

    def run_lines(self, lines: Iterable[str]) -> bool:
        """Run text line by line (batch mode); SQL left without ``;`` at the end runs too.
        Returns False when a ``.exit`` ended it early."""
        buffer: list[str] = []
        for line in lines:
            if not buffer and line.strip().startswith("."):
                if not self.handle(line):
                    return False
                continue
            buffer.append(line.rstrip("\n"))
            text = "\n".join(buffer)
            if self.input_complete(text):
                buffer = []
                if not self.handle(text):
                    return False
        rest = "\n".join(buffer).strip()
        if rest:
            return self.handle(rest)
        return True

    def handle(self, text: str) -> bool:
        """Run one complete input; False means the session should end."""
        stripped = text.strip()
        if not stripped:
            return True
        if stripped.lower() in ("exit", "quit", "exit;", "quit;"):
            return False
        if stripped.startswith("."):
            return self._meta(stripped)
        try:
            self._sql(stripped)
        except StackDeployError as exc:
            self.failures += 1
            self._error(str(exc))
        except KeyboardInterrupt:
            self.failures += 1
            self._error("interrupted")
        return True

    # -- SQL ---------------------------------------------------------------------------

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from stackdeploy.query.engine import QueryEngine

            self._engine = QueryEngine(self.cloud, region=self.settings.region)
        return self._engine

    def _sql(self, text: str) -> None:
        from stackdeploy.query.engine import split_statements

        if "{{" in text or "{%" in text:
            from stackdeploy.templating import render

            text = render(text, self.variables, file=SOURCE)
        for statement in split_statements(text, file=SOURCE):
            self.statements += 1
            builtin = self._builtin(statement.text.strip().rstrip(";").strip())
            if builtin:
                continue
            if self.settings.show_queries:
                self._print(f"-- {statement.text}", err=True)
            started = self.clock()
            result = self.engine.run_statement(statement, file=SOURCE)
            elapsed = self.clock() - started
            event = result.progress_event
            if event is not None:
                self._print(
                    f"{event.operation} {event.type_name} {event.identifier}: {event.status}",
                    err=True,
                )
            if result.columns or event is None:
                self._rows(result.columns, result.rows)
            if self.settings.timer:
                self._print(f"Time: {elapsed * 1000:.1f} ms", err=True)

    def _builtin(self, text: str) -> bool:
        """stackql's SHOW SERVICES / SHOW RESOURCES IN svc / DESCRIBE table."""
        match = _SHOW_SERVICES.match(text)
        if match:
            keep = _like(match["like"])
            names = [s for s in catalog.services(self.settings.region) if keep(s)]
            self._rows(["name"], [{"name": s} for s in names])
            return True
        match = _SHOW_RESOURCES.match(text)
        if match:
            service, keep = match["service"].lower(), _like(match["like"])
            prefix = f"{catalog.PROVIDER}.{service}."
            names = [
                n.removeprefix(prefix)
                for n in catalog.table_names(self.settings.region)
                if n.startswith(prefix) and keep(n.removeprefix(prefix))
            ]
            if not names:
                raise StackDeployError(
                    f"no service {service!r} in awscc", hint="SHOW SERVICES lists them"
                )
            self._rows(["name"], [{"name": n} for n in names])
            return True
        match = _DESCRIBE.match(text)
        if match:
            self._describe(match["table"])
            return True
        return False

    def _describe(self, table: str) -> None:
        from stackdeploy.query.tables import resolve_table

        spec = resolve_table(table, region=self.settings.region)
        required = {k.lower() for k in spec.required}
        keys = {k.lower() for k in spec.key_names}
        rows = [
            {
                "name": column,
                "key": "required" if column.lower() in required
                else "pushed down" if column.lower() in keys else "",
            }
            for column in spec.columns
        ]  # fmt: skip
        self._rows(["name", "key"], rows)

    # -- meta commands -------------------------------------------------------------------

    def _meta(self, text: str) -> bool:
        command, _, argument = text.partition(" ")
        command, argument = command.lower(), argument.strip().rstrip(";").strip()
        try:
            return self._run_meta(command, argument)
        except StackDeployError as exc:
            self.failures += 1
            self._error(str(exc))
            return True

    def _run_meta(self, command: str, argument: str) -> bool:
        if command in (".exit", ".quit", ".q"):
            return False
        if command == ".help":
            width = max(len(name) for name, _ in META_HELP)
            for name, text in META_HELP:
                self._print(f"{name.ljust(width)}  {text}")
            self._print("SQL ends with ';' and may span lines; {{ var }} takes -e values.")
            self._print("Also: SHOW SERVICES, SHOW RESOURCES IN awscc.<service>, DESCRIBE <table>.")
        elif command == ".tables":
            names = catalog.matching_tables(argument, self.settings.region)
            for name in names:
                self._print(name)
            if self.interactive:
                self._print(f"({len(names)} tables)")
        elif command in (".columns", ".describe"):
            if not argument:
                raise StackDeployError(
                    f"{command} needs a table", hint=f"{command} awscc.s3.buckets"
                )
            self._describe(argument)
        elif command == ".region":
            if argument:
                self.settings.region = argument
                self._engine = None
            self._print(f"region: {self.settings.region}")
        elif command == ".output":
            if argument not in ("text", "json"):
                raise StackDeployError(".output takes text or json")
            self.settings.output = argument
        elif command == ".timer":
            if argument not in ("on", "off"):
                raise StackDeployError(".timer takes on or off")
            self.settings.timer = argument == "on"
        elif command == ".read":
            path = Path(argument).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise StackDeployError(f"cannot read {argument}: {exc.strerror}") from exc
            return self.run_lines(text.splitlines())
        else:
            raise StackDeployError(f"unknown command {command}", hint=".help lists the commands")
        return True

    # -- output --------------------------------------------------------------------------

    def _rows(self, columns: list[str], rows: list[dict[str, Any]]) -> None:
        if self.settings.output == "json":
            self._print(json.dumps(rows, default=str, ensure_ascii=False))
            return
        for line in table_lines(columns, rows):
            self._print(line)
        if self.interactive:
            self._print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")

    def _print(self, text: str, *, err: bool = False) -> None:
        stream = self.err if err else self.out
        stream.write(text + "\n")
        stream.flush()

    def _error(self, message: str) -> None:
        self._print(f"Error: {message}", err=True)


# -- completion ----------------------------------------------------------------------------

_WORD = re.compile(r"[\w.]*\Z")
_TABLE_REF = re.compile(
    r"\b(awscc\.\w+\.\w+)(?:\s+(?:AS\s+)?(?!(?:WHERE|JOIN|ON|LEFT|INNER|GROUP|ORDER|LIMIT|SET|AS)\b)(\w+))?",
    re.I,
)
_TABLE_CONTEXT = re.compile(r"\b(FROM|JOIN|INTO|UPDATE|DESCRIBE|DESC|EXTENDED)\s+[\w.]*\Z", re.I)


def _table_candidates(word: str, region: str) -> list[str]:
    """Table names one level at a time: ``awscc.`` -> services, ``awscc.s3.`` -> tables."""
    lowered = word.lower()
    provider = catalog.PROVIDER + "."
    if not lowered.startswith(provider):
        return [provider] if provider.startswith(lowered) else []
    rest = lowered[len(provider) :]
    if "." not in rest:
        return [f"{provider}{s}." for s in catalog.services(region) if s.startswith(rest)]
    return [n for n in catalog.table_names(region) if n.startswith(lowered)]


def completions(text: str, region: str = "us-east-1", *, after: str = "") -> list[str]:
    """What can replace the word at the end of ``text`` (the text before the cursor; tables
    named in ``after``, the text after it, count for columns too), best first."""
    word = _WORD.search(text)
    current = word.group() if word else ""
    before = text[: len(text) - len(current)]
    if not before.strip() and current.startswith("."):
        return [c for c in META_COMMANDS if c.startswith(current.lower())]
    meta = re.match(r"\s*\.(columns|describe)\s+", text, re.I)
    if current.count(".") >= 3 and current.lower().startswith("awscc."):  # table.column
        table, _, partial = current.rpartition(".")
        return [
            f"{table}.{c}"
            for c in catalog.columns(table, region)
            if c.lower().startswith(partial.lower())
        ]
    if meta or _TABLE_CONTEXT.search(text) or current.lower().startswith("awscc"):
        return _table_candidates(current, region)
    tables = _TABLE_REF.findall(f"{text} {after}")
    if "." in current:  # alias.column or table.column
        qualifier, _, partial = current.rpartition(".")
        for table, alias in tables:
            if qualifier.lower() in (alias.lower(), table.lower()):
                return [
                    f"{qualifier}.{c}"
                    for c in catalog.columns(table, region)
                    if c.lower().startswith(partial.lower())
                ]
        return []
    if not current:
        return []
    found: list[str] = []
    for table, _ in tables:
        found += [
            c for c in catalog.columns(table, region) if c.lower().startswith(current.lower())
        ]
    found += [k for k in SQL_KEYWORDS if k.lower().startswith(current.lower())]
    return list(dict.fromkeys(found))


def make_completer(region_of: Callable[[], str]) -> Any:
    """A prompt_toolkit completer over :func:`completions` (``region_of`` is read per use,
    so ``.region`` applies at once)."""
    from prompt_toolkit.completion import Completer, Completion

    class SqlCompleter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Any]:
            text = document.text_before_cursor
            word = _WORD.search(text)
            current = word.group() if word else ""
            # Tables named after the cursor (SELECT col| FROM t) count for columns too.
            options = completions(text, region_of(), after=document.text_after_cursor)
            for option in options:
                yield Completion(option, start_position=-len(current))

    return SqlCompleter()


# -- the interactive loop ------------------------------------------------------------------


def default_history_path() -> Path:
    """``$XDG_STATE_HOME/stack-deploy/shell_history`` (default ``~/.local/state/...``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "stack-deploy" / "shell_history"


def run_interactive(
    session: ShellSession,
    *,
    history_path: Path | None,
    banner: str | None = None,
    input: Any = None,
    output: Any = None,
) -> None:
    """Prompt until ``.exit`` or Ctrl-D; Ctrl-C abandons the statement being typed."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings

    history: History = InMemoryHistory()
    if history_path is not None:
        try:
            history_path.parent.mkdir(parents=True, exist_ok=True)
            history_path.touch(exist_ok=True)
            history = FileHistory(str(history_path))
        except OSError as exc:
            session._print(f"warning: history not kept ({history_path}: {exc.strerror})", err=True)

    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event: Any) -> None:
        buffer = event.current_buffer
        if buffer.complete_state is not None and buffer.complete_state.current_completion:
            buffer.apply_completion(buffer.complete_state.current_completion)
            return
        if session.input_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    prompt: PromptSession[str] = PromptSession(
        multiline=True,
        key_bindings=bindings,
        history=history,
        completer=make_completer(lambda: session.settings.region),
        complete_while_typing=False,
        prompt_continuation=lambda width, line, wrapped: CONTINUATION,
        input=input,
        output=output,
    )
    if banner:
        session._print(banner)
    while True:
        try:
            text = prompt.prompt(PROMPT)
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if not session.handle(text):
            break
