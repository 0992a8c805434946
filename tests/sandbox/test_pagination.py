"""ListResources pages: about 25 per page whatever MaxResults says, NextToken to continue."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.sandbox.helpers import created, list_all


def test_list_pages(sandbox: Any) -> None:
    cc = sandbox.client(account="444455556666")  # an account of its own: an exact count
    made = {created(cc, "AWS::EC2::VPC", {"CidrBlock": f"10.{i}.0.0/16"}) for i in range(30)}
    first = cc.list_resources(TypeName="AWS::EC2::VPC", MaxResults=100)
    assert len(first["ResourceDescriptions"]) == 25
    second = cc.list_resources(TypeName="AWS::EC2::VPC", NextToken=first["NextToken"])
    assert len(second["ResourceDescriptions"]) == 5
    assert "NextToken" not in second
    listed = {
        d["Identifier"] for d in first["ResourceDescriptions"] + second["ResourceDescriptions"]
    }
    assert listed == made
    small = cc.list_resources(TypeName="AWS::EC2::VPC", MaxResults=10)
    assert len(small["ResourceDescriptions"]) == 10
    assert {i for i, _ in list_all(cc, "AWS::EC2::VPC", MaxResults=7)} == made
    props = json.loads(first["ResourceDescriptions"][0]["Properties"])
    assert props["VpcId"] == first["ResourceDescriptions"][0]["Identifier"]
    # botocore's own paginator works too.
    pages = cc.get_paginator("list_resources").paginate(TypeName="AWS::EC2::VPC")
    assert sum(len(p["ResourceDescriptions"]) for p in pages) == 30


def test_bad_next_token(cloudcontrol: Any) -> None:
    with pytest.raises(cloudcontrol.exceptions.InvalidRequestException):
        cloudcontrol.list_resources(TypeName="AWS::EC2::VPC", NextToken="garbage")


def test_list_filters_by_resource_model(cloudcontrol: Any) -> None:
    vpc = created(cloudcontrol, "AWS::EC2::VPC", {"CidrBlock": "10.4.0.0/16"})
    tables = [created(cloudcontrol, "AWS::EC2::RouteTable", {"VpcId": vpc}) for _ in range(2)]
    routes = [
        created(
            cloudcontrol,
            "AWS::EC2::Route",
            {"RouteTableId": rtb, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1"},
        )
        for rtb in tables
    ]
    listed = list_all(
        cloudcontrol, "AWS::EC2::Route", ResourceModel=json.dumps({"RouteTableId": tables[0]})
    )
    assert [i for i, _ in listed] == [routes[0]]
