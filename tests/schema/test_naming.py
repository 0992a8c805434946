"""Naming rules: awscc table names and snake_case columns, checked on known names."""

import logging

import pytest

from stackdeploy.schema import registry as registry_module
from stackdeploy.schema.naming import awscc_table, legacy_awscc_resource_name, to_column
from stackdeploy.schema.registry import get_registry


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
        # A lowercase letter meeting an uppercase run: the generator lowercases the run before
        # its second step looks for lowercase-then-uppercase, so the run stays joined.
        ("AWS::AppSync::GraphQLApi", "awscc.appsync.graphql_apis"),
        ("AWS::IAM::VirtualMFADevice", "awscc.iam.virtualmfa_devices"),
        ("AWS::WAFv2::WebACLAssociation", "awscc.wafv2.webacl_associations"),
        (
            "AWS::Cognito::UserPoolUICustomizationAttachment",
            "awscc.cognito.user_poolui_customization_attachments",
        ),
        ("AWS::DataSync::LocationFSxLustre", "awscc.datasync.locationf_sx_lustres"),
        ("AWS::RDS::CustomDBEngineVersion", "awscc.rds.customdb_engine_versions"),
        (
            "AWS::EC2::LocalGatewayRouteTableVPCAssociation",
            "awscc.ec2.local_gateway_route_tablevpc_associations",
        ),
        (
            "AWS::Route53Resolver::ResolverDNSSECConfig",
            "awscc.route53resolver.resolverdnssec_configs",
        ),
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


# Every registry type whose table name changed when the naming followed the generator exactly:
# its provider name and the split spelling stack-deploy used before (still accepted).
CHANGED = {
    "AWS::AppSync::GraphQLApi": ("graphql_apis", "graph_ql_apis"),
    "AWS::AppSync::GraphQLSchema": ("graphql_schemas", "graph_ql_schemas"),
    "AWS::Cognito::UserPoolUICustomizationAttachment": (
        "user_poolui_customization_attachments",
        "user_pool_ui_customization_attachments",
    ),
    "AWS::DataSync::LocationFSxLustre": ("locationf_sx_lustres", "location_f_sx_lustres"),
    "AWS::DataSync::LocationFSxONTAP": ("locationf_sx_ontaps", "location_f_sx_ontaps"),
    "AWS::DataSync::LocationFSxOpenZFS": ("locationf_sx_open_zfs", "location_f_sx_open_zfs"),
    "AWS::DataSync::LocationFSxWindows": ("locationf_sx_windows", "location_f_sx_windows"),
    "AWS::EC2::LocalGatewayRouteTableVPCAssociation": (
        "local_gateway_route_tablevpc_associations",
        "local_gateway_route_table_vpc_associations",
    ),
    "AWS::IAM::VirtualMFADevice": ("virtualmfa_devices", "virtual_mfa_devices"),
    "AWS::RDS::CustomDBEngineVersion": ("customdb_engine_versions", "custom_db_engine_versions"),
    "AWS::Route53Resolver::ResolverDNSSECConfig": (
        "resolverdnssec_configs",
        "resolver_dnssec_configs",
    ),
    "AWS::Timestream::InfluxDBBackup": ("influxdb_backups", "influx_db_backups"),
    "AWS::Timestream::InfluxDBCluster": ("influxdb_clusters", "influx_db_clusters"),
    "AWS::Timestream::InfluxDBInstance": ("influxdb_instances", "influx_db_instances"),
    "AWS::WAFRegional::WebACLAssociation": ("webacl_associations", "web_acl_associations"),
    "AWS::WAFv2::WebACLAssociation": ("webacl_associations", "web_acl_associations"),
}


def test_sweep_names_are_unique_and_only_the_known_types_changed() -> None:
    registry = get_registry("us-east-1")
    names = registry.type_names()
    tables = [awscc_table(t) for t in names]
    assert len(names) > 1000
    assert len(set(tables)) == len(tables)  # one table per type
    changed = {t: legacy_awscc_resource_name(t) for t in names if legacy_awscc_resource_name(t)}
    assert changed == {t: old for t, (_, old) in CHANGED.items()}
    for type_name, (new, _) in CHANGED.items():
        assert awscc_table(type_name).split(".")[-1] == new
    # An old spelling never names another type: accepting it cannot change a query's meaning.
    legacy = registry.legacy_index()
    assert not set(legacy) & set(registry.awscc_index())
    assert len(legacy) == len(CHANGED)


def test_split_spelling_still_resolves_with_one_notice(caplog: pytest.LogCaptureFixture) -> None:
    registry_module._noticed.discard("awscc.iam.virtual_mfa_devices")
    registry = get_registry("us-east-1")
    with caplog.at_level(logging.WARNING, logger="stackdeploy.schema.registry"):
        first = registry.resolve_type_name("awscc.iam.virtual_mfa_devices")
        again = registry.resolve_type_name("awscc.iam.virtual_mfa_devices_list_only")
    assert first == again == "AWS::IAM::VirtualMFADevice"
    notices = [r.getMessage() for r in caplog.records]
    assert notices == [
        "awscc.iam.virtual_mfa_devices is spelt awscc.iam.virtualmfa_devices by stackql; "
        "use that name"
    ]
    assert registry.resolve_type_name("awscc.iam.virtualmfa_devices") == first
