"""Polling a Cloud Control request to its final state, and retry back-off.

botocore's own waiter polls every 5 s for at most 2 minutes: too slow for fast resources and too
short for slow ones. Here the first poll comes well under a second after the submission, the
interval grows geometrically to a few seconds, no poll is made before the event's RetryAfter,
and the time-out comes from the caller (the schema's ``timeoutInMinutes`` for the handler).
Without a RetryAfter, completion is noticed within ``max(0.2 x elapsed, 1 s)``: the interval
never exceeds that bound, so a request that took a minute is seen within 12 s and a fast one
within a second, at a poll cost that grows only logarithmically with the request's duration.
Time is read and spent only through the injected ``clock``/``sleep`` so tests never wait.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from stackdeploy.cloud.events import ProgressEvent


@dataclass(frozen=True)
class PollPolicy:
    """Intervals between polls: ``initial``, then times ``factor``, capped at ``maximum`` and
    at ``max(fraction x elapsed, floor)`` (the lateness bound of noticing completion)."""

    initial: float = 0.2
    factor: float = 1.5
    maximum: float = 5.0
    fraction: float = 0.2
    floor: float = 1.0

    def interval(self, poll_number: int, elapsed: float | None = None) -> float:
        """Seconds to wait before poll ``poll_number`` (0 = the first poll), ``elapsed``
        seconds after the request was submitted."""
        wait = min(self.maximum, self.initial * self.factor**poll_number)
        if elapsed is not None:
            wait = min(wait, max(self.fraction * max(0.0, elapsed), self.floor))
        return wait


def backoff_delay(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Exponential back-off with jitter for retry ``attempt`` (0 = first retry).

    The delay is drawn from [d/2, d] with d = min(cap, base * 2**attempt): jitter spreads
    threads that were throttled together, the lower bound keeps the back-off real.
    """
    ceiling = min(cap, base * 2**attempt)
    return (rng or random).uniform(ceiling / 2, ceiling)


class PollTimeout(Exception):
    """The deadline passed before the request reached a final state (carries the last event)."""

    def __init__(self, event: ProgressEvent) -> None:
        super().__init__(event.request_token)
        self.event = event


def poll_to_completion(
    event: ProgressEvent,
    get_status: Callable[[str], ProgressEvent],
    *,
    deadline: float,
    policy: PollPolicy,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    on_event: Callable[[ProgressEvent], None] | None = None,
    started: float | None = None,
) -> ProgressEvent:
    """Poll ``get_status(request_token)`` until the event is final; return the final event.

    ``deadline`` and ``clock()`` are epoch seconds (RetryAfter is a wall-clock time). Raises
    :class:`PollTimeout` once the deadline passes with the request still running; one last poll
    is made at the deadline itself so a request finishing just in time is not reported late.
    ``started`` (epoch seconds, default: now) is when the request was submitted.
    """
    if started is None:
        started = clock()
    poll_number = 0
    while not event.is_final:
        if event.request_token is None:
            raise ValueError("a non-final ProgressEvent without a RequestToken cannot be polled")
        now = clock()
        if now >= deadline:
            raise PollTimeout(event)
        wait = policy.interval(poll_number, now - started)
        if event.retry_after is not None:
            wait = max(wait, event.retry_after.timestamp() - now)
        wait = min(wait, deadline - now)
        if wait > 0:
            sleep(wait)
        event = get_status(event.request_token)
        poll_number += 1
        if on_event is not None:
            on_event(event)
    return event
