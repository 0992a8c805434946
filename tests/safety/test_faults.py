"""Faults survived: throttling, a sandbox killed mid-build, lost answers, stuck requests.

Every test drives the real engine (plan, then apply over the graph, in parallel) through the
real Cloud Control wire protocol to a sandbox server: in-process with injected faults, or a
``stack-deploy sandbox serve`` subprocess killed with SIGKILL and restarted on its state
file. The client's back-off and poll settings are shrunk (through ``CloudConfig``) so the
tests take seconds, not minutes; the limits themselves are the real code paths. Resources
are counted at the server: a duplicate is a second resource carrying the same stack tags
(VPCs and subnets, whose identifiers AWS chooses) or the same name (parameters).
"""

from __future__ import annotations

import json
import socket
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stackdeploy.cloud.client import CloudConfig, CloudControl
from stackdeploy.engine import Run, Runner, RunOptions, RunResult
from stackdeploy.engine.discovery import TAG_RESOURCE
from stackdeploy.engine.state import RunState
from stackdeploy.errors import CloudControlError
from stackdeploy.manifest import load_stack
from stackdeploy.sandbox.server import SandboxServer
from stackdeploy.sandbox.store import Store
from tests.conftest import SandboxProcess, start_sandbox_process, stop_sandbox_process
from tests.engine.conftest import StackCli

# Fast, but real, retry behaviour: the same code paths as against AWS, smaller numbers.
FAST = {
    "region": "us-east-1",
    "sandbox": True,
    "poll_initial": 0.01,
    "poll_factor": 1.5,
    "poll_max": 0.05,
    "retry_base": 0.01,
    "retry_max": 0.05,
}
GROUPS = 10  # x (VPC, subnet, parameter) = 30 resources


def thirty_resources(folder: Path) -> Path:
    """10 VPCs, a subnet in each (its VpcId from the VPC's export) and a parameter holding
    each subnet's id: 30 resources, 20 with identifiers AWS chooses, in 10 chains."""
    entries = []
    for i in range(GROUPS):
        entries.append(f"""\
- name: vpc{i}
  resource_type: AWS::EC2::VPC
  props:
    - name: cidr_block
      value: 10.{i}.0.0/16
  exports:
    - vpc_id: vpc{i}_id
- name: subnet{i}
  resource_type: AWS::EC2::Subnet
  props:
    - name: vpc_id
      value: "{{{{ vpc{i}_id }}}}"
    - name: cidr_block
      value: 10.{i}.1.0/24
  exports:
    - subnet_id: subnet{i}_id
- name: param{i}
  resource_type: AWS::SSM::Parameter
  props:
    - name: name
      value: faults-subnet{i}
    - name: type
      value: String
    - name: value
      value: "{{{{ subnet{i}_id }}}}"
""")
    body = textwrap.indent("".join(entries), "  ")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stackql_manifest.yml").write_text(
        f"name: faults\nproviders: [awscc]\nresources:\n{body}"
    )
    return folder


def runner(stack_dir: Path, url: str, **config: Any) -> Runner:
    stack = load_stack(stack_dir, "dev", cwd=stack_dir)
    cloud = CloudControl(CloudConfig(endpoint_url=url, **{**FAST, **config}))
    run = Run(
        stack=stack,
        state=RunState(stack),
        cloud=cloud,
        region="us-east-1",
        options=RunOptions(parallelism=10),
    )
    return Runner(run)


def build(stack_dir: Path, url: str, **config: Any) -> RunResult:
    return runner(stack_dir, url, **config).build()


def actions(stack_dir: Path, url: str) -> Counter[str]:
    plan = runner(stack_dir, url).plan()
    return Counter(r.action for r in plan.resources)


def counted(store: Store) -> Counter[str]:
    """Resources at the server by what makes them one: the stack's resource-name tag (VPCs,
    subnets) or the parameter name."""
    found: Counter[str] = Counter()
    for row in store.all_resources():
        props = json.loads(row.properties) if isinstance(row.properties, str) else row.properties
        tags = props.get("Tags") or []
        names = [t["Value"] for t in tags if isinstance(t, dict) and t.get("Key") == TAG_RESOURCE]
        if isinstance(tags, dict) and TAG_RESOURCE in tags:
            names = [tags[TAG_RESOURCE]]
        found[names[0] if names else f"{row.type_name}:{props.get('Name')}"] += 1
    return found


def assert_exactly_one_each(store: Store) -> None:
    held = counted(store)
    duplicates = {name: n for name, n in held.items() if n != 1}
    assert duplicates == {}, f"duplicates at the server: {duplicates}"
    assert sum(held.values()) == 3 * GROUPS


# -- throttling ------------------------------------------------------------------------------


