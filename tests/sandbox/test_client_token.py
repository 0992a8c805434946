"""ClientToken as AWS honours it: the same token and request within 36 hours answer the original
request (no second resource, even when requests race); the same token with another request is
a ClientTokenConflictException; a new token after a delete creates again."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.sandbox.helpers import list_all, unique, wait


def _create(cc: Any, type_name: str, desired: dict[str, Any], token: str) -> dict[str, Any]:
    event = cc.create_resource(
        TypeName=type_name, DesiredState=json.dumps(desired), ClientToken=token
    )
    return dict(event["ProgressEvent"])


def test_same_token_same_request_answers_the_original(sandbox_server: Any, client_for: Any) -> None:
    cc = client_for(sandbox_server.url)
    desired = {"CidrBlock": "10.0.0.0/16"}  # AWS chooses a VPC's identifier
    first = _create(cc, "AWS::EC2::VPC", desired, "tok-1")
    final = wait(cc, first)
    again = _create(cc, "AWS::EC2::VPC", desired, "tok-1")
    # The original request's event as it stands now, not a new request.
    assert again["RequestToken"] == first["RequestToken"]
    assert again["Identifier"] == first["Identifier"]
    assert again["OperationStatus"] == "SUCCESS"
    assert again["ResourceModel"] == final["ResourceModel"]
    assert [i for i, _ in list_all(cc, "AWS::EC2::VPC")] == [first["Identifier"]]
    assert len(cc.list_resource_requests()["ResourceRequestStatusSummaries"]) == 1


def test_same_token_other_request_conflicts(sandbox_server: Any, client_for: Any) -> None:
    cc = client_for(sandbox_server.url)
    name = unique("bucket")
    wait(cc, _create(cc, "AWS::S3::Bucket", {"BucketName": name}, "tok-2"))
    with pytest.raises(cc.exceptions.ClientTokenConflictException) as info:
        _create(cc, "AWS::S3::Bucket", {"BucketName": name, "Tags": []}, "tok-2")
    assert "tok-2" in info.value.response["Error"]["Message"]
    with pytest.raises(cc.exceptions.ClientTokenConflictException):
        cc.delete_resource(TypeName="AWS::S3::Bucket", Identifier=name, ClientToken="tok-2")
    with pytest.raises(cc.exceptions.ClientTokenConflictException):
        cc.update_resource(
            TypeName="AWS::S3::Bucket",
            Identifier=name,
            PatchDocument=json.dumps([{"op": "add", "path": "/Tags", "value": []}]),
            ClientToken="tok-2",
        )
    # Tokens are per account: another account may use the same one.
    other = client_for(sandbox_server.url, account="999988887777")
    assert (
        wait(other, _create(other, "AWS::S3::Bucket", {"BucketName": name}, "tok-2"))[
            "OperationStatus"
        ]
        == "SUCCESS"
    )


def test_recreate_after_delete_needs_a_new_token(sandbox_server: Any, client_for: Any) -> None:
    cc = client_for(sandbox_server.url)
    name = unique("bucket")
    desired = {"BucketName": name}
    created = _create(cc, "AWS::S3::Bucket", desired, "create-1")
    wait(cc, created)
    deleted = cc.delete_resource(
        TypeName="AWS::S3::Bucket", Identifier=name, ClientToken="delete-1"
    )["ProgressEvent"]
    assert wait(cc, deleted)["OperationStatus"] == "SUCCESS"
    # The old token still names the old request: nothing is created by repeating it.
    replay = _create(cc, "AWS::S3::Bucket", desired, "create-1")
    assert replay["RequestToken"] == created["RequestToken"]
    assert list_all(cc, "AWS::S3::Bucket") == []
    # A new token is a new request, and succeeds for the same name.
    again = wait(cc, _create(cc, "AWS::S3::Bucket", desired, "create-2"))
    assert again["OperationStatus"] == "SUCCESS"
    assert [i for i, _ in list_all(cc, "AWS::S3::Bucket")] == [name]


def test_racing_retries_make_one_resource(sandbox_server: Any, client_for: Any) -> None:
    """Eight clients send the same create with the same token at once (a retry storm after a
    lost answer): one request is recorded and every client gets it."""
    sandbox_server.latency = 0.5
    desired = {"CidrBlock": "10.7.0.0/16"}
    clients = [client_for(sandbox_server.url) for _ in range(8)]
    answers: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(clients))

    def send(cc: Any) -> None:
        barrier.wait()
        try:
            answers.append(_create(cc, "AWS::EC2::VPC", desired, "storm"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(cc,)) for cc in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len({a["RequestToken"] for a in answers}) == 1
    assert len({a["Identifier"] for a in answers}) == 1
    wait(clients[0], answers[0])
    assert [i for i, _ in list_all(clients[0], "AWS::EC2::VPC")] == [answers[0]["Identifier"]]
