"""The engine against an in-memory Cloud Control with an injected clock.

Scheduling, plan-first validation, failure policies, rollback, cancellation, callbacks,
troubleshoot, delete retries and discovery call counts, in milliseconds: requests take their
latency on a fake clock, and concurrency is observed through gates the tests open, never
through timing.
"""

from __future__ import annotations

import logging
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stackdeploy.engine import Cancel, Interrupted, ListSink, PlanErrors, Run, Runner, RunOptions
from stackdeploy.engine.events import Emitter
from stackdeploy.engine.state import RunState
from stackdeploy.errors import ManifestError
from stackdeploy.manifest import load_stack
from tests.engine.fakes import MemoryCloud

QUEUE = "AWS::SQS::Queue"
TOPIC = "AWS::SNS::Topic"
BUCKET = "AWS::S3::Bucket"

Make = Callable[..., Runner]


@pytest.fixture
def cloud() -> MemoryCloud:
    return MemoryCloud()


@pytest.fixture
def make(tmp_path: Path, cloud: MemoryCloud) -> Make:
    """``make(manifest, files=..., **options)`` -> a Runner over the in-memory cloud."""
    counter = iter(range(1000))

    def build(
        manifest: str,
        files: dict[str, str] | None = None,
        *,
        sink: ListSink | None = None,
        cancel: Cancel | None = None,
        **options: Any,
    ) -> Runner:
        folder = tmp_path / f"stack{next(counter)}"
        (folder / "resources").mkdir(parents=True)
        (folder / "stackql_manifest.yml").write_text(textwrap.dedent(manifest).lstrip())
        for rel, text in (files or {}).items():
            (folder / rel).write_text(textwrap.dedent(text).lstrip())
        stack = load_stack(folder, "dev", cwd=tmp_path)
        run = Run(
            stack=stack,
            state=RunState(stack),
            cloud=cloud,
            region="us-east-1",
            options=RunOptions(**{"lock": False, **options}),
            emit=Emitter(sink, clock=cloud.clock),
            cancel=cancel or Cancel(),
            sleep=cloud.clock.sleep,
            clock=cloud.clock,
        )
        return Runner(run)

    return build


def queues(*names: str, extra: str = "") -> str:
    """A manifest of declarative queues named by AWS (found again by their tags)."""
    body = "name: s\nproviders: [awscc]\nresources:\n"
    for name in names:
        body += (
            f"  - name: {name}\n    resource_type: awscc.sqs.queues\n"
            "    props:\n      - name: visibility_timeout\n        value: 30\n"
            "    exports:\n      - arn\n"
        )
    return body + extra