def test_throttling_on_a_parallel_build_leaves_no_duplicate(tmp_path: Path) -> None:
    """20% of calls throttled at once, 10% of mutations failing later with Throttling: every
    call is retried with back-off shared by all threads, every async failure resubmitted;
    30 resources, exactly one of each, and the plan afterwards is empty."""
    stack = thirty_resources(tmp_path / "stack")
    with SandboxServer(tmp_path / "sandbox.db", latency=0.02) as server:
        server.faults.update({"seed": 11, "throttle_rate": 0.2, "async_throttle_rate": 0.1})
        calls, throttled = Counter[str](), Counter[str]()
        decide = server.faults.sync_throttle

        def count_throttles() -> bool:
            calls["calls"] += 1
            hit = decide()
            throttled["sync"] += hit
            return hit

        server.faults.sync_throttle = count_throttles  # type: ignore[method-assign]
        result = build(stack, server.url)
        assert result.failures == []
        assert Counter(r.action for r in result.plan.resources) == {"create": 3 * GROUPS}

        requests = server.store.list_requests("123456789012", "us-east-1")
        async_throttled = [r for r in requests if r.error_code == "Throttling"]
        # The faults did happen, in the share asked for.
        assert 0.1 < throttled["sync"] / calls["calls"] < 0.3
        assert len(async_throttled) >= 1
        assert_exactly_one_each(server.store)
        print(
            f"throttling: {calls['calls']} calls, {throttled['sync']} throttled at once, "
            f"{len(async_throttled)} of {len(requests)} requests FAILED Throttling; "
            f"{sum(counted(server.store).values())} resources, 0 duplicates"
        )

        server.faults.reset()
        assert actions(stack, server.url) == {"noop": 3 * GROUPS}


# -- the server killed mid-build -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(state: Path, port: int, *flags: str) -> SandboxProcess:
    return start_sandbox_process(state, "--port", str(port), *flags)


def _kill(server: SandboxProcess) -> None:
    """SIGKILL: no shutdown code runs, as when a machine or container dies."""
    server.process.kill()
    server.process.communicate(timeout=10)
    assert server.process.returncode == -9


