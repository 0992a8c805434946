"""The stack lock, against the in-memory Cloud Control: taken and released around build and
teardown, refused while another live run holds it, taken over from a dead run (whose run id
and requests in flight are resumed), and read (never taken) by plan and test."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from stackdeploy.engine import Cancel, Run, Runner, RunOptions
from stackdeploy.engine.events import Emitter, ListSink
from stackdeploy.engine.lock import (
    LOCK_TYPE,
    LockHeld,
    LockRecord,
    LockUnavailable,
    StackLock,
    _process_start,
    lock_name,
)
from stackdeploy.engine.state import RunState, idempotency_token
from stackdeploy.errors import StackDeployError
from stackdeploy.manifest import load_stack
from tests.engine.fakes import MemoryCloud
from tests.engine.test_runner import QUEUE, background, queues

NAME = lock_name("s", "dev")


def runner(tmp_path: Path, cloud: MemoryCloud, manifest: str, **options: Any) -> Runner:
    folder = tmp_path / f"stack{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    (folder / "stackql_manifest.yml").write_text(textwrap.dedent(manifest).lstrip())
    stack = load_stack(folder, "dev", cwd=tmp_path)
    run = Run(
        stack=stack,
        state=RunState(stack),
        cloud=cloud,
        region="us-east-1",
        options=RunOptions(**options),
        emit=Emitter(ListSink(), clock=cloud.clock),
        cancel=Cancel(),
        sleep=cloud.clock.sleep,
        clock=cloud.clock,
    )
    return Runner(run)


def held(cloud: MemoryCloud) -> LockRecord | None:
    model = cloud.resources.get((LOCK_TYPE, NAME))
    return LockRecord.parse(model["Value"]) if model else None


def plant(cloud: MemoryCloud, **fields: Any) -> LockRecord:
    """A lock left in the account by another run."""
    now = cloud.clock()
    record = LockRecord(
        **{
            "run_id": "dead-run",
            "user": "ci",
            "host": "runner-7",
            "pid": 4242,
            "process_started": None,
            "command": "build",
            "since": now,
            "heartbeat": now,
            "region": "us-east-1",
            **fields,
        }
    )
    cloud.resources[(LOCK_TYPE, NAME)] = {"Name": NAME, "Type": "String", "Value": record.to_json()}
    return record


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_build_holds_the_lock_while_it_runs(tmp_path: Path) -> None:
    cloud = MemoryCloud()
    gate = cloud.gate(QUEUE, "CREATE")
    thread, out = background(runner(tmp_path, cloud, queues("a", "b")).build)
    cloud.wait_for(lambda: cloud.in_flight == 2)
    record = held(cloud)
    assert record is not None and record.pid == os.getpid() and record.command == "build"
    assert record.process_started == _process_start(os.getpid())
    # The requests in flight are written into the lock (in the background).
    cloud.wait_for(lambda: len((held(cloud) or record).in_flight) == 2)
    gate.set()
    thread.join(10)
    assert "error" not in out, out
    assert held(cloud) is None  # released


def test_a_live_holder_refuses_a_second_run_naming_it(tmp_path: Path) -> None:
    cloud = MemoryCloud()
    plant(
        cloud,
        host=os.uname().nodename,
        pid=os.getpid(),
        process_started=_process_start(os.getpid()),
    )
    with pytest.raises(LockHeld) as info:
        runner(tmp_path, cloud, queues("a")).build()
    assert "is locked by ci@" in str(info.value) and "since" in str(info.value)
    assert "stack-deploy unlock" in str(info.value)
    assert cloud.count("create", QUEUE) == 0
    # Waiting: it looks again until --lock-timeout runs out.
    cloud.clock.sleeps.clear()
    with pytest.raises(LockHeld):
        runner(tmp_path, cloud, queues("a"), lock_timeout=10).build()
    assert 9 <= sum(cloud.clock.sleeps) <= 12


def test_a_dead_run_is_taken_over_and_resumed(tmp_path: Path) -> None:
    cloud = MemoryCloud()
    # The dead run had one request in flight (now finished) and one unknown to the account.
    done = cloud.create_resource("AWS::SNS::Topic", {})
    assert done.request_token is not None
    plant(
        cloud,
        host=os.uname().nodename,
        pid=dead_pid(),
        in_flight=(done.request_token, "gone-token"),
    )
    run = runner(tmp_path, cloud, queues("a"))
    run.build()
    assert run.run.state.run_id == "dead-run"  # its ClientTokens and idempotency tokens
    assert run.run.state.tokens["a"] == idempotency_token("dead-run", "a")
    assert cloud.count("wait") == 2
    assert len(cloud.of_type(QUEUE)) == 1
    assert held(cloud) is None


def test_an_expired_lease_elsewhere_is_taken_over(tmp_path: Path) -> None:
    cloud = MemoryCloud()
    plant(cloud, heartbeat=cloud.clock() - 3600)  # another host, silent for an hour
    runner(tmp_path, cloud, queues("a")).build()
    assert len(cloud.of_type(QUEUE)) == 1


def test_plan_and_test_only_read_the_lock(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cloud = MemoryCloud()
    plant(cloud, pid=os.getpid())
    with caplog.at_level(logging.WARNING, logger="stackdeploy.engine"):
        runner(tmp_path, cloud, queues("a")).plan()
        runner(tmp_path, cloud, queues("a")).test()
        runner(tmp_path, cloud, queues("a"), dry_run=True).build()
    assert caplog.text.count("is locked by ci@runner-7") == 3
    assert held(cloud) is not None and held(cloud).run_id == "dead-run"


COUNTER = (
    "  - name: census\n    type: query\n"
    "    sql: SELECT COUNT(*) AS queues FROM awscc.sqs.queues WHERE region = 'us-east-1'\n"
    "    exports: [queues]\n"
    "  - name: tagged\n    resource_type: awscc.sqs.queues\n    props:\n"
    "      - name: tags\n        value: [{Key: seen, Value: '{{ queues }}'}]\n"
)


def test_a_no_change_build_reads_each_resource_once(tmp_path: Path) -> None:
    # The stack is validated before the lock is taken and planned under it: the validating
    # pass reads nothing, so a build that changes nothing costs what a plan costs.
    cloud = MemoryCloud()
    names = [f"q{i}" for i in range(20)]
    runner(tmp_path, cloud, queues(*names)).build()
    cloud.calls.clear()
    result = runner(tmp_path, cloud, queues(*names)).build()
    assert {r.action for r in result.plan.resources} == {"noop"}
    assert cloud.count("get", QUEUE) == 20
    assert cloud.count("tagged") == 1 and cloud.count("list") == 0
    assert [c.op for c in cloud.calls if c.type_name == QUEUE and c.op != "get"] == []
    assert held(cloud) is None


def test_validation_before_the_lock_reads_nothing(tmp_path: Path) -> None:
    cloud = MemoryCloud()
    bad = queues("a", "b").replace("value: 30", "value: '{{ nowhere }}'", 2)
    with pytest.raises(StackDeployError, match="nowhere"):
        runner(tmp_path, cloud, bad).build()
    assert cloud.calls == []  # not a read, not the lock


def test_query_resources_run_once_under_the_lock(tmp_path: Path) -> None:
    # A query resource's rows come from the account: the validating pass checks its SQL but
    # leaves its exports unknown (an empty account would answer other rows), then the plan
    # under the lock runs it.
    cloud = MemoryCloud()
    runner(tmp_path, cloud, queues("a")).build()
    cloud.calls.clear()
    result = runner(tmp_path, cloud, queues("a", extra=COUNTER)).build()
    assert cloud.count("list", QUEUE) == 1  # the census, once
    seen = [t for m in cloud.of_type(QUEUE) for t in m.get("Tags", []) if t["Key"] == "seen"]
    assert seen == [{"Key": "seen", "Value": "1"}]
    assert [r.action for r in result.plan.resources] == ["noop", "skip", "create"]


def test_only_new_requests_are_written_to_the_lock(tmp_path: Path) -> None:
    # Each write is a Cloud Control request: a set that only shrank (requests ended) is not
    # written, and nothing is written once the lock is being released.
    cloud = MemoryCloud()
    lock = StackLock(cloud, "s", "dev", "us-east-1", clock=cloud.clock, sleep=cloud.clock.sleep)
    lock.acquire()

    def record(*tokens: str) -> None:
        lock.record_in_flight(tokens)
        if lock._writer is not None:
            lock._writer.join(10)

    record("a")
    record()
    record("a", "b")
    record("b")
    assert cloud.count("update", LOCK_TYPE) == 2
    assert held(cloud) is not None and held(cloud).in_flight == ("a", "b")
    record("b", "c")
    assert held(cloud).in_flight == ("b", "c")
    lock.release()
    lock.record_in_flight(("d",))
    assert cloud.count("update", LOCK_TYPE) == 3 and held(cloud) is None


def test_no_permission_says_how_to_grant_or_opt_out(tmp_path: Path) -> None:
    cloud = MemoryCloud()
    cloud.fail(LOCK_TYPE, "CREATE", "AccessDenied", "not authorized to perform ssm:PutParameter")
    with pytest.raises(LockUnavailable) as info:
        runner(tmp_path, cloud, queues("a")).build()
    text = str(info.value)
    assert "ssm:PutParameter" in text and "--no-lock" in text
    runner(tmp_path, cloud, queues("a"), lock=False).build()
    assert len(cloud.of_type(QUEUE)) == 1


def test_teardown_holds_the_lock_too(tmp_path: Path) -> None:
    cloud = MemoryCloud()
    runner(tmp_path, cloud, queues("a")).build()
    plant(
        cloud,
        pid=os.getpid(),
        host=os.uname().nodename,
        process_started=_process_start(os.getpid()),
    )
    with pytest.raises(LockHeld):
        runner(tmp_path, cloud, queues("a")).teardown()
    assert len(cloud.of_type(QUEUE)) == 1
    del cloud.resources[(LOCK_TYPE, NAME)]
    runner(tmp_path, cloud, queues("a")).teardown()
    assert cloud.of_type(QUEUE) == [] and held(cloud) is None


def test_the_record_is_json_with_the_holder(tmp_path: Path) -> None:
    record = plant(MemoryCloud())
    data = json.loads(record.to_json())
    assert set(data) >= {"run_id", "user", "host", "pid", "since", "in_flight", "command"}
