"""Interrupted runs converge: kill a ``build`` at every step, re-run at once, count.

A stack mixing query-file and declarative resources whose identifiers AWS chooses (the case
where a naive re-run creates duplicates) is built by a subprocess against a sandbox server
with a little latency. The test waits until the server has seen the k-th mutating request
(the server's own request list, not a timer), kills the build (SIGKILL, SIGINT or SIGTERM),
runs ``build`` again at once and checks: the re-run succeeds, the account holds exactly one
of each resource, and a fresh plan is empty. Between the kill and the re-run nothing waits:
the re-run takes over the dead run's lock, follows its requests in flight and resubmits what
it had sent with the same ClientTokens, which the server answers with the original request.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    REPO_ROOT,
    resource_counts,
    start_sandbox_process,
    stop_sandbox_process,
)

STACK = Path(__file__).resolve().parent.parent / "data" / "stacks" / "mixed"
EXPECTED = Counter(
    {
        "AWS::EC2::VPC": 1,
        "AWS::EC2::Subnet": 1,
        "AWS::EC2::InternetGateway": 1,
        "AWS::EC2::VPCGatewayAttachment": 1,
        "AWS::EC2::RouteTable": 1,
        "AWS::EC2::SubnetRouteTableAssociation": 1,
        "AWS::EC2::Route": 1,
        "AWS::EC2::SecurityGroup": 2,
        "AWS::SQS::Queue": 1,
    }
)
# Creates outlast the re-run's start, so it meets them still in progress (the dangerous case).
LATENCY = (
    "--latency",
    "0.05",
    "--latency-for",
    "CREATE=1.5",
    "--latency-for",
    "AWS::SSM::Parameter:CREATE=1.5",
)
# The build's mutating requests: the lock, 10 creates (and in-flight writes to the lock).
STEPS = range(1, 11)


def cli(*args: str, url: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stackdeploy", *args, "--endpoint-url", url],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def requests_seen(client: Any) -> int:
    count = 0
    for page in client.get_paginator("list_resource_requests").paginate():
        count += len(page["ResourceRequestStatusSummaries"])
    return count


def trial(tmp_path: Path, sig: signal.Signals, step: int) -> None:
    server = start_sandbox_process(tmp_path / "state.db", *LATENCY)
    try:
        client = server.client()
        first = cli("build", str(STACK), "dev", url=server.url, cwd=tmp_path)
        deadline = time.monotonic() + 60
        while requests_seen(client) < step:
            assert first.poll() is None, f"build ended before step {step}: {first.communicate()}"
            assert time.monotonic() < deadline, "the build never reached the step"
            time.sleep(0.02)  # watching the server, not timing the outcome
        first.send_signal(sig)
        _, err = first.communicate(timeout=60)
        if sig == signal.SIGKILL:
            assert first.returncode == -signal.SIGKILL
        else:
            # The run stops scheduling, finishes what is in flight, exits 130/143.
            assert first.returncode in (130 if sig == signal.SIGINT else 143, 0), err
            assert "Traceback" not in err
        again = cli("build", str(STACK), "dev", url=server.url, cwd=tmp_path)
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, f"re-run after {sig.name} at step {step}: {err}"
        assert resource_counts(server.state_path) == EXPECTED, (
            f"{sig.name} at step {step}: {resource_counts(server.state_path)}"
        )
        plan = cli("plan", str(STACK), "dev", "--detailed-exitcode", url=server.url, cwd=tmp_path)
        out, err = plan.communicate(timeout=120)
        assert plan.returncode == 0, f"plan after {sig.name} at step {step}: {out}{err}"
    finally:
        stop_sandbox_process(server)


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_every_step_converges(tmp_path: Path, step: int) -> None:
    trial(tmp_path, signal.SIGKILL, step)


@pytest.mark.parametrize(("sig", "step"), [(signal.SIGINT, 3), (signal.SIGTERM, 6)])
def test_sigint_and_sigterm_converge(tmp_path: Path, sig: signal.Signals, step: int) -> None:
    trial(tmp_path, sig, step)
