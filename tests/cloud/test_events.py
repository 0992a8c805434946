"""ProgressEvent parsing and its flat row form."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from stackdeploy.cloud.events import ProgressEvent


def test_from_api_and_as_row_round_trip() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    model = '{"BucketName": "b", "Arn": "arn:aws:s3:::b"}'
    event = ProgressEvent.from_api(
        {
            "TypeName": "AWS::S3::Bucket",
            "Identifier": "b",
            "RequestToken": "t",
            "Operation": "CREATE",
            "OperationStatus": "SUCCESS",
            "EventTime": when,
            "ResourceModel": model,
            "RetryAfter": 1767323045,
        }
    )
    assert event.resource_model == {"BucketName": "b", "Arn": "arn:aws:s3:::b"}
    assert event.is_final and event.succeeded
    assert event.retry_after == when
    row = event.as_row()
    assert row == {
        "TypeName": "AWS::S3::Bucket",
        "Identifier": "b",
        "RequestToken": "t",
        "Operation": "CREATE",
        "OperationStatus": "SUCCESS",
        "EventTime": "2026-01-02T03:04:05+00:00",
        "ResourceModel": model,
        "StatusMessage": None,
        "ErrorCode": None,
        "RetryAfter": "2026-01-02T03:04:05+00:00",
    }


def test_model_built_by_hand_is_serialised() -> None:
    event = ProgressEvent("T", "i", "t", "UPDATE", "IN_PROGRESS", resource_model={"A": 1})
    assert not event.is_final
    assert json.loads(event.as_row()["ResourceModel"]) == {"A": 1}


def test_iso_timestamps_and_bad_model_text() -> None:
    event = ProgressEvent.from_api(
        {"OperationStatus": "FAILED", "EventTime": "2026-01-02T03:04:05Z", "ResourceModel": "{"}
    )
    assert event.event_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert event.resource_model is None
    assert event.as_row()["ResourceModel"] == "{"
