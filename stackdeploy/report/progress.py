"""Showing a run as it happens (stderr), from the engine's events.

* :class:`LiveProgress` (a terminal): each resource that finishes gets one permanent line
  (``✓ queue  created  3.1s``, failures and skips with their reason); below them a live
  area shows what is in flight (state, elapsed time, request token) and the counts of
  resources in flight, done, failed, skipped and to go. The live area goes away when the
  run ends, leaving the lines. Built on rich; ``NO_COLOR`` is honoured.
* :class:`PlainProgress` (no terminal: CI logs, pipes): one line per state change, plus a
  heartbeat for anything running longer than 10 s (``queue: still creating [20s elapsed]``),
  so a log never looks stuck.
* :class:`JsonLinesEvents`: one JSON object per event (resource, action, state, time,
  request token...) for CI systems (``--events FILE``).

Each event costs constant work and each refresh of the live area shows at most
:attr:`LiveProgress.MAX_ROWS` resources, so progress is linear in the size of the stack.
Free text (messages, notes, errors) goes through the run's masker before it is shown or
written. Sinks are called from the engine's worker threads: they are thread-safe.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from stackdeploy.engine.events import RunEvent

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text

_VERB = {"create": "creating", "update": "updating", "replace": "replacing", "delete": "deleting"}
# Phases that change something: announced, and the resources they touch counted.
_APPLY_PHASES = ("applying", "deleting", "rolling back")
HEARTBEAT_SECONDS = 10.0


def no_color() -> bool:
    """True when the user asked for no colours (https://no-color.org: set and not empty)."""
    return bool(os.environ.get("NO_COLOR"))


def live_view_wanted(stream: IO[str], environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``stream`` (stderr) gets the live view: a terminal that can move its cursor,
    outside CI (whose logs keep every byte: plain lines suit them better)."""
    env = os.environ if environ is None else environ
    return _isatty(stream) and not env.get("CI") and env.get("TERM", "") != "dumb"


def make_console(
    stream: IO[str] | None = None, *, force_terminal: bool | None = None, width: int | None = None
) -> Console:
    """A rich console on ``stream`` (default: stderr, followed when it is redirected) that
    honours ``NO_COLOR`` and never guesses colours for numbers or paths in messages."""
    from rich.console import Console

    return Console(
        file=stream,
        stderr=stream is None,
        force_terminal=force_terminal,
        no_color=no_color() or None,
        highlight=False,
        width=width,
    )


def _elapsed(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


@dataclass
class _Running:
    action: str
    started: float
    next_beat: float
    request: str = ""


class PlainProgress:
    """Progress as plain lines (with a heartbeat), for logs."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        mask: Callable[[str], str] = lambda s: s,
        clock: Callable[[], float] = time.time,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._stream = stream
        self.mask = mask
        self.clock = clock
        self.heartbeat = heartbeat
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._total = 0
        self._finished = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stream(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stderr

    def _say(self, text: str) -> None:
        print(self.mask(text), file=self.stream, flush=True)

    def emit(self, event: RunEvent) -> None:
        with self._lock:
            self._handle(event)

    def _handle(self, event: RunEvent) -> None:
        name = event.resource
        if name is None:
            if event.state == "phase":
                # Planning is quiet (its errors are the command's own error message); the
                # phases that change something are announced.
                if event.phase in _APPLY_PHASES:
                    self._total = event.count or 0
                    self._finished = 0
                    if self._total or event.phase == "rolling back":
                        self._say(f"{event.phase}: {event.message}")
            elif event.state in ("note", "interrupted"):
                self._say(str(event.message))
            return
        if event.state == "started":
            action = event.action or "run"
            now = event.time or self.clock()
            self._running[name] = _Running(action, now, now + self.heartbeat)
            self._say(f"{name}: {_VERB.get(action, 'running')}...")
        elif event.state == "request":
            self._say(f"{name}: {str(event.operation or '').lower()} request {event.request_token}")
        elif event.state == "done":
            self._running.pop(name, None)
            self._finished += 1
            took = f" ({event.elapsed:.1f}s)" if event.elapsed is not None else ""
            # Without a known total (a sink that joined late), count without one.
            count = f"{self._finished}/{self._total}" if self._total else str(self._finished)
            self._say(f"[{count}] {name}: {event.message or event.action}{took}")
        elif event.state == "failed":
            self._running.pop(name, None)
            if event.phase != "planning":  # planning errors end the command, all at once
                self._say(f"{name}: FAILED: {event.message}")
        elif event.state in ("skipped", "not_started"):
            self._say(f"{name}: {event.state.replace('_', ' ')}: {event.message}")

    def tick(self, now: float | None = None) -> None:
        """Print a heartbeat for every resource running past its next beat."""
        now = self.clock() if now is None else now
        with self._lock:
            for name, running in sorted(self._running.items()):
                if now >= running.next_beat:
                    verb = _VERB.get(running.action, "running")
                    self._say(f"{name}: still {verb} [{now - running.started:.0f}s elapsed]")
                    while running.next_beat <= now:
                        running.next_beat += self.heartbeat

    def start(self) -> None:
        """Tick once a second in a background thread until :meth:`stop`."""

        def loop() -> None:
            while not self._stop.wait(1.0):
                self.tick()

        self._thread = threading.Thread(target=loop, name="progress-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


class LiveProgress:
    """A live view of the run on a terminal (rich): permanent lines for what finished, a
    live area for what is in flight.

    Locks: ``_print_lock`` orders every write to the terminal (printed lines in event
    order, redraws of the area); ``_lock`` guards the state and is never held while
    writing, since a write takes rich's live lock, under which the area is rendered.
    """

    MAX_ROWS = 12
    SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(
        self,
        *,
        mask: Callable[[str], str] = lambda s: s,
        clock: Callable[[], float] = time.time,
        console: Console | None = None,
        refresh_per_second: float = 8.0,
    ) -> None:
        self.mask = mask
        self.clock = clock
        self.console = console if console is not None else make_console()
        self.refresh_per_second = refresh_per_second
        unicode = (self.console.encoding or "").lower().startswith("utf")
        self._marks = ("✓", "✗", "-") if unicode else ("+", "x", "-")
        self._spinner = self.SPINNER if unicode else "-\\|/"
        # Re-entrant: a signal handler may print (through the stderr proxy) on the main
        # thread while that thread is itself printing a line.
        self._print_lock = threading.RLock()
        self._lock = threading.Lock()
        self._restore: dict[str, tuple[_LockedStream, IO[str] | io.TextIOBase]] = {}
        self._running: dict[str, _Running] = {}  # insertion order: oldest first
        self._phase = ""
        self._phase_started = clock()
        self._total = 0
        self._planned = 0
        self._to_plan = 0
        self._done = self._failed = self._skipped = 0
        self._live: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- events ---------------------------------------------------------------------------

    def emit(self, event: RunEvent) -> None:
        with self._print_lock:
            with self._lock:
                line = self._handle(event)
            if line is not None:
                self.console.print(line, soft_wrap=False, overflow="fold")
                live = self._live
                if live is not None:
                    # The line was printed above the area as last drawn: draw it anew now
                    # (constant work: the area is bounded), not at the next tick.
                    live.refresh()

    def _line(self, mark: int, style: str, name: str, state: str, tail: str = "") -> Text:
        from rich.text import Text

        text = Text()
        text.append(self._marks[mark] + " ", style=style)
        text.append(name, style="bold")
        text.append("  ")
        text.append(state, style=style)
        if tail:
            text.append("  " + tail, style="dim" if mark == 0 else "")
        return text

    def _handle(self, event: RunEvent) -> Text | None:
        from rich.text import Text

        name = event.resource
        if name is None:
            if event.state == "phase":
                self._phase = str(event.phase or "")
                self._phase_started = event.time or self.clock()
                if event.phase == "planning":
                    self._to_plan = event.count or 0
                    self._planned = 0
                    return None
                if event.phase in _APPLY_PHASES:
                    self._total = event.count or 0
                    self._done = self._failed = self._skipped = 0
                    self._running.clear()
                    if self._total or event.phase == "rolling back":
                        return Text(self.mask(f"{event.phase}: {event.message}"), style="bold")
                return None
            if event.message:
                return Text(self.mask(str(event.message)), style="yellow")
            return None
        state = event.state
        if state == "planned":
            self._planned += 1
        elif state == "started":
            action = event.action or "run"
            now = event.time or self.clock()
            self._running[name] = _Running(action, now, now)
        elif state == "request":
            running = self._running.get(name)
            if running is not None:
                running.request = str(event.request_token or "")
        elif state == "done":
            running = self._running.pop(name, None)
            self._done += 1
            took = event.elapsed
            if took is None and running is not None:
                took = (event.time or self.clock()) - running.started
            tail = _elapsed(took) if took is not None else ""
            return self._line(0, "green", name, self.mask(event.message or "done"), tail)
        elif state == "failed":
            self._running.pop(name, None)
            if event.phase == "planning":  # planning errors end the command, all at once
                return None
            self._failed += 1
            return self._line(1, "red", name, "FAILED", self.mask(event.message or ""))
        elif state in ("skipped", "not_started"):
            self._running.pop(name, None)
            self._skipped += 1
            why = self.mask(event.message or "")
            return self._line(2, "yellow", name, state.replace("_", " "), why)
        return None

    # -- the live area --------------------------------------------------------------------

    def render(self) -> RenderableType:
        """The live area: what is in flight (oldest first, at most :attr:`MAX_ROWS`) and
        the counts. Constant work per call whatever the size of the stack."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        now = self.clock()
        with self._lock:
            running = len(self._running)
            shown: list[tuple[str, _Running]] = []
            for name, row in self._running.items():
                if len(shown) == self.MAX_ROWS:
                    break
                shown.append((name, row))
            spin = self._spinner[int(now * 10) % len(self._spinner)]
            table = Table.grid(padding=(0, 2))
            table.add_column(no_wrap=True)
            table.add_column(no_wrap=True, style="yellow")
            table.add_column(no_wrap=True, justify="right")
            table.add_column(no_wrap=True, overflow="ellipsis", style="dim")
            for name, row in shown:
                table.add_row(
                    Text(f"{spin} {name}"),
                    _VERB.get(row.action, "running"),
                    _elapsed(now - row.started),
                    f"request {row.request}" if row.request else "",
                )
            parts: list[RenderableType] = [table] if shown else []
            if running > len(shown):
                parts.append(Text(f"  … and {running - len(shown)} more in flight", style="dim"))
            parts.append(self._status(now, running))
        return Group(*parts)

    def _status(self, now: float, running: int) -> Text:
        from rich.text import Text

        took = _elapsed(now - self._phase_started)
        if self._phase == "planning" or not self._phase:
            of = f"/{self._to_plan}" if self._to_plan else ""
            return Text(f"planning: {self._planned}{of} planned [{took}]", style="bold")
        finished = self._done + self._failed + self._skipped
        to_go = max(0, self._total - finished - running)
        text = Text(f"{self._phase}: ", style="bold")
        text.append(f"{running} in flight, {self._done} done")
        text.append(f", {self._failed} failed", style="red" if self._failed else "")
        text.append(f", {self._skipped} skipped, {to_go} to go [{took}]")
        return text

    def start(self) -> None:
        """Show the live area, redrawn ``refresh_per_second`` times a second until
        :meth:`stop`."""
        from rich.file_proxy import FileProxy
        from rich.live import Live

        self._live = Live(
            console=self.console,
            get_renderable=self.render,
            # Redrawn by our own thread, under the same lock as the printed lines: rich's
            # own refresh thread would race with lines printed from the workers' threads
            # (each computes where the area is, then writes: a stale area is left behind).
            auto_refresh=False,
            transient=True,
            # Results go to stdout: only when it is this same terminal do they need to be
            # printed above the live area; redirected, they must stay on stdout.
            redirect_stdout=_isatty(sys.stdout),
            redirect_stderr=True,
        )
        with self._print_lock:
            self._live.start(refresh=True)
            # Whatever else writes to stderr/stdout meanwhile (logs, the interrupt handler's
            # message) goes through rich's proxy above the area: under the same lock too.
            self._restore = {}
            for name in ("stderr", "stdout"):
                current = getattr(sys, name)
                if isinstance(current, FileProxy):
                    locked = _LockedStream(current, self._print_lock)
                    self._restore[name] = (locked, current)
                    setattr(sys, name, locked)
        # Keep the cursor: a second Ctrl-C ends the process at once, with no chance to
        # show it again.
        self.console.show_cursor(True)
        if self.refresh_per_second > 0:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, name="progress-live", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(1.0 / self.refresh_per_second):
            with self._print_lock:
                if self._live is not None:
                    self._live.refresh()

    def stop(self) -> None:
        """Remove the live area (the printed lines stay)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
            self._ticker = None
        with self._print_lock:
            for name, (locked, proxy) in self._restore.items():
                if getattr(sys, name) is locked:
                    setattr(sys, name, proxy)
            self._restore = {}
            if self._live is not None:
                live, self._live = self._live, None
                live.stop()


class _LockedStream(io.TextIOBase):
    """A text stream whose writes hold ``lock`` (the live view's terminal lock)."""

    def __init__(self, inner: IO[str] | io.TextIOBase, lock: threading.RLock) -> None:
        super().__init__()
        self._inner = inner
        self._lock = lock

    def write(self, text: str) -> int:
        with self._lock:
            return self._inner.write(text)

    def flush(self) -> None:
        with self._lock:
            self._inner.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._inner, "encoding", None) or "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        errors = getattr(self._inner, "errors", None)
        return str(errors) if errors is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class JsonLinesEvents:
    """Every event as one JSON object per line (``--events FILE``), secrets masked."""

    def __init__(self, stream: IO[str], *, mask: Callable[[str], str] = lambda s: s) -> None:
        self.stream = stream
        self.mask = mask
        self._lock = threading.Lock()

    def emit(self, event: RunEvent) -> None:
        data = {
            key: self.mask(value) if isinstance(value, str) else value
            for key, value in event.to_json_dict().items()
        }
        line = json.dumps(data, sort_keys=True)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()
