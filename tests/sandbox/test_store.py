"""The store's time logic with a fake clock: lazy status, settling, retention, token window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackdeploy.sandbox.handlers import Context, Handlers, SandboxError
from stackdeploy.sandbox.store import CLIENT_TOKEN_SECONDS, REQUEST_RETENTION_SECONDS, Store


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _create(handlers: Handlers, name: str, token: str | None = None) -> dict:
    params = {"TypeName": "AWS::S3::Bucket", "DesiredState": json.dumps({"BucketName": name})}
    if token:
        params["ClientToken"] = token
    return handlers.handle("CreateResource", params, Context())["ProgressEvent"]


def _status(handlers: Handlers, event: dict) -> str:
    result = handlers.handle(
        "GetResourceRequestStatus", {"RequestToken": event["RequestToken"]}, Context()
    )
    return str(result["ProgressEvent"]["OperationStatus"])


def test_status_follows_the_clock(clock: Clock) -> None:
    with Store(None, clock=clock) as store:
        handlers = Handlers(store, latency=10.0)
        event = _create(handlers, "bucket-a")
        assert _status(handlers, event) == "PENDING"
        clock.now += 3
        assert _status(handlers, event) == "IN_PROGRESS"
        assert (
            store.get_resource("123456789012", "us-east-1", "AWS::S3::Bucket", "bucket-a") is None
        )
        clock.now += 7
        assert _status(handlers, event) == "SUCCESS"
        assert store.get_resource("123456789012", "us-east-1", "AWS::S3::Bucket", "bucket-a")


def test_requests_kept_seven_days(clock: Clock, tmp_path: Path) -> None:
    with Store(tmp_path / "s.db", clock=clock) as store:
        handlers = Handlers(store)
        event = _create(handlers, "bucket-b")
        clock.now += REQUEST_RETENTION_SECONDS - 60
        assert _status(handlers, event) == "SUCCESS"
        clock.now += 120
        with pytest.raises(SandboxError) as info:
            _status(handlers, event)
        assert info.value.code == "RequestTokenNotFoundException"
        # The resource itself stays.
        assert store.counts() == {"resources": 1, "requests": 0}


def test_client_token_window(clock: Clock) -> None:
    with Store(None, clock=clock) as store:
        handlers = Handlers(store)
        first = _create(handlers, "bucket-c", token="t1")
        assert _create(handlers, "bucket-c", token="t1")["RequestToken"] == first["RequestToken"]
        clock.now += CLIENT_TOKEN_SECONDS + 1
        later = _create(handlers, "bucket-c", token="t1")  # a new request after 36 hours
        assert later["RequestToken"] != first["RequestToken"]
        assert _status(handlers, later) == "FAILED"  # AlreadyExists


def test_effects_apply_in_end_order(clock: Clock) -> None:
    with Store(None, clock=clock) as store:
        handlers = Handlers(store, latency={"CREATE": 1.0, "DELETE": 5.0})
        _create(handlers, "bucket-d")
        clock.now += 2
        ctx = Context()
        handlers.handle(
            "DeleteResource", {"TypeName": "AWS::S3::Bucket", "Identifier": "bucket-d"}, ctx
        )
        assert store.counts()["resources"] == 1  # the delete is still in progress
        clock.now += 10
        assert store.settle() == 1  # the delete's effect, applied once
        assert store.settle() == 0
        assert store.counts()["resources"] == 0
