"""Helpers for adoption tests: a sandbox server per test, boto3 to make resources, the CLI.

Resources are created directly through Cloud Control (boto3, the real wire protocol), the
way someone's existing infrastructure came to be; then ``stack-deploy import`` and the stack
commands run in-process through click, against that server with ``--endpoint-url``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from stackdeploy.cli import main
from tests.conftest import make_client

# Commands that talk to Cloud Control: the test's sandbox is added to them.
_CLOUD_COMMANDS = ("import", "build", "plan", "test", "teardown", "query")
POLL_DEADLINE = 30.0


@dataclass
class World:
    """One sandbox server, a boto3 Cloud Control client on it, and the CLI."""

    url: str
    cloudcontrol: Any
    tagging: Any

    def create(self, type_name: str, props: dict[str, Any]) -> str:
        """CreateResource and wait for it (the sandbox finishes in milliseconds)."""
        event = self.cloudcontrol.create_resource(
            TypeName=type_name, DesiredState=json.dumps(props)
        )["ProgressEvent"]
        deadline = time.monotonic() + POLL_DEADLINE
        while event["OperationStatus"] in ("PENDING", "IN_PROGRESS"):
            assert time.monotonic() < deadline, f"create of {type_name} never finished"
            time.sleep(0.01)  # polling a request, not waiting for a result to appear
            event = self.cloudcontrol.get_resource_request_status(
                RequestToken=event["RequestToken"]
            )["ProgressEvent"]
        assert event["OperationStatus"] == "SUCCESS", event
        return str(event["Identifier"])

    def get(self, type_name: str, identifier: str) -> dict[str, Any]:
        description = self.cloudcontrol.get_resource(TypeName=type_name, Identifier=identifier)
        return json.loads(description["ResourceDescription"]["Properties"])

    def exists(self, type_name: str, identifier: str) -> bool:
        try:
            self.get(type_name, identifier)
        except self.cloudcontrol.exceptions.ResourceNotFoundException:
            return False
        return True

    def tags(self, type_name: str, identifier: str) -> dict[str, str]:
        props = self.get(type_name, identifier)
        return {t["Key"]: t["Value"] for t in props.get("Tags", [])}

    def cli(self, *args: str, expect: int | None = 0, input: str | None = None) -> Result:
        argv = list(args)
        if argv and argv[0] in _CLOUD_COMMANDS:
            argv += ["--endpoint-url", self.url, "--region", "us-east-1"]
        result = CliRunner().invoke(main, argv, input=input, catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, (
                f"exit {result.exit_code} (expected {expect}) for {argv}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def plan(self, stack: Path | str, env: str = "dev", *extra: str) -> dict[str, str]:
        """name -> action of ``plan --output json``."""
        result = self.cli("plan", str(stack), env, "--output", "json", *extra)
        return {r["name"]: r["action"] for r in json.loads(result.stdout)["resources"]}


@pytest.fixture
def world(sandbox_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # Run from a scratch folder: no stray ./.env, and stack folders land in tmp_path.
    monkeypatch.chdir(tmp_path)
    cloudcontrol = make_client(sandbox_server.url)
    tagging = make_client(sandbox_server.url, "resourcegroupstaggingapi")
    yield World(sandbox_server.url, cloudcontrol, tagging)
    cloudcontrol.close()
    tagging.close()


ASSUME_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def make_shop(world: World, app: str = "shop") -> dict[str, str]:
    """A small estate made by hand: a network, a bucket, a queue and a role that reads both.
    Returns name -> identifier."""
    tags = [{"Key": "app", "Value": app}]
    ids: dict[str, str] = {}
    ids["vpc"] = world.create(
        "AWS::EC2::VPC",
        {
            "CidrBlock": "10.0.0.0/16",
            "EnableDnsHostnames": True,
            "Tags": [*tags, {"Key": "Name", "Value": f"{app}-vpc"}],
        },
    )
    ids["subnet"] = world.create(
        "AWS::EC2::Subnet",
        {
            "VpcId": ids["vpc"],
            "CidrBlock": "10.0.1.0/24",
            "AvailabilityZone": "us-east-1a",
            "Tags": [*tags, {"Key": "Name", "Value": f"{app}-public"}],
        },
    )
    ids["sg"] = world.create(
        "AWS::EC2::SecurityGroup",
        {
            "VpcId": ids["vpc"],
            "GroupName": f"{app}-web",
            "GroupDescription": "web",
            "SecurityGroupIngress": [
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"},
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "10.0.0.0/16"},
            ],
            "Tags": tags,
        },
    )
    ids["bucket"] = world.create(
        "AWS::S3::Bucket",
        {
            "BucketName": f"{app}-data",
            "VersioningConfiguration": {"Status": "Enabled"},
            "Tags": tags,
        },
    )
    ids["queue"] = world.create(
        "AWS::SQS::Queue",
        {"QueueName": f"{app}-jobs", "VisibilityTimeout": 60, "Tags": tags},
    )
    queue_arn = world.get("AWS::SQS::Queue", ids["queue"])["Arn"]
    ids["role"] = world.create(
        "AWS::IAM::Role",
        {
            "RoleName": f"{app}-worker",
            "Path": "/",  # the schema's default: not written into the manifest
            "AssumeRolePolicyDocument": ASSUME_LAMBDA,
            "Policies": [
                {
                    "PolicyName": "work",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["sqs:ReceiveMessage"],
                                "Resource": queue_arn,
                            },
                            {
                                "Effect": "Allow",
                                "Action": "s3:GetObject",
                                "Resource": f"arn:aws:s3:::{app}-data/*",
                            },
                        ],
                    },
                }
            ],
            "Tags": tags,
        },
    )
    return ids


SHOP_TYPES = {
    "vpc": "AWS::EC2::VPC",
    "subnet": "AWS::EC2::Subnet",
    "sg": "AWS::EC2::SecurityGroup",
    "bucket": "AWS::S3::Bucket",
    "queue": "AWS::SQS::Queue",
    "role": "AWS::IAM::Role",
}
