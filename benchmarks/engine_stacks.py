"""Benchmarks of the engine: parallel build/teardown, discovery calls, planning at scale.

Every figure is taken against a ``stack-deploy sandbox serve`` subprocess (real HTTP, a state
file, ListResources returning primary identifiers only as AWS does for many types) started
with ``--request-log``, so calls and request rates are counted at the server. The engine runs
in this process through its library API, built as ``stack-deploy build|plan|teardown
--endpoint-url URL`` builds it (:func:`engine_run`); ``scale`` also runs the CLI in fresh
processes for a cold wall time and the peak RSS. Imports and the first load of the schemas
happen in a warm-up run that is not timed (the CLI's start-up is measured on its own in
``scale``). Ratios are computed within one run of this script, baselines included.

Sub-commands (each prints a table; ``--json FILE`` writes every figure):

``apply``
    Three stacks, at each latency L (default 1 s and 3 s: each create/update/delete takes L
    at the sandbox): (a) 50 independent resources, (b) a chain of 10 (each one's tags
    reference the previous one's ARN), (c) 30 independent + a chain of 5 + a fan-in
    resource referencing all 30 and the chain's end. A mix of SQS queues and SNS topics
    (identifiers chosen by AWS, found again by the stack tags) and named S3 buckets. For
    each: build and teardown wall time over the critical-path bound (depth x L; goals
    <= 1.15 at L = 3, <= 1.3 at L = 1), the speed-up over ``--parallelism 1`` (same stack),
    the ratio to a plain boto3 script that submits each dependency level's requests at once
    and polls every 0.1 s (goal <= 1.2), and the peak request rate seen at the server (the
    most requests arriving in any 1 s window). One more case runs stack (a) at L = 1 with
    ``--max-rps 20`` (``--rps-case``) and checks that the peak stays within the limit.

``calls``
    A no-change ``plan`` (and ``build`` and ``test``) of 200 declarative resources whose
    identifiers AWS chooses (queues and topics): Cloud Control and tagging calls per
    resource, counted at the server (goal <= 1.05).

``scale``
    ``plan`` of 200 and 1,000 declarative resources at L = 0 with no rate limit, against an
    account holding none of them (all to create) and after they were built (no change):
    in-process wall time (median of ``--repeat``), the time ratio 1,000 / 200 (goal: linear,
    <= 5.5), and a cold ``stack-deploy plan`` process: wall time, the same minus the CLI's
    start-up (a one-resource plan), and peak RSS (goal: <= 3 s for 1,000 on a 2-core
    machine).

``all`` runs the three.

    python benchmarks/engine_stacks.py apply [--latency 1,3] [--stacks a,b,c] [--repeat 1]
                                             [--no-sequential] [--rps-case 20] [--json FILE]
    python benchmarks/engine_stacks.py calls [-n 200] [--json FILE]
    python benchmarks/engine_stacks.py scale [--sizes 200,1000] [--repeat 3] [--json FILE]
    python benchmarks/engine_stacks.py all [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Fake credentials, no profile, no instance metadata: nothing here can reach real AWS.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "NO_COLOR": "1",
    }
)
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)

REGION = "us-east-1"
LOCK_TYPE = "AWS::SSM::Parameter"  # the stack lock's type (stackdeploy.engine.lock)
ENV = "dev"
REPO = Path(__file__).resolve().parent.parent
FINAL = {"SUCCESS", "FAILED", "CANCEL_COMPLETE"}
GOAL_BOUND = {1.0: 1.3, 3.0: 1.15}  # wall / critical-path bound, by latency
GOAL_BASELINE = 1.2
GOAL_CALLS = 1.05
GOAL_SCALE_WALL = 3.0
GOAL_SCALE_GROWTH = 5.5


# -- the sandbox -------------------------------------------------------------------------------


class Sandbox:
    """A ``stack-deploy sandbox serve`` subprocess with a state file and a request log."""

    def __init__(self, folder: Path, latency: float, lock_latency: float | None = None) -> None:
        self.log_path = folder / "requests.jsonl"
        self.log_path.touch()
        self._stderr = open(folder / "sandbox.err", "w", encoding="utf-8")  # noqa: SIM115
        # The repository first on the path: the sandbox runs this checkout's code.
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stackdeploy", "sandbox", "serve", "--port", "0",
             "--state", str(folder / "sandbox.db"), "--latency", str(latency),
             "--list-mode", "identifiers", "--request-log", str(self.log_path),
             *(["--latency-for", f"{LOCK_TYPE}={lock_latency}"] if lock_latency is not None else [])],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env={**os.environ, "PYTHONPATH": path},
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("Listening on http://"):
            self.stop()
            raise SystemExit(f"the sandbox did not start: {line!r}")
        self.url = line.split(" ", 2)[2]

    def requests(self, start: float, end: float) -> list[dict[str, Any]]:
        """Calls that arrived between ``start`` and ``end`` (epoch seconds)."""
        out = []
        with open(self.log_path, encoding="utf-8") as log:
            for line in log:
                entry = json.loads(line)
                if start <= entry["time"] <= end:
                    out.append(entry)
        return out

    def cpu(self) -> float:
        """CPU seconds the server process has used so far (user + system)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self._stderr.close()


