"""The Cloud Control client through boto3 against the sandbox HTTP server.

Fault injection (``sandbox_server.faults``) drives the failure paths. Most tests use a fake
clock and sleep, so polls and back-off cost no real time: the sandbox's own latency is 0 so
requests are due at once and only the client's schedule is under test.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from stackdeploy.cloud import CloudConfig, CloudControl, ProgressEvent, RequestFailedError
from stackdeploy.errors import CloudControlError, RequestTimeoutError
from stackdeploy.sandbox.handlers import Context
from stackdeploy.sandbox.server import SandboxServer
from tests.cloud.fakes import FakeClock

BUCKET = "AWS::S3::Bucket"
LOG_GROUP = "AWS::Logs::LogGroup"


def unique(prefix: str = "b") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_cloud(url: str, clock: FakeClock | None = None, **config: Any) -> CloudControl:
    config.setdefault("region", "us-east-1")
    if clock is None:
        return CloudControl(CloudConfig(endpoint_url=url, **config))
    return CloudControl(CloudConfig(endpoint_url=url, **config), clock=clock, sleep=clock.sleep)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cloud(sandbox_server: Any, clock: FakeClock) -> Any:
    client = make_cloud(sandbox_server.url, clock)
    yield client
    client.close()


# -- lifecycle (against the sandbox subprocess, real clock) ---------------------------------


def test_create_get_list_update_delete_lifecycle(sandbox: Any) -> None:
    name = unique()
    events: list[ProgressEvent] = []
    with make_cloud(sandbox.url) as cloud:
        created = cloud.create_resource(
            BUCKET,
            {"BucketName": name, "Tags": [{"Key": "team", "Value": "a"}]},
            on_event=events.append,
        )
        assert created.status == "SUCCESS"
        assert created.operation == "CREATE"
        assert created.identifier == name
        assert created.resource_model is not None
        assert created.resource_model["BucketName"] == name
        assert created.resource_model["Arn"].startswith("arn:aws:s3")
        assert events[0].status in ("PENDING", "IN_PROGRESS")
        assert events[-1] == created
        row = created.as_row()
        assert row["OperationStatus"] == "SUCCESS"
        assert row["RequestToken"] == created.request_token

        props = cloud.get_resource(BUCKET, name)
        assert props is not None and props["BucketName"] == name
        listed = dict(cloud.list_resources(BUCKET))
        assert listed[name]["BucketName"] == name

        updated = cloud.update_resource(
            BUCKET,
            name,
            [{"op": "add", "path": "/VersioningConfiguration", "value": {"Status": "Enabled"}}],
        )
        assert updated.status == "SUCCESS" and updated.operation == "UPDATE"
        props = cloud.get_resource(BUCKET, name)
        assert props is not None
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}

        status = cloud.request_status(str(updated.request_token))
        assert status.status == "SUCCESS" and status.request_token == updated.request_token

        deleted = cloud.delete_resource(BUCKET, name)
        assert deleted.status == "SUCCESS"
        assert cloud.get_resource(BUCKET, name) is None
        assert name not in dict(cloud.list_resources(BUCKET))


def test_delete_of_a_missing_resource_counts_as_done(sandbox: Any) -> None:
    with make_cloud(sandbox.url) as cloud:
        event = cloud.delete_resource(BUCKET, unique("gone"))
    assert event.status == "FAILED"
    assert event.error_code == "NotFound"


def test_get_of_a_missing_resource_is_none_but_other_failures_raise(sandbox: Any) -> None:
    with make_cloud(sandbox.url) as cloud:
        assert cloud.get_resource(BUCKET, unique("missing")) is None
        with pytest.raises(CloudControlError) as info:
            cloud.get_resource("AWS::Nope::Thing", "x")
    assert info.value.error_code == "TypeNotFoundException"
    assert "AWS::Nope::Thing" in str(info.value)
    assert "hint:" in str(info.value)


def test_invalid_desired_state_is_an_error_with_code_and_message(sandbox: Any) -> None:
    with make_cloud(sandbox.url) as cloud, pytest.raises(CloudControlError) as info:
        cloud.create_resource(BUCKET, {"BucketName": 42, "NoSuchProperty": True})
    assert info.value.error_code
    assert info.value.error_code in str(info.value)
    assert "CreateResource AWS::S3::Bucket" in str(info.value)


def test_same_client_token_returns_the_original_request(sandbox: Any) -> None:
    token = str(uuid.uuid4())
    desired = {"BucketName": unique()}
    with make_cloud(sandbox.url) as cloud:
        first = cloud.create_resource(BUCKET, desired, client_token=token)
        again = cloud.create_resource(BUCKET, desired, client_token=token)
        assert again.request_token == first.request_token
        assert again.status == "SUCCESS"
        cloud.delete_resource(BUCKET, desired["BucketName"])


def test_parallel_threads_share_one_client(sandbox: Any) -> None:
    names = [unique("par") for _ in range(6)]
    errors: list[BaseException] = []
    with make_cloud(sandbox.url) as cloud:

        def work(name: str) -> None:
            try:
                cloud.create_resource(BUCKET, {"BucketName": name})
                cloud.delete_resource(BUCKET, name)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(cloud.pool._clients) == 1


# -- polling against a sandbox with real latency ---------------------------------------------


def test_first_poll_is_fast_and_retry_after_is_honoured(sandbox_server: Any) -> None:
    sandbox_server.latency = 0.8
    seen: list[tuple[float, ProgressEvent]] = []
    with make_cloud(sandbox_server.url, poll_initial=0.1) as cloud:
        cloud.open()
        cloud.pool.client("cloudcontrol", "us-east-1")  # build the client before timing
        event = cloud.create_resource(
            BUCKET,
            {"BucketName": unique()},
            on_event=lambda e: seen.append((time.time(), e)),
        )
    assert event.status == "SUCCESS"
    submitted_at, submission = seen[0]
    assert submission.status in ("PENDING", "IN_PROGRESS")
    assert len(seen) >= 2
    assert seen[1][0] - submitted_at < 1.0  # the first poll comes well under a second later
    for (_, before), (polled_at, _) in itertools.pairwise(seen):
        if before.retry_after is not None:
            # Never before RetryAfter (the request's own wall clock; allow timer granularity).
            assert polled_at >= before.retry_after.timestamp() - 0.02


def test_first_poll_can_be_sooner_for_one_request(
    sandbox_server: Any, cloud: CloudControl, clock: FakeClock
) -> None:
    name = unique()
    cloud.create_resource(BUCKET, {"BucketName": name})
    assert clock.sleeps[0] == pytest.approx(cloud.config.poll_initial)  # the client's schedule
    clock.sleeps.clear()
    cloud.delete_resource(BUCKET, name, first_poll=0.05)
    assert clock.sleeps[0] == pytest.approx(0.05)


# -- failures and retries (fault injection, fake clock) --------------------------------------


def test_failed_request_quotes_error_code_and_status_message(
    sandbox_server: Any, cloud: CloudControl
) -> None:
    sandbox_server.faults.fail(BUCKET, "CREATE", "AccessDenied", message="User is not authorized")
    with pytest.raises(RequestFailedError) as info:
        cloud.create_resource(BUCKET, {"BucketName": unique()})
    error = info.value
    assert error.error_code == "AccessDenied"
    assert error.status_message == "User is not authorized"
    assert error.request_token
    assert "AccessDenied: User is not authorized" in str(error)
    assert error.request_token in str(error)
    assert "IAM" in str(error)  # the hint
    assert error.event.status == "FAILED"


def test_async_throttling_is_resubmitted_with_a_new_client_token(
    sandbox_server: Any, cloud: CloudControl, clock: FakeClock
) -> None:
    sandbox_server.faults.fail(BUCKET, "CREATE", "Throttling", count=2)
    events: list[ProgressEvent] = []
    name = unique()
    final = cloud.create_resource(BUCKET, {"BucketName": name}, on_event=events.append)
    assert final.status == "SUCCESS"
    failures = [e for e in events if e.status == "FAILED"]
    assert [e.error_code for e in failures] == ["Throttling", "Throttling"]
    # Three submissions, three requests: a reused ClientToken would have replayed the failure.
    assert len({e.request_token for e in events}) == 3
    assert cloud.get_resource(BUCKET, name) is not None
    assert sum(clock.sleeps) > 0


@pytest.mark.parametrize("code", ["NetworkFailure", "ServiceInternalError", "InternalFailure"])
def test_other_transient_async_failures_are_resubmitted(
    sandbox_server: Any, cloud: CloudControl, code: str
) -> None:
    sandbox_server.faults.fail(BUCKET, "DELETE", code, count=1)
    name = unique()
    cloud.create_resource(BUCKET, {"BucketName": name})
    assert cloud.delete_resource(BUCKET, name).status == "SUCCESS"
    assert cloud.get_resource(BUCKET, name) is None


def test_async_throttling_resubmission_is_bounded(sandbox_server: Any, cloud: CloudControl) -> None:
    sandbox_server.faults.fail(BUCKET, "CREATE", "Throttling")
    events: list[ProgressEvent] = []
    with pytest.raises(RequestFailedError) as info:
        cloud.create_resource(BUCKET, {"BucketName": unique()}, on_event=events.append)
    assert info.value.error_code == "Throttling"
    assert "after 3 resubmissions" in str(info.value)
    assert len({e.request_token for e in events}) == cloud.config.max_resubmits + 1


def test_terminal_async_failures_are_not_resubmitted(
    sandbox_server: Any, cloud: CloudControl
) -> None:
    sandbox_server.faults.fail(BUCKET, "UPDATE", "NotUpdatable", message="BucketName is createOnly")
    name = unique()
    cloud.create_resource(BUCKET, {"BucketName": name})
    events: list[ProgressEvent] = []
    with pytest.raises(RequestFailedError) as info:
        cloud.update_resource(
            BUCKET, name, [{"op": "add", "path": "Tags", "value": []}], on_event=events.append
        )
    assert info.value.error_code == "NotUpdatable"
    assert "replaced" in str(info.value)
    assert len({e.request_token for e in events}) == 1


def test_sync_throttling_is_retried_with_backoff(sandbox_server: Any) -> None:
    clock = FakeClock()
    backoffs: list[float] = []

    def sleep(seconds: float) -> None:
        # Every call is throttled until the client has backed off twice.
        if sandbox_server.faults.throttle_rate:
            backoffs.append(seconds)
            if len(backoffs) == 2:
                sandbox_server.faults.throttle_rate = 0.0
        clock.sleep(seconds)

    name = unique()
    with CloudControl(
        CloudConfig(endpoint_url=sandbox_server.url, region="us-east-1"), clock=clock, sleep=sleep
    ) as cloud:
        sandbox_server.faults.throttle_rate = 1.0
        assert cloud.create_resource(BUCKET, {"BucketName": name}).status == "SUCCESS"
        assert len(backoffs) == 2
        assert 0.25 <= backoffs[0] <= 0.5 and 0.5 <= backoffs[1] <= 1.0
        # The same submission (same ClientToken) went through: exactly one request exists.
        creates = cloud.list_resource_requests(operations=["CREATE"])
        assert [e.identifier for e in creates] == [name]

        # A whole lifecycle under random throttling of 40% of calls still succeeds.
        sandbox_server.faults.reseed(5)
        sandbox_server.faults.throttle_rate = 0.4
        cloud.update_resource(BUCKET, name, [{"op": "add", "path": "/Tags", "value": []}])
        assert cloud.get_resource(BUCKET, name) is not None
        assert cloud.delete_resource(BUCKET, name).status == "SUCCESS"
        sandbox_server.faults.throttle_rate = 0.0
        assert cloud.get_resource(BUCKET, name) is None


def test_sync_throttling_gives_up_after_bounded_retries(
    sandbox_server: Any, cloud: CloudControl, clock: FakeClock
) -> None:
    sandbox_server.faults.throttle_rate = 1.0
    with pytest.raises(CloudControlError) as info:
        cloud.get_resource(BUCKET, "anything")
    assert info.value.error_code == "ThrottlingException"
    assert "after 7 attempts" in str(info.value)
    assert "parallelism" in str(info.value)
    assert len(clock.sleeps) == cloud.config.max_retries
    # Exponential: each back-off ceiling doubles (jitter keeps each in [ceiling/2, ceiling]).
    for attempt, delay in enumerate(clock.sleeps):
        ceiling = min(cloud.config.retry_max, cloud.config.retry_base * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling


def test_request_that_stays_in_progress_times_out(
    sandbox_server: Any, cloud: CloudControl, clock: FakeClock
) -> None:
    sandbox_server.faults.stick(BUCKET, "CREATE")
    with pytest.raises(RequestTimeoutError) as info:
        cloud.create_resource(BUCKET, {"BucketName": unique()}, timeout_minutes=2)
    error = info.value
    assert error.request_token
    assert error.request_token in str(error)
    assert "within 2 minutes" in str(error)
    assert clock.elapsed == pytest.approx(120, abs=0.5)
    # The request is really still running on the server.
    assert cloud.request_status(error.request_token).status == "IN_PROGRESS"
    cancelled = cloud.cancel_resource_request(error.request_token)
    assert cancelled.status in ("CANCEL_IN_PROGRESS", "CANCEL_COMPLETE")


def test_configured_timeout_overrides_the_schema_timeout(
    sandbox_server: Any, clock: FakeClock
) -> None:
    sandbox_server.faults.stick(BUCKET, "CREATE")
    with (
        make_cloud(sandbox_server.url, clock, timeout_minutes=0.5) as cloud,
        pytest.raises(RequestTimeoutError),
    ):
        cloud.create_resource(BUCKET, {"BucketName": unique()}, timeout_minutes=720)
    assert clock.elapsed == pytest.approx(30, abs=0.5)


def test_every_call_goes_through_the_rate_limiter(sandbox_server: Any, clock: FakeClock) -> None:
    sandbox_server.faults.stick(BUCKET, "CREATE")
    with make_cloud(sandbox_server.url, clock, max_rps=1, burst=1) as cloud:
        acquired: list[float] = []
        original = cloud.limiter.acquire

        def counting() -> float:
            acquired.append(clock())
            return original()

        cloud.limiter.acquire = counting  # type: ignore[method-assign]
        events: list[ProgressEvent] = []
        with pytest.raises(RequestTimeoutError):
            cloud.create_resource(
                BUCKET, {"BucketName": unique()}, timeout_minutes=0.25, on_event=events.append
            )
    # One token per call: the submission and each poll.
    assert len(acquired) == len(events)
    assert len(events) > 3


def test_cancel_and_list_resource_requests(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.faults.stick(LOG_GROUP, "CREATE")
    raw = client_for(sandbox_server.url)
    name = unique("lg")
    token = raw.create_resource(TypeName=LOG_GROUP, DesiredState=f'{{"LogGroupName": "{name}"}}')[
        "ProgressEvent"
    ]["RequestToken"]
    with make_cloud(sandbox_server.url) as cloud:
        running = cloud.list_resource_requests(statuses=["IN_PROGRESS", "PENDING"])
        assert token in {e.request_token for e in running}
        assert cloud.list_resource_requests(operations=["DELETE"]) == []
        cloud.cancel_resource_request(token)
        assert cloud.request_status(token).status in ("CANCEL_IN_PROGRESS", "CANCEL_COMPLETE")
        with pytest.raises(CloudControlError) as info:
            cloud.request_status("no-such-token")
        assert info.value.error_code == "RequestTokenNotFoundException"


def test_list_resources_follows_every_page(sandbox_server: Any, cloud: CloudControl) -> None:
    names = {unique("lg") for _ in range(27)}  # two pages of 25
    for name in names:
        cloud.create_resource(LOG_GROUP, {"LogGroupName": name})
    listed = dict(cloud.list_resources(LOG_GROUP, max_results=10))
    assert set(listed) == names
    assert all(listed[name]["LogGroupName"] == name for name in names)


def test_tagged_resources(sandbox_server: Any, cloud: CloudControl) -> None:
    team_a, team_b = unique("a"), unique("b")
    cloud.create_resource(BUCKET, {"BucketName": team_a, "Tags": [{"Key": "team", "Value": "a"}]})
    cloud.create_resource(BUCKET, {"BucketName": team_b, "Tags": [{"Key": "team", "Value": "b"}]})
    cloud.create_resource(
        LOG_GROUP, {"LogGroupName": unique(), "Tags": [{"Key": "team", "Value": "a"}]}
    )

    all_team = cloud.tagged_resources(tag_filters=[{"Key": "team"}])
    assert len(all_team) == 3
    assert all(set(item) == {"ResourceARN", "Tags"} for item in all_team)

    team_a_buckets = cloud.tagged_resources(
        tag_filters={"team": "a"}, resource_type_filters=["s3:bucket"]
    )
    assert len(team_a_buckets) == 1
    assert team_a_buckets[0]["Tags"] == [{"Key": "team", "Value": "a"}]
    arn = cloud.get_resource(BUCKET, team_a)
    assert arn is not None and team_a_buckets[0]["ResourceARN"] == arn["Arn"]
    assert cloud.tagged_resources("us-east-1", {"team": ["a", "b"]}, ["logs:log-group"])


def test_unreachable_endpoint_is_a_clear_error(clock: FakeClock) -> None:
    with (
        make_cloud("http://127.0.0.1:9", clock, connect_timeout=1) as cloud,
        pytest.raises(CloudControlError) as info,
    ):
        cloud.get_resource(BUCKET, "b")
    assert info.value.error_code == "NetworkFailure"
    assert "sandbox is running" in str(info.value)
    assert len(clock.sleeps) == cloud.config.max_network_retries


# -- open_cloud with the embedded sandbox ----------------------------------------------------


def test_open_cloud_sandbox_keeps_state_between_sessions(tmp_path: Path) -> None:
    # The CLI starts the embedded sandbox (stackdeploy.cloud never imports the sandbox).
    from stackdeploy.cli.options import CloudOptions, open_cloud_from

    state = tmp_path / "nested" / "sandbox.db"
    name = unique()
    options = CloudOptions(sandbox=True, sandbox_state=str(state))
    with open_cloud_from(options) as cloud:
        assert cloud.default_region == "us-east-1"
        cloud.create_resource(BUCKET, {"BucketName": name})
    assert state.exists()
    with open_cloud_from(options) as cloud:
        assert cloud.get_resource(BUCKET, name) is not None
        cloud.delete_resource(BUCKET, name)


def test_identifier_forms_and_rejected_parameters(sandbox: Any) -> None:
    name = unique()
    with make_cloud(sandbox.url) as cloud:
        cloud.create_resource(BUCKET, {"BucketName": name})
        # A JSON object of identifier properties, and a one-part sequence, name the same bucket.
        by_object = cloud.get_resource(BUCKET, {"BucketName": name})
        assert by_object is not None and by_object["BucketName"] == name
        assert cloud.get_resource(BUCKET, [name]) == by_object
        with pytest.raises(CloudControlError) as info:
            cloud.get_resource("X", name)  # botocore rejects a TypeName this short
        assert info.value.error_code == "InvalidRequest"
        assert "TypeName" in str(info.value)
        cloud.delete_resource(BUCKET, name)


def test_tagged_resources_asks_for_pages_of_100(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "requests.jsonl"
    with SandboxServer(tmp_path / "s.db", request_log=log) as server:
        for i in range(150):
            server.handlers.handle(
                "CreateResource",
                {
                    "TypeName": "AWS::SQS::Queue",
                    "DesiredState": json.dumps(
                        {"QueueName": f"q{i}", "Tags": [{"Key": "stack", "Value": "s"}]}
                    ),
                },
                Context(),
            )
        server.store.settle(time.time() + 1)
        with make_cloud(server.url, clock) as cloud:
            found = cloud.tagged_resources(tag_filters={"stack": "s"})
    assert len(found) == 150
    operations = [json.loads(line)["operation"] for line in log.read_text().splitlines()]
    assert operations == ["GetResources", "GetResources"]  # not 3 pages of the default 50


# -- an endpoint that dies while answering ---------------------------------------------------


class _Scripted:
    """A loopback HTTP endpoint answering each request with the next scripted JSON body
    (status 200), as an endpoint that dies mid-answer can leave an empty success."""

    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.bodies = list(bodies)
        self.operations: list[str] = []
        self.tokens: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                sent = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                outer.tokens.append(sent.get("ClientToken"))
                outer.operations.append(self.headers.get("X-Amz-Target", "").split(".")[-1])
                body = json.dumps(outer.bodies.pop(0) if outer.bodies else {}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_answer_without_its_result_is_retried_not_read_as_empty(clock: FakeClock) -> None:
    described = {
        "TypeName": BUCKET,
        "ResourceDescription": {"Identifier": "b", "Properties": '{"BucketName": "b"}'},
    }
    endpoint = _Scripted([{}, described])
    try:
        with make_cloud(endpoint.url, clock) as cloud:
            # Read as {} this would be a bucket with no properties: an update to plan.
            assert cloud.get_resource(BUCKET, "b") == {"BucketName": "b"}
        assert endpoint.operations == ["GetResource", "GetResource"]
    finally:
        endpoint.close()


def test_an_incomplete_answer_to_a_mutation_is_a_clear_error(clock: FakeClock) -> None:
    endpoint = _Scripted([])
    try:
        with make_cloud(endpoint.url, clock) as cloud, pytest.raises(CloudControlError) as info:
            cloud.create_resource(BUCKET, {"BucketName": "b"}, client_token="t-1")
        assert info.value.error_code == "IncompleteResponse"
        assert "answered without ProgressEvent" in str(info.value)
        # Every retry was the same submission (one ClientToken): never a second resource.
        assert set(endpoint.operations) == {"CreateResource"}
        assert set(endpoint.tokens) == {"t-1"}
        assert len(endpoint.operations) == cloud.config.max_network_retries + 1
    finally:
        endpoint.close()
