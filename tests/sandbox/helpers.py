"""Helpers for the sandbox tests: unique names, polling a request to its end, JSON shortcuts."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

FINAL = {"SUCCESS", "FAILED", "CANCEL_COMPLETE"}


def unique(prefix: str = "sd") -> str:
    """A name no other test uses (the session sandbox is shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait(client: Any, event: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
    """Poll a request until it ends; return its final ProgressEvent."""
    token = event["RequestToken"]
    deadline = time.monotonic() + timeout
    while True:
        current = client.get_resource_request_status(RequestToken=token)["ProgressEvent"]
        if current["OperationStatus"] in FINAL:
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"request {token} still {current['OperationStatus']}")
        time.sleep(0.02)


def create(client: Any, type_name: str, desired: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """CreateResource and wait; returns the final ProgressEvent."""
    event = client.create_resource(TypeName=type_name, DesiredState=json.dumps(desired), **kwargs)
    return wait(client, event["ProgressEvent"])


def created(client: Any, type_name: str, desired: dict[str, Any]) -> str:
    """Create, assert SUCCESS, return the identifier."""
    final = create(client, type_name, desired)
    assert final["OperationStatus"] == "SUCCESS", final
    return str(final["Identifier"])


def update(client: Any, type_name: str, identifier: str, patch: list[dict[str, Any]]) -> dict:
    event = client.update_resource(
        TypeName=type_name, Identifier=identifier, PatchDocument=json.dumps(patch)
    )
    return wait(client, event["ProgressEvent"])


def delete(client: Any, type_name: str, identifier: str) -> dict[str, Any]:
    event = client.delete_resource(TypeName=type_name, Identifier=identifier)
    return wait(client, event["ProgressEvent"])


def get(client: Any, type_name: str, identifier: str) -> dict[str, Any]:
    description = client.get_resource(TypeName=type_name, Identifier=identifier)
    return dict(json.loads(description["ResourceDescription"]["Properties"]))


def list_all(client: Any, type_name: str, **kwargs: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every (identifier, properties) of a type, following NextToken."""
    found, token = [], None
    while True:
        page = client.list_resources(
            TypeName=type_name, **kwargs, **({"NextToken": token} if token else {})
        )
        found += [
            (d["Identifier"], json.loads(d["Properties"])) for d in page["ResourceDescriptions"]
        ]
        token = page.get("NextToken")
        if not token:
            return found