def _in_background(func: Callable[[], RunResult]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["result"] = func()
        except BaseException as exc:  # reported by the test
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


@pytest.fixture
def stopped() -> Iterator[list[SandboxProcess]]:
    """Servers to stop at the end whatever happens."""
    servers: list[SandboxProcess] = []
    yield servers
    for server in servers:
        if server.process.poll() is None:
            stop_sandbox_process(server)


def test_sandbox_killed_and_restarted_mid_build_converges(
    tmp_path: Path, stopped: list[SandboxProcess]
) -> None:
    """SIGKILL the server while the build has requests in flight, restart it on the same
    state file and port: the client retries refused and reset connections with back-off
    (reusing each mutation's ClientToken), polls the requests the server kept to their end,
    and the build finishes with exactly one of each resource and an empty plan. Lost answers
    (5% of calls handled, then their connection reset) are injected throughout."""
    stack = thirty_resources(tmp_path / "stack")
    state, port = tmp_path / "sandbox.db", _free_port()
    flags = ("--latency", "0.3", "--reset-after-rate", "0.05", "--fault-seed", "5")
    stopped.append(_serve(state, port, *flags))
    url = f"http://127.0.0.1:{port}"
    # Up to 60 network retries 0.05-0.2 s apart: 6 s or more for the restart.
    work = runner(stack, url, max_network_retries=60, retry_base=0.05, retry_max=0.2)
    cloud = work.run.cloud
    assert isinstance(cloud, CloudControl)
    backoffs: list[int] = []
    original = cloud._backoff

    def counting(attempt: int) -> None:
        backoffs.append(attempt)
        original(attempt)

    cloud._backoff = counting  # type: ignore[method-assign]
    thread, out = _in_background(work.build)

    deadline = time.monotonic() + 60
    while len(work.run.state.in_flight()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    in_flight = len(work.run.state.in_flight())
    assert in_flight >= 3, "the build never had requests in flight"
    _kill(stopped[-1])
    stopped.append(_serve(state, port, *flags))
    thread.join(120)
    assert not thread.is_alive()

    if "error" in out or out["result"].failures:
        # Beyond the retry limits: the run failed cleanly; a re-run finishes the job.
        assert "error" not in out, out.get("error")
        result = build(stack, url, max_network_retries=60, retry_base=0.05, retry_max=0.2)
    else:
        result = out["result"]
    assert result.failures == []
    _kill(stopped[-1])
    final = Store(state)
    try:
        assert_exactly_one_each(final)
    finally:
        final.close()
    stopped.append(_serve(state, port))
    assert actions(stack, url) == {"noop": 3 * GROUPS}
    # Connections were refused or reset and retried (the kill; the lost answers).
    assert backoffs
    print(
        f"killed with {in_flight} requests in flight; {len(backoffs)} network retries "
        f"(longest run {max(backoffs) + 1}); 30 resources, 0 duplicates"
    )


# -- lost answers and refused connections, one call at a time -------------------------------


def test_a_create_whose_answer_is_lost_is_retried_with_the_same_client_token(
    tmp_path: Path,
) -> None:
    """The server records the create, then resets the connection (twice): the client
    resubmits with the same ClientToken and the server answers with the original request."""
    with SandboxServer(tmp_path / "sandbox.db", latency=0.05) as server:
        server.faults.reset_connection("AWS::EC2::VPC", "CREATE", when="after", count=2)
        with CloudControl(CloudConfig(endpoint_url=server.url, **FAST)) as cloud:
            event = cloud.create_resource("AWS::EC2::VPC", {"CidrBlock": "10.9.0.0/16"})
        assert event.status == "SUCCESS"
        vpcs = server.store.all_resources(type_name="AWS::EC2::VPC")
        assert [v.identifier for v in vpcs] == [event.identifier]
        (request,) = server.store.list_requests("123456789012", "us-east-1")
        assert request.client_token and request.token == event.request_token


def test_connections_refused_past_the_limit_fail_clearly(tmp_path: Path) -> None:
    """Nothing listens: each call is tried 1 + max_network_retries times, then one error
    naming the call, the attempts and what to check."""
    url = f"http://127.0.0.1:{_free_port()}"
    config = {**FAST, "max_network_retries": 4}
    with (
        CloudControl(CloudConfig(endpoint_url=url, **config)) as cloud,
        pytest.raises(CloudControlError) as caught,
    ):
        cloud.create_resource("AWS::EC2::VPC", {"CidrBlock": "10.9.0.0/16"})
    message = str(caught.value)
    assert caught.value.error_code == "NetworkFailure"
    assert message.startswith("CreateResource AWS::EC2::VPC in us-east-1: cannot reach")
    assert "(after 5 attempts)" in message
    assert "check the network, --endpoint-url, or that the sandbox is running" in message


# -- requests that never end ----------------------------------------------------------------


def test_a_request_stuck_in_progress_ends_with_its_token(tmp_path: Path) -> None:
    """A create that stays IN_PROGRESS past its time-out (here 0.01 minutes instead of the
    schema's) fails the resource with a message naming the request token; what does not
    depend on it is still built, what does is not started."""
    stack = thirty_resources(tmp_path / "stack")
    with SandboxServer(tmp_path / "sandbox.db") as server:
        server.faults.stick("AWS::EC2::Subnet", "CREATE")
        work = runner(stack, server.url, timeout_minutes=0.01)
        work.run.options = RunOptions(parallelism=10, on_failure="ignore")
        started = time.monotonic()
        result = work.build()
        assert time.monotonic() - started < 30
        tokens = {
            r.token
            for r in server.store.list_requests("123456789012", "us-east-1")
            if r.type_name == "AWS::EC2::Subnet"
        }
    failures = dict(result.failures)
    assert sorted(failures) == [f"subnet{i}" for i in range(GROUPS)]
    for why in failures.values():
        assert why.startswith("CreateResource AWS::EC2::Subnet 'subnet-")
        assert "in us-east-1 did not finish within 0.01 minutes (request token " in why
        token = why.split("(request token ")[1].split(",")[0]
        assert token in tokens
        assert "last status IN_PROGRESS" in why
    actions_now = Counter(r.action for r in result.plan.resources)
    assert actions_now == {"create": GROUPS, "skip": 2 * GROUPS}  # VPCs built; the rest not


def test_timeout_minutes_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same through the CLI: ``--timeout-minutes`` replaces the schema's time-out, and
    the one-line error names the resource, the request token and what to do."""
    stack = tmp_path / "stuck"
    stack.mkdir()
    (stack / "stackql_manifest.yml").write_text(
        "name: stuck\nproviders: [awscc]\nresources:\n"
        "  - name: vpc\n    resource_type: AWS::EC2::VPC\n"
        "    props:\n      - name: cidr_block\n        value: 10.3.0.0/16\n"
    )
    faults = {"stuck": [{"type": "AWS::EC2::VPC", "operation": "CREATE"}]}
    monkeypatch.setenv("STACK_DEPLOY_SANDBOX_FAULTS", json.dumps(faults))
    monkeypatch.chdir(tmp_path)
    cli = StackCli(tmp_path / "sandbox.db")
    # --no-lock: the time-out bounds every request of the run, and on a busy machine the
    # lock's own create can take longer than 0.3 s; this test is about the resource's.
    result = cli("build", str(stack), "dev", "--timeout-minutes", "0.005", "--no-lock", expect=1)
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith("Error: 1 resource(s) failed: vpc: CreateResource AWS::EC2::VPC")
    assert "did not finish within 0.005 minutes (request token " in error
    assert "raise the time-out (--timeout-minutes)" in error
    result = cli("build", str(stack), "dev", "--timeout-minutes", "0", expect=2)
    assert "--timeout-minutes" in result.stderr
