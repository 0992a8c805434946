"""Running work over a dependency graph with bounded parallelism.

:class:`Scheduler` runs a function once per node of a graph in worker threads: a node starts
as soon as everything it depends on is done and a worker is free. With one worker the run
follows the given order exactly (manifest order for build, its reverse for teardown). With
more, among ready nodes the one heading the longest chain of dependents goes first (then the
earliest in the given order): when there are more ready nodes than workers, starting the
critical path first keeps the run near depth x latency (a chain at the end of the manifest
is not left waiting behind independent resources listed before it).

When a node fails, what happens to the rest is the caller's ``policy``:

* ``"stop"``: start nothing more; the nodes already running finish (their requests are polled
  to the end); the rest are reported ``not_started``.
* ``"skip"``: carry on with everything that does not depend on the failure; its dependents,
  transitively, are ``skipped`` naming the failed node.
* ``"continue"``: a failure counts as done for scheduling (planning uses this: every
  resource's errors are found in one pass).

:class:`Cancel` stops scheduling from outside (Ctrl-C, SIGTERM): running nodes finish,
nothing new starts. Nothing here sleeps: the coordinating thread waits on a condition that
workers signal, so tests drive it with gates, not timing.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from stackdeploy.errors import StackDeployError

T = TypeVar("T")

Policy = Literal["stop", "skip", "continue"]
NodeStatus = Literal["done", "failed", "skipped", "not_started", "cancelled"]


class Cancelled(StackDeployError):
    """Raised inside a worker that was about to start a mutation after the run was
    interrupted: the node is reported ``cancelled``, not failed."""


class Cancel:
    """A one-way switch shared by the scheduler and the handlers: once set, nothing new
    starts. ``reason`` says why (``SIGINT``, ``SIGTERM``, or the failed resource)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def set(self, reason: str) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self, what: str = "") -> None:
        """Raise :class:`Cancelled` when set (called before starting a mutation)."""
        if self._event.is_set():
            raise Cancelled(f"not started{': ' + what if what else ''} (run {self.reason})")

    def on_set(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(listener)
            already = self._event.is_set()
        if already:
            listener()


@dataclass(frozen=True)
class NodeResult(Generic[T]):
    """How one node ended: ``value`` when done, ``error`` when failed, ``reason`` when
    skipped / not started / cancelled."""

    status: NodeStatus
    value: T | None = None
    error: BaseException | None = None
    reason: str | None = None


class Scheduler:
    """Runs ``work(node)`` over a graph with at most ``parallelism`` nodes at once."""

    def __init__(
        self,
        parallelism: int,
        cancel: Cancel | None = None,
        *,
        on_start: Callable[[str], None] | None = None,
        thread_name: str = "stack-deploy",
        depends_word: str = "depends on",
    ) -> None:
        self.parallelism = max(1, int(parallelism))
        self.cancel = cancel or Cancel()
        self.on_start = on_start
        self.thread_name = thread_name
        # How a skipped node relates to the one that failed ("needed by" in teardown).
        self.depends_word = depends_word
        self.max_running = 0  # the most nodes seen running at once (for tests and reports)

    def run(
        self,
        order: Sequence[str],
        deps: Mapping[str, Sequence[str]],
        work: Callable[[str], T],
        *,
        policy: Policy = "stop",
        on_finish: Callable[[str, NodeResult[T], frozenset[str]], None] | None = None,
    ) -> dict[str, NodeResult[T]]:
        """Run every node of ``order``; dependencies outside ``order`` are ignored.
        Returns each node's result, in ``order``. ``on_finish(name, result, running)`` is
        called (in the calling thread) as each node ends, with the nodes still running."""
        nodes = list(order)
        members = set(nodes)
        position = {name: i for i, name in enumerate(nodes)}
        needs = {n: [d for d in deps.get(n, ()) if d in members and d != n] for n in nodes}
        waiting = {n: len(needs[n]) for n in nodes}
        dependents: dict[str, list[str]] = {n: [] for n in nodes}
        for n in nodes:
            for d in needs[n]:
                dependents[d].append(n)
        results: dict[str, NodeResult[T]] = {}
        if self.parallelism == 1:
            priority: dict[str, tuple[int, int]] = {n: (0, position[n]) for n in nodes}
        else:
            height = _heights(nodes, needs, dependents)
            priority = {n: (-height[n], position[n]) for n in nodes}
        # A heap of (priority, node): taking the next node and adding one cost O(log n), so a
        # run stays linear in the graph's size whatever its width. A node skipped while in
        # the heap stays there and is passed over when it comes out (it has a result).
        ready = [(priority[n], n) for n in nodes if waiting[n] == 0]
        heapq.heapify(ready)
        running: set[str] = set()
        finished: deque[tuple[str, NodeResult[T]]] = deque()
        cond = threading.Condition()
        stopped_by: str | None = None

        def wake() -> None:
            with cond:
                cond.notify_all()

        self.cancel.on_set(wake)

        def worker(name: str) -> None:
            try:
                value = work(name)
                outcome: NodeResult[T] = NodeResult("done", value=value)
            except Cancelled as exc:
                outcome = NodeResult("cancelled", error=exc, reason=str(exc))
            except BaseException as exc:  # reported by the caller, never lost in a thread
                outcome = NodeResult("failed", error=exc)
            with cond:
                finished.append((name, outcome))
                cond.notify_all()

        def release(name: str) -> None:
            for child in dependents[name]:
                waiting[child] -= 1
                if waiting[child] == 0 and child not in results:
                    heapq.heappush(ready, (priority[child], child))

        def skip_dependents(name: str, why: str) -> None:
            todo = deque(dependents[name])
            while todo:
                child = todo.popleft()
                if child in results or child in running:
                    continue
                results[child] = NodeResult("skipped", reason=why)
                todo.extend(dependents[child])

        with cond:
            while True:
                while finished:
                    name, outcome = finished.popleft()
                    running.discard(name)
                    results[name] = outcome
                    if on_finish is not None:
                        on_finish(name, outcome, frozenset(running))
                    if outcome.status == "done" or (
                        outcome.status == "failed" and policy == "continue"
                    ):
                        release(name)
                    elif outcome.status == "failed" and policy == "skip":
                        skip_dependents(name, f"{self.depends_word} {name}, which failed")
                    elif outcome.status == "failed" and stopped_by is None:
                        stopped_by = name
                    elif outcome.status == "cancelled":
                        skip_dependents(name, f"{self.depends_word} {name}, which was not started")
                stop = stopped_by is not None or self.cancel.is_set()
                while ready and not stop and len(running) < self.parallelism:
                    _, name = heapq.heappop(ready)
                    if name in results:  # skipped while it waited
                        continue
                    running.add(name)
                    self.max_running = max(self.max_running, len(running))
                    if self.on_start is not None:
                        self.on_start(name)
                    thread = threading.Thread(
                        target=worker, args=(name,), name=f"{self.thread_name}:{name}", daemon=True
                    )
                    thread.start()
                if not running and (stop or not ready):
                    break
                cond.wait()
        why = (
            f"stopped after {stopped_by} failed"
            if stopped_by is not None
            else f"run {self.cancel.reason}"
            if self.cancel.is_set()
            else "its dependencies did not complete"
        )
        for name in nodes:
            if name not in results:
                results[name] = NodeResult("not_started", reason=why)
        return {name: results[name] for name in nodes}


def _heights(
    nodes: Sequence[str],
    needs: Mapping[str, Sequence[str]],
    dependents: Mapping[str, Sequence[str]],
) -> dict[str, int]:
    """Each node's height: the most nodes on a chain of dependents starting at it (1 for a
    node nothing depends on). Linear in the graph's size, no recursion (chains may be long)."""
    remaining = {n: len(dependents[n]) for n in nodes}
    height = dict.fromkeys(nodes, 1)
    todo = [n for n in nodes if remaining[n] == 0]
    while todo:
        node = todo.pop()
        for dep in needs[node]:
            height[dep] = max(height[dep], height[node] + 1)
            remaining[dep] -= 1
            if remaining[dep] == 0:
                todo.append(dep)
    return height
