"""Benchmark: a SELECT over N resources (ListResources + one GetResource each) in the sandbox.

For each N (default 10, 100, 1000) an in-process sandbox (zero latency, state in memory) is
filled with N AWS::Logs::LogGroup resources, then

    SELECT log_group_name, retention_in_days FROM awscc.logs.log_groups
    WHERE region = 'us-east-1'

runs through the engine (sqlglot, push-down, boto3 over HTTP, SQLite) twice: with the
engine's parallel GetResource (``--parallelism``, default 16) and sequentially (parallelism
1, the baseline). Reported per mode: wall time, and CPU per row spent on the client side,
split into the engine's own work (parse, plan, row encoding, SQLite) and the Cloud Control
client (boto3 + our client) -- measured per thread with ``time.thread_time`` so the sandbox
server's threads, which share the process, are not counted. The ratios compare the two
modes.

The client's rate limit is lifted (the sandbox does not throttle). Because client and server
share one process (and its GIL) and the sandbox answers with zero latency, the parallel
speed-up here is a lower bound: against AWS every GetResource waits tens of milliseconds
on the network, which is exactly what the parallel fetch overlaps.

``--rtt MS`` adds an emulated network round trip to every GetResource and ListResources page
(a sleep in the calling thread, outside the CPU figures) to show what the parallel fetch buys
against a real endpoint. ``--server process`` runs the same sandbox as a separate ``stack-deploy sandbox serve``
process on a state file instead, so client and server stop competing for one GIL.

    python benchmarks/query_select.py [--sizes 10,100,1000] [--parallelism 16] [--repeat 1]
                                      [--server inprocess|process] [--rtt 0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

from stackdeploy.cloud.session import open_cloud
from stackdeploy.query.engine import QueryEngine
from stackdeploy.sandbox.handlers import Context
from stackdeploy.sandbox.server import SandboxServer

SQL = (
    "SELECT log_group_name, retention_in_days FROM awscc.logs.log_groups WHERE region = 'us-east-1'"
)


class CpuMeter:
    """Wraps the Cloud Control client: counts the CPU of every call in whichever thread runs
    it, so engine CPU = client-side CPU - CPU inside client calls."""

    def __init__(self, inner: Any, rtt: float = 0.0) -> None:
        self.inner = inner
        self.rtt = rtt
        self.client_cpu = 0.0
        self.worker_cpu = 0.0  # CPU of calls made off the main thread
        self._lock = threading.Lock()
        self._main = threading.get_ident()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _measure(self, cost: float) -> None:
        with self._lock:
            self.client_cpu += cost
            if threading.get_ident() != self._main:
                self.worker_cpu += cost

    def get_resource(self, *args: Any, **kwargs: Any) -> Any:
        if self.rtt:
            time.sleep(self.rtt)
        start = time.thread_time()
        try:
            return self.inner.get_resource(*args, **kwargs)
        finally:
            self._measure(time.thread_time() - start)

    def list_resources(self, *args: Any, **kwargs: Any) -> Any:
        # A generator: measure each step where it runs (the engine's thread).
        iterator = iter(self.inner.list_resources(*args, **kwargs))
        count = 0
        while True:
            if self.rtt and count % 25 == 0:  # one round trip per page
                time.sleep(self.rtt)
            count += 1
            start = time.thread_time()
            try:
                item = next(iterator)
            except StopIteration:
                self._measure(time.thread_time() - start)
                return
            self._measure(time.thread_time() - start)
            yield item


@dataclass
class Run:
    wall: float
    client_cpu: float  # client-side CPU in Cloud Control calls (boto3 + our client)
    engine_cpu: float  # everything else on the client side: parse, plan, encode, SQLite
    rows: int


def fill(server: SandboxServer, n: int) -> None:
    """Create N log groups through the sandbox's handlers (fast; the SELECT is what's timed)."""
    ctx = Context()
    for i in range(n):
        server.handlers.handle(
            "CreateResource",
            {
                "TypeName": "AWS::Logs::LogGroup",
                "DesiredState": json.dumps(
                    {"LogGroupName": f"bench-{i:05d}", "RetentionInDays": (1, 3, 5)[i % 3]}
                ),
                "ClientToken": f"bench-{i}",
            },
            ctx,
        )
    server.store.settle(time.time() + 1)


@contextmanager
def sandbox_url(n: int, mode: str) -> Iterator[str]:
    """A filled sandbox's URL: in this process, or a ``sandbox serve`` subprocess."""
    if mode == "inprocess":
        with SandboxServer() as server:
            fill(server, n)
            yield server.url
        return
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "sandbox.db"
        filler = SandboxServer(state)
        fill(filler, n)
        filler.store.close()
        process = subprocess.Popen(
            [sys.executable, "-m", "stackdeploy", "sandbox", "serve", "--port", "0",
             "--state", str(state)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if not line.startswith("Listening on http://"):
                raise SystemExit(f"sandbox did not start: {line!r}")
            yield line.split(" ", 2)[2]
        finally:
            process.terminate()
            process.wait(timeout=15)


def measure(cloud: Any, parallelism: int, expected: int, rtt: float = 0.0) -> Run:
    meter = CpuMeter(cloud, rtt)
    engine = QueryEngine(meter, parallelism=parallelism)
    main_start = time.thread_time()
    wall_start = time.perf_counter()
    result = engine.execute(SQL)
    wall = time.perf_counter() - wall_start
    main_cpu = time.thread_time() - main_start
    if len(result.rows) != expected:
        raise SystemExit(f"expected {expected} rows, got {len(result.rows)}")
    total = main_cpu + meter.worker_cpu
    return Run(wall, meter.client_cpu, total - meter.client_cpu, len(result.rows))


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.client_cpu for r in runs),
        statistics.median(r.engine_cpu for r in runs),
        runs[0].rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--parallelism", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode (median)")
    parser.add_argument("--server", choices=["inprocess", "process"], default="inprocess")
    parser.add_argument("--rtt", type=float, default=0.0, help="emulated round trip, ms")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]

    header = (
        f"{'N':>5}  {'mode':<12} {'wall s':>8} {'rows/s':>8} "
        f"{'engine CPU/row':>15} {'client CPU/row':>15}"
    )
    print(f"sandbox: {args.server}, zero latency; emulated round trip: {args.rtt:g} ms")
    print(header)
    print("-" * len(header))
    summary = []
    for n in sizes:
        with (
            sandbox_url(n, args.server) as url,
            open_cloud(
                region="us-east-1",
                endpoint_url=url,
                max_rps=1_000_000,
                burst=1_000_000,
                max_pool_connections=max(50, args.parallelism * 2),
            ) as cloud,
        ):
            measure(cloud, args.parallelism, n)  # warm-up: schemas, connections, imports
            modes = {}
            for label, parallelism in (
                (f"parallel={args.parallelism}", args.parallelism),
                ("sequential", 1),
            ):
                run = median_run(
                    [measure(cloud, parallelism, n, args.rtt / 1000) for _ in range(args.repeat)]
                )
                modes[label] = run
                print(
                    f"{n:>5}  {label:<12} {run.wall:>8.3f} {n / run.wall:>8.0f} "
                    f"{run.engine_cpu / n * 1e6:>12.0f} us {run.client_cpu / n * 1e6:>12.0f} us"
                )
            par, seq = modes[f"parallel={args.parallelism}"], modes["sequential"]
            summary.append((n, seq.wall / par.wall, par.engine_cpu / max(seq.engine_cpu, 1e-9)))
    print()
    print("ratios (sequential wall / parallel wall; parallel engine CPU / sequential engine CPU)")
    for n, speedup, cpu_ratio in summary:
        print(f"  N={n:<5} speed-up x{speedup:.2f}   engine CPU ratio {cpu_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
