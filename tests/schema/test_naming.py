"""Naming rules: awscc table names and snake_case columns, checked on known names."""

import pytest

from stackdeploy.schema.naming import awscc_table, to_column


@pytest.mark.parametrize(
    ("type_name", "table"),
    [
        ("AWS::EC2::VPC", "awscc.ec2.vpcs"),
        ("AWS::EC2::DHCPOptions", "awscc.ec2.dhcp_options"),
        ("AWS::Glue::Schema", "awscc.glue.schemata"),
        ("AWS::Kendra::Index", "awscc.kendra.indices"),
        ("AWS::Events::EventBus", "awscc.events.event_buses"),
        ("AWS::IAM::Policy", "awscc.iam.policies"),
        ("AWS::SageMaker::Cluster", "awscc.sagemaker.clusters"),
        ("AWS::EC2::VPCGatewayAttachment", "awscc.ec2.vpc_gateway_attachments"),
        ("AWS::RDS::DBInstance", "awscc.rds.db_instances"),
    ],
)
def test_awscc_table(type_name: str, table: str) -> None:
    assert awscc_table(type_name) == table


@pytest.mark.parametrize(
    ("prop", "column"),
    [
        ("FSxLustreConfig", "f_sx_lustre_config"),
        ("SizeInGiB", "size_in_gi_b"),
        ("SecurityGroupIds", "security_group_ids"),
        ("VPCId", "vpc_id"),
        ("DBInstanceIdentifier", "db_instance_identifier"),
        ("Values", "_values"),
        ("Schema", "_schema"),
        ("ResourceARN", "resource_arn"),
        ("CidrBlock", "cidr_block"),
    ],
)
def test_to_column(prop: str, column: str) -> None:
    assert to_column(prop) == column
