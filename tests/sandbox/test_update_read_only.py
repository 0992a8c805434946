"""UpdateResource and nested read-only values: a patch that replaces their parent is fine
(AWS computes them again); a patch that sets one is refused."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.helpers import created, get, unique, update

GROUP = {
    "InstanceGroupName": "workers",
    "InstanceType": "ml.t3.medium",
    "InstanceCount": 1,
    "ExecutionRole": "arn:aws:iam::123456789012:role/sm",
    "LifeCycleConfig": {"SourceS3Uri": "s3://b/p", "OnCreate": "on_create.sh"},
}


def test_replacing_a_parent_recomputes_nested_read_only(cloudcontrol: Any) -> None:
    type_name = "AWS::SageMaker::Cluster"
    identifier = created(
        cloudcontrol, type_name, {"ClusterName": unique("c"), "InstanceGroups": [GROUP]}
    )
    before = get(cloudcontrol, type_name, identifier)
    final = update(
        cloudcontrol,
        type_name,
        identifier,
        [{"op": "replace", "path": "/InstanceGroups", "value": [{**GROUP, "InstanceCount": 2}]}],
    )
    assert final["OperationStatus"] == "SUCCESS", final
    after = get(cloudcontrol, type_name, identifier)
    assert after["InstanceGroups"][0]["InstanceCount"] == 2
    assert "CurrentCount" in after["InstanceGroups"][0]
    assert after["ClusterArn"] == before["ClusterArn"] == identifier
    assert after["CreationTime"] == before["CreationTime"]


def test_setting_a_nested_read_only_value_is_refused(cloudcontrol: Any) -> None:
    type_name = "AWS::SageMaker::Cluster"
    identifier = created(
        cloudcontrol, type_name, {"ClusterName": unique("c"), "InstanceGroups": [GROUP]}
    )
    with pytest.raises(cloudcontrol.exceptions.InvalidRequestException, match="CurrentCount"):
        cloudcontrol.update_resource(
            TypeName=type_name,
            Identifier=identifier,
            PatchDocument='[{"op": "replace", "path": "/InstanceGroups/0/CurrentCount", "value": 7}]',
        )
