"""Names: CloudFormation type names <-> awscc resource names, property names <-> columns.

The rules reproduce the StackQL ``awscc`` provider's generator (docs/query.md, "Names"): a
type ``AWS::SageMaker::Cluster`` is the table ``awscc.sagemaker.clusters``; a property
``FSxLustreConfig`` is the column ``f_sx_lustre_config``. The reverse direction (a snake_case or CamelCase name back to the
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
    """The provider's resource-name snake case: ``GraphQLApi`` -> ``graphql_api``.

    Step 1 splits an uppercase run from the capitalised word that follows it and lowercases
    both halves at once (``QLAp`` -> ``ql_ap``), so the run then no longer meets a lowercase
    letter on its left and step 2 (``([a-z])([A-Z])``) cannot split ``GraphQL``:
    ``VirtualMFADevice`` -> ``virtualmfa_device``, ``LocationFSxLustre`` ->
    ``locationf_sx_lustre``. This is exactly what the generator's ``toSnakeCase`` does.
    """
    text = _RESOURCE_STEP1.sub(lambda m: f"{m.group(1).lower()}_{m.group(2).lower()}", segment)
    text = _RESOURCE_STEP2.sub(r"\1_\2", text)
    return re.sub(r"_+", "_", text.lower())


def _split_snake_resource(segment: str) -> str:
    """An earlier stack-deploy spelling that split every case change (``GraphQLApi`` ->
    ``graph_ql_api``). Table names in that form are still accepted, with a notice."""
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
    # npm pluralize (which pluralizer reproduces) matches rules against the word ending, so the
    # whole snake_case string can be passed: only its last word changes.
    return _plural(_snake_resource(type_name.split("::")[-1]))


def awscc_singular_name(type_name: str) -> str:
    """``AWS::EC2::SecurityGroup`` -> ``security_group`` (the provider's resource name before
    pluralising; the ``aws`` provider's tag views are ``<this>_tags``)."""
    return _snake_resource(type_name.split("::")[-1])


def legacy_awscc_resource_name(type_name: str) -> str | None:
    """The split spelling of a resource name when it differs from the provider's
    (``AWS::AppSync::GraphQLApi`` -> ``graph_ql_apis``), else None."""
    last = type_name.split("::")[-1]
    split = _split_snake_resource(last)
    if split == _snake_resource(last):
        return None
    return _plural(split)


def _plural(snake: str) -> str:
    return str(_pluralizer().pluralize(snake))  # type: ignore[attr-defined]


def awscc_service_name(type_name: str) -> str:
    """``AWS::SageMaker::Cluster`` -> ``sagemaker``."""
    parts = type_name.split("::")
    return parts[1].lower() if len(parts) >= 3 else parts[0].lower()


def awscc_table(type_name: str, provider: str = "awscc") -> str:
    """``AWS::S3::Bucket`` -> ``awscc.s3.buckets`` (``provider="aws"``: ``aws.s3.buckets``,
    the older provider names its Cloud Control tables the same way)."""
    return f"{provider}.{awscc_service_name(type_name)}.{awscc_resource_name(type_name)}"
