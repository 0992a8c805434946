"""The awscc SQL engine against the sandbox's Cloud Control endpoint (boto3 over HTTP).

Every statement form: INSERT (SELECT and VALUES, RETURNING), UPDATE, DELETE, SELECT by
Identifier, by listing (with pagination), ``_list_only``, compound identifiers, tagging and
cloud_control tables, joins/CTEs/JSON functions, and how values are encoded in columns.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from stackdeploy.cloud.session import open_cloud
from stackdeploy.query.engine import QueryEngine
from stackdeploy.sandbox.server import SandboxServer

REGION = "us-east-1"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def cloud(server: SandboxServer) -> Iterator[Any]:
    with open_cloud(
        region=REGION,
        endpoint_url=server.url,
        max_rps=10_000,
        burst=10_000,
        poll_initial=0.005,
        poll_max=0.05,
    ) as client:
        yield client


@pytest.fixture
def engine(cloud: Any) -> QueryEngine:
    return QueryEngine(cloud, region=REGION)


def create_vpc(engine: QueryEngine, cidr: str, name: str) -> str:
    result = engine.execute(
        "INSERT INTO awscc.ec2.vpcs (CidrBlock, EnableDnsHostnames, Tags, region) "
        f'SELECT \'{cidr}\', true, \'[{{"Key":"Name","Value":"{name}"}}]\', \'us-east-1\' '
        "RETURNING Identifier"
    )
    return str(result.rows[0]["Identifier"])


# -- INSERT ------------------------------------------------------------------------------------


def test_insert_returning_star_gives_final_event_flat_and_prefixed(engine: QueryEngine) -> None:
    result = engine.execute(
        "INSERT INTO awscc.s3.buckets (BucketName, VersioningConfiguration, region) "
        "SELECT 'ins-returning', '{\"Status\":\"Enabled\"}', 'us-east-1' RETURNING *"
    )
    row = result.rows[0]
    assert row["OperationStatus"] == "SUCCESS"  # final, after polling
    assert row["Operation"] == "CREATE"
    assert row["Identifier"] == "ins-returning"
    assert row["TypeName"] == "AWS::S3::Bucket"
    assert row["ProgressEvent.Identifier"] == "ins-returning"
    assert row["ProgressEvent.OperationStatus"] == "SUCCESS"
    assert json.loads(row["ResourceModel"])["VersioningConfiguration"] == {"Status": "Enabled"}
    assert {"RequestToken", "EventTime", "ErrorCode", "StatusMessage"} <= set(result.columns)
    assert result.progress_event.status == "SUCCESS"


def test_insert_without_returning_has_no_rows_but_the_event(engine: QueryEngine) -> None:
    result = engine.execute(
        "INSERT INTO awscc.s3.buckets (BucketName, region) SELECT 'ins-plain', 'us-east-1'"
    )
    assert result.columns == [] and result.rows == []
    assert result.progress_event.identifier == "ins-plain"


def test_insert_values_snake_case_columns_and_coercion(
    engine: QueryEngine, cloudcontrol_model: Any
) -> None:
    # snake_case column names, a quoted number for an integer, quoted 'true' for a boolean,
    # null and empty values for non-string properties dropped.
    engine.execute(
        "INSERT INTO awscc.logs.log_groups (log_group_name, retention_in_days, "
        "resource_policy_document, kms_key_id, deletion_protection_enabled, region) VALUES "
        "('values-group', '14', '', NULL, 'true', 'us-east-1')"
    )
    model = cloudcontrol_model("AWS::Logs::LogGroup", "values-group")
    assert model["RetentionInDays"] == 14
    assert model["DeletionProtectionEnabled"] is True
    assert "ResourcePolicyDocument" not in model and "KmsKeyId" not in model


def test_insert_quoted_json_bare_bool_and_nested_snake_case(
    engine: QueryEngine, cloudcontrol_model: Any
) -> None:
    vpc = engine.execute(
        "INSERT INTO awscc.ec2.vpcs (CidrBlock, EnableDnsSupport, EnableDnsHostnames, Tags, "
        "region) SELECT '10.9.0.0/16', false, 'true', "
        '\'[{"key":"Name","value":"typed"}]\', \'us-east-1\' RETURNING Identifier'
    ).rows[0]["Identifier"]
    model = cloudcontrol_model("AWS::EC2::VPC", vpc)
    assert model["EnableDnsSupport"] is False
    assert model["EnableDnsHostnames"] is True
    assert model["Tags"] == [{"Key": "Name", "Value": "typed"}]


def test_insert_select_from_an_awscc_table(engine: QueryEngine, cloudcontrol_model: Any) -> None:
    engine.execute(
        "INSERT INTO awscc.s3.buckets (BucketName, region) SELECT 'src-bucket', 'us-east-1'"
    )
    engine.execute(
        "INSERT INTO awscc.s3.buckets (BucketName, region) "
        "SELECT bucket_name || '-copy', region FROM awscc.s3.buckets "
        "WHERE region = 'us-east-1' AND Identifier = 'src-bucket'"
    )
    assert cloudcontrol_model("AWS::S3::Bucket", "src-bucket-copy")["BucketName"] == (
        "src-bucket-copy"
    )


def test_insert_client_token_is_an_api_parameter(engine: QueryEngine) -> None:
    sql = (
        "INSERT INTO awscc.s3.buckets (BucketName, ClientToken, region) "
        "SELECT 'token-bucket', 'tok-123', 'us-east-1' RETURNING RequestToken"
    )
    first = engine.execute(sql).rows[0]["RequestToken"]
    # The same token for the same request returns the original request (idempotent).
    assert engine.execute(sql).rows[0]["RequestToken"] == first


# -- SELECT by Identifier ------------------------------------------------------------------------


def test_select_by_identifier_encodes_json_bool_and_null(engine: QueryEngine) -> None:
    vpc = create_vpc(engine, "10.1.0.0/16", "enc")
    result = engine.execute(
        "SELECT region, Identifier, vpc_id, cidr_block, enable_dns_hostnames, tags, "
        "instance_tenancy FROM awscc.ec2.vpcs "
        f"WHERE region = 'us-east-1' AND Identifier = '{vpc}'"
    )
    assert result.rows == [
        {
            "region": "us-east-1",
            "Identifier": vpc,
            "vpc_id": vpc,
            "cidr_block": "10.1.0.0/16",
            "enable_dns_hostnames": 1,
            "tags": '[{"Key":"Name","Value":"enc"}]',
            "instance_tenancy": None,
        }
    ]


def test_select_star_has_region_identifier_and_every_column(engine: QueryEngine) -> None:
    vpc = create_vpc(engine, "10.2.0.0/16", "star")
    result = engine.execute(
        f"SELECT * FROM awscc.ec2.vpcs WHERE Identifier = '{vpc}' AND region = 'us-east-1'"
    )
    assert result.columns[:2] == ["region", "Identifier"]
    assert {"cidr_block", "vpc_id", "ipv4_ipam_pool_id", "default_security_group"} <= set(
        result.columns
    )


def test_select_write_only_property_is_null(engine: QueryEngine) -> None:
    # AWS::S3::Bucket's AccessControl is write-only: never returned.
    engine.execute(
        "INSERT INTO awscc.s3.buckets (BucketName, AccessControl, region) "
        "SELECT 'wo-bucket', 'Private', 'us-east-1'"
    )
    rows = engine.execute(
        "SELECT access_control, bucket_name FROM awscc.s3.buckets "
        "WHERE region = 'us-east-1' AND Identifier = 'wo-bucket'"
    ).rows
    assert rows == [{"access_control": None, "bucket_name": "wo-bucket"}]


def test_select_not_found_is_zero_rows(engine: QueryEngine) -> None:
    result = engine.execute(
        "SELECT count(*) AS count FROM awscc.ec2.vpcs "
        "WHERE region = 'us-east-1' AND Identifier = 'vpc-0000000000000000'"
    )
    assert result.rows == [{"count": 0}]
    result = engine.execute(
        "SELECT * FROM awscc.ec2.vpcs WHERE region = 'us-east-1' AND Identifier = 'vpc-nope'"
    )
    assert result.rows == []


def test_identifier_in_list_gets_each(engine: QueryEngine) -> None:
    a = create_vpc(engine, "10.3.0.0/16", "in-a")
    b = create_vpc(engine, "10.4.0.0/16", "in-b")
    rows = engine.execute(
        "SELECT cidr_block FROM awscc.ec2.vpcs WHERE region = 'us-east-1' "
        f"AND Identifier IN ('{a}', '{b}', 'vpc-missing') ORDER BY cidr_block"
    ).rows
    assert rows == [{"cidr_block": "10.3.0.0/16"}, {"cidr_block": "10.4.0.0/16"}]


def test_constant_expressions_are_pushed_down(engine: QueryEngine) -> None:
    vpc = create_vpc(engine, "10.5.0.0/16", "const")
    prefix, rest = vpc[:4], vpc[4:]
    rows = engine.execute(
        "SELECT cidr_block FROM awscc.ec2.vpcs "
        f"WHERE region = 'us-' || 'east-1' AND Identifier = string('{prefix}') || '{rest}'"
    ).rows
    assert rows == [{"cidr_block": "10.5.0.0/16"}]


# -- compound identifiers ---------------------------------------------------------------------


def test_compound_identifier_route(engine: QueryEngine) -> None:
    vpc = create_vpc(engine, "10.6.0.0/16", "routes")
    rtb = engine.execute(
        f"INSERT INTO awscc.ec2.route_tables (VpcId, region) SELECT '{vpc}', 'us-east-1' "
        "RETURNING Identifier"
    ).rows[0]["Identifier"]
    created = engine.execute(
        "INSERT INTO awscc.ec2.routes (RouteTableId, DestinationCidrBlock, GatewayId, region) "
        f"SELECT '{rtb}', '0.0.0.0/0', 'igw-0123456789abcdef0', 'us-east-1' RETURNING *"
    ).rows[0]
    # Identifier = RouteTableId|CidrBlock (CidrBlock is read-only: the handler fills it).
    route = created["Identifier"]
    table_part, cidr_part = route.split("|")
    assert table_part == rtb and cidr_part

    got = engine.execute(
        "SELECT route_table_id, destination_cidr_block, gateway_id, "
        "split_part(Identifier, '|', 2) AS second FROM awscc.ec2.routes "
        f"WHERE region = 'us-east-1' AND Identifier = '{route}'"
    ).rows
    assert got == [
        {
            "route_table_id": rtb,
            "destination_cidr_block": "0.0.0.0/0",
            "gateway_id": "igw-0123456789abcdef0",
            "second": cidr_part,
        }
    ]
    # Listing routes needs RouteTableId (the list handler's ResourceModel): pushed down.
    listed = engine.execute(
        "SELECT route_table_id, cidr_block FROM awscc.ec2.routes_list_only "
        f"WHERE region = 'us-east-1' AND route_table_id = '{rtb}'"
    ).rows
    assert listed == [{"route_table_id": rtb, "cidr_block": cidr_part}]
    full = engine.execute(
        "SELECT Identifier FROM awscc.ec2.routes "
        f"WHERE region = 'us-east-1' AND route_table_id = '{rtb}'"
    ).rows
    assert full == [{"Identifier": route}]

    engine.execute(
        'UPDATE awscc.ec2.routes SET PatchDocument = string(\'[{"op":"replace",'
        '"path":"GatewayId","value":"igw-0fedcba9876543210"}]\') '
        f"WHERE Identifier = '{route}' AND region = 'us-east-1'"
    )
    assert engine.execute(
        "SELECT gateway_id FROM awscc.ec2.routes "
        f"WHERE region = 'us-east-1' AND Identifier = '{route}'"
    ).rows == [{"gateway_id": "igw-0fedcba9876543210"}]
    engine.execute(
        f"DELETE FROM awscc.ec2.routes WHERE Identifier = '{route}' AND region = 'us-east-1'"
    )
    assert (
        engine.execute(
            "SELECT * FROM awscc.ec2.routes_list_only "
            f"WHERE region = 'us-east-1' AND route_table_id = '{rtb}'"
        ).rows
        == []
    )


# -- listing -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_groups(server: SandboxServer) -> list[str]:
    """31 log groups created straight through boto3: more than one ListResources page (25)."""
    import boto3

    client = boto3.client(
        "cloudcontrol",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    names = [f"page-group-{i:02d}" for i in range(31)]
    for i, name in enumerate(names):
        client.create_resource(
            TypeName="AWS::Logs::LogGroup",
            DesiredState=json.dumps({"LogGroupName": name, "RetentionInDays": (1, 3, 5)[i % 3]}),
        )
    client.close()
    return names


def test_list_only_reads_every_page(engine: QueryEngine, many_groups: list[str]) -> None:
    result = engine.execute(
        "SELECT * FROM awscc.logs.log_groups_list_only WHERE region = 'us-east-1' "
        "AND log_group_name LIKE 'page-group-%'"
    )
    assert result.columns == ["region", "log_group_name"]
    assert sorted(r["log_group_name"] for r in result.rows) == many_groups


def test_select_without_identifier_lists_then_gets(
    engine: QueryEngine, many_groups: list[str]
) -> None:
    rows = engine.execute(
        "SELECT retention_in_days, count(*) AS n FROM awscc.logs.log_groups "
        "WHERE region = 'us-east-1' AND log_group_name LIKE 'page-group-%' "
        "GROUP BY retention_in_days ORDER BY retention_in_days"
    ).rows
    assert rows == [
        {"retention_in_days": 1, "n": 11},
        {"retention_in_days": 3, "n": 10},
        {"retention_in_days": 5, "n": 10},
    ]


class _ConcurrencySpy:
    """Wraps the real client and records how many GetResource calls overlap."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.active = 0
        self.peak = 0
        self.calls = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_resource(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.active += 1
            self.calls += 1
            self.peak = max(self.peak, self.active)
        try:
            return self.inner.get_resource(*args, **kwargs)
        finally:
            with self._lock:
                self.active -= 1


def test_gets_run_in_parallel_and_match_sequential(cloud: Any, many_groups: list[str]) -> None:
    sql = (
        "SELECT log_group_name, retention_in_days FROM awscc.logs.log_groups "
        "WHERE region = 'us-east-1' AND log_group_name LIKE 'page-group-%' "
        "ORDER BY log_group_name"
    )
    parallel_spy = _ConcurrencySpy(cloud)
    parallel = QueryEngine(parallel_spy, parallelism=8).execute(sql).rows
    sequential_spy = _ConcurrencySpy(cloud)
    sequential = QueryEngine(sequential_spy, parallelism=1).execute(sql).rows
    assert parallel == sequential
    assert [r["log_group_name"] for r in parallel] == many_groups
    assert parallel_spy.calls >= 31 and sequential_spy.peak == 1
    assert parallel_spy.peak > 1


# -- SQL over the fetched rows -----------------------------------------------------------------


def test_cte_join_json_each_and_group_object(engine: QueryEngine) -> None:
    vpc = create_vpc(engine, "10.7.0.0/16", "joined")
    engine.execute(
        "INSERT INTO awscc.ec2.subnets (VpcId, CidrBlock, Tags, region) "
        f'SELECT \'{vpc}\', \'10.7.1.0/24\', \'[{{"Key":"tier","Value":"web"}},'
        '{"Key":"team","Value":"a"}]\', \'us-east-1\''
    )
    rows = engine.execute(
        f"""
        WITH subnets AS (
          SELECT subnet_id, vpc_id, tags FROM awscc.ec2.subnets
          WHERE region = 'us-east-1'
        )
        SELECT v.cidr_block AS vpc_cidr,
               (SELECT json_group_object(json_extract(t.value, '$.Key'),
                                         json_extract(t.value, '$.Value'))
                  FROM json_each(s.tags) t) AS tag_map,
               CASE WHEN json_equal(s.tags, s.tags) THEN 'same' END AS eq,
               'vpc:' || v.vpc_id AS label
        FROM subnets s
        JOIN awscc.ec2.vpcs v ON v.Identifier = s.vpc_id AND v.region = 'us-east-1'
        WHERE s.vpc_id = '{vpc}'
        """
    ).rows
    assert rows == [
        {
            "vpc_cidr": "10.7.0.0/16",
            "tag_map": '{"tier":"web","team":"a"}',
            "eq": "same",
            "label": f"vpc:{vpc}",
        }
    ]


def test_several_statements_run_in_order(engine: QueryEngine) -> None:
    results = engine.execute_all(
        "INSERT INTO awscc.s3.buckets (BucketName, region) SELECT 'multi-1', 'us-east-1';\n"
        "SELECT bucket_name FROM awscc.s3.buckets "
        "WHERE region = 'us-east-1' AND Identifier = 'multi-1';"
    )
    assert len(results) == 2
    assert results[1].rows == [{"bucket_name": "multi-1"}]
    assert results[1].line == 2


def test_tagged_resources_with_filters(engine: QueryEngine) -> None:
    vpc = create_vpc(engine, "10.8.0.0/16", "tagged-one")
    rows = engine.execute(
        "SELECT ResourceARN, json_extract(Tags, '$[0].Value') AS name "
        "FROM awscc.tagging.tagged_resources WHERE region = 'us-east-1' "
        'AND TagFilters = \'[{"Key":"Name","Values":["tagged-one"]}]\' '
        "AND ResourceTypeFilters = '[\"ec2:vpc\"]'"
    ).rows
    assert len(rows) == 1
    assert rows[0]["ResourceARN"].endswith(f"vpc/{vpc}")
    assert rows[0]["name"] == "tagged-one"


def test_tagged_resources_joined_with_list_only(engine: QueryEngine) -> None:
    vpc = create_vpc(engine, "10.10.0.0/16", "tag-join")
    rows = engine.execute(
        "SELECT l.vpc_id FROM awscc.ec2.vpcs_list_only l "
        "JOIN awscc.tagging.tagged_resources t "
        "ON split_part(t.ResourceARN, '/', 2) = l.vpc_id "
        "WHERE l.region = 'us-east-1' AND t.region = 'us-east-1' "
        'AND t.TagFilters = \'[{"Key":"Name","Values":["tag-join"]}]\''
    ).rows
    assert rows == [{"vpc_id": vpc}]


def test_cloud_control_resource_and_requests(engine: QueryEngine) -> None:
    created = engine.execute(
        "INSERT INTO awscc.s3.buckets (BucketName, region) SELECT 'cc-bucket', 'us-east-1' "
        "RETURNING RequestToken"
    ).rows[0]
    row = engine.execute(
        "SELECT Identifier, json_extract(Properties, '$.BucketName') AS name "
        "FROM awscc.cloud_control.resource WHERE TypeName = 'AWS::S3::Bucket' "
        "AND Identifier = 'cc-bucket' AND region = 'us-east-1'"
    ).rows
    assert row == [{"Identifier": "cc-bucket", "name": "cc-bucket"}]
    listed = engine.execute(
        "SELECT count(*) AS n FROM awscc.cloud_control.resources "
        "WHERE TypeName = 'AWS::S3::Bucket' AND region = 'us-east-1' "
        "AND Identifier = 'cc-bucket'"
    ).rows
    assert listed == [{"n": 1}]
    status = engine.execute(
        "SELECT OperationStatus, Operation, Identifier FROM awscc.cloud_control.resource_request "
        f"WHERE RequestToken = '{created['RequestToken']}'"
    ).rows
    assert status == [
        {"OperationStatus": "SUCCESS", "Operation": "CREATE", "Identifier": "cc-bucket"}
    ]
    requests = engine.execute(
        "SELECT RequestToken FROM awscc.cloud_control.resource_requests "
        "WHERE region = 'us-east-1' AND Operation = 'CREATE'"
    ).rows
    assert created["RequestToken"] in {r["RequestToken"] for r in requests}


def test_select_without_awscc_tables_runs_in_sqlite(engine: QueryEngine) -> None:
    assert engine.execute("SELECT split_part('a|b|c', '|', -1) AS last").rows == [{"last": "c"}]


# -- UPDATE / DELETE ----------------------------------------------------------------------------


def test_update_patch_document_normalises_paths_and_values(engine: QueryEngine) -> None:
    engine.execute(
        "INSERT INTO awscc.logs.log_groups (LogGroupName, RetentionInDays, region) "
        "SELECT 'upd-group', 7, 'us-east-1'"
    )
    result = engine.execute(
        "UPDATE awscc.logs.log_groups SET PatchDocument = string('["
        '{"op":"replace","path":"/retention_in_days","value":"30"},'
        '{"op":"add","path":"tags","value":[{"key":"k","value":"v"}]}'
        "]') WHERE Identifier = 'upd-group' AND region = 'us-east-1' RETURNING *"
    )
    assert result.rows[0]["Operation"] == "UPDATE"
    assert result.rows[0]["OperationStatus"] == "SUCCESS"
    rows = engine.execute(
        "SELECT retention_in_days, tags FROM awscc.logs.log_groups "
        "WHERE region = 'us-east-1' AND Identifier = 'upd-group'"
    ).rows
    assert rows == [{"retention_in_days": 30, "tags": '[{"Key":"k","Value":"v"}]'}]


def test_delete_then_absent(engine: QueryEngine) -> None:
    vpc = create_vpc(engine, "10.11.0.0/16", "doomed")
    result = engine.execute(
        f"DELETE FROM awscc.ec2.vpcs WHERE Identifier = '{vpc}' AND region = 'us-east-1' "
        "RETURNING OperationStatus, Operation"
    )
    assert result.rows == [{"OperationStatus": "SUCCESS", "Operation": "DELETE"}]
    assert (
        engine.execute(
            f"SELECT * FROM awscc.ec2.vpcs WHERE Identifier = '{vpc}' AND region = 'us-east-1'"
        ).rows
        == []
    )


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def cloudcontrol_model(server: SandboxServer) -> Iterator[Any]:
    """Read a resource's model straight through boto3 (not through the engine)."""
    import boto3

    client = boto3.client(
        "cloudcontrol",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def read(type_name: str, identifier: str) -> dict[str, Any]:
        response = client.get_resource(TypeName=type_name, Identifier=identifier)
        return dict(json.loads(response["ResourceDescription"]["Properties"]))

    yield read
    client.close()
