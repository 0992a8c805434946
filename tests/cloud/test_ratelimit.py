"""The shared token-bucket rate limiter."""

from __future__ import annotations

import threading
import time

import pytest

from stackdeploy.cloud.ratelimit import GUARD, RateLimiter
from tests.cloud.fakes import FakeClock


def test_burst_is_free_then_rate_applies() -> None:
    clock = FakeClock()
    limiter = RateLimiter(20, burst=10, clock=clock, sleep=clock.sleep, guard=0.0)
    waits = [limiter.acquire() for _ in range(10)]
    assert waits == [0.0] * 10
    assert clock.elapsed == 0
    assert limiter.acquire() == pytest.approx(1 / 20)
    for _ in range(89):
        limiter.acquire()
    # 100 calls, 10 free from the burst, the other 90 at 20 per second.
    assert clock.elapsed == pytest.approx(90 / 20)


def test_tokens_refill_with_time_up_to_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, burst=5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.acquire()
    clock.sleep(100)  # idle: the bucket refills, but only to the burst size
    clock.sleeps.clear()
    for _ in range(5):
        assert limiter.acquire() == 0
    assert limiter.acquire() == pytest.approx(0.1)


def test_zero_rate_disables_limiting() -> None:
    clock = FakeClock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        limiter.acquire()
    assert clock.sleeps == []


def test_shared_across_threads_with_the_real_clock() -> None:
    limiter = RateLimiter(400, burst=1)
    calls: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(25):
            limiter.acquire()
            with lock:
                calls.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(4)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    assert len(calls) == 100
    # 99 calls beyond the single-token burst at 400/s need at least ~0.25 s in total.
    assert elapsed >= 99 / 400 * 0.95
    # Over any 0.1 s window no more than rate*0.1 + burst calls went through.
    calls.sort()
    for i, t in enumerate(calls):
        in_window = sum(1 for u in calls[i:] if u - t < 0.1)
        assert in_window <= 400 * 0.1 + 1 + 2  # +2: scheduler slack


def _most_in_one_second(times: list[float]) -> int:
    """The most of ``times`` falling in any window [t, t + 1)."""
    ordered = sorted(times)
    best = first = 0
    for last, now in enumerate(ordered):
        while ordered[first] <= now - 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


def test_a_burst_never_adds_to_the_rate_within_one_second() -> None:
    # The bucket alone would let 10 (the burst) + 20 (the rate) through in the first second.
    clock = FakeClock()
    limiter = RateLimiter(20, burst=10, clock=clock, sleep=clock.sleep, guard=0.0)
    sent = []
    for _ in range(100):
        limiter.acquire()
        sent.append(clock.elapsed)
    assert sent[:10] == [0.0] * 10  # the burst still goes out at once
    assert _most_in_one_second(sent) == 20
    assert sent[-1] == pytest.approx(90 / 20)  # the long-run rate is unchanged


@pytest.mark.parametrize("seed", range(5))
def test_the_guard_keeps_the_server_within_the_rate_despite_jitter(seed: int) -> None:
    # Each request reaches the server up to 90 ms after it left the limiter (threads,
    # serialisation, the server's queue): counted at the server, a window of exactly one
    # second lets more than the rate into one second; the guard does not.
    import random

    def arrivals(guard: float) -> list[float]:
        rng = random.Random(seed)
        clock = FakeClock()
        limiter = RateLimiter(20, burst=10, clock=clock, sleep=clock.sleep, guard=guard)
        out = []
        for _ in range(200):
            limiter.acquire()
            out.append(clock.elapsed + rng.uniform(0.0, 0.09))
        return out

    assert _most_in_one_second(arrivals(0.0)) > 20
    guarded = arrivals(GUARD)
    assert _most_in_one_second(guarded) <= 20
    # The price: the long-run rate is rate / (1 + guard), not less.
    assert max(guarded) <= 190 / (20 / (1 + GUARD)) + 0.1


def test_bursts_after_idle_gaps_stay_within_the_rate() -> None:
    import random

    rng = random.Random(7)
    clock = FakeClock()
    limiter = RateLimiter(20, burst=10, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(50):
        clock.sleep(rng.choice([0.0, 0.1, 0.3, 0.7, 1.5]))  # the caller's own pauses
        for _ in range(rng.randint(1, 25)):
            limiter.acquire()
            sent.append(clock.elapsed)
    assert _most_in_one_second(sent) <= 20


def test_after_throttling_the_window_follows_the_lowered_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(20, burst=10, clock=clock, sleep=clock.sleep)
    limiter.penalize(0.0)  # halves the rate to 10/s, recovering by 1/s per second
    sent = []
    for _ in range(30):
        limiter.acquire()
        sent.append(clock.elapsed)
    first_second = [t for t in sent if t < 1.0]
    assert len(first_second) <= 10
