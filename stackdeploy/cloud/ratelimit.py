"""A token-bucket rate limiter shared by every thread that talks to AWS.

Cloud Control does not publish its rate limits; about 25-30 requests per second per account
and region were measured before throttling starts. The executor polls many requests at once
from several threads, so every API call (polls included) takes a token from one bucket.

Callers reserve a token under the lock and then sleep outside it for whatever deficit their
reservation created. That keeps the order first-come-first-served, holds the lock only for
arithmetic, and works with an injected fake clock/sleep in tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """At most ``rate`` acquisitions per second on average, with bursts of up to ``burst``.

    ``rate <= 0`` disables limiting.
    """

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = float(rate)
        self.burst = float(max(1, burst if burst is not None else round(rate) or 1))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = clock()

    def acquire(self) -> float:
        """Take one token, sleeping until it is available; returns the seconds waited."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            # max(): a wall clock that steps backwards must not drain the bucket.
            elapsed = max(0.0, now - self._last)
            self._last = now
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._tokens -= 1.0
            # A negative balance is a queue of reservations: this caller waits for its share.
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait
