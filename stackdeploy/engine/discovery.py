"""Finding a stack's resources again with O(1) Cloud Control calls per resource.

Declarative resources whose identifier AWS chooses are found by the tags stack-deploy puts
on them (``stackql:stack-name``, ``stackql:stack-env``, ``stackql:resource-name``). Instead of
listing the whole type for every resource (and, where ListResources returns only
identifiers, reading every listed item: N+1 calls per resource), a run asks the tagging
API once for the whole stack (:class:`StackTags`: one GetResources call per 100 resources of
the stack), turns each ARN into a Cloud Control identifier, and confirms it with the one
GetResource the diff needs anyway. Listing a type happens at most once per type per
planning pass (the run's plan-time :class:`ReadCache`), and only where the tags cannot
answer (a type the tagging API does not cover, a resource absent from the index, types that
cannot be tagged).

:class:`ReadCache` is a :class:`~stackdeploy.cloud.protocol.CloudControlAPI` that remembers
reads: during planning (nothing changes) for the whole run, so the planner's diff reuses the
GetResource a query-file resource's ``exists`` query already made; during apply, for one
resource's step only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from stackdeploy.cloud.events import ProgressEvent
from stackdeploy.cloud.protocol import CloudControlAPI, EventCallback, Identifier
from stackdeploy.errors import CloudControlError
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.tags import TAG_ENV, TAG_RESOURCE, TAG_STACK

__all__ = ["TAG_ENV", "TAG_RESOURCE", "TAG_STACK", "ReadCache", "StackTags"]

_MISSING = object()


class TokenSource(Protocol):
    """Gives a mutation its ClientToken: the same logical request gets the same token, so a
    resubmission (a run resuming one that died) returns the original request."""

    def __call__(self, operation: str, type_name: str, body: Any) -> str: ...


class MutationObserver(Protocol):
    """Told about each mutation before it is sent: may refuse it (raise), and returns the
    callback that sees its ProgressEvents (the request token the moment it exists)."""

    def __call__(self, operation: str, type_name: str, region: str | None) -> EventCallback: ...


def _compose(first: EventCallback | None, second: EventCallback | None) -> EventCallback | None:
    if first is None:
        return second
    if second is None:
        return first

    def both(event: ProgressEvent) -> None:
        first(event)
        second(event)

    return both


def _ident_text(identifier: Identifier) -> str:
    if isinstance(identifier, str):
        return identifier
    if isinstance(identifier, Mapping):
        return json.dumps(dict(identifier), sort_keys=True, separators=(",", ":"))
    return "|".join(str(p) for p in identifier)


class ReadCache:
    """A :class:`CloudControlAPI` over another that answers repeated reads from memory.

    GetResource answers (``None`` included) and complete listings are kept; any mutation
    made through this object forgets everything it knows about that type (a create makes
    a listing stale; an update changes the resource). Thread-safe, and concurrent first
    reads of the same key make one call: the others wait for its answer (planning a hundred
    queues at once lists the type once, not once per planner). No lock is held across a call.
    """

    def __init__(
        self,
        inner: CloudControlAPI,
        *,
        observer: MutationObserver | None = None,
        tokens: TokenSource | None = None,
    ) -> None:
        self.inner = inner
        self.observer = observer
        self.tokens = tokens
        self._lock = threading.Lock()
        self._gets: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        self._lists: dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]] = {}
        # Reads on their way to the server, by key: later readers wait for the first.
        self._pending: dict[tuple[str, ...], threading.Event] = {}
        self.calls = 0  # reads that reached the inner client
        self.waiting = 0  # readers waiting now for another's read of the same key

    @property
    def default_region(self) -> str:
        return self.inner.default_region

    def _region(self, region: str | None) -> str:
        return region or self.inner.default_region

    def remember(
        self, type_name: str, identifier: str, region: str | None, props: dict[str, Any] | None
    ) -> None:
        """Record a read made elsewhere (the listing of a type that returns full models)."""
        with self._lock:
            self._gets[(type_name, self._region(region), identifier)] = props

    def cached_get(
        self, type_name: str, identifier: str, region: str | None
    ) -> dict[str, Any] | object | None:
        with self._lock:
            return self._gets.get((type_name, self._region(region), identifier), _MISSING)

    def forget(self, type_name: str) -> None:
        with self._lock:
            for key in [k for k in self._gets if k[0] == type_name]:
                del self._gets[key]
            for key in [k for k in self._lists if k[0] == type_name]:
                del self._lists[key]

    def forget_all(self) -> None:
        """Forget every read: a check retried for eventual consistency must read again."""
        with self._lock:
            self._gets.clear()
            self._lists.clear()

    def _cached_or_claim(self, key: tuple[str, ...], lookup: Callable[[], Any]) -> Any:
        """``lookup()`` (run under the lock; ``_MISSING`` when not cached), waiting first for
        a read of the same key already on its way. ``_MISSING`` means the caller reads it
        itself and must call :meth:`_read_done` after (a failed read leaves the next waiter
        to try again)."""
        while True:
            with self._lock:
                found = lookup()
                if found is not _MISSING:
                    return found
                pending = self._pending.get(key)
                if pending is None:
                    self._pending[key] = threading.Event()
                    return _MISSING
                self.waiting += 1
            pending.wait()
            with self._lock:
                self.waiting -= 1

    def _read_done(self, key: tuple[str, ...]) -> None:
        with self._lock:
            pending = self._pending.pop(key)
        pending.set()

    def get_resource(
        self, type_name: str, identifier: Identifier, region: str | None = None
    ) -> dict[str, Any] | None:
        key = (type_name, self._region(region), _ident_text(identifier))
        found = self._cached_or_claim(("get", *key), lambda: self._gets.get(key, _MISSING))
        if found is not _MISSING:
            return dict(found) if found is not None else None
        try:
            live = self.inner.get_resource(type_name, identifier, region=region)
            with self._lock:
                self.calls += 1
                self._gets[key] = dict(live) if live is not None else None
        finally:
            self._read_done(("get", *key))
        return live

    def list_resources(
        self,
        type_name: str,
        region: str | None = None,
        resource_model: Mapping[str, Any] | str | None = None,
        max_results: int | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        model = (
            resource_model
            if isinstance(resource_model, str) or resource_model is None
            else json.dumps(dict(resource_model), sort_keys=True)
        )
        key = (type_name, self._region(region), model or "")
        if max_results is not None:  # a partial listing: never cached
            items = list(
                self.inner.list_resources(
                    type_name, region=region, resource_model=resource_model, max_results=max_results
                )
            )
            with self._lock:
                self.calls += 1
            return iter(items)
        cached = self._cached_or_claim(("list", *key), lambda: self._lists.get(key, _MISSING))
        if cached is _MISSING:
            try:
                cached = list(
                    self.inner.list_resources(
                        type_name, region=region, resource_model=resource_model
                    )
                )
                with self._lock:
                    self.calls += 1
                    self._lists[key] = cached
            finally:
                self._read_done(("list", *key))
        return iter([(ident, dict(props)) for ident, props in cached])

    # -- mutations and the rest pass through (and invalidate) ------------------------------

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
        seen = self.observer("CREATE", type_name, region) if self.observer else None
        if client_token is None and self.tokens is not None:
            client_token = self.tokens("CREATE", type_name, desired)
        self.forget(type_name)
        try:
            return self.inner.create_resource(
                type_name,
                desired,
                region=region,
                client_token=client_token,
                timeout_minutes=timeout_minutes,
                on_event=_compose(seen, on_event),
                first_poll=first_poll,
            )
        finally:
            self.forget(type_name)

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
        seen = self.observer("UPDATE", type_name, region) if self.observer else None
        if client_token is None and self.tokens is not None:
            client_token = self.tokens("UPDATE", type_name, [_ident_text(identifier), patch_ops])
        self.forget(type_name)
        try:
            return self.inner.update_resource(
                type_name,
                identifier,
                patch_ops,
                region=region,
                client_token=client_token,
                timeout_minutes=timeout_minutes,
                on_event=_compose(seen, on_event),
                first_poll=first_poll,
            )
        finally:
            self.forget(type_name)

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
        seen = self.observer("DELETE", type_name, region) if self.observer else None
        if client_token is None and self.tokens is not None:
            client_token = self.tokens("DELETE", type_name, _ident_text(identifier))
        self.forget(type_name)
        try:
            return self.inner.delete_resource(
                type_name,
                identifier,
                region=region,
                client_token=client_token,
                timeout_minutes=timeout_minutes,
                on_event=_compose(seen, on_event),
                first_poll=first_poll,
            )
        finally:
            self.forget(type_name)

    def request_status(self, request_token: str, region: str | None = None) -> ProgressEvent:
        return self.inner.request_status(request_token, region=region)

    def wait_for_request(
        self,
        request_token: str,
        region: str | None = None,
        timeout_minutes: float | None = None,
        on_event: EventCallback | None = None,
    ) -> ProgressEvent:
        event = self.inner.wait_for_request(
            request_token, region=region, timeout_minutes=timeout_minutes, on_event=on_event
        )
        if event.type_name:
            self.forget(event.type_name)
        return event

    def list_resource_requests(
        self,
        region: str | None = None,
        operations: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[ProgressEvent]:
        return self.inner.list_resource_requests(
            region=region, operations=operations, statuses=statuses
        )

    def cancel_resource_request(
        self, request_token: str, region: str | None = None
    ) -> ProgressEvent:
        return self.inner.cancel_resource_request(request_token, region=region)

    def tagged_resources(
        self,
        region: str | None = None,
        tag_filters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        resource_type_filters: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        return self.inner.tagged_resources(
            region=region, tag_filters=tag_filters, resource_type_filters=resource_type_filters
        )


def tags_of(schema: ResourceSchema, props: Mapping[str, Any]) -> dict[str, str]:
    """A resource's tags as a map, whether the schema keeps a list or a map."""
    if schema.tag_property is None:
        return {}
    value = props.get(schema.tag_property)
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        out = {}
        for item in value:
            if isinstance(item, Mapping) and "Key" in item:
                out[str(item["Key"])] = str(item.get("Value", ""))
        return out
    return {}


