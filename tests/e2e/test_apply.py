"""build and teardown over the dependency graph, end to end through the sandbox server.

Each test writes a small stack, runs the CLI against a sandbox whose mutations take a fixed
time, and checks what the server saw: when each request started and ended (on the server's
clock), in what order, and what exists afterwards. The engine's own unit tests
(tests/engine/test_runner.py) cover the same behaviour against an in-memory fake; these
prove it holds over the wire.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from tests.e2e.conftest import Cli, Sandbox, bucket, events_of, log_group, overlapping, write_stack

TAGGED_BY_A = (
    "    - name: tags\n      value:\n        - Key: source\n          Value: '{{ a_arn }}'\n"
)
EXPORT_ARN = "  exports:\n    - arn: a_arn\n"


def test_independent_resources_are_created_at_once_and_dependents_after(
    sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    stack = write_stack(
        tmp_path,
        "par",
        bucket("a", extra=EXPORT_ARN)
        + bucket("b")
        + bucket("c")
        # d needs a (its tag names a's ARN) and b (depends_on).
        + bucket("d", depends_on=("b",), extra=TAGGED_BY_A),
    )
    plan = json.loads(cli("plan", str(stack), "dev", "--output", "json").stdout)
    assert {r["name"]: r["depends_on"] for r in plan["resources"]} == {
        "a": [],
        "b": [],
        "c": [],
        "d": ["a", "b"],
    }
    sandbox.server.latency = 0.5
    events = tmp_path / "events.jsonl"
    result = cli("build", str(stack), "dev", "--events", str(events))
    assert result.stdout.startswith("Build of par (dev) complete: 4 created, 0 updated")

    a, b, c, d = (sandbox.request_of("CREATE", f"e2e-{n}") for n in "abcd")
    # a, b and c were in flight together; d started only once both a and b had ended.
    assert overlapping([a, b, c])
    assert d.created_at >= max(float(a.end_at or 0), float(b.end_at or 0))
    assert all(sandbox.status(r) == "SUCCESS" for r in (a, b, c, d))
    # The run's events name each resource's request by the token the server gave it.
    tokens = {
        e["resource"]: e["request_token"] for e in events_of(events) if e["state"] == "request"
    }
    assert tokens == {"a": a.token, "b": b.token, "c": c.token, "d": d.token}

    # Converged: nothing left to do.
    sandbox.server.latency = 0.0
    assert cli.actions(stack) == dict.fromkeys("abcd", "noop")

    sandbox.server.latency = 0.5
    result = cli("teardown", str(stack), "dev")
    assert "4 deleted" in result.stdout
    a, b, c, d = (sandbox.request_of("DELETE", f"e2e-{n}") for n in "abcd")
    # Reverse graph, in parallel: d and c (nothing needs them) together, then a and b
    # together once d (which needed them) was gone.
    assert overlapping([c, d])
    assert overlapping([a, b])
    assert min(a.created_at, b.created_at) >= float(d.end_at or 0)
    assert sandbox.identifiers() == set()


def test_parallelism_one_keeps_manifest_order(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    # Manifest order c, a, d, b; d needs a. One at a time follows the manifest exactly,
    # although b is ready before d.
    stack = write_stack(
        tmp_path, "seq", bucket("c") + bucket("a") + bucket("d", depends_on=("a",)) + bucket("b")
    )
    sandbox.server.latency = 0.1
    cli("build", str(stack), "dev", "--parallelism", "1")
    creates = sandbox.requests("CREATE")
    assert [r.identifier for r in creates] == ["e2e-c", "e2e-a", "e2e-d", "e2e-b"]
    for before, after in itertools.pairwise(creates):
        assert after.created_at >= float(before.end_at or 0), "two requests were in flight"

    cli("teardown", str(stack), "dev", "--parallelism", "1")
    deletes = sandbox.requests("DELETE")
    assert [r.identifier for r in deletes] == ["e2e-b", "e2e-d", "e2e-a", "e2e-c"]
    for before, after in itertools.pairwise(deletes):
        assert after.created_at >= float(before.end_at or 0), "two requests were in flight"


def test_target_builds_what_it_needs_and_tears_down_what_needs_it(
    sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    stack = write_stack(
        tmp_path,
        "tgt",
        bucket("a") + bucket("b", depends_on=("a",)) + bucket("c", depends_on=("b",)) + bucket("x"),
    )
    result = cli("build", str(stack), "dev", "--target", "b")
    assert "2 created" in result.stdout
    assert sandbox.identifiers() == {"e2e-a", "e2e-b"}
    assert cli.actions(stack, "--target", "b") == {"a": "noop", "b": "noop"}

    cli("build", str(stack), "dev")
    assert sandbox.identifiers() == {"e2e-a", "e2e-b", "e2e-c", "e2e-x"}

    sandbox.server.latency = 0.1
    result = cli("teardown", str(stack), "dev", "--target", "b")
    assert "2 deleted" in result.stdout
    assert sandbox.identifiers() == {"e2e-a", "e2e-x"}
    # c needs b: it went first.
    b, c = (sandbox.request_of("DELETE", f"e2e-{n}") for n in "bc")
    assert b.created_at >= float(c.end_at or 0)
    assert [r.identifier for r in sandbox.requests("DELETE")] == ["e2e-c", "e2e-b"]


def test_a_cycle_is_refused_naming_it_before_any_call(
    sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    stack = write_stack(
        tmp_path,
        "cyc",
        bucket("x") + bucket("a", depends_on=("b",)) + bucket("b", depends_on=("a",)),
    )
    for verb in ("build", "plan", "teardown"):
        result = cli(verb, str(stack), "dev", expect=1)
        (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert "a -> b -> a" in error, error
        assert "Traceback" not in result.stderr
    assert sandbox.requests() == []
    assert sandbox.identifiers() == set()


def test_rollback_deletes_what_the_run_created_dependents_first(
    sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    # a <- b <- f (fails); x on its own. f fails after a, b and x were created.
    stack = write_stack(
        tmp_path,
        "rb",
        bucket("a")
        + bucket("b", depends_on=("a",))
        + bucket("x")
        + log_group("f", depends_on=("b",)),
    )
    sandbox.server.faults.fail(
        "AWS::Logs::LogGroup", "CREATE", "ServiceLimitExceeded", message="too many log groups"
    )
    sandbox.server.latency = 0.3
    result = cli("build", str(stack), "dev", "--on-failure", "rollback", expect=1)
    error = result.stderr[result.stderr.index("Error:") :]
    assert "1 resource(s) failed: f (rolled back: " in error
    assert "ServiceLimitExceeded" in error and "too many log groups" in error
    for name in ("a", "b", "x"):
        assert f"{name}: rolled back" in result.stderr

    f = sandbox.request_of("CREATE", "e2e-f")
    assert sandbox.status(f) == "FAILED"
    created = [sandbox.request_of("CREATE", f"e2e-{n}") for n in "abx"]
    assert all(sandbox.status(r) == "SUCCESS" for r in created)
    assert f.created_at >= max(float(r.end_at or 0) for r in created)

    # Rolled back in reverse dependency order, in parallel: b and x at once, a after b.
    a, b, x = (sandbox.request_of("DELETE", f"e2e-{n}") for n in "abx")
    assert min(r.created_at for r in (a, b, x)) >= float(f.end_at or 0)
    assert overlapping([b, x])
    assert a.created_at >= float(b.end_at or 0)
    assert not [r for r in sandbox.requests("DELETE") if r.identifier == "e2e-f"]
    assert sandbox.identifiers() == set()


def test_ignore_carries_on_with_what_does_not_depend_on_the_failure(
    sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    stack = write_stack(
        tmp_path,
        "ign",
        log_group("f")
        + bucket("g", depends_on=("f",))
        + bucket("h", depends_on=("g",))
        + bucket("x")
        + bucket("y", depends_on=("x",)),
    )
    sandbox.server.faults.fail("AWS::Logs::LogGroup", "CREATE", "InvalidRequest")
    sandbox.server.latency = 0.2
    result = cli("build", str(stack), "dev", "--on-failure", "ignore", expect=1)
    assert result.stdout.startswith(
        "Build of ign (dev) failed: 2 created, 0 updated, 0 replaced, 0 unchanged, "
        "1 failed, 2 skipped ("
    )
    assert "g: skipped: depends on f, which failed" in result.stderr
    assert "h: skipped: depends on f, which failed" in result.stderr
    error = result.stderr[result.stderr.index("Error:") :]
    assert error.startswith("Error: 1 resource(s) failed: f: ")
    assert "InvalidRequest" in error
    assert "undefined" not in result.stderr
    # Everything that does not need f was built; what needs it was never asked for.
    assert sandbox.identifiers() == {"e2e-x", "e2e-y"}
    assert {r.identifier for r in sandbox.requests("CREATE")} == {"e2e-f", "e2e-x", "e2e-y"}

    # The JSON report says the same, resource by resource.
    sandbox.server.faults.reset()
    sandbox.server.faults.fail("AWS::Logs::LogGroup", "CREATE", "InvalidRequest")
    result = cli("build", str(stack), "dev", "--on-failure", "ignore", "--output", "json", expect=1)
    report = {r["name"]: r for r in json.loads(result.stdout)["resources"]}
    assert report["g"]["reason"] == "skipped: depends on f, which failed"
    assert report["h"]["reason"] == "skipped: depends on f, which failed"
    assert report["f"]["reason"].startswith("failed: ")
    assert report["x"]["action"] == "noop" and report["y"]["action"] == "noop"


def test_error_lets_what_is_in_flight_finish_and_starts_nothing_new(
    sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    # f fails quickly while s is still being created; t (needs s) and u (needs f) wait.
    stack = write_stack(
        tmp_path,
        "err",
        log_group("f")
        + bucket("s")
        + bucket("t", depends_on=("s",))
        + bucket("u", depends_on=("f",)),
    )
    sandbox.server.faults.fail("AWS::Logs::LogGroup", "CREATE", "InvalidRequest")
    sandbox.server.latency = {"default": 1.0, "AWS::Logs::LogGroup:CREATE": 0.2}
    result = cli("build", str(stack), "dev", expect=1)
    f = sandbox.request_of("CREATE", "e2e-f")
    s = sandbox.request_of("CREATE", "e2e-s")
    # s was in flight when f failed, and was followed to its end.
    assert s.created_at < float(f.end_at or 0) < float(s.end_at or 0)
    assert sandbox.status(s) == "SUCCESS"
    assert "f failed: starting nothing more; waiting for s to finish" in result.stderr
    assert "s: created" in result.stderr
    # t became ready after f failed: it was not started, nor was u.
    assert "t: not started: stopped after f failed" in result.stderr
    assert sorted(r.identifier for r in sandbox.requests("CREATE")) == ["e2e-f", "e2e-s"]
    assert sandbox.identifiers() == {"e2e-s"}
    assert "1 resource(s) failed: f: " in result.stderr

    # Fixed, a re-run finishes the job.
    sandbox.server.faults.reset()
    sandbox.server.latency = 0.0
    result = cli("build", str(stack), "dev")
    assert "3 created" in result.stdout and "1 unchanged" in result.stdout
    assert cli.actions(stack) == dict.fromkeys("fstu", "noop")
