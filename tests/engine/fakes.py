"""An in-memory :class:`~stackdeploy.cloud.protocol.CloudControlAPI` for engine unit tests.

Resources live in a dict; models are completed by the sandbox's own value generator (real
identifier and ARN formats), so the engine sees what it would see over the wire, without
HTTP, boto3 or real time:

* every request gets a token and reports IN_PROGRESS first (``on_event``), then waits its
  ``latency`` on the injected clock (:class:`FakeClock`: sleeping advances time, nothing
  waits), and, when a test holds a :meth:`gate`, until the test opens it;
* :meth:`fail` makes a type's operation end FAILED with an error code;
* ``list_mode="identifiers"`` answers ListResources with primary identifiers only, as AWS
  does for many types;
* every call is logged (:attr:`calls`), and the most requests seen in flight at once is kept
  (:attr:`max_in_flight`), so tests can count and check concurrency without timing.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stackdeploy.cloud.client import RequestFailedError
from stackdeploy.cloud.events import ProgressEvent
from stackdeploy.cloud.protocol import EventCallback, Identifier
from stackdeploy.errors import CloudControlError
from stackdeploy.sandbox import values
from stackdeploy.sandbox.handlers import strip_paths
from stackdeploy.schema.registry import get_schema
from tests.cloud.fakes import FakeClock

ACCOUNT = "123456789012"


def _text(identifier: Identifier) -> str:
    if isinstance(identifier, str):
        return identifier
    if isinstance(identifier, Mapping):
        return json.dumps(dict(identifier), separators=(",", ":"))
    return "|".join(str(p) for p in identifier)


@dataclass
class Call:
    op: str
    type_name: str | None = None
    identifier: str | None = None
    thread: str = field(default_factory=lambda: threading.current_thread().name)


class MemoryCloud:
    """Cloud Control in a dict (see the module docstring)."""

    def __init__(
        self,
        *,
        clock: FakeClock | None = None,
        latency: float = 1.0,
        list_mode: str = "identifiers",
        region: str = "us-east-1",
    ) -> None:
        self.clock = clock or FakeClock()
        self.latency = latency
        self.list_mode = list_mode
        self.region = region
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}  # (type, id) -> model
        self.calls: list[Call] = []
        self.failures: dict[tuple[str, str], tuple[str, str]] = {}
        self.gates: dict[tuple[str, str], threading.Event] = {}
        self.entered: dict[tuple[str, str], threading.Event] = {}
        self.tagging_error: str | None = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._tokens = itertools.count(1)
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: dict[str, ProgressEvent] = {}

    # -- test controls ------------------------------------------------------------------

    def gate(self, type_name: str, op: str) -> threading.Event:
        """Requests of ``type_name``/``op`` wait until the returned event is set;
        ``entered(type, op)`` is set as soon as one is waiting."""
        key = (type_name, op.upper())
        self.entered[key] = threading.Event()
        event = self.gates[key] = threading.Event()
        return event

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        """Block until ``predicate()`` holds (re-checked whenever a request changes state);
        a test waits on what happened, never on time."""
        with self._changed:
            assert self._changed.wait_for(predicate, timeout), "condition never became true"

    def fail(self, type_name: str, op: str, code: str, message: str = "injected") -> None:
        self.failures[(type_name, op.upper())] = (code, message)

    def count(self, op: str, type_name: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for c in self.calls
                if c.op == op and (type_name is None or c.type_name == type_name)
            )

    def reads(self) -> int:
        return self.count("get") + self.count("list") + self.count("tagged")

    def of_type(self, type_name: str) -> list[dict[str, Any]]:
        return [m for (t, _), m in self.resources.items() if t == type_name]

    def _log(self, op: str, type_name: str | None = None, identifier: str | None = None) -> None:
        with self._lock:
            self.calls.append(Call(op, type_name, identifier))

    # -- reads ----------------------------------------------------------------------------

    @property
    def default_region(self) -> str:
        return self.region

    def get_resource(
        self, type_name: str, identifier: Identifier, region: str | None = None
    ) -> dict[str, Any] | None:
        ident = _text(identifier)
        self._log("get", type_name, ident)
        with self._lock:
            model = self.resources.get((type_name, ident))
        if model is None:
            return None
        schema = get_schema(type_name)
        return strip_paths(json.loads(json.dumps(model)), schema.write_only)

    def list_resources(
        self,
        type_name: str,
        region: str | None = None,
        resource_model: Mapping[str, Any] | str | None = None,
        max_results: int | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        self._log("list", type_name)
        schema = get_schema(type_name)
        with self._lock:
            items = [(i, m) for (t, i), m in self.resources.items() if t == type_name]
        for ident, model in items:
            if self.list_mode == "identifiers":
                props = {k: model[k] for k in schema.primary_identifier if k in model}
            else:
                props = strip_paths(json.loads(json.dumps(model)), schema.write_only)
            yield ident, props

    def tagged_resources(
        self,
        region: str | None = None,
        tag_filters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        resource_type_filters: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        self._log("tagged")
        if self.tagging_error:
            raise CloudControlError(
                "tagging GetResources: AccessDenied", error_code=self.tagging_error
            )
        filters = (
            list(tag_filters or [])
            if not isinstance(tag_filters, Mapping)
            else [{"Key": k, "Values": [v]} for k, v in tag_filters.items()]
        )
        out = []
        with self._lock:
            items = list(self.resources.items())
        for (type_name, _), model in items:
            schema = get_schema(type_name)
            tags = _tags(schema, model)
            if all(tags.get(f["Key"]) in f.get("Values", [tags.get(f["Key"])]) for f in filters):
                arn = values.resource_arn(schema, model, region=self.region, account_id=ACCOUNT)
                out.append(
                    {"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
                )
        return out

    # -- requests -------------------------------------------------------------------------

    def _request(
        self,
        op: str,
        type_name: str,
        identifier: str | None,
        on_event: EventCallback | None,
        apply: Any,
    ) -> ProgressEvent:
        token = f"req-{next(self._tokens):04d}"
        started = ProgressEvent(type_name, identifier, token, op, "IN_PROGRESS")
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.requests[token] = started
            self._changed.notify_all()
        try:
            if on_event is not None:
                on_event(started)
            key = (type_name, op)
            entered = self.entered.get(key)
            if entered is not None:
                entered.set()
            gate = self.gates.get(key)
            if gate is not None:
                assert gate.wait(10), f"gate {key} never opened"
            if self.latency:
                self.clock.sleep(self.latency)
            failure = self.failures.get(key)
            if failure is not None:
                final = ProgressEvent(
                    type_name,
                    identifier,
                    token,
                    op,
                    "FAILED",
                    error_code=failure[0],
                    status_message=failure[1],
                )
            else:
                ident, model = apply()
                final = ProgressEvent(type_name, ident, token, op, "SUCCESS", resource_model=model)
        finally:
            with self._lock:
                self.in_flight -= 1
                self._changed.notify_all()
        with self._lock:
            self.requests[token] = final
        if on_event is not None:
            on_event(final)
        if final.status == "FAILED":
            if op == "DELETE" and final.error_code == "NotFound":
                return final
            raise RequestFailedError(
                f"{op.capitalize()}Resource {type_name} failed: {final.error_code}: {final.status_message} "
                f"(request token {token})",
                final,
            )
        return final

    def create_resource(
        self,
        type_name: str,
        desired: Mapping[str, Any] | str,
        region: str | None = None,
        client_token: str | None = None,
        timeout_minutes: float | None = None,
        on_event: EventCallback | None = None,
        first_poll: float | None = None,
    ) -> ProgressEvent:
        state = (
            json.loads(desired)
            if isinstance(desired, str)
            else json.loads(json.dumps(dict(desired)))
        )
        self._log("create", type_name)
        schema = get_schema(type_name)

        def apply() -> tuple[str, dict[str, Any]]:
            model = values.complete_model(schema, state, region=self.region, account_id=ACCOUNT)
            ident = schema.identifier_of(model)
            assert ident is not None
            with self._lock:
                if (type_name, ident) in self.resources:
                    raise CloudControlError(
                        f"{type_name} {ident} already exists", error_code="AlreadyExistsException"
                    )
                self.resources[(type_name, ident)] = model
            return ident, model

        return self._request("CREATE", type_name, None, on_event, apply)

    def update_resource(
        self,
        type_name: str,
        identifier: Identifier,
        patch_ops: Sequence[Mapping[str, Any]] | str,
        region: str | None = None,
        client_token: str | None = None,
        timeout_minutes: float | None = None,
        on_event: EventCallback | None = None,
        first_poll: float | None = None,
    ) -> ProgressEvent:
        import jsonpatch

        ident = _text(identifier)
        self._log("update", type_name, ident)
        ops = json.loads(patch_ops) if isinstance(patch_ops, str) else [dict(o) for o in patch_ops]

        def apply() -> tuple[str, dict[str, Any]]:
            with self._lock:
                model = self.resources.get((type_name, ident))
                if model is None:
                    raise CloudControlError(
                        f"{ident} not found", error_code="ResourceNotFoundException"
                    )
                try:
                    self.resources[(type_name, ident)] = jsonpatch.apply_patch(model, ops)
                except jsonpatch.JsonPatchException as exc:
                    raise CloudControlError(
                        f"Invalid patch: {exc}", error_code="InvalidRequestException"
                    ) from None
                return ident, self.resources[(type_name, ident)]

        return self._request("UPDATE", type_name, ident, on_event, apply)

    def delete_resource(
        self,
        type_name: str,
        identifier: Identifier,
        region: str | None = None,
        client_token: str | None = None,
        timeout_minutes: float | None = None,
        on_event: EventCallback | None = None,
        first_poll: float | None = None,
    ) -> ProgressEvent:
        ident = _text(identifier)
        self._log("delete", type_name, ident)
        if (type_name, ident) not in self.resources:
            return ProgressEvent(type_name, ident, None, "DELETE", "FAILED", error_code="NotFound")

        def apply() -> tuple[str, dict[str, Any]]:
            with self._lock:
                self.resources.pop((type_name, ident), None)
            return ident, {}

        return self._request("DELETE", type_name, ident, on_event, apply)

    def request_status(self, request_token: str, region: str | None = None) -> ProgressEvent:
        self._log("status")
        return self.requests[request_token]

    def wait_for_request(
        self,
        request_token: str,
        region: str | None = None,
        timeout_minutes: float | None = None,
        on_event: EventCallback | None = None,
    ) -> ProgressEvent:
        self._log("wait")
        event = self.requests.get(request_token)
        if event is None:
            raise CloudControlError(
                f"no request {request_token}", error_code="RequestTokenNotFoundException"
            )
        if on_event is not None:
            on_event(event)
        return event

    def list_resource_requests(
        self,
        region: str | None = None,
        operations: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[ProgressEvent]:
        self._log("list_requests")
        return list(self.requests.values())

    def cancel_resource_request(
        self, request_token: str, region: str | None = None
    ) -> ProgressEvent:
        self._log("cancel")
        return self.requests[request_token]


def _tags(schema: Any, model: Mapping[str, Any]) -> dict[str, str]:
    from stackdeploy.engine.discovery import tags_of

    return tags_of(schema, model)
