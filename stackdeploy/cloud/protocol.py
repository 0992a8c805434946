"""The typed seam between stack-deploy and Cloud Control.

:class:`CloudControlAPI` is what the engine (:mod:`stackdeploy.engine`) and the query engine
(:mod:`stackdeploy.query`) call; they never see boto3. :class:`~stackdeploy.cloud.client.
CloudControl` implements it against AWS, any Cloud Control endpoint or the sandbox; tests
implement it in memory (``tests/engine/fakes.py``) to drive the engine with an injected clock.

Mutations block until the request is final (polled), which is what callers want from a
worker thread; ``on_event`` sees every ProgressEvent on the way (the submission answer first),
so a caller can record the request token the moment it exists. ``first_poll`` (seconds) starts
the poll schedule sooner than the client's own for a request on a run's critical path that is
known to be quick (the stack lock's); None keeps the client's schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from stackdeploy.cloud.events import ProgressEvent

EventCallback = Callable[[ProgressEvent], None]

#: A Cloud Control identifier: text, a JSON object of identifier properties, or the values of
#: a compound primary identifier (joined with ``|`` on the wire).
Identifier = str | Mapping[str, Any] | Sequence[str]


@runtime_checkable
class CloudControlAPI(Protocol):
    """The Cloud Control (and tagging) calls stack-deploy makes."""

    @property
    def default_region(self) -> str:
        """The region used when a call names none."""
        ...

    def get_resource(
        self, type_name: str, identifier: Identifier, region: str | None = None
    ) -> dict[str, Any] | None:
        """The live properties, or ``None`` when Cloud Control answers ResourceNotFound
        (and only then: every other failure raises)."""
        ...

    def list_resources(
        self,
        type_name: str,
        region: str | None = None,
        resource_model: Mapping[str, Any] | str | None = None,
        max_results: int | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(identifier, properties)`` over all pages; properties may hold only the primary
        identifier (as AWS answers for many types)."""
        ...

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
        """Create and poll to the end; the final SUCCESS event (failures raise)."""
        ...

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
        """Apply an RFC 6902 patch and poll to the end."""
        ...

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
        """Delete and poll to the end; a resource already gone is returned as the
        FAILED/NotFound event, not raised."""
        ...

    def request_status(self, request_token: str, region: str | None = None) -> ProgressEvent:
        """GetResourceRequestStatus."""
        ...

    def wait_for_request(
        self,
        request_token: str,
        region: str | None = None,
        timeout_minutes: float | None = None,
        on_event: EventCallback | None = None,
    ) -> ProgressEvent:
        """Poll an existing request (by its token) to its final state and return that event
        (whatever it is: SUCCESS, FAILED or CANCEL_COMPLETE)."""
        ...

    def list_resource_requests(
        self,
        region: str | None = None,
        operations: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[ProgressEvent]:
        """ListResourceRequests over all pages."""
        ...

    def cancel_resource_request(
        self, request_token: str, region: str | None = None
    ) -> ProgressEvent:
        """CancelResourceRequest."""
        ...

    def tagged_resources(
        self,
        region: str | None = None,
        tag_filters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        resource_type_filters: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The tagging API's GetResources: ``[{ResourceARN, Tags: [{Key, Value}]}]``."""
        ...


@dataclass(frozen=True)
class CloudTarget:
    """Where and as whom one resource's calls go, when not the run's defaults: a region, a
    profile, a role to assume, static credentials (never shown by ``repr``)."""

    region: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    role_session_name: str | None = None
    external_id: str | None = field(default=None, repr=False)
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    @property
    def identity(self) -> bool:
        """True when the target names credentials of its own (not only a region)."""
        return bool(self.profile or self.role_arn or self.access_key_id)


class CloudFactory(Protocol):
    """Makes (and keeps for the run) the client of a :class:`CloudTarget`."""

    def __call__(self, target: CloudTarget) -> CloudControlAPI: ...
