"""Which ready node the scheduler starts first when workers are scarce.

With more ready nodes than workers, the node heading the longest chain of dependents starts
first (then manifest order), so a chain listed after many independent resources is not left
waiting behind them; with one worker the given order is kept exactly. Nodes are held by
gates the test opens, so the order observed never depends on timing.
"""

from __future__ import annotations

import threading

from stackdeploy.engine.scheduler import Scheduler


def _run(
    order: list[str], deps: dict[str, list[str]], parallelism: int
) -> tuple[list[str], dict[str, str]]:
    """Run the graph, letting one node finish at a time (in the order they started), the
    next released only once the scheduler has handled the last one's end (and started what
    that made ready); returns the start order and each node's status."""
    started: list[str] = []
    ended: list[str] = []
    gates = {name: threading.Event() for name in order}
    lock = threading.Condition()

    def on_start(name: str) -> None:
        # Called by the coordinating thread as it starts each node, in order.
        with lock:
            started.append(name)
            lock.notify_all()

    def on_finish(name: str, result: object, running: frozenset[str]) -> None:
        # Called by the coordinating thread, which starts what became ready before it
        # looks at the next node that ended.
        with lock:
            ended.append(name)
            lock.notify_all()

    def work(name: str) -> str:
        assert gates[name].wait(10)
        return name

    scheduler = Scheduler(parallelism, on_start=on_start)
    outcome: dict[str, str] = {}
    thread = threading.Thread(
        target=lambda: outcome.update(
            {n: r.status for n, r in scheduler.run(order, deps, work, on_finish=on_finish).items()}
        )
    )
    thread.start()
    for released in range(len(order)):
        with lock:
            assert lock.wait_for(lambda n=released: len(started) > n, timeout=10)
        name = started[released]
        gates[name].set()
        with lock:
            assert lock.wait_for(lambda n=name: n in ended, timeout=10)
    thread.join(10)
    return started, outcome


def _graph() -> tuple[list[str], dict[str, list[str]]]:
    # Four independent resources listed first, then a chain of three and one fan-in.
    order = ["i0", "i1", "i2", "i3", "c0", "c1", "c2", "fan"]
    deps = {"c1": ["c0"], "c2": ["c1"], "fan": ["i0", "i1", "i2", "i3", "c2"]}
    return order, deps


def test_the_longest_chain_starts_first() -> None:
    order, deps = _graph()
    started, outcome = _run(order, deps, parallelism=2)
    assert set(outcome.values()) == {"done"}
    # c0 heads c0 -> c1 -> c2 -> fan (4 nodes); each i heads only i -> fan (2).
    assert started[:2] == ["c0", "i0"]
    # As c0 ends, c1 (height 3) goes before i1 (height 2).
    assert started.index("c1") < started.index("i1")
    assert started[-1] == "fan"


def test_one_worker_keeps_the_given_order() -> None:
    order, deps = _graph()
    started, _ = _run(order, deps, parallelism=1)
    assert started == order


def test_ties_keep_the_given_order() -> None:
    order = ["b", "a", "c"]
    started, _ = _run(order, {}, parallelism=2)
    assert started == ["b", "a", "c"]
