"""What the engine tells the outside world while it runs: one :class:`RunEvent` per step.

The engine knows nothing about terminals or files. It hands events to an :class:`EventSink`
(the CLI's live view, plain progress lines, a JSON-lines file for CI systems, or a list in a
test). Sinks are called from worker threads and must be thread-safe; they must never raise.

States of a resource, in the order they happen: ``planning`` -> ``planned`` (with the
action) -> ``started`` -> ``request`` (a Cloud Control request was submitted; carries its
token) -> ``request_done`` -> ``done`` | ``failed`` | ``skipped`` | ``not_started`` (a
resource whose mutation an interrupt refused is reported ``not_started`` too). Run-level
events have no resource: ``phase`` (planning, applying, deleting, rolling back) and ``note``
(waiting for the lock, resuming an interrupted run, a failure that stops scheduling).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class RunEvent:
    """One thing that happened in a run."""

    state: str
    resource: str | None = None
    action: str | None = None
    phase: str | None = None
    time: float = 0.0
    message: str | None = None
    request_token: str | None = None
    operation: str | None = None
    type_name: str | None = None
    elapsed: float | None = None
    count: int | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The event without empty fields (one JSON object per line for CI systems)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


class EventSink(Protocol):
    """Receives run events (from any thread)."""

    def emit(self, event: RunEvent) -> None: ...


class NullSink:
    """Drops every event."""

    def emit(self, event: RunEvent) -> None:
        return None


class ListSink:
    """Keeps every event (tests)."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []
        self._lock = threading.Condition()

    def emit(self, event: RunEvent) -> None:
        with self._lock:
            self.events.append(event)
            self._lock.notify_all()

    def wait_for(self, state: str, resource: str | None = None, timeout: float = 10.0) -> None:
        """Block until an event of ``state`` (for ``resource``) has been seen."""

        def seen() -> bool:
            return any(
                e.state == state and (resource is None or e.resource == resource)
                for e in self.events
            )

        with self._lock:
            if not self._lock.wait_for(seen, timeout):
                raise TimeoutError(f"no {state!r} event for {resource!r}")

    def of(self, resource: str) -> list[RunEvent]:
        with self._lock:
            return [e for e in self.events if e.resource == resource]

    def states(self, resource: str) -> list[str]:
        return [e.state for e in self.of(resource)]


class FanOut:
    """Sends each event to several sinks; a sink that raises is dropped from the run rather
    than stopping it."""

    def __init__(self, sinks: Iterable[EventSink]) -> None:
        self.sinks = list(sinks)

    def emit(self, event: RunEvent) -> None:
        for sink in list(self.sinks):
            try:
                sink.emit(event)
            except Exception:  # a broken reporter must not break a deployment
                self.sinks.remove(sink)


class Emitter:
    """Stamps events with the run's clock before handing them to the sink."""

    def __init__(self, sink: EventSink | None, clock: Callable[[], float] = time.time) -> None:
        self.sink = sink or NullSink()
        self.clock = clock

    def __call__(self, state: str, resource: str | None = None, **fields: Any) -> None:
        self.sink.emit(RunEvent(state=state, resource=resource, time=self.clock(), **fields))
