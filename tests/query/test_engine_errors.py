"""Every way a query fails: one QueryError with file, line and a hint; never empty rows.

Cloud Control failures are produced by the sandbox (fault injection) or by an endpoint where
nothing listens, and reach the engine through boto3 like real ones would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stackdeploy.cloud.session import open_cloud
from stackdeploy.errors import QueryError
from stackdeploy.query.engine import QueryCloudControlError, QueryEngine
from stackdeploy.sandbox.server import SandboxServer

FILE = "resources/thing.iql"


@pytest.fixture
def cloud(sandbox_server: SandboxServer) -> Iterator[Any]:
    with open_cloud(
        region="us-east-1",
        endpoint_url=sandbox_server.url,
        max_rps=10_000,
        burst=10_000,
        poll_initial=0.005,
        poll_max=0.05,
        max_retries=1,
        retry_base=0.001,
        retry_max=0.002,
        max_resubmits=0,
    ) as client:
        yield client


@pytest.fixture
def engine(cloud: Any) -> QueryEngine:
    return QueryEngine(cloud)


def fail(engine: QueryEngine, sql: str, *, line: int = 10) -> QueryError:
    with pytest.raises(QueryError) as info:
        engine.execute(sql, file=FILE, line=line)
    error = info.value
    assert "\n" not in str(error)
    assert error.file == FILE
    return error


# -- names -------------------------------------------------------------------------------------


def test_unknown_table_did_you_mean(engine: QueryEngine) -> None:
    error = fail(engine, "SELECT * FROM awscc.ec2.vpc WHERE region = 'us-east-1'")
    assert str(error).startswith(f"{FILE}:10: unknown table awscc.ec2.vpc")
    assert error.hint is not None and "awscc.ec2.vpcs" in error.hint


def test_unknown_special_table(engine: QueryEngine) -> None:
    error = fail(engine, "SELECT * FROM awscc.cloud_control.resource_statuses")
    assert "resource_request" in (error.hint or "")


def test_unknown_column_did_you_mean_on_its_line(engine: QueryEngine) -> None:
    error = fail(
        engine,
        "SELECT region,\n  vpcid\nFROM awscc.ec2.vpcs\nWHERE region = 'us-east-1'",
        line=20,
    )
    assert error.line == 21
    assert "unknown column 'vpcid'" in str(error)
    assert error.hint == "did you mean vpc_id?"


def test_cloudformation_name_as_column_suggests_snake_case(engine: QueryEngine) -> None:
    error = fail(engine, "SELECT CidrBlock FROM awscc.ec2.vpcs WHERE region = 'us-east-1'")
    assert error.hint == "columns are snake_case: did you mean cidr_block?"


def test_unknown_column_fails_before_any_api_call(engine: QueryEngine, cloud: Any) -> None:
    calls: list[str] = []

    class Spy:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(cloud, name)

    with pytest.raises(QueryError):
        QueryEngine(Spy()).execute("SELECT nope FROM awscc.ec2.vpcs WHERE region = 'us-east-1'")
    assert calls == []


def test_unknown_insert_column(engine: QueryEngine) -> None:
    error = fail(
        engine,
        "INSERT INTO awscc.s3.buckets (BucketNam, region) SELECT 'x', 'us-east-1'",
    )
    assert "unknown column 'BucketNam'" in str(error)
    assert "BucketName" in (error.hint or "")


# -- required predicates -------------------------------------------------------------------------


def test_missing_region_is_an_error_with_hint(engine: QueryEngine) -> None:
    error = fail(engine, "SELECT * FROM awscc.ec2.vpcs WHERE Identifier = 'vpc-1'")
    assert "awscc.ec2.vpcs needs region in the WHERE clause" in str(error)
    assert error.hint == "add region = 'us-east-1'"


def test_missing_list_model_property(engine: QueryEngine) -> None:
    error = fail(engine, "SELECT * FROM awscc.ec2.routes_list_only WHERE region = 'us-east-1'")
    assert "needs route_table_id" in str(error)


def test_missing_request_token(engine: QueryEngine) -> None:
    error = fail(engine, "SELECT * FROM awscc.cloud_control.resource_request")
    assert "needs RequestToken" in str(error)


def test_dml_needs_identifier_and_region(engine: QueryEngine) -> None:
    error = fail(engine, "DELETE FROM awscc.s3.buckets WHERE Identifier = 'b'")
    assert "needs region" in str(error)
    error = fail(engine, "DELETE FROM awscc.s3.buckets WHERE region = 'us-east-1'")
    assert "needs Identifier" in str(error)
    error = fail(
        engine,
        "UPDATE awscc.s3.buckets SET PatchDocument = '[]' WHERE region = 'us-east-1'",
    )
    assert "needs Identifier" in str(error)


def test_dml_refuses_predicates_it_cannot_honour(engine: QueryEngine) -> None:
    error = fail(
        engine,
        "DELETE FROM awscc.s3.buckets WHERE Identifier = 'b' AND region = 'us-east-1' "
        "AND bucket_name LIKE 'x%'",
    )
    assert "accepts only Identifier and region" in str(error)


def test_insert_needs_region(engine: QueryEngine) -> None:
    error = fail(engine, "INSERT INTO awscc.s3.buckets (BucketName) SELECT 'x'")
    assert "needs a region" in str(error)


# -- syntax and values ---------------------------------------------------------------------------


def test_syntax_error_names_the_line(engine: QueryEngine) -> None:
    error = fail(engine, "SELECT *\nFROM\nWHERE", line=5)
    assert "syntax error" in str(error)
    assert error.line is not None and error.line >= 5


def test_empty_column_in_insert_list(engine: QueryEngine) -> None:
    error = fail(
        engine,
        "INSERT INTO awscc.sagemaker.clusters (\n ,\n region\n)\nSELECT\n'',\n'us-east-1';",
        line=2,
    )
    assert str(error).startswith(f"{FILE}:3: syntax error: empty item in a list")


def test_column_value_count_mismatch(engine: QueryEngine) -> None:
    error = fail(engine, "INSERT INTO awscc.s3.buckets (BucketName, region) SELECT 'x'")
    assert "lists 2 columns but gives 1 values" in str(error)


def test_validation_happens_before_the_call(engine: QueryEngine, cloud: Any) -> None:
    calls: list[str] = []

    class Spy:
        config = cloud.config

        def create_resource(self, *args: Any, **kwargs: Any) -> Any:
            calls.append("create")
            return cloud.create_resource(*args, **kwargs)

    with pytest.raises(QueryError) as info:
        QueryEngine(Spy()).execute(
            "INSERT INTO awscc.logs.log_groups (LogGroupName, RetentionInDays, region) "
            "SELECT 'bad', 'two', 'us-east-1'",
            file=FILE,
            line=3,
        )
    assert calls == []
    assert str(info.value).startswith(f"{FILE}:3: INSERT INTO awscc.logs.log_groups:")
    assert "/RetentionInDays" in str(info.value)


def test_bad_patch_document(engine: QueryEngine) -> None:
    error = fail(
        engine,
        'UPDATE awscc.s3.buckets SET PatchDocument = string(\'[{"op":"replace"\') '
        "WHERE Identifier = 'b' AND region = 'us-east-1'",
    )
    assert "PatchDocument" in str(error) and "not JSON" in str(error)


def test_update_of_other_columns_is_refused(engine: QueryEngine) -> None:
    error = fail(
        engine,
        "UPDATE awscc.s3.buckets SET BucketName = 'x' WHERE Identifier = 'b' "
        "AND region = 'us-east-1'",
    )
    assert "sets PatchDocument" in str(error)


def test_unsupported_statement(engine: QueryEngine) -> None:
    error = fail(engine, "DROP TABLE awscc.s3.buckets")
    assert "unsupported statement" in str(error)


def test_mutation_of_list_only_table_is_refused(engine: QueryEngine) -> None:
    error = fail(
        engine,
        "DELETE FROM awscc.s3.buckets_list_only WHERE Identifier = 'b' AND region = 'us-east-1'",
    )
    assert "not supported" in str(error)


def test_function_error_message_is_kept(engine: QueryEngine) -> None:
    error = fail(engine, "SELECT json_equal('{', '{}')")
    assert "user-defined function raised exception" not in str(error)


def test_empty_sql(engine: QueryEngine) -> None:
    fail(engine, "  -- nothing here\n")


# -- Cloud Control failures ----------------------------------------------------------------------


def test_throttling_exhausted_is_an_error_not_empty_rows(
    engine: QueryEngine, sandbox_server: SandboxServer
) -> None:
    engine.execute("INSERT INTO awscc.s3.buckets (BucketName, region) SELECT 'thr', 'us-east-1'")
    sandbox_server.faults.throttle_rate = 1.0
    for sql in (
        "SELECT * FROM awscc.s3.buckets WHERE region = 'us-east-1' AND Identifier = 'thr'",
        "SELECT * FROM awscc.s3.buckets WHERE region = 'us-east-1'",
        "SELECT * FROM awscc.s3.buckets_list_only WHERE region = 'us-east-1'",
    ):
        error = fail(engine, sql)
        assert isinstance(error, QueryCloudControlError)
        assert "Throttling" in str(error)


def test_failed_create_quotes_error_code(
    engine: QueryEngine, sandbox_server: SandboxServer
) -> None:
    sandbox_server.faults.fail("AWS::S3::Bucket", "CREATE", "AccessDenied", message="denied!")
    error = fail(
        engine,
        "INSERT INTO awscc.s3.buckets (BucketName, region) SELECT 'denied', 'us-east-1' "
        "RETURNING *",
    )
    assert isinstance(error, QueryCloudControlError)
    assert error.error_code == "AccessDenied"
    assert "AccessDenied" in str(error)


def test_unreachable_endpoint_is_an_error() -> None:
    with open_cloud(
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        max_retries=0,
        max_network_retries=0,
        connect_timeout=0.5,
    ) as cloud:
        error = fail(
            QueryEngine(cloud),
            "SELECT * FROM awscc.s3.buckets WHERE region = 'us-east-1' AND Identifier = 'x'",
        )
    assert isinstance(error, QueryCloudControlError)
    assert error.line == 10
