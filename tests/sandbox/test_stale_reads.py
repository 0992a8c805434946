"""The ``stale`` fault: reads that do not see a mutation yet (eventual consistency), counted
in reads so tests never wait on a clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stackdeploy.sandbox.faults import FaultConfigError, Faults

QUEUE = "AWS::SQS::Queue"


def _get(cc: Any, name: str) -> dict[str, Any] | None:
    try:
        answer = cc.get_resource(TypeName=QUEUE, Identifier=name)
    except cc.exceptions.ResourceNotFoundException:
        return None
    return json.loads(answer["ResourceDescription"]["Properties"])


def _listed(cc: Any) -> list[str]:
    return [d["Identifier"] for d in cc.list_resources(TypeName=QUEUE)["ResourceDescriptions"]]


def test_reads_see_the_old_state_for_n_reads(sandbox_server: Any, client_for: Any) -> None:
    cc = client_for(sandbox_server.url)
    sandbox_server.faults.stale(QUEUE, "CREATE", reads=2)
    cc.create_resource(TypeName=QUEUE, DesiredState=json.dumps({"QueueName": "q1"}))
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/q1"
    assert _get(cc, url) is None
    assert _listed(cc) == []  # a listing is a read too
    assert _get(cc, url) is not None  # the third read sees it
    assert _listed(cc) == [url]

    sandbox_server.faults.stale(QUEUE, "UPDATE", reads=1)
    patch = [{"op": "add", "path": "/VisibilityTimeout", "value": 40}]
    cc.update_resource(TypeName=QUEUE, Identifier=url, PatchDocument=json.dumps(patch))
    assert "VisibilityTimeout" not in _get(cc, url)  # as before
    assert _get(cc, url)["VisibilityTimeout"] == 40

    sandbox_server.faults.stale(QUEUE, "DELETE", reads=1)
    cc.delete_resource(TypeName=QUEUE, Identifier=url)
    assert _listed(cc) == [url]  # still listed once
    assert _get(cc, url) is None


def test_other_resources_and_accounts_are_not_stale(sandbox_server: Any, client_for: Any) -> None:
    one = client_for(sandbox_server.url, account="111111111111")
    two = client_for(sandbox_server.url, account="222222222222")
    sandbox_server.faults.stale(QUEUE, "CREATE", reads=5, count=1)
    one.create_resource(TypeName=QUEUE, DesiredState=json.dumps({"QueueName": "a"}))
    two.create_resource(TypeName=QUEUE, DesiredState=json.dumps({"QueueName": "b"}))
    assert _listed(one) == []  # the rule applied to the first create only
    assert len(_listed(two)) == 1


def test_stale_rules_from_json() -> None:
    faults = Faults.from_dict({"stale": [{"type": QUEUE, "operation": "update", "reads": 3}]})
    (rule,) = faults.stale_rules
    assert (rule.type, rule.operation, rule.reads) == (QUEUE, "UPDATE", 3)
    assert faults.to_dict()["stale"] == [
        {"type": QUEUE, "operation": "UPDATE", "reads": 3, "count": None}
    ]
    with pytest.raises(FaultConfigError, match="reads"):
        Faults.from_dict({"stale": [{"type": QUEUE, "reads": -1}]})
    with pytest.raises(FaultConfigError, match="unknown key"):
        Faults.from_dict({"stale": [{"type": QUEUE, "readz": 1}]})
