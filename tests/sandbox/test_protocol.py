"""The wire protocol itself: what botocore and raw HTTP see, the endpoint environment
variables, region and account from the signature, and the serve command's flags."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import start_sandbox_process, stop_sandbox_process
from tests.sandbox.helpers import created, unique


def _post(url: str, target: str, body: bytes) -> tuple[int, dict[str, Any], str]:
    request = urllib.request.Request(
        url + "/",
        data=body,
        method="POST",
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers["Content-Type"]


def test_error_shape_on_the_wire(sandbox: Any) -> None:
    status, body, content_type = _post(
        sandbox.url,
        "CloudApiService.GetResource",
        json.dumps({"TypeName": "AWS::S3::Bucket", "Identifier": "absent"}).encode(),
    )
    assert status == 400
    assert content_type == "application/x-amz-json-1.0"
    assert body == {
        "__type": "com.amazonaws.cloudapiservice#ResourceNotFoundException",
        "Message": "Resource of type 'AWS::S3::Bucket' with identifier 'absent' was not found.",
    }


def test_malformed_requests(sandbox: Any) -> None:
    status, body, _ = _post(sandbox.url, "CloudApiService.Nope", b"{}")
    assert (status, body["__type"].split("#")[1]) == (400, "UnknownOperationException")
    status, body, _ = _post(sandbox.url, "CloudApiService.GetResource", b"{oops")
    assert (status, body["__type"].split("#")[1]) == (400, "SerializationException")
    status, body, _ = _post(sandbox.url, "CloudApiService.GetResource", b"{}")
    assert (status, body["__type"].split("#")[1]) == (400, "ValidationException")
    with urllib.request.urlopen(sandbox.url + "/", timeout=10) as response:
        assert json.loads(response.read())["status"] == "running"


def test_endpoint_from_environment(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDCONTROL", sandbox.url)
    cc = boto3.client("cloudcontrol", region_name="us-east-1")  # no endpoint_url
    try:
        name = created(cc, "AWS::S3::Bucket", {"BucketName": unique("bucket")})
        assert cc.get_resource(TypeName="AWS::S3::Bucket", Identifier=name)
    finally:
        cc.close()


def test_serve_latency_flags(tmp_path: Path, client_for: Any) -> None:
    server = start_sandbox_process(
        tmp_path / "s.db", "--latency", "0", "--latency-for", "AWS::S3::Bucket:CREATE=30"
    )
    try:
        cc = client_for(server.url)
        slow = cc.create_resource(
            TypeName="AWS::S3::Bucket", DesiredState=json.dumps({"BucketName": unique("b")})
        )["ProgressEvent"]
        assert created(cc, "AWS::SQS::Queue", {"QueueName": unique("q")})
        status = cc.get_resource_request_status(RequestToken=slow["RequestToken"])
        assert status["ProgressEvent"]["OperationStatus"] in ("PENDING", "IN_PROGRESS")
    finally:
        assert stop_sandbox_process(server) == 0