def background(func: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``func`` in a thread; the dict gets its result or exception."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["result"] = func()
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, out


# -- scheduling ----------------------------------------------------------------------------


def test_independent_resources_are_created_at_once(make: Make, cloud: MemoryCloud) -> None:
    runner = make(queues("a", "b", "c"), parallelism=10)
    gate = cloud.gate(QUEUE, "CREATE")
    thread, out = background(runner.build)
    cloud.wait_for(lambda: cloud.in_flight == 3)  # all three requests submitted together
    gate.set()
    thread.join(10)
    assert "error" not in out, out
    assert cloud.max_in_flight == 3
    assert len(cloud.of_type(QUEUE)) == 3
    assert {r.action for r in out["result"].plan.resources} == {"create"}


def test_parallelism_one_keeps_manifest_order(make: Make, cloud: MemoryCloud) -> None:
    runner = make(queues("c", "a", "b"), parallelism=1)
    result = runner.build()
    assert [r.name for r in result.plan.resources] == ["c", "a", "b"]
    assert cloud.max_in_flight == 1
    created = [m["Tags"] for m in cloud.of_type(QUEUE)]
    names = [
        next(t["Value"] for t in tags if t["Key"] == "stackql:resource-name") for tags in created
    ]
    assert names == ["c", "a", "b"]


def test_a_resource_starts_only_after_what_it_needs(make: Make, cloud: MemoryCloud) -> None:
    manifest = queues("dlq") + (
        "  - name: main\n    resource_type: awscc.sqs.queues\n    props:\n"
        "      - name: redrive_policy\n        value:\n"
        "          deadLetterTargetArn: '{{ dlq.arn }}'\n          maxReceiveCount: 3\n"
    )
    runner = make(manifest)
    gate = cloud.gate(QUEUE, "CREATE")
    thread, out = background(runner.build)
    cloud.wait_for(lambda: cloud.in_flight == 1)
    assert cloud.count("create") == 1  # main has not been submitted
    gate.set()
    thread.join(10)
    assert "error" not in out, out
    plan = out["result"].plan
    assert plan.get("main").depends_on == ("dlq",)
    dlq = next(m for m in cloud.of_type(QUEUE) if "RedrivePolicy" not in m)
    main = next(m for m in cloud.of_type(QUEUE) if "RedrivePolicy" in m)
    # main was planned with <evaluated>, then planned again with dlq's real ARN.
    assert main["RedrivePolicy"]["deadLetterTargetArn"] == dlq["Arn"]


def test_exports_are_what_a_sequential_run_gives(make: Make, cloud: MemoryCloud) -> None:
    # Both export `arn`; `user` sees the later one in manifest order, whichever ends first.
    manifest = queues("first", "second") + (
        "  - name: user\n    resource_type: awscc.sqs.queues\n    props:\n"
        "      - name: redrive_policy\n        value:\n"
        "          deadLetterTargetArn: '{{ arn }}'\n          maxReceiveCount: 3\n"
    )
    runner = make(manifest)
    assert runner.graph.deps["user"] == ("first", "second")
    runner.build()
    second = next(
        m
        for m in cloud.of_type(QUEUE)
        if {"Key": "stackql:resource-name", "Value": "second"} in m["Tags"]
    )
    user = next(m for m in cloud.of_type(QUEUE) if "RedrivePolicy" in m)
    assert user["RedrivePolicy"]["deadLetterTargetArn"] == second["Arn"]


def test_target_selects_a_resource_and_what_it_needs(make: Make, cloud: MemoryCloud) -> None:
    manifest = queues("a", "b") + (
        "  - name: c\n    resource_type: awscc.sqs.queues\n    props:\n"
        "      - name: redrive_policy\n        value:\n"
        "          deadLetterTargetArn: '{{ a.arn }}'\n          maxReceiveCount: 3\n"
    )
    result = make(manifest, targets=("c",)).build()
    assert [r.name for r in result.plan.resources] == ["a", "c"]
    assert len(cloud.of_type(QUEUE)) == 2
    assert result.exports is None  # only part of the stack ran


# -- plan first -----------------------------------------------------------------------------


def test_a_bad_resource_is_refused_before_anything_is_created(
    make: Make, cloud: MemoryCloud
) -> None:
    manifest = queues("good") + (
        "  - name: bad\n    resource_type: awscc.sqs.queues\n    props:\n"
        "      - name: visibility_timeout\n        value: not-a-number\n"
        "  - name: worse\n    resource_type: awscc.sqs.queues\n    props:\n"
        "      - name: delay_seconds\n        value: '{{ undefined_thing }}'\n"
    )
    with pytest.raises(PlanErrors) as info:
        make(manifest).build()
    assert cloud.count("create") == 0
    text = str(info.value)
    assert text.startswith("2 resources cannot be planned (nothing was changed):")
    # Each error names the file and the line of the prop at fault.
    assert "stackql_manifest.yml:14: resource 'bad' (AWS::SQS::Queue): /VisibilityTimeout" in text
    assert "stackql_manifest.yml:20: undefined variable 'undefined_thing'" in text


def test_a_cycle_is_refused_naming_it(make: Make, cloud: MemoryCloud) -> None:
    manifest = (
        queues("a", "b")
        .replace("  - name: b\n", "  - name: b\n    depends_on: [a]\n")
        .replace("  - name: a\n", "  - name: a\n    depends_on: [b]\n")
    )
    with pytest.raises(ManifestError, match=r"cycle: a -> b -> a"):
        make(manifest)
    assert cloud.calls == []


def test_values_known_after_apply_are_validated_when_known(make: Make, cloud: MemoryCloud) -> None:
    # c's delay comes from a query of b's state: unknown at plan time, invalid once known.
    manifest = queues("b") + (
        "  - name: c\n    resource_type: awscc.sqs.queues\n    props:\n"
        "      - name: delay_seconds\n        value: '{{ b.arn }}'\n"
    )
    runner = make(manifest)
    plan = runner.plan()
    assert plan.get("c").action == "create"
    result = make(manifest, on_failure="ignore").build()
    assert [f[0] for f in result.failures] == ["c"]
    assert "/DelaySeconds" in result.failures[0][1]
    assert len(cloud.of_type(QUEUE)) == 1


# -- failures -------------------------------------------------------------------------------


def mixed() -> str:
    return (
        "name: s\nproviders: [awscc]\nresources:\n"
        "  - name: topic\n    resource_type: awscc.sns.topics\n    props:\n"
        "      - name: display_name\n        value: t\n    exports: [topic_arn]\n"
        "  - name: reader\n    resource_type: awscc.sqs.queues\n    props:\n"
        "      - name: tags\n        value: [{Key: topic, Value: '{{ topic_arn }}'}]\n"
        "  - name: other\n    resource_type: awscc.s3.buckets\n    props:\n"
        "      - name: bucket_name\n        value: s-other\n"
    )


def test_ignore_carries_on_with_what_does_not_depend_on_the_failure(
    make: Make, cloud: MemoryCloud
) -> None:
    cloud.fail(TOPIC, "CREATE", "ServiceLimitExceeded", "too many topics")
    result = make(mixed(), on_failure="ignore").build()
    by_name = {r.name: r for r in result.plan.resources}
    assert (
        by_name["topic"].reason.startswith("failed: ")
        and "ServiceLimitExceeded" in by_name["topic"].reason
    )
    assert by_name["reader"].action == "skip"
    assert by_name["reader"].reason == "skipped: depends on topic, which failed"
    assert by_name["other"].action == "create"
    assert len(cloud.of_type(BUCKET)) == 1 and cloud.of_type(QUEUE) == []
    assert result.exports is None


def test_error_stops_scheduling_and_lets_running_requests_finish(
    make: Make, cloud: MemoryCloud
) -> None:
    sink = ListSink()
    manifest = (
        "name: s\nproviders: [awscc]\nresources:\n"
        "  - name: slow\n    resource_type: awscc.sns.topics\n"
        "  - name: bad\n    resource_type: awscc.s3.buckets\n    props:\n"
        "      - name: bucket_name\n        value: s-bad\n"
        "  - name: later\n    resource_type: awscc.sqs.queues\n"
    )
    cloud.fail(BUCKET, "CREATE", "AccessDenied", "no s3:CreateBucket")
    gate = cloud.gate(TOPIC, "CREATE")
    runner = make(manifest, parallelism=2, sink=sink)
    thread, out = background(runner.build)
    sink.wait_for("failed", "bad")  # the scheduler has seen the failure; slow still runs
    gate.set()
    thread.join(10)
    result = out["result"]
    by_name = {r.name: r for r in result.plan.resources}
    assert by_name["slow"].action == "create"  # in flight when bad failed: finished
    assert by_name["later"].reason == "not started: stopped after bad failed"
    assert cloud.count("create", QUEUE) == 0
    notes = [e.message for e in sink.events if e.state == "note"]
    assert notes == ["bad failed: starting nothing more; waiting for slow to finish"]


def test_rollback_deletes_what_the_run_created_dependents_first(
    make: Make, cloud: MemoryCloud
) -> None:
    manifest = (
        "name: s\nproviders: [awscc]\nresources:\n"
        "  - name: base\n    resource_type: awscc.sns.topics\n    exports: [topic_arn]\n"
        "  - name: mid\n    resource_type: awscc.sqs.queues\n    exports: [arn]\n    props:\n"
        "      - name: tags\n        value: [{Key: t, Value: '{{ topic_arn }}'}]\n"
        "  - name: top\n    resource_type: awscc.s3.buckets\n    props:\n"
        "      - name: bucket_name\n        value: 's-{{ mid.arn | length }}'\n"
    )
    cloud.fail(BUCKET, "CREATE", "InvalidRequest", "nope")
    result = make(manifest, on_failure="rollback").build()
    assert result.rolled_back == ["mid", "base"]
    deletes = [c.type_name for c in cloud.calls if c.op == "delete"]
    assert deletes == [QUEUE, TOPIC]  # dependents first
    assert cloud.resources == {}


def test_cancel_stops_scheduling_and_waits_for_requests_in_flight(
    make: Make, cloud: MemoryCloud
) -> None:
    cancel = Cancel()
    manifest = queues("first") + (
        "  - name: second\n    resource_type: awscc.sqs.queues\n    depends_on: [first]\n"
    )
    runner = make(manifest, cancel=cancel)
    gate = cloud.gate(QUEUE, "CREATE")
    thread, out = background(runner.build)
    cloud.wait_for(lambda: cloud.in_flight == 1)
    assert [r.resource for r in runner.run.state.in_flight()] == ["first"]
    cancel.set("SIGINT")
    gate.set()
    thread.join(10)
    error = out["error"]
    assert isinstance(error, Interrupted) and error.exit_code == 130
    assert len(cloud.of_type(QUEUE)) == 1  # first finished; second never started
    assert runner.run.state.in_flight() == []
    plan = error.result.plan
    assert plan.get("first").action == "create"
    assert plan.get("second").reason == "not started: run SIGINT"


def test_sigterm_exits_143(make: Make, cloud: MemoryCloud) -> None:
    cancel = Cancel()
    cancel.set("SIGTERM")
    with pytest.raises(Interrupted) as info:
        make(queues("a"), cancel=cancel).build()
    assert info.value.exit_code == 143
    assert cloud.count("create") == 0


# -- query-file resources --------------------------------------------------------------------

BUCKET_IQL = """
/*+ exists */
SELECT COUNT(*) AS count FROM awscc.s3.buckets
WHERE region = 'us-east-1' AND Identifier = '{{ bucket_name }}';

/*+ create */
INSERT INTO awscc.s3.buckets (BucketName, region)
SELECT '{{ bucket_name }}', 'us-east-1'
RETURNING *;

/*+ statecheck, retries=3, retry_delay=5 */
SELECT COUNT(*) AS count FROM awscc.s3.buckets
WHERE region = 'us-east-1' AND Identifier = '{{ bucket_name }}'
AND bucket_name = '{{ expect }}';

/*+ callback:create, retries=2, retry_delay=4 */
SELECT COUNT(*) AS count FROM awscc.s3.buckets
WHERE region = 'us-east-1' AND Identifier = '{{ callback.Identifier }}';

/*+ troubleshoot */
SELECT bucket_name, '{{ secret }}' AS token FROM awscc.s3.buckets
WHERE region = 'us-east-1' AND Identifier = '{{ bucket_name }}';

/*+ delete, retries=3, retry_delay=2 */
DELETE FROM awscc.s3.buckets WHERE Identifier = '{{ bucket_name }}' AND region = 'us-east-1';
"""


def bucket_stack(expect: str = "{{ bucket_name }}") -> str:
    return (
        "name: s\nproviders: [awscc]\nresources:\n  - name: bucket\n    props:\n"
        "      - name: bucket_name\n        value: s-bucket\n"
        f"      - name: expect\n        value: '{expect}'\n"
        "      - name: secret\n        value: hunter22\n    protected: [secret]\n"
    )


def test_callback_polls_with_its_retries(make: Make, cloud: MemoryCloud) -> None:
    result = make(bucket_stack(), {"resources/bucket.iql": BUCKET_IQL}).build()
    assert result.plan.get("bucket").action == "create"
    assert len(cloud.of_type(BUCKET)) == 1
    # A callback that never succeeds: retries + 1 polls, retry_delay apart, then an error.
    broken = BUCKET_IQL.replace("'{{ callback.Identifier }}'", "'nope'")
    cloud.resources.clear()
    cloud.clock.sleeps.clear()
    result = make(bucket_stack(), {"resources/bucket.iql": broken}, on_failure="ignore").build()
    assert result.failures[0][1].endswith("callback:create did not report success after 3 polls")
    assert cloud.clock.sleeps.count(4) == 2


def test_troubleshoot_runs_after_a_failed_statecheck_with_secrets_masked(
    make: Make, cloud: MemoryCloud, caplog: pytest.LogCaptureFixture
) -> None:
    runner = make(
        bucket_stack(expect="other-name"), {"resources/bucket.iql": BUCKET_IQL}, on_failure="ignore"
    )
    runner.run.mask = lambda text: text.replace("hunter22", "****")
    with caplog.at_level(logging.WARNING, logger="stackdeploy.engine"):
        result = runner.build()
    assert "still not in its desired state (statecheck failed)" in result.failures[0][1]
    troubleshoot = [r.getMessage() for r in caplog.records if "troubleshoot" in r.getMessage()]
    assert troubleshoot and "s-bucket" in troubleshoot[0]
    assert "hunter22" not in caplog.text and "****" in troubleshoot[0]
    assert cloud.clock.sleeps.count(5) == 2  # statecheck: 3 attempts, 5 s apart


def test_delete_retries_then_fails_when_the_resource_stays(make: Make, cloud: MemoryCloud) -> None:
    make(bucket_stack(), {"resources/bucket.iql": BUCKET_IQL}).build()
    stubborn = BUCKET_IQL.replace(
        "DELETE FROM awscc.s3.buckets WHERE Identifier = '{{ bucket_name }}'",
        "DELETE FROM awscc.s3.buckets WHERE Identifier = 'someone-else'",
    ).replace("/*+ exists */", "/*+ exists, postdelete_retries=4, postdelete_retry_delay=1 */")
    cloud.clock.sleeps.clear()
    result = make(bucket_stack(), {"resources/bucket.iql": stubborn}).teardown()
    assert result.failures == [
        (
            "bucket",
            "resource 'bucket': delete ran but the resource is still there (hint: check the "
            "delete query's identifier (--show-queries))",
        )
    ]
    # Three DELETEs, 2 s apart; after each, 4 checks 1 s apart.
    assert cloud.clock.sleeps.count(2) == 2
    assert cloud.clock.sleeps.count(1) == 3 * 3
    assert make(bucket_stack(), {"resources/bucket.iql": BUCKET_IQL}).teardown().failures == []
    assert cloud.resources == {}


# -- teardown -------------------------------------------------------------------------------


def test_teardown_deletes_dependents_first_in_parallel(make: Make, cloud: MemoryCloud) -> None:
    manifest = (
        "name: s\nproviders: [awscc]\nresources:\n"
        "  - name: topic\n    resource_type: awscc.sns.topics\n    exports: [topic_arn]\n"
        "  - name: q1\n    resource_type: awscc.sqs.queues\n    props:\n"
        "      - name: tags\n        value: [{Key: t, Value: '{{ topic_arn }}'}]\n"
        "  - name: q2\n    resource_type: awscc.sqs.queues\n    props:\n"
        "      - name: tags\n        value: [{Key: t, Value: '{{ topic_arn }}'}]\n"
    )
    make(manifest).build()
    gate = cloud.gate(QUEUE, "DELETE")
    runner = make(manifest)
    thread, out = background(runner.teardown)
    cloud.wait_for(lambda: cloud.in_flight == 2)  # both queues at once
    assert cloud.count("delete", TOPIC) == 0  # the topic waits for them
    gate.set()
    thread.join(10)
    assert "error" not in out, out
    assert [c.type_name for c in cloud.calls if c.op == "delete"][-1] == TOPIC
    assert cloud.resources == {}


# -- discovery ------------------------------------------------------------------------------


def test_a_no_change_plan_reads_each_resource_once(make: Make, cloud: MemoryCloud) -> None:
    names = [f"q{i}" for i in range(30)]
    make(queues(*names)).build()
    cloud.calls.clear()
    plan = make(queues(*names)).plan()
    assert {r.action for r in plan.resources} == {"noop"}
    assert cloud.count("tagged") == 1  # one tagging query for the whole stack
    assert cloud.count("list") == 0
    assert cloud.count("get") == 30


def test_without_the_tagging_api_a_type_is_listed_once(make: Make, cloud: MemoryCloud) -> None:
    names = [f"q{i}" for i in range(30)]
    make(queues(*names)).build()
    cloud.calls.clear()
    cloud.tagging_error = "AccessDeniedException"
    plan = make(queues(*names)).plan()
    assert {r.action for r in plan.resources} == {"noop"}
    assert cloud.count("list") == 1
    assert cloud.count("get") == 30  # each listed queue read once, for its tags


def test_planning_again_in_apply_does_not_search_again(make: Make, cloud: MemoryCloud) -> None:
    make(queues("o1", "o2", "o3").replace("name: s\n", "name: other\n", 1)).build()
    manifest = queues("base") + (
        "  - name: dependent\n    resource_type: awscc.sqs.queues\n    props:\n"
        "      - name: tags\n        value: [{Key: t, Value: '{{ base.arn }}'}]\n"
    )
    cloud.calls.clear()
    result = make(manifest).build()
    assert [r.action for r in result.plan.resources] == ["create", "create"]
    # Planning lists the queues once and reads the other stack's three for their tags.
    # dependent, planned again with base's real ARN, is still the resource found absent at
    # plan time: no second listing, no reading every queue again.
    assert cloud.count("list") == 1
    assert cloud.count("get") == 3 + 1  # + base read after its create, for its export


def test_creating_a_named_resource_does_not_list_its_type(make: Make, cloud: MemoryCloud) -> None:
    manifest = (
        "name: s\nproviders: [awscc]\nresources:\n"
        "  - name: b\n    resource_type: awscc.s3.buckets\n    props:\n"
        "      - name: bucket_name\n        value: s-named\n"
    )
    make(manifest).build()
    assert cloud.count("list") == 0


def test_teardown_target_reads_the_exports_its_resources_use(
    make: Make, cloud: MemoryCloud
) -> None:
    manifest = (
        "name: s\nproviders: [awscc]\nresources:\n"
        "  - name: a\n    resource_type: awscc.sqs.queues\n    exports:\n      - arn: qarn\n"
        "  - name: b\n    resource_type: awscc.sqs.queues\n    props:\n"
        "      - name: tags\n        value: [{Key: source, Value: '{{ qarn }}'}]\n"
    )
    make(manifest).build()
    result = make(manifest, targets=("b",)).teardown()
    assert [(r.name, r.action) for r in result.plan.resources] == [("b", "delete")]
    assert len(cloud.of_type(QUEUE)) == 1  # a is read (its export), never deleted


def test_a_rollback_that_cannot_delete_is_a_failure(make: Make, cloud: MemoryCloud) -> None:
    manifest = (
        "name: s\nproviders: [awscc]\nresources:\n"
        "  - name: base\n    resource_type: awscc.sns.topics\n"
        "  - name: top\n    resource_type: awscc.s3.buckets\n    depends_on: [base]\n"
        "    props:\n      - name: bucket_name\n        value: s-top\n"
    )
    cloud.fail(BUCKET, "CREATE", "InvalidRequest", "nope")
    cloud.fail(TOPIC, "DELETE", "AccessDenied", "no sns:DeleteTopic")
    result = make(manifest, on_failure="rollback").build()
    assert result.rolled_back == []
    names = [name for name, _ in result.failures]
    assert names == ["top", "base"]
    assert "rollback could not delete it" in result.failures[1][1]


def test_a_resumed_run_renders_with_the_dead_runs_tokens(make: Make) -> None:
    manifest = (
        "name: s\nproviders: [awscc]\nglobals:\n  - name: tok\n    value: 't-{{ idempotency_token }}'\n"
        "resources:\n  - name: a\n    resource_type: awscc.sqs.queues\n"
    )
    runner = make(manifest)
    res = runner.stack.resources[0]
    before = runner.run.state.scoped_globals(res)["tok"]
    runner.run.state.resume("dead-run")
    after = runner.run.state.scoped_globals(res)["tok"]
    assert before != after
    assert after == "t-" + runner.run.state.tokens["a"]
