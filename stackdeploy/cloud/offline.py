"""A Cloud Control that sees an empty account and refuses every change.

``build`` and ``teardown`` validate the whole stack before they take the stack lock (a bad
resource 2 must stop the run before anything, even the lock, is touched) and plan again under
the lock, where what is read is what gets applied. Reading the account in both passes would
double the calls of a no-change build, so the validating pass runs against this client: every
resource is absent, so each one plans as a create (its props rendered and checked against its
schema, its queries rendered and parsed) and exports of resources not yet read are placeholders.
What only live state can reveal is found by the plan under the lock, still before any change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from stackdeploy.cloud.events import ProgressEvent
from stackdeploy.cloud.protocol import EventCallback, Identifier
from stackdeploy.errors import StackDeployError


class OfflineMutation(StackDeployError):
    """A change was attempted through :class:`OfflineCloud` (a bug: validation never
    changes anything)."""


class OfflineCloud:
    """:class:`~stackdeploy.cloud.protocol.CloudControlAPI` over an empty account, read-only."""

    def __init__(self, default_region: str) -> None:
        self._region = default_region

    @property
    def default_region(self) -> str:
        return self._region

    def get_resource(
        self, type_name: str, identifier: Identifier, region: str | None = None
    ) -> dict[str, Any] | None:
        return None

    def list_resources(
        self,
        type_name: str,
        region: str | None = None,
        resource_model: Mapping[str, Any] | str | None = None,
        max_results: int | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(())

    def tagged_resources(
        self,
        region: str | None = None,
        tag_filters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        resource_type_filters: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        return []

    def list_resource_requests(
        self,
        region: str | None = None,
        operations: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[ProgressEvent]:
        return []

    def _refuse(self, what: str) -> OfflineMutation:
        return OfflineMutation(f"internal error: {what} attempted while validating the stack")

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
        raise self._refuse(f"create of {type_name}")

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
        raise self._refuse(f"update of {type_name}")

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
        raise self._refuse(f"delete of {type_name}")

    def request_status(self, request_token: str, region: str | None = None) -> ProgressEvent:
        raise self._refuse("a request status read")

    def wait_for_request(
        self,
        request_token: str,
        region: str | None = None,
        timeout_minutes: float | None = None,
        on_event: EventCallback | None = None,
    ) -> ProgressEvent:
        raise self._refuse("a request wait")

    def cancel_resource_request(
        self, request_token: str, region: str | None = None
    ) -> ProgressEvent:
        raise self._refuse("a request cancel")
