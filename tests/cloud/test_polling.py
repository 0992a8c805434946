"""Poll schedule, RetryAfter, time-out and back-off, with a fake clock (no real waiting)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from stackdeploy.cloud.events import ProgressEvent
from stackdeploy.cloud.polling import PollPolicy, PollTimeout, backoff_delay, poll_to_completion
from tests.cloud.fakes import FakeClock


def event(status: str, retry_after: float | None = None) -> ProgressEvent:
    return ProgressEvent(
        type_name="AWS::S3::Bucket",
        identifier="b",
        request_token="tok-1",
        operation="CREATE",
        status=status,
        retry_after=datetime.fromtimestamp(retry_after, tz=UTC) if retry_after else None,
    )


class Statuses:
    """Answers GetResourceRequestStatus from a script, recording when each poll happened."""

    def __init__(self, clock: FakeClock, script: list[ProgressEvent]) -> None:
        self.clock = clock
        self.script = list(script)
        self.poll_times: list[float] = []

    def __call__(self, token: str) -> ProgressEvent:
        assert token == "tok-1"
        self.poll_times.append(self.clock())
        if len(self.script) > 1:
            return self.script.pop(0)
        return self.script[0]


def test_policy_starts_under_a_second_and_backs_off_to_a_cap() -> None:
    policy = PollPolicy()
    intervals = [policy.interval(n) for n in range(12)]
    assert intervals[0] < 1.0
    assert intervals == sorted(intervals)
    assert intervals[1] / intervals[0] == pytest.approx(1.5)
    assert max(intervals) == 5.0
    assert intervals[-1] == 5.0


def test_polls_until_final_with_growing_intervals() -> None:
    clock = FakeClock()
    statuses = Statuses(clock, [event("IN_PROGRESS")] * 5 + [event("SUCCESS")])
    seen: list[str] = []
    final = poll_to_completion(
        event("PENDING"),
        statuses,
        deadline=clock() + 600,
        policy=PollPolicy(0.2, 1.5, 5.0),
        clock=clock,
        sleep=clock.sleep,
        on_event=lambda e: seen.append(e.status),
    )
    assert final.status == "SUCCESS"
    assert seen == ["IN_PROGRESS"] * 5 + ["SUCCESS"]
    # Geometric growth, capped by the lateness bound max(0.2 x elapsed, 1 s).
    assert clock.sleeps == pytest.approx([0.2, 0.3, 0.45, 0.675, 1.0, 1.0])


@pytest.mark.parametrize("finish", [0.05, 0.7, 1.3, 4.0, 9.5, 33.0, 120.0, 1234.5])
def test_completion_is_noticed_within_a_fifth_of_elapsed_or_a_second(finish: float) -> None:
    # A request that finishes `finish` seconds after its submission, with no RetryAfter.
    clock = FakeClock()
    start = clock()

    def status(token: str) -> ProgressEvent:
        done = clock() - start >= finish
        return event("SUCCESS" if done else "IN_PROGRESS")

    poll_to_completion(
        event("IN_PROGRESS"),
        status,
        deadline=start + 7200,
        policy=PollPolicy(),
        clock=clock,
        sleep=clock.sleep,
        started=start,
    )
    noticed = clock() - start
    assert finish <= noticed <= finish + max(0.2 * finish, 1.0) + 1e-9


def test_interval_is_capped() -> None:
    clock = FakeClock()
    statuses = Statuses(clock, [event("IN_PROGRESS")] * 20 + [event("SUCCESS")])
    poll_to_completion(
        event("IN_PROGRESS"),
        statuses,
        deadline=clock() + 3600,
        policy=PollPolicy(0.2, 2.0, 5.0),
        clock=clock,
        sleep=clock.sleep,
    )
    assert max(clock.sleeps) == 5.0
    assert clock.sleeps[-5:] == [5.0] * 5


def test_final_event_is_returned_without_polling() -> None:
    clock = FakeClock()
    statuses = Statuses(clock, [event("SUCCESS")])
    final = poll_to_completion(
        event("FAILED"),
        statuses,
        deadline=clock() + 1,
        policy=PollPolicy(),
        clock=clock,
        sleep=clock.sleep,
    )
    assert final.status == "FAILED"
    assert statuses.poll_times == []


def test_never_polls_before_retry_after() -> None:
    clock = FakeClock()
    start = clock()
    statuses = Statuses(clock, [event("IN_PROGRESS", retry_after=start + 7.5), event("SUCCESS")])
    poll_to_completion(
        event("IN_PROGRESS", retry_after=start + 3.0),
        statuses,
        deadline=start + 600,
        policy=PollPolicy(0.2, 1.5, 5.0),
        clock=clock,
        sleep=clock.sleep,
    )
    # First poll waits for the submission's RetryAfter, the second for the poll's.
    assert statuses.poll_times[0] >= start + 3.0
    assert statuses.poll_times[1] >= start + 7.5
    assert statuses.poll_times == pytest.approx([start + 3.0, start + 7.5])


def test_retry_after_in_the_past_does_not_delay() -> None:
    clock = FakeClock()
    statuses = Statuses(clock, [event("SUCCESS")])
    poll_to_completion(
        event("IN_PROGRESS", retry_after=clock() - 100),
        statuses,
        deadline=clock() + 600,
        policy=PollPolicy(0.2, 1.5, 5.0),
        clock=clock,
        sleep=clock.sleep,
    )
    assert clock.sleeps == [0.2]


def test_times_out_at_the_deadline_after_a_last_poll() -> None:
    clock = FakeClock()
    deadline = clock() + 60
    statuses = Statuses(clock, [event("IN_PROGRESS")])
    with pytest.raises(PollTimeout) as info:
        poll_to_completion(
            event("IN_PROGRESS"),
            statuses,
            deadline=deadline,
            policy=PollPolicy(0.2, 1.5, 5.0),
            clock=clock,
            sleep=clock.sleep,
        )
    assert info.value.event.request_token == "tok-1"
    assert clock() == pytest.approx(deadline)
    assert statuses.poll_times[-1] == pytest.approx(deadline)
    assert sum(clock.sleeps) == pytest.approx(60)


def test_retry_after_beyond_deadline_times_out_at_deadline() -> None:
    clock = FakeClock()
    deadline = clock() + 10
    statuses = Statuses(clock, [event("IN_PROGRESS", retry_after=clock() + 1000)])
    with pytest.raises(PollTimeout):
        poll_to_completion(
            event("IN_PROGRESS", retry_after=clock() + 1000),
            statuses,
            deadline=deadline,
            policy=PollPolicy(),
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock() == pytest.approx(deadline)


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    rng = random.Random(3)
    for attempt in range(8):
        ceiling = min(20.0, 0.5 * 2**attempt)
        for _ in range(50):
            delay = backoff_delay(attempt, base=0.5, cap=20.0, rng=rng)
            assert ceiling / 2 <= delay <= ceiling
    delays = {backoff_delay(2, base=1.0, cap=60.0, rng=rng) for _ in range(20)}
    assert len(delays) > 1  # jittered
