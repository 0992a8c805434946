"""Identifiers captured from query rows: the aws provider's ``data__Identifier``, types with a
property called ``Identifier``, and ``aws.`` tables naming the type of a query-file resource."""

from __future__ import annotations

from pathlib import Path

from stackdeploy.engine.live import identifier_from_row
from stackdeploy.schema.registry import get_schema
from tests.compat.conftest import Cli, write_stack


def test_data_identifier_names_the_resource() -> None:
    bucket = get_schema("AWS::S3::Bucket")
    row = {"data__Identifier": "b1", "arn": "arn:aws:s3:::b1"}
    assert identifier_from_row(bucket, row) == "b1"
    assert identifier_from_row(bucket, {"identifier": "b2", "arn": "x"}) == "b2"


def test_a_property_called_identifier_is_not_the_cloud_control_identifier() -> None:
    rule = get_schema("AWS::Rbin::Rule")  # primary identifier Arn; Identifier is a property
    arn = "arn:aws:rbin:us-east-1:123456789012:rule/abc"
    assert identifier_from_row(rule, {"identifier": "abc", "arn": arn}) == arn
    assert identifier_from_row(rule, {"identifier": "abc", "rule_arn": "x"}) is None
    assert identifier_from_row(rule, {"data__Identifier": arn, "identifier": "abc"}) == arn
    assert identifier_from_row(rule, {"arn": arn}) == arn


AWS_STACK = """
name: awsids
providers: [aws]
globals:
  - name: region
    value: us-east-1
resources:
  - name: bucket
    props:
      - name: bucket_name
        value: "awsids-{{ stack_env }}-b"
      - name: status
        value: "{{ vars.STATUS | default('Enabled') }}"
"""

AWS_QUERIES = {
    "bucket": """
    /*+ exists */
    SELECT data__Identifier, arn FROM aws.s3.buckets
    WHERE region = '{{ region }}' AND data__Identifier = '{{ bucket_name }}';

    /*+ statecheck */
    SELECT COUNT(*) as count FROM aws.s3.buckets
    WHERE region = '{{ region }}' AND data__Identifier = '{{ bucket_name }}'
    AND json_extract(versioning_configuration, '$.Status') = '{{ status }}';

    /*+ create */
    INSERT INTO aws.s3.buckets (BucketName, VersioningConfiguration, region)
    SELECT '{{ bucket_name }}', '{"Status": "{{ status }}"}', '{{ region }}';

    /*+ delete */
    DELETE FROM aws.s3.buckets
    WHERE data__Identifier = '{{ bucket_name }}' AND region = '{{ region }}';
    """
}


def test_aws_provider_capture_gives_the_property_diff(cli: Cli, tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "awsids", AWS_STACK, AWS_QUERIES)
    (created,) = cli.plan(stack)["resources"]
    assert created["type"] == "AWS::S3::Bucket"  # named from the aws. table
    cli("build", str(stack), "dev")
    (bucket,) = cli.plan(stack, "dev", "-e", "STATUS=Suspended")["resources"]
    # exists captured data__Identifier: the live bucket was read and diffed.
    assert bucket["identifier"] == "awsids-dev-b"
    assert bucket["action"] == "update"
    assert bucket["patch"] == [
        {"op": "replace", "path": "/VersioningConfiguration/Status", "value": "Suspended"}
    ]
    teardown = cli("teardown", str(stack), "dev", "--dry-run", "--output", "json")
    assert '"type": "AWS::S3::Bucket"' in teardown.stdout
    cli("teardown", str(stack), "dev")
    assert cli.resources() == []
