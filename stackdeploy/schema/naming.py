"""Names: CloudFormation type names <-> awscc resource names, property names <-> columns.

The rules reproduce the StackQL ``awscc`` provider (see docs/naming.md and
../shared/docs/cloudcontrol.md): a type ``AWS::SageMaker::Cluster`` is the table
``awscc.sagemaker.clusters``; a property ``FSxLustreConfig`` is the column
``f_sx_lustre_config``. The reverse direction (a snake_case or CamelCase name back to the
schema's exact property name) needs the candidate names, so it lives on the schema model;
:func:`property_lookup_key` is the normal form both directions agree on.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Order matters: longer acronyms that contain shorter ones come first (VPCDHCP before VPC).
ACRONYMS: tuple[tuple[str, str], ...] = (
    ("DB", "Db"), ("ARN", "Arn"), ("WAN", "Wan"), ("URL", "Url"), ("VPCDHCP", "VpcDhcp"),
    ("EC2Fleet", "Ec2_Fleet"), ("VPC", "Vpc"), ("DHCP", "Dhcp"), ("DNS", "Dns"), ("IP", "Ip"),
    ("IAM", "Iam"), ("IPAM", "Ipam"), ("TLS", "Tls"), ("SSM", "Ssm"), ("CNAME", "Cname"),
    ("SQ", "Sq"), ("ML", "Ml"), ("SKU", "Sku"), ("KMS", "Kms"), ("OK", "Ok"), ("CA", "Ca"),
    ("ID", "Id"), ("TTL", "Ttl"), ("URI", "Uri"), ("LB", "Lb"), ("SNS", "Sns"), ("AWS", "Aws"),
    ("ACL", "Acl"), ("AZ", "Az"), ("API", "Api"), ("MSK", "Msk"), ("ECS", "Ecs"), ("EBS", "Ebs"),
    ("CWE", "Cwe"), ("SSE", "Sse"), ("HPO", "Hpo"), ("LF", "Lf"), ("WAL", "Wal"), ("MFA", "Mfa"),
    ("OAuth", "Oauth"),
)  # fmt: skip

# Column names that collide with SQL words get a leading underscore.
RESERVED_COLUMNS = frozenset({"values", "schema", "database", "format", "update", "force", "match"})

_WORD_THEN_CAPITAL = re.compile(r"(\w)([A-Z])")


@lru_cache(maxsize=65536)
def to_column(name: str) -> str:
    """CloudFormation property name -> awscc column name (``SizeInGiB`` -> ``size_in_gi_b``)."""
    text = name
    for acronym, replacement in ACRONYMS:
        text = text.replace(acronym, replacement)
    # re.sub scans left to right without overlap, which is exactly the provider's rule.
    text = _WORD_THEN_CAPITAL.sub(r"\1_\2", text).lower()
    text = text.replace("/", "_")
    if text in RESERVED_COLUMNS:
        text = "_" + text
    return text


def property_lookup_key(name: str) -> str:
    """A case- and separator-insensitive key, used as a fallback when matching names."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


_RESOURCE_STEP1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_RESOURCE_STEP2 = re.compile(r"([a-z])([A-Z])")


def _snake_resource(segment: str) -> str:
    text = _RESOURCE_STEP1.sub(r"\1_\2", segment)
    text = _RESOURCE_STEP2.sub(r"\1_\2", text)
    return re.sub(r"_+", "_", text.lower())


@lru_cache(maxsize=1)
def _pluralizer() -> object:
    from pluralizer import Pluralizer  # imported lazily: only naming needs it

    return Pluralizer()


@lru_cache(maxsize=8192)
def awscc_resource_name(type_name: str) -> str:
    """``AWS::EC2::VPCGatewayAttachment`` -> ``vpc_gateway_attachments``."""
    last = type_name.split("::")[-1]
    snake = _snake_resource(last)
    # npm pluralize (which pluralizer reproduces) matches rules against the word ending, so the
    # whole snake_case string can be passed: only its last word changes.
    return str(_pluralizer().pluralize(snake))  # type: ignore[attr-defined]


def awscc_service_name(type_name: str) -> str:
    """``AWS::SageMaker::Cluster`` -> ``sagemaker``."""
    parts = type_name.split("::")
    return parts[1].lower() if len(parts) >= 3 else parts[0].lower()


def awscc_table(type_name: str) -> str:
    """``AWS::S3::Bucket`` -> ``awscc.s3.buckets``."""
    return f"awscc.{awscc_service_name(type_name)}.{awscc_resource_name(type_name)}"
