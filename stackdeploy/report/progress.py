"""Showing a run as it happens (stderr), from the engine's events.

* :class:`LiveProgress` (a terminal): a live view, one line per resource that is running or
  has just finished (state, action, elapsed time), with the counts of resources in flight,
  done, failed and to go (rich). ``NO_COLOR`` is honoured.
* :class:`PlainProgress` (no terminal: CI logs, pipes): one line per state change, plus a
  heartbeat for anything running longer than 10 s (``queue: still creating [20s elapsed]``),
  so a log never looks stuck.
* :class:`JsonLinesEvents`: one JSON object per event (resource, action, state, timestamps,
  request token) for CI systems (``--events FILE``).

Every event costs constant work, so progress is linear in the size of the stack. Messages
go through the run's masker before they are shown or written.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from stackdeploy.engine.events import RunEvent

_VERB = {"create": "creating", "update": "updating", "replace": "replacing", "delete": "deleting"}
HEARTBEAT_SECONDS = 10.0


def no_color() -> bool:
    """True when the user asked for no colours (https://no-color.org)."""
    return bool(os.environ.get("NO_COLOR"))


@dataclass
class _Running:
    action: str
    started: float
    next_beat: float


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
                if event.phase in ("applying", "deleting", "rolling back"):
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
            verb = _VERB.get(action, "running")
            self._say(f"{name}: {verb}...")
        elif event.state == "request":
            self._say(f"{name}: {str(event.operation or '').lower()} request {event.request_token}")
        elif event.state == "done":
            self._running.pop(name, None)
            self._finished += 1
            took = f" ({event.elapsed:.1f}s)" if event.elapsed is not None else ""
            total = max(self._total, self._finished)
            self._say(f"[{self._finished}/{total}] {name}: {event.message or event.action}{took}")
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
    """A live view of the run on a terminal (rich)."""

    MAX_ROWS = 20

    def __init__(
        self,
        *,
        mask: Callable[[str], str] = lambda s: s,
        clock: Callable[[], float] = time.time,
        console: Any = None,
    ) -> None:
        from rich.console import Console

        self.mask = mask
        self.clock = clock
        self.console = console or Console(stderr=True, no_color=no_color() or None)
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []
        self._phase = ""
        self._counts = {"done": 0, "failed": 0, "skipped": 0}
        self._live: Any = None
        self._notes: list[str] = []

    def emit(self, event: RunEvent) -> None:
        with self._lock:
            name = event.resource
            if name is None:
                if event.state == "phase":
                    self._phase = (
                        f"{event.phase} ({event.message})" if event.message else str(event.phase)
                    )
                    if event.phase in ("applying", "deleting", "rolling back"):
                        self._rows.clear()
                        self._order.clear()
                        self._counts = {"done": 0, "failed": 0, "skipped": 0}
                elif event.message:
                    note = self.mask(event.message)
                    self._notes.append(note)
                    # Notes stay on screen after the live view ends, as failures do.
                    self.console.print(note, markup=False, highlight=False)
                return
            if event.state in ("planning", "planned", "request_done"):
                return
            row = self._rows.get(name)
            if row is None:
                row = {
                    "state": "",
                    "action": event.action or "",
                    "started": event.time,
                    "ended": None,
                    "message": "",
                }
                self._rows[name] = row
                self._order.append(name)
            if event.action:
                row["action"] = event.action
            if event.state == "started":
                row["state"] = _VERB.get(event.action or "", "running")
                row["started"] = event.time
            elif event.state == "request":
                row["message"] = f"request {event.request_token}"
            elif event.state == "done":
                row["state"] = event.message or "done"
                row["ended"] = event.time
                self._counts["done"] += 1
            elif event.state == "failed":
                row["state"] = "FAILED"
                row["ended"] = event.time
                row["message"] = self.mask(event.message or "")
                self._counts["failed"] += 1
                # A failure stays on screen after the live view ends.
                self.console.print(
                    f"[red]{name}: FAILED[/red]: {row['message']}", markup=True, highlight=False
                )
            elif event.state in ("skipped", "not_started"):
                row["state"] = event.state.replace("_", " ")
                row["ended"] = event.time
                row["message"] = self.mask(event.message or "")
                self._counts["skipped"] += 1
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Any:
        from rich.table import Table

        now = self.clock()
        with self._lock:
            running = [
                n for n in self._order if self._rows[n]["ended"] is None and self._rows[n]["state"]
            ]
            finished = [n for n in self._order if self._rows[n]["ended"] is not None]
            shown = running[-self.MAX_ROWS :]
            room = max(0, self.MAX_ROWS - len(shown))
            shown = finished[-room:] + shown if room else shown
            table = Table(box=None, show_header=False, pad_edge=False)
            table.add_column("resource", no_wrap=True)
            table.add_column("state", no_wrap=True)
            table.add_column("elapsed", justify="right", no_wrap=True)
            table.add_column("message", overflow="ellipsis", no_wrap=True)
            for name in shown:
                row = self._rows[name]
                end = row["ended"] if row["ended"] is not None else now
                elapsed = f"{max(0.0, end - (row['started'] or now)):.1f}s"
                style = "red" if row["state"] == "FAILED" else "green" if row["ended"] else "yellow"
                table.add_row(name, f"[{style}]{row['state']}[/{style}]", elapsed, row["message"])
            counts = self._counts
            table.caption = (
                f"{self._phase}: {len(running)} in flight, {counts['done']} done, "
                f"{counts['failed']} failed, {counts['skipped']} skipped"
            )
        return table

    def start(self) -> None:
        from rich.live import Live

        self._live = Live(
            self._render(), console=self.console, refresh_per_second=4, transient=False
        )
        self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None


class JsonLinesEvents:
    """Every event as one JSON object per line (``--events FILE``), secrets masked."""

    def __init__(self, stream: IO[str], *, mask: Callable[[str], str] = lambda s: s) -> None:
        self.stream = stream
        self.mask = mask
        self._lock = threading.Lock()

    def emit(self, event: RunEvent) -> None:
        data = event.to_json_dict()
        if "message" in data:
            data["message"] = self.mask(str(data["message"]))
        line = json.dumps(data, sort_keys=True)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()
