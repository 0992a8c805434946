"""A sweep over the registry: every type the sandbox can handle, through boto3.

For each resource type in us-east-1: generate a minimal valid desired state from the schema,
CreateResource and poll to SUCCESS, GetResource (identifier, desired values, no write-only
properties), UpdateResource with a patch on an updatable property where the schema offers
one, ListResources (with the ResourceModel properties its list handler requires), then
DeleteResource and GetResource again (ResourceNotFound). The schemas' ``handlers`` are
respected: an operation a type has no handler for is not performed but checked to be
refused with UnsupportedActionException, as Cloud Control does. The sweep runs against the
session sandbox subprocess in an account of its own, on a thread pool, and prints how many
types it covered and why the others were left out.
"""

from __future__ import annotations

import collections
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stackdeploy.sandbox import values
from stackdeploy.schema import desired
from stackdeploy.schema.model import ResourceSchema, format_path
from stackdeploy.schema.registry import get_registry
from tests.sandbox.helpers import FINAL

REGION = "us-east-1"
SWEEP_ACCOUNT = "210987654321"  # its own account: the session sandbox is shared
MIN_COVERAGE = 1500  # of 1,854 types with cfn-lint 1.58; 300 is the hard floor
WORKERS = 6
POLL_TIMEOUT = 20.0
UPDATE_TAG = {"Key": "sweep", "Value": "updated"}


@dataclass
class Outcome:
    type_name: str
    covered: bool = False
    category: str = ""  # why it was not covered; empty when covered
    detail: str = ""
    updated: bool = False
    update_note: str = ""
    listed: bool = False  # found by ListResources (with a ResourceModel when required)
    list_note: str = ""
    unsupported: list[str] = field(default_factory=list)  # ops refused as the schema says
    problems: list[str] = field(default_factory=list)  # wrong behaviour seen on the way


def _wait(client: Any, event: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_TIMEOUT
    while event["OperationStatus"] not in FINAL:
        if time.monotonic() > deadline:
            raise TimeoutError(f"request still {event['OperationStatus']}")
        time.sleep(0.01)
        event = client.get_resource_request_status(RequestToken=event["RequestToken"])[
            "ProgressEvent"
        ]
    return event


def _get(client: Any, type_name: str, identifier: str) -> dict[str, Any]:
    answer = client.get_resource(TypeName=type_name, Identifier=identifier)
    return dict(json.loads(answer["ResourceDescription"]["Properties"]))


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "ClientError"))


def _expect_unsupported(outcome: Outcome, operation: str, call: Any) -> None:
    """``call()`` must fail with UnsupportedActionException: the type has no such handler."""
    try:
        call()
    except ClientError as exc:
        if _error_code(exc) == "UnsupportedActionException":
            outcome.unsupported.append(operation)
            return
        outcome.problems.append(f"{operation} without a handler raised {_error_code(exc)}")
        return
    outcome.problems.append(f"{operation} without a handler was accepted")


def _list_identifiers(client: Any, type_name: str, model: dict[str, Any] | None) -> list[str]:
    """Every identifier ListResources returns, following NextToken."""
    args: dict[str, Any] = {"TypeName": type_name}
    if model is not None:
        args["ResourceModel"] = json.dumps(model)
    found: list[str] = []
    while True:
        page = client.list_resources(**args)
        found += [d["Identifier"] for d in page.get("ResourceDescriptions", [])]
        if not page.get("NextToken"):
            return found
        args["NextToken"] = page["NextToken"]


def _check_list(
    client: Any,
    outcome: Outcome,
    schema: ResourceSchema,
    identifier: str,
    known: dict[str, Any],
) -> None:
    """ListResources finds the resource; a list handler that requires ResourceModel
    properties refuses a request without them and is given them from ``known``."""
    type_name = schema.type_name
    if not schema.has_handler("list"):
        _expect_unsupported(outcome, "list", lambda: client.list_resources(TypeName=type_name))
        outcome.list_note = "no list handler"
        return
    model: dict[str, Any] | None = None
    if schema.list_required:
        missing = [n for n in schema.list_required if known.get(n) in (None, "")]
        if missing:
            outcome.list_note = "list handler requires a property the model lacks"
            outcome.detail = f"list needs {', '.join(missing)}"
            return
        try:
            client.list_resources(TypeName=type_name)
            outcome.problems.append("ListResources without its required ResourceModel accepted")
        except ClientError as exc:
            if _error_code(exc) != "InvalidRequestException":
                outcome.problems.append(f"ListResources without a model: {_error_code(exc)}")
        model = {n: known[n] for n in schema.list_required}
    if identifier in _list_identifiers(client, type_name, model):
        outcome.listed = True
    else:
        outcome.problems.append(f"ListResources (model {model}) misses {identifier!r}")


def _updatable(schema: ResourceSchema) -> list[str]:
    """Top-level properties a patch can change and GetResource shows."""
    return [
        name
        for name in schema.properties
        if not schema.is_read_only((name,))
        and not schema.is_create_only((name,))
        and not schema.is_write_only((name,))
        and not schema.create_only_under((name,))  # a nested create-only member: NotUpdatable
    ]


