"""State on disk: it survives a server restart, and the CLI can list and reset it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from stackdeploy.cli import main
from stackdeploy.sandbox.server import SandboxServer
from stackdeploy.sandbox.store import Store
from tests.conftest import make_client, start_sandbox_process, stop_sandbox_process
from tests.sandbox.helpers import created, get, unique


def test_state_survives_restart(tmp_path: Path, client_for: Any) -> None:
    state = tmp_path / "nested" / "dir" / "sandbox.db"  # parent folders are created
    name = unique("bucket")
    first = start_sandbox_process(state)
    try:
        cc = client_for(first.url)
        created(cc, "AWS::S3::Bucket", {"BucketName": name, "Tags": [{"Key": "k", "Value": "v"}]})
        token = cc.list_resource_requests()["ResourceRequestStatusSummaries"][0]["RequestToken"]
    finally:
        assert stop_sandbox_process(first) == 0  # SIGTERM: a clean exit
    second = start_sandbox_process(state)
    try:
        cc = client_for(second.url)
        assert get(cc, "AWS::S3::Bucket", name)["Tags"] == [{"Key": "k", "Value": "v"}]
        status = cc.get_resource_request_status(RequestToken=token)["ProgressEvent"]
        assert status["OperationStatus"] == "SUCCESS"
    finally:
        assert stop_sandbox_process(second) == 0


def test_sigint_stops_cleanly(tmp_path: Path) -> None:
    server = start_sandbox_process(tmp_path / "s.db")
    server.process.send_signal(signal.SIGINT)
    _, err = server.process.communicate(timeout=15)
    assert server.process.returncode == 0, err
    assert "Traceback" not in err


def test_in_flight_request_completes_after_restart(tmp_path: Path, client_for: Any) -> None:
    state = tmp_path / "s.db"
    name = unique("bucket")
    with SandboxServer(state, latency=0.5) as server:
        cc = client_for(server.url)
        cc.create_resource(
            TypeName="AWS::S3::Bucket", DesiredState=json.dumps({"BucketName": name})
        )
    with SandboxServer(state) as server:
        cc = client_for(server.url)
        time.sleep(0.6)
        assert get(cc, "AWS::S3::Bucket", name)["BucketName"] == name


def _populate(state: Path) -> list[str]:
    with SandboxServer(state) as server:
        cc = make_client(server.url)
        west = make_client(server.url, region="eu-west-1")
        try:
            ids = [created(cc, "AWS::S3::Bucket", {"BucketName": unique("b")}) for _ in range(2)]
            ids.append(created(west, "AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16"}))
        finally:
            cc.close()
            west.close()
    return ids


def test_cli_list_and_reset(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    ids = _populate(state)
    runner = CliRunner()
    result = runner.invoke(main, ["sandbox", "list", "--state", str(state)])
    assert result.exit_code == 0, result.output
    for identifier in ids:
        assert identifier in result.output
    assert "3 resource(s)" in result.output

    result = runner.invoke(
        main,
        ["sandbox", "list", "--state", str(state), "--region", "eu-west-1", "--output", "json"],
    )
    data = json.loads(result.output)
    assert [(r["type"], r["identifier"]) for r in data] == [("AWS::EC2::VPC", ids[2])]
    result = runner.invoke(
        main, ["sandbox", "list", "--state", str(state), "--type", "AWS::S3::Bucket"]
    )
    assert "2 resource(s)" in result.output

    result = runner.invoke(main, ["sandbox", "reset", "--state", str(state)], input="n\n")
    assert "Nothing deleted" in result.output
    result = runner.invoke(main, ["sandbox", "reset", "--state", str(state), "--yes"])
    assert result.exit_code == 0
    assert "Deleted 3 resource(s)" in result.output
    with Store(state) as store:
        assert store.counts() == {"resources": 0, "requests": 0}
    result = runner.invoke(main, ["sandbox", "list", "--state", str(state)])
    assert "no resources" in result.output


def test_cli_on_missing_state(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = str(tmp_path / "absent.db")
    assert "no resources" in runner.invoke(main, ["sandbox", "list", "--state", missing]).output
    result = runner.invoke(main, ["sandbox", "reset", "--state", missing, "--yes"])
    assert "Nothing to reset" in result.output
    assert not os.path.exists(missing)


def test_serve_refuses_remote_host_and_bad_flags(tmp_path: Path) -> None:
    runner = CliRunner()
    state = str(tmp_path / "s.db")
    result = runner.invoke(main, ["sandbox", "serve", "--host", "0.0.0.0", "--state", state])
    assert result.exit_code == 2
    assert "not a loopback address" in result.output
    result = runner.invoke(main, ["sandbox", "serve", "--fail", "nonsense", "--state", state])
    assert result.exit_code == 2
    assert "TYPE:OPERATION:ERROR_CODE" in result.output
