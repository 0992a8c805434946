"""The Tagging API's GetResources on the sandbox: filters, resource types, pagination, ARNs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.helpers import created, unique

ACCOUNT = "777788889999"  # an account of its own, so the counts below are exact


@pytest.fixture(scope="module")
def tagged(sandbox: Any) -> dict[str, Any]:
    cc = sandbox.client(account=ACCOUNT)
    bucket = unique("bucket")
    created(
        cc,
        "AWS::S3::Bucket",
        {
            "BucketName": bucket,
            "Tags": [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "a"}],
        },
    )
    vpc = created(
        cc, "AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16", "Tags": [{"Key": "env", "Value": "prod"}]}
    )
    created(cc, "AWS::SQS::Queue", {"QueueName": unique("q")})  # untagged: never returned
    queue = unique("q")
    created(cc, "AWS::SQS::Queue", {"QueueName": queue, "Tags": [{"Key": "env", "Value": "dev"}]})
    return {
        "bucket": bucket,
        "vpc": vpc,
        "queue": queue,
        "client": sandbox.client("resourcegroupstaggingapi", account=ACCOUNT),
    }


def _arns(client: Any, **kwargs: Any) -> set[str]:
    found, token = set(), ""
    while True:
        page = client.get_resources(**kwargs, PaginationToken=token)
        found |= {m["ResourceARN"] for m in page["ResourceTagMappingList"]}
        token = page["PaginationToken"]
        if not token:
            return found


def test_real_arns_and_tags(tagged: dict[str, Any]) -> None:
    client = tagged["client"]
    mappings = client.get_resources()["ResourceTagMappingList"]
    by_arn = {m["ResourceARN"]: m["Tags"] for m in mappings}
    assert set(by_arn) == {
        f"arn:aws:s3:::{tagged['bucket']}",
        f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/{tagged['vpc']}",
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:{tagged['queue']}",
    }
    assert {"Key": "team", "Value": "a"} in by_arn[f"arn:aws:s3:::{tagged['bucket']}"]


def test_tag_filters(tagged: dict[str, Any]) -> None:
    client = tagged["client"]
    bucket = f"arn:aws:s3:::{tagged['bucket']}"
    assert len(_arns(client, TagFilters=[{"Key": "env"}])) == 3  # key present, any value
    dev = _arns(client, TagFilters=[{"Key": "env", "Values": ["dev"]}])
    assert bucket in dev and len(dev) == 2
    assert len(_arns(client, TagFilters=[{"Key": "env", "Values": ["dev", "prod"]}])) == 3
    both = _arns(client, TagFilters=[{"Key": "env", "Values": ["dev"]}, {"Key": "team"}])
    assert both == {bucket}  # every filter must match
    assert _arns(client, TagFilters=[{"Key": "nope"}]) == set()


def test_resource_type_filters(tagged: dict[str, Any]) -> None:
    client = tagged["client"]
    vpcs = _arns(client, ResourceTypeFilters=["ec2:vpc"])
    assert vpcs == {f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/{tagged['vpc']}"}
    assert _arns(client, ResourceTypeFilters=["s3"]) == {f"arn:aws:s3:::{tagged['bucket']}"}
    assert len(_arns(client, ResourceTypeFilters=["s3", "sqs"])) == 2
    assert _arns(client, ResourceTypeFilters=["ec2:subnet"]) == set()


def test_arn_list_and_pagination(tagged: dict[str, Any]) -> None:
    client = tagged["client"]
    bucket = f"arn:aws:s3:::{tagged['bucket']}"
    assert _arns(client, ResourceARNList=[bucket]) == {bucket}
    page = client.get_resources(ResourcesPerPage=2)
    assert len(page["ResourceTagMappingList"]) == 2 and page["PaginationToken"]
    assert len(_arns(client, ResourcesPerPage=1)) == 3
    pages = client.get_paginator("get_resources").paginate(ResourcesPerPage=2)
    assert sum(len(p["ResourceTagMappingList"]) for p in pages) == 3
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.get_resources(PaginationToken="garbage")


def test_stack_lookup_by_several_tags_over_pages(sandbox: Any) -> None:
    """What the engine does to find a whole stack: several TagFilters (all must match), a
    ResourceTypeFilters list, 100 resources a page."""
    account = "777788880000"
    cc = sandbox.client(account=account)
    stack = [{"Key": "stack", "Value": "web"}, {"Key": "env", "Value": "dev"}]
    mine = set()
    for i in range(130):
        if i % 2:
            name = unique("b")
            created(cc, "AWS::S3::Bucket", {"BucketName": name, "Tags": stack})
            mine.add(f"arn:aws:s3:::{name}")
        else:
            name = unique("q")
            created(cc, "AWS::SQS::Queue", {"QueueName": name, "Tags": stack})
            mine.add(f"arn:aws:sqs:us-east-1:{account}:{name}")
    # Decoys: another environment, another stack, a third tag only, a type filtered out.
    created(
        cc,
        "AWS::S3::Bucket",
        {"BucketName": unique("b"), "Tags": [stack[0], {"Key": "env", "Value": "prod"}]},
    )
    created(
        cc,
        "AWS::SQS::Queue",
        {"QueueName": unique("q"), "Tags": [{"Key": "stack", "Value": "api"}, stack[1]]},
    )
    created(cc, "AWS::SQS::Queue", {"QueueName": unique("q"), "Tags": [stack[1]]})
    vpc = created(cc, "AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16", "Tags": stack})

    client = sandbox.client("resourcegroupstaggingapi", account=account)
    filters = [{"Key": "stack", "Values": ["web"]}, {"Key": "env", "Values": ["dev"]}]
    pages, found, token = 0, [], ""
    while True:
        page = client.get_resources(
            TagFilters=filters,
            ResourceTypeFilters=["s3", "sqs:queue"],
            ResourcesPerPage=100,
            PaginationToken=token,
        )
        pages += 1
        found += [m["ResourceARN"] for m in page["ResourceTagMappingList"]]
        token = page["PaginationToken"]
        if not token:
            break
    assert pages == 2
    assert len(found) == len(set(found)) == 130
    assert set(found) == mine
    # Without the type filter the VPC of the stack comes too.
    every = _arns(client, TagFilters=filters, ResourcesPerPage=100)
    assert every == mine | {f"arn:aws:ec2:us-east-1:{account}:vpc/{vpc}"}
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.get_resources(ResourcesPerPage=101)
