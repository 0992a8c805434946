"""ListResources modes: primary identifiers only (the default, as AWS answers for many types)
or full models; chosen by argument, by ``sandbox serve --list-mode`` or by the environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stackdeploy.errors import UsageError
from stackdeploy.sandbox.server import LIST_MODE_ENV_VAR, SandboxServer
from tests.conftest import start_sandbox_process, stop_sandbox_process
from tests.sandbox.helpers import created, get, list_all, unique


def _bucket(cc: Any) -> str:
    return created(
        cc,
        "AWS::S3::Bucket",
        {
            "BucketName": unique("bucket"),
            "AccessControl": "Private",  # write-only
            "Tags": [{"Key": "team", "Value": "a"}],
        },
    )


def test_default_lists_primary_identifiers_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client_for: Any
) -> None:
    monkeypatch.delenv(LIST_MODE_ENV_VAR, raising=False)
    with SandboxServer(tmp_path / "s.db") as server:
        assert server.list_mode == "identifiers"
        cc = client_for(server.url)
        name = _bucket(cc)
        assert list_all(cc, "AWS::S3::Bucket") == [(name, {"BucketName": name})]
        # GetResource still answers the whole model (without write-only properties).
        model = get(cc, "AWS::S3::Bucket", name)
        assert model["Tags"] == [{"Key": "team", "Value": "a"}]
        assert model["Arn"] == f"arn:aws:s3:::{name}"
        assert "AccessControl" not in model


def test_compound_identifier_lists_every_part(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.list_mode = "identifiers"
    cc = client_for(sandbox_server.url)
    vpc = created(cc, "AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16"})
    rtb = created(cc, "AWS::EC2::RouteTable", {"VpcId": vpc})
    route = created(
        cc,
        "AWS::EC2::Route",
        {"RouteTableId": rtb, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1"},
    )
    listed = list_all(cc, "AWS::EC2::Route", ResourceModel=json.dumps({"RouteTableId": rtb}))
    # AWS::EC2::Route is identified by RouteTableId and CidrBlock (a read-only copy).
    assert listed == [(route, {"RouteTableId": rtb, "CidrBlock": "0.0.0.0/0"})]
    # The list handler's filter still applies to the stored model, not to what is returned.
    assert list_all(cc, "AWS::EC2::VPC") == [(vpc, {"VpcId": vpc})]


def test_full_mode_lists_models_without_write_only(sandbox_server: Any, client_for: Any) -> None:
    sandbox_server.list_mode = "full"
    cc = client_for(sandbox_server.url)
    name = _bucket(cc)
    [(identifier, props)] = list_all(cc, "AWS::S3::Bucket")
    assert identifier == name
    assert props == get(cc, "AWS::S3::Bucket", name)
    assert props["Tags"] == [{"Key": "team", "Value": "a"}]
    assert "AccessControl" not in props
    sandbox_server.list_mode = "identifiers"  # switchable while serving
    assert list_all(cc, "AWS::S3::Bucket") == [(name, {"BucketName": name})]
    with pytest.raises(ValueError, match="list_mode must be one of identifiers, full"):
        sandbox_server.list_mode = "all"


def test_environment_selects_the_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client_for: Any
) -> None:
    monkeypatch.setenv(LIST_MODE_ENV_VAR, "full")
    with SandboxServer(tmp_path / "a.db") as server:
        assert server.list_mode == "full"
        cc = client_for(server.url)
        name = _bucket(cc)
        assert "Tags" in dict(list_all(cc, "AWS::S3::Bucket"))[name]
    # An explicit argument wins over the environment.
    with SandboxServer(tmp_path / "b.db", list_mode="identifiers") as server:
        assert server.list_mode == "identifiers"
    monkeypatch.setenv(LIST_MODE_ENV_VAR, "everything")
    with pytest.raises(UsageError, match=f"{LIST_MODE_ENV_VAR}='everything'.*identifiers, full"):
        SandboxServer(tmp_path / "c.db")
    with pytest.raises(UsageError, match="not a ListResources mode"):
        SandboxServer(tmp_path / "c.db", list_mode="some")


def test_serve_flag_and_environment(tmp_path: Path, client_for: Any) -> None:
    full = start_sandbox_process(tmp_path / "full.db", "--list-mode", "full")
    by_env = start_sandbox_process(tmp_path / "env.db", env={LIST_MODE_ENV_VAR: "full"})
    default = start_sandbox_process(tmp_path / "default.db", env={LIST_MODE_ENV_VAR: ""})
    try:
        for server, expect_full in ((full, True), (by_env, True), (default, False)):
            cc = client_for(server.url)
            name = _bucket(cc)
            props = dict(list_all(cc, "AWS::S3::Bucket"))[name]
            assert ("Tags" in props) is expect_full, server.url
            assert props["BucketName"] == name
    finally:
        for server in (full, by_env, default):
            assert stop_sandbox_process(server) == 0