# Types whose identifier cannot be read off the ARN's last segment.
_FROM_ARN: dict[str, str] = {
    # arn:aws:sqs:us-east-1:123456789012:name -> https://sqs.us-east-1.amazonaws.com/123.../name
    "AWS::SQS::Queue": "https://sqs.{region}.amazonaws.com/{account}/{last}",
}


def identifier_from_arn(schema: ResourceSchema, arn: str) -> str | None:
    """The Cloud Control identifier an ARN most likely stands for, or None.

    A single-part primary identifier that is an ARN property is the ARN itself; otherwise
    the ARN's last segment (``vpc/vpc-123`` -> ``vpc-123``) or a known pattern. A guess:
    callers confirm it with GetResource and the resource's tags.
    """
    parts = arn.split(":", 5)
    if len(parts) < 6 or len(schema.primary_identifier) != 1:
        return None
    prop = schema.primary_identifier[0]
    if prop.lower().endswith("arn"):
        return arn
    _, _, _, region, account, resource = parts
    last = resource.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    pattern = _FROM_ARN.get(schema.type_name)
    if pattern is not None:
        return pattern.format(region=region, account=account, last=last)
    return last or None


def _suffix(text: str) -> str:
    return text.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].rsplit("|", 1)[-1]


class StackTags:
    """The tagging API's view of one stack and environment in one region: resource name ->
    ARNs carrying its tags. One GetResources query (paginated by 100) per region per run."""

    def __init__(self, cloud: CloudControlAPI, stack: str, env: str) -> None:
        self.cloud = cloud
        self.stack = stack
        self.env = env
        self._lock = threading.Lock()
        self._by_region: dict[str, dict[str, list[str]] | None] = {}
        self._loading: dict[str, threading.Event] = {}
        self.calls = 0

    def arns(self, region: str, resource: str) -> list[str] | None:
        """ARNs tagged as ``resource`` of this stack, or None when the tagging API cannot
        be used (no permission, not available): callers then list the type instead."""
        index = self._index(region)
        if index is None:
            return None
        return list(index.get(resource, ()))

    def index(self, region: str) -> dict[str, list[str]] | None:
        """Every ``stackql:resource-name`` value of this stack and environment -> the ARNs
        carrying it (a copy), or None when the tagging API cannot be used. Orphans are the
        names no manifest entry claims."""
        index = self._index(region)
        return None if index is None else {name: list(arns) for name, arns in index.items()}

    def _index(self, region: str) -> dict[str, list[str]] | None:
        with self._lock:
            if region in self._by_region:
                return self._by_region[region]
            loading = self._loading.get(region)
            owner = loading is None
            if owner:
                loading = self._loading[region] = threading.Event()
        assert loading is not None
        if not owner:
            loading.wait()
            with self._lock:
                return self._by_region.get(region)
        index: dict[str, list[str]] | None
        try:
            items = self.cloud.tagged_resources(
                region=region,
                tag_filters=[
                    {"Key": TAG_STACK, "Values": [self.stack]},
                    {"Key": TAG_ENV, "Values": [self.env]},
                ],
            )
            index = {}
            for item in items:
                tags = {t.get("Key"): t.get("Value") for t in item.get("Tags") or []}
                name = tags.get(TAG_RESOURCE)
                arn = item.get("ResourceARN")
                if isinstance(name, str) and isinstance(arn, str):
                    index.setdefault(name, []).append(arn)
        except CloudControlError:
            index = None  # no permission or no tagging API here: fall back to listing
        except BaseException:
            # Raised to this caller; whoever waits must not wait forever (they list instead).
            with self._lock:
                self._loading.pop(region, None)
            loading.set()
            raise
        with self._lock:
            self.calls += 1
            self._by_region[region] = index
        loading.set()
        return index


def match_arn(identifiers: Sequence[str], arn: str) -> list[str]:
    """Listed identifiers that an ARN may stand for (same last segment)."""
    last = _suffix(arn)
    return [ident for ident in identifiers if ident == arn or _suffix(ident) == last]
