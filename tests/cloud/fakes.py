"""A fake clock for the cloud tests: sleeping advances time instantly and is recorded."""

from __future__ import annotations

import threading

START = 1_800_000_000.0


class FakeClock:
    """Callable clock (epoch seconds) with a ``sleep`` that only moves time forward."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    @property
    def elapsed(self) -> float:
        return self.now - START