@contextmanager
def sandbox(latency: float, lock_latency: float | None = None) -> Iterator[tuple[Sandbox, Path]]:
    with tempfile.TemporaryDirectory(prefix="sd-bench-") as tmp:
        server = Sandbox(Path(tmp), latency, lock_latency)
        try:
            yield server, Path(tmp)
        finally:
            server.stop()


def peak_rate(times: Sequence[float], window: float = 1.0) -> int:
    """The most requests arriving within any ``window`` seconds (a sliding window)."""
    ordered = sorted(times)
    best = first = 0
    for last, now in enumerate(ordered):
        while ordered[first] <= now - window:
            first += 1
        best = max(best, last - first + 1)
    return best


@dataclass
class Traffic:
    """What the server saw during one run."""

    calls: int
    peak_rps: int
    by_operation: dict[str, int]

    @classmethod
    def of(cls, entries: list[dict[str, Any]]) -> Traffic:
        return cls(
            calls=len(entries),
            peak_rps=peak_rate([e["time"] for e in entries]),
            by_operation=dict(Counter(e["operation"] for e in entries).most_common()),
        )


# -- stacks ------------------------------------------------------------------------------------

TYPES = {"queue": "AWS::SQS::Queue", "topic": "AWS::SNS::Topic", "bucket": "AWS::S3::Bucket"}
# The export holding each kind's ARN (what dependents reference).
ARN_EXPORT = {"queue": "arn", "topic": "topic_arn", "bucket": "arn"}


@dataclass(frozen=True)
class Res:
    name: str
    kind: str  # a key of TYPES
    deps: tuple[str, ...] = ()


@dataclass
class StackSpec:
    name: str
    label: str
    resources: list[Res]

    @property
    def depth(self) -> int:
        """Resources on the longest dependency path (the critical path, in latencies)."""
        return max(levels(self.resources).values()) + 1


def levels(resources: Sequence[Res]) -> dict[str, int]:
    """Each resource's dependency level (0: depends on nothing)."""
    level: dict[str, int] = {}
    for res in resources:  # dependencies come earlier in the list
        level[res.name] = 1 + max((level[d] for d in res.deps), default=-1)
    return level


def kind_at(i: int, kinds: Sequence[str]) -> str:
    return kinds[i % len(kinds)]


MIXED = ("queue", "topic", "bucket")
AWS_CHOSEN = ("queue", "topic")


def independent(prefix: str, n: int, kinds: Sequence[str] = MIXED) -> list[Res]:
    return [Res(f"{prefix}{i}", kind_at(i, kinds)) for i in range(n)]


def chain(prefix: str, n: int, kinds: Sequence[str] = MIXED) -> list[Res]:
    return [
        Res(f"{prefix}{i}", kind_at(i, kinds), (f"{prefix}{i - 1}",) if i else ()) for i in range(n)
    ]


def apply_stacks() -> dict[str, StackSpec]:
    mixed = independent("i", 30) + chain("c", 5)
    fan_in = Res("fan", "queue", (*(r.name for r in mixed if r.name.startswith("i")), "c4"))
    return {
        "a": StackSpec("bench-a", "(a) 50 independent", independent("r", 50)),
        "b": StackSpec("bench-b", "(b) chain of 10", chain("r", 10)),
        "c": StackSpec("bench-c", "(c) 30 + chain 5 + fan-in", [*mixed, fan_in]),
    }


def _yaml(value: Any) -> str:
    return json.dumps(value)  # JSON is YAML


