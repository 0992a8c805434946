"""The engine's read cache: concurrent first reads of the same key make one call.

Planning runs many resources at once; when several of them need the same listing (queues
whose identifiers AWS chose, absent from the tag index) or the same resource, one call goes
to Cloud Control and the others wait for its answer. Reads are held by a gate the test
opens; waiting is observed through the cache's ``waiting`` count, never through timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stackdeploy.engine.discovery import ReadCache
from stackdeploy.errors import CloudControlError
from tests.engine.fakes import MemoryCloud

QUEUE = "AWS::SQS::Queue"


class HeldReads:
    """MemoryCloud whose reads wait for ``gate``; ``fail_first`` makes the first read raise."""

    def __init__(self, cloud: MemoryCloud, *, fail_first: bool = False) -> None:
        self.cloud = cloud
        self.gate = threading.Event()
        self.fail_first = fail_first
        self.entered = 0
        self._lock = threading.Lock()

    @property
    def default_region(self) -> str:
        return self.cloud.default_region

    def _enter(self) -> None:
        with self._lock:
            self.entered += 1
            first = self.entered == 1
        assert self.gate.wait(10)
        if first and self.fail_first:
            raise CloudControlError("ListResources: ServiceInternalError", error_code="Internal")

    def list_resources(self, type_name: str, **kwargs: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        self._enter()
        return self.cloud.list_resources(type_name, **kwargs)

    def get_resource(self, type_name: str, identifier: Any, region: str | None = None) -> Any:
        self._enter()
        return self.cloud.get_resource(type_name, identifier, region=region)


def _until(predicate: Callable[[], bool]) -> None:
    """Wait for a state the threads reach by themselves (fails after 10 s, never passes
    by waiting)."""
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "state never reached"
        time.sleep(0.001)


def _in_threads(n: int, read: Callable[[], Any]) -> tuple[list[threading.Thread], list[Any]]:
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(read())
        except CloudControlError as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    return threads, results


@pytest.fixture
def queues() -> MemoryCloud:
    cloud = MemoryCloud()
    for i in range(3):
        cloud.create_resource(QUEUE, {"QueueName": f"q{i}"})
    return cloud


def test_concurrent_listings_of_a_type_make_one_call(queues: MemoryCloud) -> None:
    inner = HeldReads(queues)
    cache = ReadCache(inner)  # type: ignore[arg-type]
    threads, results = _in_threads(8, lambda: sorted(i for i, _ in cache.list_resources(QUEUE)))
    _until(lambda: inner.entered == 1 and cache.waiting == 7)
    inner.gate.set()
    for thread in threads:
        thread.join(10)
    assert inner.entered == 1 and queues.count("list", QUEUE) == 1
    assert len(results) == 8 and all(r == results[0] for r in results)
    assert len(results[0]) == 3
    assert cache.waiting == 0


def test_concurrent_reads_of_a_resource_make_one_call(queues: MemoryCloud) -> None:
    identifier = next(i for i, _ in queues.list_resources(QUEUE))
    inner = HeldReads(queues)
    cache = ReadCache(inner)  # type: ignore[arg-type]
    threads, results = _in_threads(5, lambda: cache.get_resource(QUEUE, identifier))
    _until(lambda: inner.entered == 1 and cache.waiting == 4)
    inner.gate.set()
    for thread in threads:
        thread.join(10)
    assert inner.entered == 1
    assert len(results) == 5 and all(r == results[0] for r in results)
    # Each caller gets its own copy: one changing it cannot change another's.
    results[0]["QueueName"] = "changed"
    assert cache.get_resource(QUEUE, identifier)["QueueName"] != "changed"


def test_a_failed_read_leaves_the_next_waiter_to_try_again(queues: MemoryCloud) -> None:
    inner = HeldReads(queues, fail_first=True)
    cache = ReadCache(inner)  # type: ignore[arg-type]
    threads, results = _in_threads(3, lambda: len(list(cache.list_resources(QUEUE))))
    _until(lambda: inner.entered == 1 and cache.waiting == 2)
    inner.gate.set()
    for thread in threads:
        thread.join(10)
    # The first read failed (its caller sees the error); one waiter read again for the rest.
    assert inner.entered == 2
    assert sorted(r for r in results if isinstance(r, int)) == [3, 3]
    assert sum(isinstance(r, CloudControlError) for r in results) == 1


def test_partial_listings_are_never_shared(queues: MemoryCloud) -> None:
    cache = ReadCache(queues)
    assert len(list(cache.list_resources(QUEUE, max_results=1))) <= 3
    assert len(list(cache.list_resources(QUEUE))) == 3
    assert len(list(cache.list_resources(QUEUE))) == 3
    assert queues.count("list", QUEUE) == 2  # the partial one, then the full one (cached)


def test_a_tag_lookup_that_breaks_does_not_leave_its_waiters_waiting() -> None:
    from stackdeploy.engine.discovery import StackTags

    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []

    class Breaking(MemoryCloud):
        def tagged_resources(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
            calls.append(1)
            if len(calls) == 1:
                entered.set()
                release.wait(10)
                raise RuntimeError("a bug in the tagging call")
            return []

    tags = StackTags(Breaking(), "s", "dev")
    owner_error: list[BaseException] = []

    def owner() -> None:
        try:
            tags.index("us-east-1")
        except RuntimeError as exc:
            owner_error.append(exc)

    first = threading.Thread(target=owner)
    first.start()
    assert entered.wait(10)
    waiter = threading.Thread(target=tags.index, args=("us-east-1",))
    waiter.start()
    release.set()
    first.join(10)
    waiter.join(10)
    assert not waiter.is_alive()  # it listed instead (or asked again), it did not hang
    assert owner_error and "a bug" in str(owner_error[0])