def _update_patch(
    schema: ResourceSchema, state: dict[str, Any], current: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """One patch op on an updatable property (not create-only, read-only or write-only),
    valid together with the rest of the state; None when the schema offers none."""
    candidates = _updatable(schema)
    if schema.taggable and schema.tag_property in candidates:
        # Tags first: every taggable type can take them and they are easy to check.
        candidates.remove(schema.tag_property)
        candidates.insert(0, schema.tag_property)
    for name in candidates:
        if name == schema.tag_property:
            value: Any = (
                {UPDATE_TAG["Key"]: UPDATE_TAG["Value"]} if schema.tags_are_map else [UPDATE_TAG]
            )
        else:
            value = values.example_value(schema, (name,))
        if value is None or value == current.get(name):
            continue
        patched = {**state, name: value}
        if desired.validate(schema, patched, mode="update"):
            continue
        op = "replace" if name in current else "add"
        return [{"op": op, "path": f"/{name}", "value": value}]
    return None


def _differences(schema: ResourceSchema, path: tuple[Any, ...], wanted: Any, got: Any) -> list[str]:
    """Where ``got`` (read back) differs from ``wanted`` (sent), ignoring what AWS adds or
    hides: read-only members it fills in and write-only members it never returns."""
    if schema.is_write_only(path):
        return []
    if isinstance(wanted, dict) and isinstance(got, dict):
        found = []
        for key, value in wanted.items():
            if key not in got and schema.is_write_only((*path, key)):
                continue
            found += _differences(schema, (*path, key), value, got.get(key))
        for key in got.keys() - wanted.keys():
            if not schema.is_read_only((*path, key)):
                found.append(f"{format_path((*path, key))} appeared")
        return found
    if isinstance(wanted, list) and isinstance(got, list) and len(wanted) == len(got):
        return [
            d
            for index, (w, g) in enumerate(zip(wanted, got, strict=True))
            for d in _differences(schema, (*path, index), w, g)
        ]
    return [] if wanted == got else [f"{format_path(path)}={got!r}, sent {wanted!r}"]


def _check_read(
    outcome: Outcome, schema: ResourceSchema, state: dict[str, Any], props: dict[str, Any]
) -> None:
    for pattern in schema.write_only:
        if len(pattern) == 1 and pattern[0] in props:
            outcome.problems.append(f"write-only {pattern[0]} returned by GetResource")
    for name, value in state.items():
        problems = _differences(schema, (name,), value, props.get(name))
        if problems:
            outcome.problems.append("GetResource " + problems[0])
            break


def sweep_one(client: Any, schema: ResourceSchema) -> Outcome:
    outcome = _sweep(client, schema)
    if outcome.problems:
        outcome.covered = False
        outcome.category = "wrong behaviour"
    elif not outcome.category:
        outcome.covered = True
    return outcome


def _add_list_filters(schema: ResourceSchema, state: dict[str, Any]) -> None:
    """Set the properties the list handler requires (when the minimal state lacks them and
    they are writable), so the resource can be listed with them as its ResourceModel."""
    for name in schema.list_required:
        if name in state or schema.is_read_only((name,)):
            continue
        value = values.example_value(schema, (name,))
        if value is not None and not desired.validate(schema, {**state, name: value}):
            state[name] = value


def _sweep(client: Any, schema: ResourceSchema) -> Outcome:
    type_name = schema.type_name
    outcome = Outcome(type_name)
    state = values.minimal_desired_state(schema)
    if state is None:
        outcome.category = "no minimal desired state can be generated from the schema"
        return outcome
    _add_list_filters(schema, state)
    try:
        event = client.create_resource(TypeName=type_name, DesiredState=json.dumps(state))
        final = _wait(client, event["ProgressEvent"])
    except ClientError as exc:
        outcome.category = f"CreateResource refused: {_error_code(exc)}"
        outcome.detail = str(exc)[:200]
        return outcome
    if final["OperationStatus"] != "SUCCESS":
        outcome.category = f"create ended {final['OperationStatus']}: {final.get('ErrorCode')}"
        outcome.detail = str(final.get("StatusMessage", ""))[:200]
        return outcome
    identifier = final["Identifier"]
    try:
        if schema.has_handler("read"):
            props = _get(client, type_name, identifier)
            _check_read(outcome, schema, state, props)
            if schema.identifier_of(props) != identifier:
                outcome.problems.append(f"identifier {identifier!r} not in the model read back")
        else:
            _expect_unsupported(outcome, "read", lambda: _get(client, type_name, identifier))
            props = dict(state)
        _update(client, outcome, schema, state, props, identifier)
        _check_list(client, outcome, schema, identifier, {**state, **props})

        if not schema.has_handler("delete"):
            _expect_unsupported(
                outcome,
                "delete",
                lambda: client.delete_resource(TypeName=type_name, Identifier=identifier),
            )
            return outcome
        final = _wait(
            client,
            client.delete_resource(TypeName=type_name, Identifier=identifier)["ProgressEvent"],
        )
        if final["OperationStatus"] != "SUCCESS":
            outcome.problems.append(f"delete ended {final['OperationStatus']}")
            return outcome
        if schema.has_handler("read"):
            try:
                client.get_resource(TypeName=type_name, Identifier=identifier)
                outcome.problems.append("GetResource after delete did not fail")
            except ClientError as exc:
                if _error_code(exc) != "ResourceNotFoundException":
                    outcome.problems.append(f"GetResource after delete raised {_error_code(exc)}")
        elif outcome.listed:
            model = {n: props.get(n, state.get(n)) for n in schema.list_required} or None
            if identifier in _list_identifiers(client, type_name, model):
                outcome.problems.append("ListResources after delete still finds it")
    except (ClientError, TimeoutError) as exc:
        outcome.problems.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        return outcome
    return outcome


def _update(
    client: Any,
    outcome: Outcome,
    schema: ResourceSchema,
    state: dict[str, Any],
    props: dict[str, Any],
    identifier: str,
) -> None:
    """Patch an updatable property and check GetResource shows it; without an update
    handler, check UpdateResource is refused."""
    type_name = schema.type_name
    patch = _update_patch(schema, state, props)
    if not schema.has_handler("update"):
        any_patch = patch or [{"op": "add", "path": "/Tags", "value": [UPDATE_TAG]}]
        _expect_unsupported(
            outcome,
            "update",
            lambda: client.update_resource(
                TypeName=type_name, Identifier=identifier, PatchDocument=json.dumps(any_patch)
            ),
        )
        outcome.update_note = "no update handler (UnsupportedActionException checked)"
        return
    if patch is None:
        outcome.update_note = (
            "no updatable property (all create-only, read-only or write-only)"
            if not _updatable(schema)
            else "no value for an updatable property that keeps the state valid"
        )
        return
    event = client.update_resource(
        TypeName=type_name, Identifier=identifier, PatchDocument=json.dumps(patch)
    )
    final = _wait(client, event["ProgressEvent"])
    if final["OperationStatus"] != "SUCCESS":
        outcome.update_note = f"update {final.get('ErrorCode')}: {final.get('StatusMessage')}"
        return
    outcome.updated = True
    if schema.has_handler("read"):
        after = _get(client, type_name, identifier)
        name = patch[0]["path"][1:]
        if _differences(schema, (name,), patch[0]["value"], after.get(name)):
            outcome.problems.append(f"update of {patch[0]['path']} not visible")


def _summary(outcomes: list[Outcome], elapsed: float) -> str:
    covered = [o for o in outcomes if o.covered]
    lines = [
        f"sweep: {len(covered)} of {len(outcomes)} registry types covered in {elapsed:.1f} s "
        f"({sum(o.updated for o in covered)} also updated)"
    ]
    reasons = collections.Counter(o.category for o in outcomes if not o.covered)
    for reason, count in reasons.most_common():
        examples = [o.type_name for o in outcomes if o.category == reason][:4]
        lines.append(f"  skipped {count:4d}: {reason} (e.g. {', '.join(examples)})")
    notes = collections.Counter(o.update_note for o in covered if not o.updated and o.update_note)
    for note, count in notes.most_common():
        lines.append(f"  not updated {count:4d}: {note}")
    listed = [o for o in covered if o.listed]
    with_model = sum(bool(get_registry(REGION).get(o.type_name).list_required) for o in listed)
    lines.append(
        f"  listed {len(listed)} ({with_model} with the ResourceModel their list requires)"
    )
    list_notes = collections.Counter(o.list_note for o in covered if not o.listed and o.list_note)
    for note, count in list_notes.most_common():
        examples = [f"{o.type_name} ({o.detail})" if o.detail else o.type_name
                    for o in covered if o.list_note == note][:4]  # fmt: skip
        lines.append(f"  not listed {count:4d}: {note} (e.g. {', '.join(examples)})")
    refused = collections.Counter(op for o in covered for op in o.unsupported)
    if refused:
        lines.append(
            "  refused as unsupported (no handler): "
            + ", ".join(f"{op} {count}" for op, count in sorted(refused.items()))
        )
    for o in outcomes:
        if o.problems:
            lines.append(f"  problem {o.type_name}: {'; '.join(o.problems)}")
    return "\n".join(lines)


@pytest.mark.slow  # ~40 s on 2 cores: about 13,000 requests over every type in the registry
def test_sweep_registry_types_through_boto3(sandbox: Any) -> None:
    client = sandbox.client("cloudcontrol", account=SWEEP_ACCOUNT)
    registry = get_registry(REGION)
    schemas = [registry.get(name) for name in registry.type_names()]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        outcomes = list(pool.map(lambda s: sweep_one(client, s), schemas))
    elapsed = time.monotonic() - started
    summary = _summary(outcomes, elapsed)
    print(summary)

    covered = sum(o.covered for o in outcomes)
    assert covered >= MIN_COVERAGE, summary
    problems = [o for o in outcomes if o.problems]
    assert not problems, summary
    # The handlers sections are exercised: update-less types refused, list models passed.
    assert any("update" in o.unsupported for o in outcomes), summary
    assert any(o.listed and get_registry(REGION).get(o.type_name).list_required
               for o in outcomes), summary  # fmt: skip
