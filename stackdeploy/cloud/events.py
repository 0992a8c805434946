"""Cloud Control's ProgressEvent as a Python value.

Every mutation (create, update, delete, cancel) answers with a ProgressEvent and
GetResourceRequestStatus / ListResourceRequests report them too. :class:`ProgressEvent` parses
the wire shape once (timestamps to aware datetimes, ResourceModel JSON to a dict) and
:meth:`ProgressEvent.as_row` gives back the flat AWS field names, which is what the SQL layer
returns for ``RETURNING *`` and the ``resource_request`` tables.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# OperationStatus values after which a request never changes again.
FINAL_STATUSES = frozenset({"SUCCESS", "FAILED", "CANCEL_COMPLETE"})


def _to_datetime(value: Any) -> datetime | None:
    """Accept what botocore gives (datetime) and what a hand-built event may hold."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except ValueError:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise TypeError(f"not a timestamp: {value!r}")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class ProgressEvent:
    """One Cloud Control ProgressEvent (the state of a resource request at one moment)."""

    type_name: str | None
    identifier: str | None
    request_token: str | None
    operation: str | None
    status: str
    event_time: datetime | None = None
    resource_model: dict[str, Any] | None = None
    status_message: str | None = None
    error_code: str | None = None
    retry_after: datetime | None = None
    hooks_request_token: str | None = None
    # The ResourceModel text exactly as received, so as_row() does not re-serialise it.
    resource_model_json: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ProgressEvent:
        """Build from the ``ProgressEvent`` structure of a botocore response."""
        model_text = data.get("ResourceModel")
        model: dict[str, Any] | None = None
        if isinstance(model_text, str) and model_text:
            try:
                loaded = json.loads(model_text)
            except ValueError:
                loaded = None  # keep the text for as_row(); a bad model is not our failure
            model = loaded if isinstance(loaded, dict) else None
        elif isinstance(model_text, dict):
            model, model_text = model_text, json.dumps(model_text)
        return cls(
            type_name=data.get("TypeName"),
            identifier=data.get("Identifier"),
            request_token=data.get("RequestToken"),
            operation=data.get("Operation"),
            status=data.get("OperationStatus") or "PENDING",
            event_time=_to_datetime(data.get("EventTime")),
            resource_model=model,
            status_message=data.get("StatusMessage"),
            error_code=data.get("ErrorCode"),
            retry_after=_to_datetime(data.get("RetryAfter")),
            hooks_request_token=data.get("HooksRequestToken"),
            resource_model_json=model_text if isinstance(model_text, str) else None,
        )

    @property
    def is_final(self) -> bool:
        """True once the request reached SUCCESS, FAILED or CANCEL_COMPLETE."""
        return self.status in FINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"

    def as_row(self) -> dict[str, Any]:
        """The flat dict of AWS field names; timestamps as ISO-8601, ResourceModel as JSON text."""
        model_text = self.resource_model_json
        if model_text is None and self.resource_model is not None:
            model_text = json.dumps(self.resource_model)
        return {
            "TypeName": self.type_name,
            "Identifier": self.identifier,
            "RequestToken": self.request_token,
            "Operation": self.operation,
            "OperationStatus": self.status,
            "EventTime": _iso(self.event_time),
            "ResourceModel": model_text,
            "StatusMessage": self.status_message,
            "ErrorCode": self.error_code,
            "RetryAfter": _iso(self.retry_after),
        }
