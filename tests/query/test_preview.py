"""QueryEngine.preview_insert: the desired state an INSERT would send, with no API call."""

from __future__ import annotations

from typing import Any

import pytest

from stackdeploy.errors import QueryError
from stackdeploy.query.engine import QueryEngine


class NoCalls:
    """A client that fails the test on any call: previews must not reach Cloud Control."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"preview_insert called the client's {name}")


def test_preview_prepares_the_desired_state_without_calls() -> None:
    engine = QueryEngine(NoCalls(), region="us-east-1")
    sql = (
        "/* a comment */ INSERT INTO awscc.sqs.queues (QueueName, VisibilityTimeout, Tags, region) "
        "SELECT 'q1', '45', '[{\"key\": \"a\", \"value\": \"b\"}]', 'eu-west-1' RETURNING *"
    )
    schema, region, desired = engine.preview_insert(sql) or (None, None, None)
    assert schema is not None and schema.type_name == "AWS::SQS::Queue"
    assert region == "eu-west-1"
    assert desired == {
        "QueueName": "q1",
        "VisibilityTimeout": 45,
        "Tags": [{"Key": "a", "Value": "b"}],
    }


def test_preview_of_sql_without_insert_is_none() -> None:
    engine = QueryEngine(NoCalls(), region="us-east-1")
    assert engine.preview_insert("SELECT 1 AS one") is None


def test_preview_errors_name_file_and_line() -> None:
    engine = QueryEngine(NoCalls(), region="us-east-1")
    with pytest.raises(QueryError) as caught:
        engine.preview_insert(
            "\nINSERT INTO awscc.sqs.queues (QueueNme, region) SELECT 'q', 'us-east-1'",
            file="q.iql",
            line=10,
        )
    assert "q.iql:11" in str(caught.value)
    assert "QueueName" in str(caught.value)
