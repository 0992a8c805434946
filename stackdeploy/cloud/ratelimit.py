"""A token-bucket rate limiter shared by every thread that talks to AWS.

Cloud Control does not publish its rate limits; about 25-30 requests per second per account
and region were measured before throttling starts. The executor polls many requests at once
from several threads, so every API call (polls included) takes a token from one bucket.

Callers reserve a token under the lock and then sleep outside it for whatever deficit their
reservation created. That keeps the order first-come-first-served, holds the lock only for
arithmetic, and works with an injected fake clock/sleep in tests.

The bucket alone would let ``burst`` requests through on top of ``rate`` in the same second
(30 in one second for 20/s with bursts of 10, which is where Cloud Control starts
throttling), so a second rule applies too: at most ``rate`` requests in any one-second
window. A burst still goes out at once; what follows it waits for the window. The window is
judged with a guard (``GUARD``, 0.1 s) on top of the second: a request reaches the server a
little later, and less evenly, than it leaves the limiter (thread wake-ups, serialisation, the
server's own queue), and measured at the server a window of exactly one second let 21 to 23
requests into one second at ``--max-rps 20``. With the guard the server counts at most
``rate`` in any second of its own while the long-run rate is ``rate / 1.1``.

Throttling backs everyone off, not only the thread that was throttled: :meth:`RateLimiter.
penalize` pauses every acquisition for the back-off delay and halves the rate, which then
recovers linearly (one request per second per second) to the configured rate. Without that,
N threads each retrying on their own keep the account throttled.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 1.0  # seconds: at most ``rate`` requests in any window this long...
GUARD = 0.1  # ...judged over this much more, for the jitter between limiter and server


class RateLimiter:
    """At most ``rate`` acquisitions in any second, in bursts of up to ``burst``.

    ``rate <= 0`` disables limiting (throttling still pauses everyone).
    """

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        guard: float = GUARD,
    ) -> None:
        self.rate = float(rate)
        self.span = WINDOW + max(0.0, guard)
        self.burst = float(max(1, burst if burst is not None else round(rate) or 1))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = clock()
        self._effective = self.rate
        self._not_before = 0.0
        # When the latest requests went out (the last ``rate`` of them are enough).
        self._sent: deque[float] = deque(maxlen=max(1, int(self.rate)))
        self.throttled = 0  # how many times penalize() was called

    @property
    def effective_rate(self) -> float:
        """The rate in force now (below ``rate`` while recovering from throttling)."""
        with self._lock:
            self._recover(self._clock())
            return self._effective

    def _recover(self, now: float) -> None:
        # Caller holds the lock. Linear recovery after a throttle: +1 request/s per second.
        if self.rate > 0 and self._effective < self.rate:
            self._effective = min(self.rate, self._effective + max(0.0, now - self._last))

    def acquire(self) -> float:
        """Take one token, sleeping until it is available; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            pause = max(0.0, self._not_before - now)
            if self.rate <= 0:
                wait = pause
            else:
                # max(): a wall clock that steps backwards must not drain the bucket.
                elapsed = max(0.0, now - self._last)
                self._recover(now)
                self._last = now
                self._tokens = min(self.burst, self._tokens + elapsed * self._effective)
                self._tokens -= 1.0
                # A negative balance is a queue of reservations: this caller waits its share.
                share = -self._tokens / self._effective if self._tokens < 0 else 0.0
                wait = max(pause, share)
                if wait <= 0 and self._window_allows(now):
                    return 0.0
        if wait > 0:
            self._sleep(wait)
        if self.rate <= 0:
            return wait
        # The window is judged on when requests really go, so a thread woken late cannot
        # make the next second hold more than ``rate``.
        while True:
            with self._lock:
                now = self._clock()
                if self._window_allows(now):
                    return wait
                limit = max(1, int(self._effective))
                delay = self._sent[-limit] + self.span - now
            self._sleep(delay)
            wait += delay

    def _window_allows(self, now: float) -> bool:
        """True (and ``now`` recorded) when the request ``limit`` places back went out at
        least a second (and the guard) ago. Caller holds the lock."""
        if self._sent and now < self._sent[-1]:
            self._sent.clear()  # a wall clock stepped backwards: start afresh
        limit = max(1, int(self._effective))
        if len(self._sent) < limit or self._sent[-limit] + self.span <= now:
            self._sent.append(now)
            return True
        return False

    def penalize(self, delay: float) -> None:
        """Someone was throttled: every caller waits ``delay`` seconds from now, and the rate
        halves (to at least one request per second) before recovering."""
        with self._lock:
            now = self._clock()
            self.throttled += 1
            self._not_before = max(self._not_before, now + max(0.0, delay))
            if self.rate > 0:
                self._recover(now)
                self._effective = max(1.0, self._effective / 2)
                self._tokens = min(self._tokens, 0.0)
