"""Asynchronous requests: PENDING -> IN_PROGRESS -> final after the configured latency,
RetryAfter, ListResourceRequests, CancelResourceRequest and concurrent-operation refusal.
These use an in-process server whose latency each test sets."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.sandbox.helpers import created, get, unique, wait


def _create(cc: Any, name: str) -> dict[str, Any]:
    event = cc.create_resource(
        TypeName="AWS::S3::Bucket", DesiredState=json.dumps({"BucketName": name})
    )
    return dict(event["ProgressEvent"])


def _status(cc: Any, event: dict[str, Any]) -> dict[str, Any]:
    return dict(cc.get_resource_request_status(RequestToken=event["RequestToken"])["ProgressEvent"])


def test_status_progression_with_latency(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.latency = 1.0
    cc = client_for(sandbox_server.url)
    name = unique("bucket")
    started = time.time()
    event = _create(cc, name)
    assert event["OperationStatus"] == "PENDING"  # the first 20% of the latency
    assert event["Identifier"] == name
    assert "RetryAfter" in event and "ResourceModel" not in event
    with pytest.raises(cc.exceptions.ResourceNotFoundException):
        cc.get_resource(TypeName="AWS::S3::Bucket", Identifier=name)
    time.sleep(max(0.0, started + 0.4 - time.time()))
    middle = _status(cc, event)
    assert middle["OperationStatus"] == "IN_PROGRESS"
    assert middle["RetryAfter"].timestamp() == pytest.approx(started + 1.0, abs=0.3)
    final = wait(cc, event, timeout=5)
    assert final["OperationStatus"] == "SUCCESS"
    assert time.time() - started >= 0.9
    assert json.loads(final["ResourceModel"])["BucketName"] == name
    assert "RetryAfter" not in final
    assert get(cc, "AWS::S3::Bucket", name)["BucketName"] == name


def test_zero_latency_next_poll_is_final(sandbox_server: Any, client_for: Any) -> None:
    cc = client_for(sandbox_server.url)
    event = _create(cc, unique("bucket"))
    assert event["OperationStatus"] == "IN_PROGRESS"  # a mutation never answers its outcome
    assert _status(cc, event)["OperationStatus"] == "SUCCESS"


def test_latency_per_type_and_operation(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.latency = {"default": 0.0, "AWS::S3::Bucket:CREATE": 30.0}
    cc = client_for(sandbox_server.url)
    slow = _create(cc, unique("bucket"))
    vpc = created(cc, "AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16"})  # not slowed down
    assert vpc
    assert _status(cc, slow)["OperationStatus"] in ("PENDING", "IN_PROGRESS")
    # RetryAfter never asks for more than a few seconds, whatever the latency.
    assert _status(cc, slow)["RetryAfter"].timestamp() <= time.time() + 6


def test_cancel_in_progress(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.latency = 30.0
    cc = client_for(sandbox_server.url)
    name = unique("bucket")
    event = _create(cc, name)
    cancelled = cc.cancel_resource_request(RequestToken=event["RequestToken"])["ProgressEvent"]
    assert cancelled["OperationStatus"] == "CANCEL_COMPLETE"
    assert _status(cc, event)["OperationStatus"] == "CANCEL_COMPLETE"
    with pytest.raises(cc.exceptions.ConcurrentModificationException):
        cc.cancel_resource_request(RequestToken=event["RequestToken"])
    # The cancelled create never happens, and the identifier is free again.
    with pytest.raises(cc.exceptions.ResourceNotFoundException):
        cc.get_resource(TypeName="AWS::S3::Bucket", Identifier=name)
    sandbox_server.latency = 0.0
    assert created(cc, "AWS::S3::Bucket", {"BucketName": name}) == name


def test_concurrent_operation_refused(sandbox_server: Any, client_for: Any) -> None:
    cc = client_for(sandbox_server.url)
    name = unique("bucket")
    created(cc, "AWS::S3::Bucket", {"BucketName": name})
    sandbox_server.latency = 30.0
    patch = json.dumps([{"op": "add", "path": "/Tags", "value": [{"Key": "a", "Value": "1"}]}])
    first = cc.update_resource(TypeName="AWS::S3::Bucket", Identifier=name, PatchDocument=patch)
    with pytest.raises(cc.exceptions.ConcurrentOperationException):
        cc.delete_resource(TypeName="AWS::S3::Bucket", Identifier=name)
    with pytest.raises(cc.exceptions.ConcurrentOperationException):
        _create(cc, name)
    # Until it ends, the resource is as it was.
    assert "Tags" not in get(cc, "AWS::S3::Bucket", name)
    cc.cancel_resource_request(RequestToken=first["ProgressEvent"]["RequestToken"])
    sandbox_server.latency = 0.0
    event = cc.delete_resource(TypeName="AWS::S3::Bucket", Identifier=name)["ProgressEvent"]
    assert wait(cc, event)["OperationStatus"] == "SUCCESS"


def test_list_resource_requests(sandbox_server: Any, client_for: Any) -> None:
    cc = client_for(sandbox_server.url)
    names = [unique("bucket") for _ in range(3)]
    for name in names:
        created(cc, "AWS::S3::Bucket", {"BucketName": name})
    sandbox_server.latency = 30.0
    pending = cc.delete_resource(TypeName="AWS::S3::Bucket", Identifier=names[0])["ProgressEvent"]

    def summaries(**kwargs: Any) -> list[dict[str, Any]]:
        found, token = [], None
        while True:
            page = cc.list_resource_requests(**kwargs, **({"NextToken": token} if token else {}))
            found += page["ResourceRequestStatusSummaries"]
            token = page.get("NextToken")
            if not token:
                return found

    everything = summaries()
    assert len(everything) == 4
    assert everything[0]["RequestToken"] == pending["RequestToken"]  # newest first
    creates = summaries(ResourceRequestStatusFilter={"Operations": ["CREATE"]})
    assert sorted(e["Identifier"] for e in creates) == sorted(names)
    active = summaries(
        ResourceRequestStatusFilter={"OperationStatuses": ["PENDING", "IN_PROGRESS"]}
    )
    assert [e["RequestToken"] for e in active] == [pending["RequestToken"]]
    paged = cc.list_resource_requests(MaxResults=3)
    assert len(paged["ResourceRequestStatusSummaries"]) == 3 and paged["NextToken"]
    # Other accounts see none of these.
    other = client_for(sandbox_server.url, account="999988887777")
    assert other.list_resource_requests()["ResourceRequestStatusSummaries"] == []
