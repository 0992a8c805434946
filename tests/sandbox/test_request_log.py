"""``sandbox serve --request-log FILE``: one JSON line per API call answered, which the
benchmarks count calls per resource and requests per second from."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import start_sandbox_process, stop_sandbox_process
from tests.sandbox.helpers import created, unique


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_call_is_logged_with_its_arrival_time(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    server = start_sandbox_process(tmp_path / "s.db", "--request-log", str(log))
    try:
        cc = server.client("cloudcontrol")
        before = time.time()
        name = created(cc, "AWS::S3::Bucket", {"BucketName": unique("logged")})
        cc.get_resource(TypeName="AWS::S3::Bucket", Identifier=name)
        with pytest.raises(ClientError):
            cc.get_resource(TypeName="AWS::S3::Bucket", Identifier=unique("absent"))
        server.client("resourcegroupstaggingapi").get_resources()
        after = time.time()
    finally:
        assert stop_sandbox_process(server) == 0
    lines = _lines(log)
    operations = [line["operation"] for line in lines]
    assert operations[0] == "CreateResource"
    # The create was polled to its end (one or more status calls), then read twice.
    assert set(operations[1:-3]) == {"GetResourceRequestStatus"}
    assert operations[-3:] == ["GetResource", "GetResource", "GetResources"]
    assert [line["status"] for line in lines[-3:]] == [200, 400, 200]
    assert lines[0]["type"] == "AWS::S3::Bucket" and lines[-1]["type"] == ""
    times = [float(line["time"]) for line in lines]  # type: ignore[arg-type]
    assert before <= times[0] and times[-1] <= after
    assert times == sorted(times)


def test_the_log_is_appended_to_across_restarts(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    for _ in range(2):
        server = start_sandbox_process(tmp_path / "s.db", "--request-log", str(log))
        try:
            server.client("cloudcontrol").list_resources(TypeName="AWS::SQS::Queue")
        finally:
            stop_sandbox_process(server)
    assert [line["operation"] for line in _lines(log)] == ["ListResources", "ListResources"]