def write_stack(spec: StackSpec, folder: Path) -> Path:
    """The stack folder of ``spec``: a manifest of declarative resources."""
    needed = {d for r in spec.resources for d in r.deps}
    kinds = {r.name: r.kind for r in spec.resources}
    lines = [
        "version: 1",
        f"name: {spec.name}",
        "providers:",
        "  - awscc",
        "globals:",
        "  - name: region",
        f"    value: {REGION}",
        "resources:",
    ]
    for res in spec.resources:
        lines += [f"  - name: {res.name}", f"    resource_type: {TYPES[res.kind]}", "    props:"]
        if res.kind == "queue":
            lines += ["      - name: VisibilityTimeout", "        value: 30"]
        elif res.kind == "topic":
            lines += ["      - name: DisplayName", f"        value: {_yaml(res.name)}"]
        else:
            lines += [
                "      - name: BucketName",
                f'        value: "{{{{ stack_name }}}}-{{{{ stack_env }}}}-{res.name}"',
            ]
        if res.deps:
            lines += ["      - name: Tags", "        value:"]
            for dep in res.deps:
                ref = f"{{{{ {dep}.{ARN_EXPORT[kinds[dep]]} }}}}"
                lines += [f"          - Key: dep-{dep}", f'            Value: "{ref}"']
        if res.name in needed:
            lines += ["    exports:", f"      - {ARN_EXPORT[res.kind]}"]
    path = folder / spec.name
    path.mkdir(parents=True, exist_ok=True)
    (path / "stackql_manifest.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- the engine, in process --------------------------------------------------------------------


class PhaseSink:
    """Keeps the time each phase began (planning, applying, deleting)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}

    def emit(self, event: Any) -> None:
        if event.state == "phase" and event.phase not in self.phases:
            self.phases[event.phase] = event.time


@dataclass
class EngineRun:
    wall: float
    plan: float  # of which planning (until the first mutation could start)
    actions: dict[str, int]
    start: float
    end: float
    cpu: float  # CPU seconds of this process (the engine, all threads)
    server_cpu: float  # CPU seconds of the sandbox process meanwhile
    sent: list[float]  # when each request left this process (epoch seconds)


def engine_run(
    verb: str,
    stack_dir: Path,
    server: Sandbox,
    *,
    parallelism: int = 10,
    max_rps: float | None = None,
    expect: str | None = None,
) -> EngineRun:
    """``stack-deploy VERB STACK_DIR dev --endpoint-url URL [--parallelism N] [--max-rps R]``
    through the library API, as :func:`stackdeploy.cli.stack._runner` builds it (without
    the progress view); ``expect``: the action every resource must have."""
    from stackdeploy.cli.options import CloudOptions, open_cloud_from
    from stackdeploy.engine import Run, Runner, RunOptions, RunState
    from stackdeploy.engine.events import Emitter
    from stackdeploy.engine.graph import build_graph
    from stackdeploy.manifest.stack import load_stack

    start = time.time()
    cpu, server_cpu = time.process_time(), server.cpu()
    began = time.perf_counter()
    stack = load_stack(str(stack_dir), ENV)
    graph = build_graph(stack)
    state = RunState(stack)
    sink = PhaseSink()
    options = CloudOptions(region=REGION, endpoint_url=server.url)
    sent: list[float] = []
    with open_cloud_from(options, max_rps=max_rps) as client:
        # When each request leaves this process (after the rate limiter, before the wire).
        session = client.pool.session()  # type: ignore[attr-defined]
        session.events.register("before-send", lambda **_: sent.append(time.time()))
        run = Run(
            stack=stack,
            state=state,
            cloud=client,
            region=REGION,
            options=RunOptions(parallelism=parallelism, dry_run=verb == "plan"),
            emit=Emitter(sink),
        )
        runner = Runner(run, graph=graph)
        if verb == "plan":
            plan = runner.plan()
        else:
            result = getattr(runner, verb)()
            if result.failures:
                raise SystemExit(f"{verb} of {stack_dir.name} failed: {result.failures}")
            plan = result.plan
    wall = time.perf_counter() - began
    end = time.time()
    cpu, server_cpu = time.process_time() - cpu, server.cpu() - server_cpu
    actions = dict(Counter(r.action for r in plan.resources))
    if expect is not None and set(actions) != {expect}:
        raise SystemExit(f"{verb} of {stack_dir.name}: expected only {expect!r}, got {actions}")
    applying = sink.phases.get("applying") or sink.phases.get("deleting")
    planned = (applying - start) if applying else wall
    return EngineRun(wall, planned, actions, start, end, cpu, server_cpu, sent)


# -- the baseline: a plain boto3 script ---------------------------------------------------------


@dataclass
class BaselineRun:
    wall: float
    start: float
    end: float
    identifiers: dict[str, str] = field(default_factory=dict)


def _boto3_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "cloudcontrol",
        endpoint_url=url,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=64),
    )


def _wait_all(client: Any, pool: ThreadPoolExecutor, tokens: dict[str, str]) -> dict[str, Any]:
    """Poll every request every 0.1 s (in parallel) until all are final."""
    pending, final = dict(tokens), {}
    while pending:
        time.sleep(0.1)
        names = list(pending)
        events = pool.map(
            lambda n: client.get_resource_request_status(RequestToken=pending[n])["ProgressEvent"],
            names,
        )
        for name, event in zip(names, events, strict=True):
            if event["OperationStatus"] in FINAL:
                if event["OperationStatus"] != "SUCCESS":
                    raise SystemExit(f"baseline: {name} ended {event}")
                final[name] = event
                del pending[name]
    return final


def _baseline_desired(spec: StackSpec, res: Res, arns: dict[str, str]) -> dict[str, Any]:
    """What the plain script creates: the stack's props, without the stack tags."""
    state: dict[str, Any] = {}
    if res.kind == "queue":
        state["VisibilityTimeout"] = 30
    elif res.kind == "topic":
        state["DisplayName"] = res.name
    else:
        state["BucketName"] = f"{spec.name}-base-{res.name}"
    if res.deps:
        state["Tags"] = [{"Key": f"dep-{d}", "Value": arns[d]} for d in res.deps]
    return state


def baseline_build(spec: StackSpec, url: str) -> BaselineRun:
    """Create the stack level by level: a level's creates submitted at once, polled every
    0.1 s; the ARNs dependents need read with one GetResource each."""
    client = _boto3_client(url)
    level = levels(spec.resources)
    by_level: dict[int, list[Res]] = {}
    for res in spec.resources:
        by_level.setdefault(level[res.name], []).append(res)
    needed = {d for r in spec.resources for d in r.deps}
    arns: dict[str, str] = {}
    run = BaselineRun(0.0, time.time(), 0.0)

    def create(res: Res) -> str:
        event = client.create_resource(
            TypeName=TYPES[res.kind], DesiredState=json.dumps(_baseline_desired(spec, res, arns))
        )["ProgressEvent"]
        return str(event["RequestToken"])

    def arn_of(res: Res) -> str:
        got = client.get_resource(TypeName=TYPES[res.kind], Identifier=run.identifiers[res.name])
        props = json.loads(got["ResourceDescription"]["Properties"])
        return str(props.get("Arn") or props.get("TopicArn"))

    began = time.perf_counter()
    with ThreadPoolExecutor(64) as pool:
        for depth in sorted(by_level):
            batch = by_level[depth]
            tokens = dict(zip([r.name for r in batch], pool.map(create, batch), strict=True))
            for name, event in _wait_all(client, pool, tokens).items():
                run.identifiers[name] = event["Identifier"]
            wanted = [r for r in batch if r.name in needed]
            arns.update(zip([r.name for r in wanted], pool.map(arn_of, wanted), strict=True))
    run.wall = time.perf_counter() - began
    run.end = time.time()
    client.close()
    return run


def baseline_teardown(spec: StackSpec, url: str, built: BaselineRun) -> BaselineRun:
    """Delete level by level, dependents first, each level's deletes at once."""
    client = _boto3_client(url)
    level = levels(spec.resources)
    kinds = {r.name: r.kind for r in spec.resources}
    run = BaselineRun(0.0, time.time(), 0.0)

    def delete(name: str) -> str:
        event = client.delete_resource(
            TypeName=TYPES[kinds[name]], Identifier=built.identifiers[name]
        )["ProgressEvent"]
        return str(event["RequestToken"])

    began = time.perf_counter()
    with ThreadPoolExecutor(64) as pool:
        for depth in sorted(set(level.values()), reverse=True):
            batch = [name for name, d in level.items() if d == depth]
            _wait_all(client, pool, dict(zip(batch, pool.map(delete, batch), strict=True)))
    run.wall = time.perf_counter() - began
    run.end = time.time()
    client.close()
    return run


# -- reporting helpers -------------------------------------------------------------------------


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit,
        "load_at_start": load(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# -- apply -------------------------------------------------------------------------------------


def warm_up(server: Sandbox, folder: Path) -> None:
    """Imports, schemas and botocore's models loaded once, untimed."""
    spec = StackSpec("bench-warm", "warm-up", independent("w", 3))
    engine_run("plan", write_stack(spec, folder), server, expect="create")


def apply_case(
    spec: StackSpec,
    latency: float,
    parallelisms: Sequence[int],
    *,
    sequential: bool,
    repeat: int,
    lock_latency: float | None = None,
) -> list[dict[str, Any]]:
    """One row per parallelism; the sequential run and the boto3 baseline are shared."""
    rows: list[dict[str, Any]] = []
    with sandbox(latency, lock_latency) as (server, folder):
        warm_up(server, folder)
        stack_dir = write_stack(spec, folder)
        for parallelism in parallelisms:
            row: dict[str, Any] = {
                "stack": spec.label,
                "latency": latency,
                "parallelism": parallelism,
                "lock_latency": latency if lock_latency is None else lock_latency,
                "resources": len(spec.resources),
                "depth": spec.depth,
                "bound": spec.depth * latency,
                "load_before": load(),
            }
            builds, teardowns = [], []
            for _ in range(repeat):
                built = engine_run(
                    "build", stack_dir, server, parallelism=parallelism, expect="create"
                )
                gone = engine_run(
                    "teardown", stack_dir, server, parallelism=parallelism, expect="delete"
                )
                builds.append((built, Traffic.of(server.requests(built.start, built.end))))
                teardowns.append((gone, Traffic.of(server.requests(gone.start, gone.end))))
            row.update(
                build_s=median([b.wall for b, _ in builds]),
                build_plan_s=median([b.plan for b, _ in builds]),
                build_calls=builds[0][1].calls,
                build_peak_rps=max(t.peak_rps for _, t in builds),
                build_client_peak_rps=max(peak_rate(b.sent) for b, _ in builds),
                build_ops=builds[0][1].by_operation,
                build_cpu_s=median([b.cpu for b, _ in builds]),
                build_server_cpu_s=median([b.server_cpu for b, _ in builds]),
                teardown_s=median([t.wall for t, _ in teardowns]),
                teardown_plan_s=median([t.plan for t, _ in teardowns]),
                teardown_calls=teardowns[0][1].calls,
                teardown_peak_rps=max(t.peak_rps for _, t in teardowns),
                teardown_client_peak_rps=max(peak_rate(t.sent) for t, _ in teardowns),
                teardown_ops=teardowns[0][1].by_operation,
                teardown_cpu_s=median([t.cpu for t, _ in teardowns]),
                teardown_server_cpu_s=median([t.server_cpu for t, _ in teardowns]),
            )
            rows.append(row)
        shared: dict[str, Any] = {}
        if sequential:
            built = engine_run("build", stack_dir, server, parallelism=1, expect="create")
            gone = engine_run("teardown", stack_dir, server, parallelism=1, expect="delete")
            shared.update(seq_build_s=built.wall, seq_teardown_s=gone.wall)
        base_builds, base_teardowns = [], []
        for _ in range(repeat):
            made = baseline_build(spec, server.url)
            base_builds.append(made.wall)
            base_teardowns.append(baseline_teardown(spec, server.url, made).wall)
        shared.update(base_build_s=median(base_builds), base_teardown_s=median(base_teardowns))
        shared["load_after"] = load()
    goal = GOAL_BOUND.get(latency)
    for row in rows:
        row.update(shared)
        bound = row["bound"]
        row["build_ratio"] = row["build_s"] / bound
        row["teardown_ratio"] = row["teardown_s"] / bound
        row["build_vs_base"] = row["build_s"] / row["base_build_s"]
        row["teardown_vs_base"] = row["teardown_s"] / row["base_teardown_s"]
        if sequential:
            row["build_speedup"] = row["seq_build_s"] / row["build_s"]
            row["teardown_speedup"] = row["seq_teardown_s"] / row["teardown_s"]
        row["goals"] = {
            "build_bound": goal is None or row["build_ratio"] <= goal,
            "teardown_bound": goal is None or row["teardown_ratio"] <= goal,
            "build_vs_base": row["build_vs_base"] <= GOAL_BASELINE,
            "teardown_vs_base": row["teardown_vs_base"] <= GOAL_BASELINE,
        }
    return rows


def rps_case(spec: StackSpec, latency: float, max_rps: float, parallelism: int) -> dict[str, Any]:
    with sandbox(latency) as (server, folder):
        warm_up(server, folder)
        stack_dir = write_stack(spec, folder)
        limits: dict[str, Any] = {"max_rps": max_rps, "parallelism": parallelism}
        built = engine_run("build", stack_dir, server, expect="create", **limits)
        gone = engine_run("teardown", stack_dir, server, expect="delete", **limits)
        build = Traffic.of(server.requests(built.start, built.end))
        teardown = Traffic.of(server.requests(gone.start, gone.end))
    return {
        "stack": spec.label,
        "latency": latency,
        "max_rps": max_rps,
        "parallelism": parallelism,
        "build_s": built.wall,
        "build_calls": build.calls,
        "build_peak_rps": build.peak_rps,
        "build_client_peak_rps": peak_rate(built.sent),
        # N calls with at most R in any second: the last goes >= floor((N - 1) / R) s in.
        "build_rate_bound_s": (build.calls - 1) // max_rps,
        "teardown_s": gone.wall,
        "teardown_calls": teardown.calls,
        "teardown_peak_rps": teardown.peak_rps,
        "teardown_client_peak_rps": peak_rate(gone.sent),
        "teardown_rate_bound_s": (teardown.calls - 1) // max_rps,
        "within_limit_at_server": max(build.peak_rps, teardown.peak_rps) <= max_rps,
        "within_limit_at_client": max(peak_rate(built.sent), peak_rate(gone.sent)) <= max_rps,
        "load": load(),
    }


def print_apply(rows: list[dict[str, Any]], rps: list[dict[str, Any]]) -> None:
    header = (
        f"{'stack':<27} {'L':>3} {'P':>3} {'n':>3} {'dep':>3} {'bound':>5} | {'build':>6} {'/bnd':>5} "
        f"{'seq':>6} {'x':>5} {'boto3':>6} {'/b3':>5} {'calls':>5} {'peak':>4} | "
        f"{'tear':>6} {'/bnd':>5} {'seq':>6} {'x':>5} {'boto3':>6} {'/b3':>5} {'calls':>5} "
        f"{'peak':>4} | load"
    )
    print(header)
    print("-" * len(header))

    def cell(row: dict[str, Any], key: str, fmt: str, width: int) -> str:
        value = row.get(key)
        return f"{'-':>{width}}" if value is None else f"{value:>{width}{fmt}}"

    for row in rows:
        g = row["goals"]
        print(
            f"{row['stack']:<27} {row['latency']:>3g} {row['parallelism']:>3} {row['resources']:>3} "
            f"{row['depth']:>3} "
            f"{row['bound']:>5.0f} | {row['build_s']:>6.2f} {row['build_ratio']:>5.2f} "
            f"{cell(row, 'seq_build_s', '.1f', 6)} {cell(row, 'build_speedup', '.1f', 5)} "
            f"{row['base_build_s']:>6.2f} {row['build_vs_base']:>5.2f} {row['build_calls']:>5} "
            f"{row['build_peak_rps']:>4} | {row['teardown_s']:>6.2f} "
            f"{row['teardown_ratio']:>5.2f} {cell(row, 'seq_teardown_s', '.1f', 6)} "
            f"{cell(row, 'teardown_speedup', '.1f', 5)} {row['base_teardown_s']:>6.2f} "
            f"{row['teardown_vs_base']:>5.2f} {row['teardown_calls']:>5} "
            f"{row['teardown_peak_rps']:>4} | {row['load_before']}"
        )
        missed = [k for k, ok in g.items() if not ok]
        print(
            f"{'':<27} goals: {', '.join(missed) + ' MISSED' if missed else 'all met'} "
            f"(stack lock's latency {row.get('lock_latency', row['latency']):g} s)"
        )
    print(
        "\nP: --parallelism; build/tear: wall s (planning included); /bnd: over depth x L; "
        "seq: --parallelism 1; "
        "x: speed-up; boto3: the plain script; /b3: over it; calls: at the server; peak: "
        "most requests in any 1 s; load: 1/5-min load average before the case"
    )
    for case in rps:
        print(
            f"\n--max-rps {case['max_rps']:g} --parallelism {case['parallelism']}, {case['stack']}, "
            f"L={case['latency']:g}: build "
            f"{case['build_s']:.2f} s ({case['build_calls']} calls, >= "
            f"{case['build_rate_bound_s']:.2f} s at the limit), peak "
            f"{case['build_client_peak_rps']}/s sent, {case['build_peak_rps']}/s at the server; "
            f"teardown {case['teardown_s']:.2f} s ({case['teardown_calls']} calls, >= "
            f"{case['teardown_rate_bound_s']:.2f} s), peak {case['teardown_client_peak_rps']}/s "
            f"sent, {case['teardown_peak_rps']}/s at the server; within the limit: sent "
            f"{verdict(case['within_limit_at_client'])}, at the server "
            f"{verdict(case['within_limit_at_server'])} (load {case['load']})"
        )


def cmd_apply(args: argparse.Namespace) -> dict[str, Any]:
    stacks = apply_stacks()
    rows = []
    for latency in [float(x) for x in args.latency.split(",") if x]:
        for key in args.stacks.split(","):
            spec = stacks[key]
            print(f"... {spec.label} at L={latency:g} s", file=sys.stderr, flush=True)
            rows += apply_case(
                spec,
                latency,
                [int(p) for p in args.parallelism.split(",") if p],
                sequential=not args.no_sequential,
                repeat=args.repeat,
                lock_latency=args.lock_latency,
            )
    rps = []
    if args.rps_case:
        print(f"... --max-rps {args.rps_case:g}", file=sys.stderr, flush=True)
        widest = max(int(p) for p in args.parallelism.split(",") if p)
        rps.append(rps_case(stacks["a"], 1.0, args.rps_case, widest))
    print_apply(rows, rps)
    return {"apply": rows, "max_rps": rps}


# -- calls -------------------------------------------------------------------------------------


def create_foreign(url: str, n: int) -> None:
    """``n`` queues of no stack of ours (the rest of an account), created at once."""
    if n <= 0:
        return
    client = _boto3_client(url)
    with ThreadPoolExecutor(32) as pool:

        def create(i: int) -> str:
            event = client.create_resource(
                TypeName=TYPES["queue"], DesiredState=json.dumps({"QueueName": f"other-{i}"})
            )["ProgressEvent"]
            return str(event["RequestToken"])

        tokens = dict(zip(map(str, range(n)), pool.map(create, range(n)), strict=True))
        _wait_all(client, pool, tokens)
    client.close()


def cmd_calls(args: argparse.Namespace) -> dict[str, Any]:
    n = args.n
    spec = StackSpec("bench-calls", f"{n} AWS-chosen ids", independent("r", n, AWS_CHOSEN))
    out: dict[str, Any] = {"resources": n, "foreign_queues": args.foreign, "load_before": load()}
    runs: dict[str, EngineRun] = {}
    with sandbox(0.0) as (server, folder):
        warm_up(server, folder)
        create_foreign(server.url, args.foreign)
        stack_dir = write_stack(spec, folder)
        runs["first plan"] = engine_run("plan", stack_dir, server, expect="create")
        built = engine_run("build", stack_dir, server, parallelism=50, expect="create")
        out["setup_build_s"] = built.wall
        for verb in ("plan", "build", "test"):
            runs[verb] = engine_run(verb, stack_dir, server, expect="noop")
        for label, run in runs.items():
            traffic = Traffic.of(server.requests(run.start, run.end))
            out[label] = {
                "wall_s": run.wall,
                "cpu_s": run.cpu,
                "server_cpu_s": run.server_cpu,
                "calls": traffic.calls,
                "calls_per_resource": traffic.calls / n,
                "by_operation": traffic.by_operation,
                # The goal is for no-change runs; a first plan is shown for comparison.
                "goal_met": label == "first plan" or traffic.calls / n <= GOAL_CALLS,
            }
    out["load_after"] = load()
    print(f"{n} declarative resources (SQS queues and SNS topics, identifiers chosen by AWS),")
    print("ListResources returning identifiers only, L = 0, calls counted at the server; the")
    print(f"account also holds {args.foreign} queues of no stack of ours; load ")
    print(f"{out['load_before']} -> {out['load_after']}\n")
    print(f"{'run':<18} {'wall s':>7} {'calls':>6} {'per res':>8} {'goal':>5}  by operation")
    for label in runs:
        r = out[label]
        ops = ", ".join(f"{k} {v}" for k, v in r["by_operation"].items())
        name = label if label == "first plan" else f"no-change {label}"
        goal = "-" if label == "first plan" else verdict(r["goal_met"])
        print(
            f"{name:<18} {r['wall_s']:>7.2f} {r['calls']:>6} {r['calls_per_resource']:>8.3f} "
            f"{goal:>5}  {ops}"
        )
    print(f"\ngoal: <= {GOAL_CALLS} calls per resource for no-change runs")
    return {"calls": out}


# -- scale -------------------------------------------------------------------------------------


def cli_plan(stack_dir: Path, url: str) -> tuple[float, float, float]:
    """A cold ``stack-deploy plan`` process: (wall s, CPU s, peak RSS MiB)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "stackdeploy", "plan", str(stack_dir), ENV,
         "--endpoint-url", url, "--region", REGION, "--max-rps", "0", "--output", "json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": path},
    )  # fmt: skip
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(process.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    reader.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"plan failed ({process.returncode}): {b''.join(errors).decode()[-2000:]}")
    # Linux reports ru_maxrss in KiB.
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def cmd_scale(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = []
    for n in sizes:
        print(f"... plan of {n}", file=sys.stderr, flush=True)
        spec = StackSpec(f"bench-scale-{n}", f"{n}", independent("r", n, MIXED))
        row: dict[str, Any] = {"resources": n, "load_before": load()}
        with sandbox(0.0) as (server, folder):
            warm_up(server, folder)
            stack_dir = write_stack(spec, folder)
            # Start-up: a plan of one named bucket (one GetResource by its name).
            one = StackSpec("bench-one", "one", independent("r", 1, ("bucket",)))
            tiny = write_stack(one, folder)
            empty = [engine_run("plan", stack_dir, server, expect="create")]
            empty += [
                engine_run("plan", stack_dir, server, expect="create")
                for _ in range(args.repeat - 1)
            ]
            row["empty_plan_s"] = median([r.wall for r in empty])
            row["empty_plan_calls"] = Traffic.of(
                server.requests(empty[0].start, empty[0].end)
            ).calls
            built = engine_run("build", stack_dir, server, parallelism=64, expect="create")
            row["setup_build_s"] = built.wall
            plans = [
                engine_run("plan", stack_dir, server, expect="noop") for _ in range(args.repeat)
            ]
            row["plan_s"] = median([r.wall for r in plans])
            row["plan_cpu_s"] = median([r.cpu for r in plans])
            row["plan_server_cpu_s"] = median([r.server_cpu for r in plans])
            traffic = Traffic.of(server.requests(plans[0].start, plans[0].end))
            row["plan_calls"] = traffic.calls
            row["plan_ops"] = traffic.by_operation
            cli, startup = [], []
            for _ in range(args.repeat):  # interleaved, so load changes hit both alike
                cli.append(cli_plan(stack_dir, server.url))
                startup.append(cli_plan(tiny, server.url))
            row["cli_plan_s"] = median([c[0] for c in cli])
            row["cli_cpu_s"] = median([c[1] for c in cli])
            row["cli_peak_rss_mib"] = max(c[2] for c in cli)
            row["cli_startup_s"] = median([s[0] for s in startup])
            row["cli_startup_cpu_s"] = median([s[1] for s in startup])
            row["cli_startup_rss_mib"] = max(s[2] for s in startup)
            row["cli_plan_minus_startup_s"] = row["cli_plan_s"] - row["cli_startup_s"]
        row["load_after"] = load()
        rows.append(row)
    print(
        f"plan at L = 0, no rate limit, mixed queues/topics/buckets; in-process times are "
        f"medians of {args.repeat}\n"
    )
    header = (
        f"{'n':>5} | {'empty':>6} {'calls':>5} | {'no-chg':>6} {'cpu':>5} {'srvcpu':>6} "
        f"{'calls':>5} | {'CLI':>5} {'cpu':>5} {'start':>5} {'CLI-st':>6} {'RSS MiB':>7} | load"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['resources']:>5} | {row['empty_plan_s']:>6.2f} {row['empty_plan_calls']:>5} | "
            f"{row['plan_s']:>6.2f} {row['plan_cpu_s']:>5.2f} {row['plan_server_cpu_s']:>6.2f} "
            f"{row['plan_calls']:>5} | {row['cli_plan_s']:>5.2f} {row['cli_cpu_s']:>5.2f} "
            f"{row['cli_startup_s']:>5.2f} {row['cli_plan_minus_startup_s']:>6.2f} "
            f"{row['cli_peak_rss_mib']:>7.0f} | {row['load_before']} -> {row['load_after']}"
        )
    print(
        "\nempty: plan s, account without the stack (all to create); no-chg: plan s after the "
        "build, with the engine's CPU s (this process, all threads) and the sandbox's; CLI: a "
        "cold `stack-deploy plan` process, wall and CPU s; start: the same for a one-resource "
        "stack; CLI-st: the difference; RSS: the CLI's peak"
    )
    out: dict[str, Any] = {"scale": rows}
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        factor = large["resources"] / small["resources"]
        growth = {
            key: large[key] / small[key]
            for key in ("empty_plan_s", "plan_s", "cli_plan_minus_startup_s")
        }
        limit = GOAL_SCALE_GROWTH * factor / 5
        out["growth"] = {**growth, "size_factor": factor, "goal": limit}
        verdicts = {key: value <= limit for key, value in growth.items()}
        out["growth"]["goals_met"] = verdicts
        print(
            f"\ngrowth {small['resources']} -> {large['resources']} (x{factor:g}; goal <= "
            f"{limit:g}): empty plan x{growth['empty_plan_s']:.2f} "
            f"({verdict(verdicts['empty_plan_s'])}), no-change plan x{growth['plan_s']:.2f} "
            f"({verdict(verdicts['plan_s'])}), cold CLI minus start-up "
            f"x{growth['cli_plan_minus_startup_s']:.2f} "
            f"({verdict(verdicts['cli_plan_minus_startup_s'])})"
        )
        if large["resources"] == 1000:
            wall_ok = large["cli_plan_s"] <= GOAL_SCALE_WALL
            out["wall_goal_met"] = wall_ok
            print(
                f"1,000 resources: CLI plan {large['cli_plan_s']:.2f} s (in process "
                f"{large['plan_s']:.2f} s; goal <= {GOAL_SCALE_WALL:g} s) -> {verdict(wall_ok)}"
            )
    return out


# -- scheduler ---------------------------------------------------------------------------------


def cmd_scheduler(args: argparse.Namespace) -> dict[str, Any]:
    """The scheduler alone: N independent no-op nodes at --parallelism 10 (its own cost per
    node, which must not grow with the graph's width)."""
    from stackdeploy.engine.scheduler import Scheduler

    rows = []
    for n in [int(x) for x in args.sizes.split(",") if x]:
        nodes = [f"n{i}" for i in range(n)]
        began, cpu = time.perf_counter(), time.process_time()
        Scheduler(10).run(nodes, {}, lambda name: None, policy="continue")
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        rows.append({"nodes": n, "wall_s": wall, "cpu_s": cpu, "cpu_per_node_us": cpu / n * 1e6})
    print(f"{'nodes':>6} {'wall s':>7} {'CPU s':>6} {'CPU/node':>9}")
    for row in rows:
        print(
            f"{row['nodes']:>6} {row['wall_s']:>7.2f} {row['cpu_s']:>6.2f} "
            f"{row['cpu_per_node_us']:>6.0f} us"
        )
    return {"scheduler": rows}


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {}

    def add(name: str, func: Callable[[argparse.Namespace], dict[str, Any]]) -> Any:
        p = sub.add_parser(name)
        p.add_argument("--json", metavar="FILE", help="write every figure to FILE")
        commands[name] = func
        return p

    p = add("apply", cmd_apply)
    p.add_argument("--latency", default="1,3", help="sandbox latencies, seconds")
    p.add_argument("--stacks", default="a,b,c")
    p.add_argument("--parallelism", default="10,100", help="engine parallelisms (10: the default)")
    p.add_argument("--repeat", type=int, default=1, help="runs per measurement (median)")
    p.add_argument("--no-sequential", action="store_true", help="skip --parallelism 1")
    p.add_argument("--rps-case", type=float, default=20.0, help="0 to skip")
    p.add_argument(
        "--lock-latency",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"latency of the stack lock's {LOCK_TYPE} at the sandbox (default: L, as every type)",
    )
    p = add("calls", cmd_calls)
    p.add_argument("-n", type=int, default=200)
    p.add_argument(
        "--foreign", type=int, default=0, help="queues of no stack of ours in the account"
    )
    p = add("scheduler", cmd_scheduler)
    p.add_argument("--sizes", default="1000,4000,16000")
    p = add("scale", cmd_scale)
    p.add_argument("--sizes", default="200,1000")
    p.add_argument("--repeat", type=int, default=3)

    def run_all(args: argparse.Namespace) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for func, extra in (
            (cmd_apply, {"latency": "1,3", "stacks": "a,b,c", "repeat": 1, "parallelism": "10,100",
                         "lock_latency": None,
                         "no_sequential": False, "rps_case": 20.0}),
            (cmd_calls, {"n": 200, "foreign": 0}),
            (cmd_scale, {"sizes": "200,1000", "repeat": 3}),
        ):  # fmt: skip
            out.update(func(argparse.Namespace(**extra)))
            print()
        return out

    add("all", run_all)
    args = parser.parse_args(argv)
    meta = machine()
    print(
        f"{meta['cpus']} CPUs, Python {meta['python']}, commit {meta['commit']}, "
        f"load {meta['load_at_start']} (1/5 min) at {meta['started']}\n"
    )
    results = commands[args.command](args)
    meta["load_at_end"] = load()
    meta["peak_rss_mib_this_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": meta, **results}, indent=2) + "\n", encoding="utf-8"
        )
        print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
