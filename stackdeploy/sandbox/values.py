"""Plausible values for the sandbox: identifiers, ARNs, read-only properties, minimal states.

For every resource it creates, the sandbox stores the model AWS would return: the desired
state plus the primary identifier and the read-only properties, in their real formats
(``vpc-0abc...``, ARNs, ``<bucket>.s3.amazonaws.com``, ISO-8601 timestamps, statuses from
the property's enum). Everything is driven by the resource schema: property names, types,
``enum``, ``pattern``, ``format`` and length limits, with a few tables of AWS conventions
(EC2 id prefixes, ARN shapes, services whose ARNs differ from the type name) and a handful
of per-type derivations AWS computes from the inputs (AWS::EC2::Route's CidrBlock,
AWS::S3::Bucket's domain names, AWS::SQS::Queue's URL, ...).

Public functions (see docs/dev/interfaces.md): :func:`complete_model`,
:func:`resource_arn`, :func:`tagging_resource_type`, :func:`minimal_desired_state`.
"""

from __future__ import annotations

import copy
import random
import re
import string
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from stackdeploy.sandbox.formats import fits, string_for_pattern
from stackdeploy.schema.model import ResourceSchema

# Ids must be unique across the sandbox, not reproducible: one process-wide generator.
_RNG = random.Random()
_ASSUME_ROLE_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}

# ----------------------------------------------------------------- AWS tables
# CloudFormation service segment -> the service name used in ARNs, where they differ.
_ARN_SERVICE: dict[str, str] = {
    "ElasticLoadBalancingV2": "elasticloadbalancing",
    "ElasticLoadBalancing": "elasticloadbalancing",
    "CertificateManager": "acm",
    "KinesisFirehose": "firehose",
    "StepFunctions": "states",
    "Cognito": "cognito-idp",
    "ApplicationAutoScaling": "application-autoscaling",
    "AutoScaling": "autoscaling",
    "DocDB": "rds",
    "Neptune": "rds",
    "OpenSearchService": "es",
    "Elasticsearch": "es",
    "KinesisAnalyticsV2": "kinesisanalytics",
    "KinesisAnalytics": "kinesisanalytics",
    "SSMContacts": "ssm-contacts",
    "SSMIncidents": "ssm-incidents",
    "ServiceCatalog": "catalog",
    "ServiceCatalogAppRegistry": "servicecatalog",
    "AppRunner": "apprunner",
    "EventSchemas": "schemas",
    "Pipes": "pipes",
    "CloudWatch": "cloudwatch",
    "Logs": "logs",
    "Events": "events",
    "ApiGatewayV2": "apigateway",
    "ApiGateway": "apigateway",
    "Route53Resolver": "route53resolver",
    "EMR": "elasticmapreduce",
    "EMRContainers": "emr-containers",
    "EMRServerless": "emr-serverless",
    "IoTEvents": "iotevents",
    "MSK": "kafka",
    "AmazonMQ": "mq",
    "Detective": "detective",
    "WAFv2": "wafv2",
    "SecurityHub": "securityhub",
    "CodeStarConnections": "codestar-connections",
    "CodeStarNotifications": "codestar-notifications",
    "ResourceGroups": "resource-groups",
    "SES": "ses",
    "SDB": "sdb",
    "EKS": "eks",
    "VpcLattice": "vpc-lattice",
    "Location": "geo",
}
# Services whose ARNs carry no region, or neither region nor account.
_GLOBAL_SERVICES = {"iam", "cloudfront", "organizations", "route53", "waf", "globalaccelerator"}
_NO_ACCOUNT_SERVICES = {"s3", "route53"}

# EC2-style resource types (last segment of the type name) -> id prefix.
_EC2_TYPE_PREFIX: dict[str, str] = {
    "VPC": "vpc",
    "Subnet": "subnet",
    "SecurityGroup": "sg",
    "RouteTable": "rtb",
    "InternetGateway": "igw",
    "Instance": "i",
    "NatGateway": "nat",
    "EIP": "eipalloc",
    "NetworkInterface": "eni",
    "NetworkAcl": "acl",
    "VPCEndpoint": "vpce",
    "VPCEndpointService": "vpce-svc",
    "TransitGateway": "tgw",
    "TransitGatewayAttachment": "tgw-attach",
    "TransitGatewayVpcAttachment": "tgw-attach",
    "TransitGatewayConnect": "tgw-attach",
    "TransitGatewayPeeringAttachment": "tgw-attach",
    "TransitGatewayRouteTable": "tgw-rtb",
    "TransitGatewayMulticastDomain": "tgw-mcast-domain",
    "VPNGateway": "vgw",
    "CustomerGateway": "cgw",
    "VPNConnection": "vpn",
    "DHCPOptions": "dopt",
    "EgressOnlyInternetGateway": "eigw",
    "LaunchTemplate": "lt",
    "Volume": "vol",
    "KeyPair": "key",
    "PrefixList": "pl",
    "VPCPeeringConnection": "pcx",
    "CarrierGateway": "cagw",
    "FlowLog": "fl",
    "PlacementGroup": "pg",
    "CapacityReservation": "cr",
    "CapacityReservationFleet": "crf",
    "EC2Fleet": "fleet",
    "SpotFleet": "sfr",
    "Host": "h",
    "IPAM": "ipam",
    "IPAMPool": "ipam-pool",
    "IPAMScope": "ipam-scope",
    "IPAMResourceDiscovery": "ipam-res-disco",
    "IPAMResourceDiscoveryAssociation": "ipam-res-disco-assoc",
    "SubnetRouteTableAssociation": "rtbassoc",
    "GatewayRouteTableAssociation": "rtbassoc",
    "SubnetNetworkAclAssociation": "aclassoc",
    "VPCCidrBlock": "vpc-cidr-assoc",
    "SubnetCidrBlock": "subnet-cidr-assoc",
    "ClientVpnEndpoint": "cvpn-endpoint",
    "VerifiedAccessInstance": "vai",
    "VerifiedAccessGroup": "vagr",
    "VerifiedAccessEndpoint": "vae",
    "VerifiedAccessTrustProvider": "vatp",
    "InstanceConnectEndpoint": "eice",
    "NetworkInsightsPath": "nip",
    "NetworkInsightsAnalysis": "nia",
    "NetworkInsightsAccessScope": "nis",
    "NetworkInsightsAccessScopeAnalysis": "nisa",
    "TrafficMirrorFilter": "tmf",
    "TrafficMirrorSession": "tms",
    "TrafficMirrorTarget": "tmt",
    "SecurityGroupIngress": "sgr",
    "SecurityGroupEgress": "sgr",
    "NetworkInterfaceAttachment": "eni-attach",
    "LocalGatewayRouteTable": "lgw-rtb",
    "LocalGatewayRouteTableVPCAssociation": "lgw-vpc-assoc",
    "SnapshotBlockPublicAccess": "snap",
    "VPCGatewayAttachment": "igw",
    "VPCDHCPOptionsAssociation": "dopt",
    "EIPAssociation": "eipassoc",
    "TransitGatewayRouteTableAssociation": "tgw-attach",
    "TransitGatewayMeteringPolicy": "tgw-mp",
    "RouteServer": "rs",
    "RouteServerEndpoint": "rse",
    "RouteServerPeer": "rsp",
}
# ARN resource-type segment for EC2 types whose segment is not the kebab-cased name.
_EC2_ARN_SEGMENT: dict[str, str] = {
    "NatGateway": "natgateway",
    "EIP": "elastic-ip",
    "VPCEndpoint": "vpc-endpoint",
    "VPCEndpointService": "vpc-endpoint-service",
    "VPNGateway": "vpn-gateway",
    "VPNConnection": "vpn-connection",
    "DHCPOptions": "dhcp-options",
    "VPCPeeringConnection": "vpc-peering-connection",
    "IPAM": "ipam",
    "IPAMPool": "ipam-pool",
    "IPAMScope": "ipam-scope",
    "TransitGatewayVpcAttachment": "transit-gateway-attachment",
    "TransitGatewayConnect": "transit-gateway-attachment",
    "TransitGatewayPeeringAttachment": "transit-gateway-attachment",
    "EC2Fleet": "fleet",
    "SpotFleet": "spot-fleet-request",
    "Host": "dedicated-host",
    "SecurityGroupIngress": "security-group-rule",
    "SecurityGroupEgress": "security-group-rule",
}
# Property names (inputs or outputs) whose values are EC2-style ids.
_ID_PREFIX_BY_NAME: dict[str, str] = {
    "VpcId": "vpc",
    "SubnetId": "subnet",
    "SecurityGroupId": "sg",
    "DefaultSecurityGroup": "sg",
    "SourceSecurityGroupId": "sg",
    "DestinationSecurityGroupId": "sg",
    "RouteTableId": "rtb",
    "MainRouteTableId": "rtb",
    "InternetGatewayId": "igw",
    "GatewayId": "igw",
    "InstanceId": "i",
    "NatGatewayId": "nat",
    "AllocationId": "eipalloc",
    "NetworkInterfaceId": "eni",
    "NetworkAclId": "acl",
    "DefaultNetworkAcl": "acl",
    "VpcEndpointId": "vpce",
    "TransitGatewayId": "tgw",
    "TransitGatewayAttachmentId": "tgw-attach",
    "TransitGatewayRouteTableId": "tgw-rtb",
    "VpnGatewayId": "vgw",
    "CustomerGatewayId": "cgw",
    "VpnConnectionId": "vpn",
    "DhcpOptionsId": "dopt",
    "EgressOnlyInternetGatewayId": "eigw",
    "LaunchTemplateId": "lt",
    "VolumeId": "vol",
    "SnapshotId": "snap",
    "ImageId": "ami",
    "KeyPairId": "key",
    "PrefixListId": "pl",
    "DestinationPrefixListId": "pl",
    "SourcePrefixListId": "pl",
    "VpcPeeringConnectionId": "pcx",
    "CarrierGatewayId": "cagw",
    "LocalGatewayId": "lgw",
    "PlacementGroupId": "pg",
    "CapacityReservationId": "cr",
    "IpamId": "ipam",
    "IpamPoolId": "ipam-pool",
    "Ipv4IpamPoolId": "ipam-pool",
    "Ipv6IpamPoolId": "ipam-pool",
    "IpamScopeId": "ipam-scope",
    "FlowLogId": "fl",
    "HostId": "h",
    "ClientVpnEndpointId": "cvpn-endpoint",
    "VerifiedAccessInstanceId": "vai",
    "VerifiedAccessGroupId": "vagr",
    "TrafficMirrorFilterId": "tmf",
    "TrafficMirrorTargetId": "tmt",
    "FileSystemId": "fs",
    "SecurityGroupRuleId": "sgr",
}
# Read-only status values that mean "ready", most preferred first (matched ignoring case).
_HEALTHY = (
    "active", "available", "inservice", "ready", "enabled", "running", "succeeded",
    "success", "completed", "complete", "create_complete", "created", "deployed", "issued",
    "healthy", "ok", "online", "attached", "associated", "open", "valid", "published",
    "provisioned", "in_service", "accepted", "connected", "operational", "in_sync", "up",
    "live", "applied", "launched", "confirmed",
)  # fmt: skip
# Read-only properties AWS only sets when something went wrong: left out of a healthy model.
_FAILURE_WORDS = ("Failure", "Error", "Reason", "StatusMessage", "StateMessage", "Deprecat")


def _kebab(name: str) -> str:
    """``SecurityGroup`` -> ``security-group``; ``VPCEndpoint`` -> ``vpc-endpoint``."""
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1-\2", name)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", text)
    return text.lower()


def _segments(type_name: str) -> tuple[str, str]:
    parts = type_name.split("::")
    return parts[1], parts[-1]


def arn_service(type_name: str) -> str:
    """The service name in the ARNs of ``type_name`` (``AWS::StepFunctions::X`` -> states)."""
    service, _ = _segments(type_name)
    return _ARN_SERVICE.get(service, service.lower())


def _hex(n: int, rng: random.Random = _RNG) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _alnum(n: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def ec2_id(prefix: str) -> str:
    """An EC2-style long id: ``vpc-0`` followed by 16 more hex digits (17 in all)."""
    return f"{prefix}-0{_hex(16)}"


def _uuid() -> str:
    return str(uuid.UUID(int=_RNG.getrandbits(128), version=4))


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------- generation
@dataclass
class _Ctx:
    schema: ResourceSchema
    region: str = "us-east-1"
    account_id: str = "123456789012"
    # "input": values a user would write (minimal states); "output": values AWS returns.
    purpose: str = "input"
    model: dict[str, Any] = field(default_factory=dict)
    depth: int = 0
    # Which oneOf/anyOf branch to take (rotates between attempts) and, for items of a
    # uniqueItems array, which optional member to add so that items differ.
    attempt: int = 0
    variant: int = 0

    def child(self, variant: int = 0) -> _Ctx:
        return _Ctx(
            self.schema, self.region, self.account_id, self.purpose, self.model,
            self.depth + 1, self.attempt, variant,
        )  # fmt: skip

    @property
    def service(self) -> str:
        return arn_hints(self.schema).service or arn_service(self.schema.type_name)

    @property
    def resource(self) -> str:
        return _segments(self.schema.type_name)[1]


def _types(ctx: _Ctx, node: Mapping[str, Any]) -> list[str]:
    """The node's JSON types, in a preferred order (string first: the most permissive)."""
    found: list[str] = []
    t = node.get("type")
    if isinstance(t, str):
        found.append(t)
    elif isinstance(t, list):
        found.extend(x for x in t if isinstance(x, str))
    if not found:
        if "properties" in node or "patternProperties" in node or "required" in node:
            found.append("object")
        elif "items" in node:
            found.append("array")
        elif node.get("enum"):
            found.append(type(node["enum"][0]).__name__)
        elif node.get("format") == "json":
            found.append("object")
    order = ["string", "object", "array", "integer", "number", "boolean"]
    return sorted(found, key=lambda x: order.index(x) if x in order else len(order))


def _string_limits(node: Mapping[str, Any]) -> tuple[str | None, int, int | None]:
    pattern = node.get("pattern") if isinstance(node.get("pattern"), str) else None
    lo = node.get("minLength", 0)
    hi = node.get("maxLength")
    return pattern, lo if isinstance(lo, int) else 0, hi if isinstance(hi, int) else None


def _name_for(ctx: _Ctx, hint: str = "") -> str:
    """A generated resource name in the style AWS uses for unnamed resources."""
    base = _kebab(hint or ctx.resource)[:20].strip("-") or "resource"
    return f"sd-{base}-{_alnum(12)}"


def _model_name(ctx: _Ctx) -> str | None:
    """The resource's own name in the model being completed, if it has one."""
    for key in (f"{ctx.resource}Name", "Name", f"{ctx.resource}Id"):
        value = ctx.model.get(key)
        if isinstance(value, str) and value:
            return value
    for key in ctx.schema.primary_identifier:
        value = ctx.model.get(key)
        if isinstance(value, str) and value and not value.startswith(("arn:", "http")):
            return value
    return None


def own_arn_keys(schema: ResourceSchema) -> list[str]:
    """Top-level properties holding the resource's own ARN (``Arn``, ``ClusterArn``,
    ``AddonInstanceArn`` for ``MailManagerAddonInstance``), best first."""
    resource = _segments(schema.type_name)[1]
    keys = [k for k in ("Arn", "ARN", f"{resource}Arn", f"{resource}ARN") if k in schema.properties]
    for key in schema.properties:
        stem = re.sub(r"(Arn|ARN)$", "", key)
        if key in keys or stem == key or not stem or not schema.is_read_only((key,)):
            continue
        if resource.endswith(stem) or stem.endswith(resource):
            keys.append(key)
    return keys


def _foreign_arn(ctx: _Ctx, name: str) -> str:
    """An ARN for a property that points at another resource (``RoleArn`` -> an IAM role)."""
    acct, region = ctx.account_id, ctx.region
    key = name.lower()
    if "role" in key:
        return f"arn:aws:iam::{acct}:role/example-role"
    if "kms" in key or key.startswith("key"):
        return f"arn:aws:kms:{region}:{acct}:key/{_uuid()}"
    if "topic" in key or "sns" in key:
        return f"arn:aws:sns:{region}:{acct}:example-topic"
    if "queue" in key or "sqs" in key:
        return f"arn:aws:sqs:{region}:{acct}:example-queue"
    if "lambda" in key or "function" in key:
        return f"arn:aws:lambda:{region}:{acct}:function:example-function"
    if "bucket" in key or key.startswith("s3"):
        return "arn:aws:s3:::example-bucket"
    if "secret" in key:
        return f"arn:aws:secretsmanager:{region}:{acct}:secret:example-{_alnum(6)}"
    if "certificate" in key:
        return f"arn:aws:acm:{region}:{acct}:certificate/{_uuid()}"
    if "loggroup" in key or "log" in key:
        return f"arn:aws:logs:{region}:{acct}:log-group:example-log-group"
    if "stream" in key:
        return f"arn:aws:kinesis:{region}:{acct}:stream/example-stream"
    if "statemachine" in key:
        return f"arn:aws:states:{region}:{acct}:stateMachine:example"
    if "policy" in key:
        return f"arn:aws:iam::{acct}:policy/example-policy"
    if "user" in key:
        return f"arn:aws:iam::{acct}:user/example-user"
    base = re.sub(r"(Arns?|ARNs?)$", "", name) or ctx.resource
    return f"arn:aws:{ctx.service}:{region}:{acct}:{_kebab(base)}/example-{_alnum(8)}"


_PATTERN_SERVICE = re.compile(r"arn:[^:]*:([a-z][a-z0-9-]*):(:?)")
_PATTERN_SEGMENT = re.compile(
    r"(?:\{12\}\)?\??|\\d\+|\[0-9\]\+|\[0-9\]\*):([a-zA-Z][a-zA-Z0-9-]*)(\\?/|:)"
)


# Fallback: the first literal word between colons after the service (``:.+:signal-map:``).
_LOOSE_SEGMENT = re.compile(r":([a-zA-Z][a-zA-Z0-9-]*)(\\?/|:)")


@dataclass(frozen=True)
class ArnHints:
    """What a schema's own-ARN pattern says about the ARN's shape."""

    service: str | None = None
    segment: str | None = None
    separator: str = "/"
    regional: bool = True


_hints_cache: dict[str, ArnHints] = {}


def arn_hints(schema: ResourceSchema) -> ArnHints:
    """Service name and resource-type segment read off the pattern of the type's own ARN
    property (``^arn:aws[-a-z0-9]*:connect-campaigns:...:campaign/...``), where literal."""
    cached = _hints_cache.get(schema.type_name)
    if cached is not None:
        return cached
    hints = ArnHints()
    for key in own_arn_keys(schema):
        node = schema.subschema((key,)) or {}
        pattern = node.get("pattern")
        if not isinstance(pattern, str):
            continue
        service = _PATTERN_SERVICE.search(pattern)
        if service is None:
            continue
        segment = _PATTERN_SEGMENT.search(pattern, service.end()) or _LOOSE_SEGMENT.search(
            pattern, service.end() - 1
        )
        hints = ArnHints(
            service.group(1),
            segment.group(1) if segment else None,
            (segment.group(2)[-1] if segment else "/"),
            regional=service.group(2) != ":",
        )
        break
    _hints_cache[schema.type_name] = hints
    return hints


def own_id(schema: ResourceSchema) -> str:
    """A new id in the real format of ``schema``'s type (``vpc-0...``, ``AROA...``, ...)."""
    service, resource = _segments(schema.type_name)
    upper = string.ascii_uppercase + string.digits
    if service == "EC2" and resource in _EC2_TYPE_PREFIX:
        return ec2_id(_EC2_TYPE_PREFIX[resource])
    if service == "IAM":
        prefix = {
            "Role": "AROA", "User": "AIDA", "Group": "AGPA", "ManagedPolicy": "ANPA",
            "InstanceProfile": "AIPA", "AccessKey": "AKIA",
        }.get(resource)  # fmt: skip
        if prefix:
            return prefix + _alnum(17, upper)
    if service == "Route53" and resource == "HostedZone":
        return "Z" + _alnum(13, upper)
    if service == "CloudFront":
        return "E" + _alnum(13, upper)
    if service == "EFS":
        return ec2_id({"AccessPoint": "fsap", "MountTarget": "fsmt"}.get(resource, "fs"))
    if service == "ApiGateway" or service == "ApiGatewayV2":
        return _alnum(10)
    if service == "Cognito" and resource == "UserPool":
        return f"{schema.region}_{_alnum(9, string.ascii_letters + string.digits)}"
    return _uuid()


def _own_arn(ctx: _Ctx, ident: str | None = None) -> str:
    """The ARN of the resource being completed, in its service's real shape."""
    service_seg, resource = _segments(ctx.schema.type_name)
    service = ctx.service
    acct, region = ctx.account_id, ctx.region
    name = ident or _model_name(ctx) or ctx.model.get("__id__") or own_id(ctx.schema)
    special = _SPECIAL_ARNS.get(ctx.schema.type_name)
    if special is not None:
        return special(ctx, str(name))
    if service_seg == "EC2":
        segment = _EC2_ARN_SEGMENT.get(resource, _kebab(resource))
        return f"arn:aws:ec2:{region}:{acct}:{segment}/{name}"
    if service_seg == "IAM":
        path = ctx.model.get("Path") if isinstance(ctx.model.get("Path"), str) else "/"
        segment = {"ManagedPolicy": "policy"}.get(resource, _kebab(resource))
        return f"arn:aws:iam::{acct}:{segment}{path}{name}"
    hints = arn_hints(ctx.schema)
    segment, sep = hints.segment or _kebab(resource), hints.separator
    if service in _NO_ACCOUNT_SERVICES:
        return f"arn:aws:{service}:::{segment}{sep}{name}"
    if service in _GLOBAL_SERVICES or not hints.regional:
        return f"arn:aws:{service}::{acct}:{segment}{sep}{name}"
    return f"arn:aws:{service}:{region}:{acct}:{segment}{sep}{name}"


def _own_arn_candidates(ctx: _Ctx) -> Iterator[str]:
    """The resource's ARN in its real shape, with the name, then with ids of other shapes
    (the caller keeps the first that fits the schema's pattern)."""
    yield _own_arn(ctx)
    if isinstance(ctx.model.get("__id__"), str):
        yield _own_arn(ctx, ctx.model["__id__"])
    yield _own_arn(ctx, _alnum(12))
    yield _own_arn(ctx, _uuid())
    word = arn_hints(ctx.schema).segment or _kebab(ctx.resource).split("-")[-1]
    yield _own_arn(ctx, f"{word}-{_alnum(17)}")


def _arn_s3(ctx: _Ctx, name: str) -> str:
    return f"arn:aws:s3:::{ctx.model.get('BucketName') or name}"


def _arn_colon(segment: str, key: str) -> Callable[[_Ctx, str], str]:
    """ARNs shaped ``arn:aws:<svc>:<region>:<acct>:<segment>:<name>`` (Lambda, RDS, ...)."""

    def build(ctx: _Ctx, name: str) -> str:
        value = ctx.model.get(key) or name
        middle = f"{segment}:" if segment else ""
        return f"arn:aws:{ctx.service}:{ctx.region}:{ctx.account_id}:{middle}{value}"

    return build


def _arn_log_group(ctx: _Ctx, name: str) -> str:
    value = ctx.model.get("LogGroupName") or name
    return f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{value}:*"


def _arn_secret(ctx: _Ctx, name: str) -> str:
    value = ctx.model.get("Name") or name
    return f"arn:aws:secretsmanager:{ctx.region}:{ctx.account_id}:secret:{value}-{_alnum(6)}"


def _arn_with_id(segment: str) -> Callable[[_Ctx, str], str]:
    """ARNs ending in a service-generated id rather than the name (KMS keys, ACM, ...)."""

    def build(ctx: _Ctx, name: str) -> str:
        ident = ctx.model.get("__id__") or _uuid()
        return f"arn:aws:{ctx.service}:{ctx.region}:{ctx.account_id}:{segment}/{ident}"

    return build


def _arn_elb(kind: str) -> Callable[[_Ctx, str], str]:
    def build(ctx: _Ctx, name: str) -> str:
        value = ctx.model.get("Name") or f"sd-{_alnum(8)}"
        prefix = "app/" if kind == "loadbalancer" else ""
        return (
            f"arn:aws:elasticloadbalancing:{ctx.region}:{ctx.account_id}:"
            f"{kind}/{prefix}{value}/{_hex(16)}"
        )

    return build


_SPECIAL_ARNS: dict[str, Callable[[_Ctx, str], str]] = {
    "AWS::S3::Bucket": _arn_s3,
    "AWS::SQS::Queue": _arn_colon("", "QueueName"),
    "AWS::SNS::Topic": _arn_colon("", "TopicName"),
    "AWS::Lambda::Function": _arn_colon("function", "FunctionName"),
    "AWS::Logs::LogGroup": _arn_log_group,
    "AWS::RDS::DBInstance": _arn_colon("db", "DBInstanceIdentifier"),
    "AWS::RDS::DBCluster": _arn_colon("cluster", "DBClusterIdentifier"),
    "AWS::RDS::DBSubnetGroup": _arn_colon("subgrp", "DBSubnetGroupName"),
    "AWS::RDS::DBParameterGroup": _arn_colon("pg", "DBParameterGroupName"),
    "AWS::RDS::DBClusterParameterGroup": _arn_colon("cluster-pg", "DBClusterParameterGroupName"),
    "AWS::RDS::OptionGroup": _arn_colon("og", "OptionGroupName"),
    "AWS::StepFunctions::StateMachine": _arn_colon("stateMachine", "StateMachineName"),
    "AWS::StepFunctions::Activity": _arn_colon("activity", "Name"),
    "AWS::CloudWatch::Alarm": _arn_colon("alarm", "AlarmName"),
    "AWS::SecretsManager::Secret": _arn_secret,
    "AWS::KMS::Key": _arn_with_id("key"),
    "AWS::CertificateManager::Certificate": _arn_with_id("certificate"),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _arn_elb("loadbalancer"),
    "AWS::ElasticLoadBalancingV2::TargetGroup": _arn_elb("targetgroup"),
}


_ACCOUNT_NAMES = ("accountid", "ownerid", "awsaccountid", "owneraccountid", "owneraccount")


def _time_like(name: str) -> bool:
    return bool(
        re.search(r"(Time|Date|At|Timestamp|DateTime|Created|Modified|Updated|Since)$", name)
    )


def _string_candidates(ctx: _Ctx, name: str, node: Mapping[str, Any]) -> Iterator[str]:
    """Plausible values for a string property, best first (checked by the caller)."""
    raw_format = node.get("format")
    fmt: str = raw_format if isinstance(raw_format, str) else ""
    acct, region = ctx.account_id, ctx.region
    lower = name.lower()
    examples = node.get("examples")
    # Formats the registry schemas use (AWS's custom ones name the referenced type).
    if fmt.endswith(".Arn") and fmt.startswith("AWS::"):
        type_name = fmt[: -len(".Arn")]
        if type_name == ctx.schema.type_name and ctx.purpose == "output":
            yield from _own_arn_candidates(ctx)
        yield _foreign_arn(ctx, _segments(type_name)[1] + "Arn")
    if fmt.endswith(".Id") or fmt.endswith(".Ids"):
        resource = _segments(fmt.rsplit(".", 1)[0])[1]
        if resource in _EC2_TYPE_PREFIX:
            yield ec2_id(_EC2_TYPE_PREFIX[resource])
        if resource == "Image":
            yield ec2_id("ami")
        if resource == "Key":
            yield _uuid()
    if fmt == "AWS::KMS::Alias.AliasName":
        yield "alias/example-key"
    if fmt == "AWS::S3::Bucket.Name":
        yield f"example-bucket-{_alnum(8)}"
    if fmt == "AWS::Logs::LogGroup.Name":
        yield f"/aws/example/{_alnum(8)}"
    if fmt in ("date-time", "timestamp"):
        yield _timestamp()
    if fmt == "ipv4-network" or (lower.endswith("cidrblock") and "ipv6" not in lower):
        yield "10.0.0.0/16"
    if fmt == "ipv6-network" or "ipv6cidr" in lower:
        yield "2600:1f18:1234:5600::/56"
    if fmt == "uri":
        yield "https://example.com/"
    if fmt == "int64":
        yield "1"
    if fmt == "json":
        yield "{}"
    # Names.
    if name in _ID_PREFIX_BY_NAME:
        yield ec2_id(_ID_PREFIX_BY_NAME[name])
    if name.endswith(("Arn", "ARN")) or name == "Arn" or lower.endswith("arns"):
        if ctx.purpose == "output" and name in own_arn_keys(ctx.schema):
            yield from _own_arn_candidates(ctx)
        yield _foreign_arn(ctx, name)
    if lower in _ACCOUNT_NAMES:
        yield acct
    if lower in ("regionname", "regions") or lower.endswith("region"):
        yield region
        yield "us-west-2"
    if "availabilityzone" in lower and "id" not in lower:
        yield f"{region}a"
    if _time_like(name):
        yield _timestamp()
    if lower in ("status", "state") or lower.endswith(("status", "state")):
        yield {"ec2": "available", "sagemaker": "InService", "rds": "available"}.get(
            ctx.service, "ACTIVE"
        )
    if "policydocument" in lower or lower in ("policy", "assumerolepolicydocument"):
        yield _json_text(_ASSUME_ROLE_POLICY if "assume" in lower else _POLICY)
    if lower.endswith(("domainname", "dnsname", "hostname", "endpoint", "endpointaddress")):
        yield f"{_alnum(10)}.{ctx.service}.{region}.amazonaws.com"
    if lower.endswith(("url", "uri")):
        yield f"https://{_alnum(10)}.{ctx.service}.{region}.amazonaws.com/"
    if lower.endswith("email") or lower == "emailaddress":
        yield "user@example.com"
    if lower.endswith(("ipaddress", "privateip", "publicip")):
        yield "10.0.0.10"
    if lower in ("version", "versionnumber"):
        yield "1"
    if lower.endswith("password") or "password" in lower:
        yield "Example-Passw0rd-1"
    if lower.endswith("id") and ctx.purpose == "output":
        if name in ("Id", f"{ctx.resource}Id", "Identifier"):
            yield own_id(ctx.schema)
        yield _uuid()
    if isinstance(examples, list):
        yield from (e for e in examples if isinstance(e, str))
    if lower.endswith("name") or lower == "name":
        yield _name_for(ctx, name[: -len("Name")] if name.endswith("Name") else "")
    if lower.endswith("id"):
        yield _alnum(12)
    if "description" in lower:
        yield "Created by stack-deploy"
    yield f"example-{_alnum(8)}"
    yield _alnum(12)
    yield _uuid()


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value)


def _string_value(ctx: _Ctx, name: str, node: Mapping[str, Any]) -> str | None:
    pattern, lo, hi = _string_limits(node)
    extra = [p for p in node.get(_EXTRA_PATTERNS, []) if isinstance(p, str)]

    def ok(text: str) -> bool:
        return fits(text, pattern=pattern, min_length=lo, max_length=hi) and all(
            fits(text, pattern=p) for p in extra
        )

    skip = ctx.variant  # an item of an array that must differ from its siblings
    for candidate in _string_candidates(ctx, name, node):
        if ok(candidate):
            if skip:
                skip -= 1
                continue
            return candidate
    if pattern:
        if "arn:" in pattern:
            guess = _foreign_arn(ctx, name if name.lower().endswith("arn") else name + "Arn")
            if ok(guess):
                return guess
        generated: str | None = None
        for source in (pattern, *extra):
            generated = string_for_pattern(source, _RNG, min_length=lo, max_length=hi)
            if generated is not None and generated.startswith("arn:"):
                polished = _polish_arn(ctx, generated, source, lo, hi)
                generated = polished if ok(polished) else generated
            if generated is not None and ok(generated):
                return generated
        # None satisfies every pattern: the first pattern's string (validation reports it).
        return generated if not extra else None
    # No pattern: fill to the length limits.
    text = f"example-{_alnum(8)}"
    if hi is not None and len(text) > hi:
        text = _alnum(hi)
    if len(text) < lo:
        text += _alnum(lo - len(text))
    return text


def _polish_arn(ctx: _Ctx, text: str, pattern: str, lo: int, hi: int | None) -> str:
    """Make a pattern-generated ARN plausible: real partition, region and account."""
    parts = text.split(":", 5)
    if len(parts) < 6:
        return text
    for index, value in ((1, "aws"), (2, ctx.service), (3, ctx.region), (4, ctx.account_id)):
        if index in (3, 4) and not parts[index]:
            continue  # the pattern wants it empty (IAM, S3)
        trial = [*parts]
        trial[index] = value
        candidate = ":".join(trial)
        if fits(candidate, pattern=pattern, min_length=lo, max_length=hi):
            parts = trial
    return ":".join(parts)


def _number_value(
    ctx: _Ctx, name: str, node: Mapping[str, Any], integer: bool
) -> int | float | None:
    lo = node.get("minimum")
    hi = node.get("maximum")
    ex_lo = node.get("exclusiveMinimum")
    ex_hi = node.get("exclusiveMaximum")
    lower = name.lower()
    if lower.endswith("port"):
        preferred: float = 443
    elif _time_like(name):
        preferred = int(datetime.now(UTC).timestamp())
    elif lower in ("priority", "rulenumber", "weight"):
        preferred = 100
    else:
        preferred = 1
    value = preferred
    if isinstance(lo, int | float):
        value = max(value, lo)
    if isinstance(ex_lo, int | float) and not isinstance(ex_lo, bool):
        value = max(value, ex_lo + 1)
    if isinstance(hi, int | float):
        value = min(value, hi)
    if isinstance(ex_hi, int | float) and not isinstance(ex_hi, bool):
        value = min(value, ex_hi - 1 if integer else ex_hi - 0.5)
    multiple = node.get("multipleOf")
    if isinstance(multiple, int | float) and multiple > 0:
        value = multiple * max(1, round(value / multiple))
    if integer:
        value = int(value) if float(value).is_integer() else int(value) + 1
    return value


def _healthy_enum(values: Sequence[Any]) -> Any:
    by_lower = {str(v).lower(): v for v in values}
    for word in _HEALTHY:
        if word in by_lower:
            return by_lower[word]
    return values[0]


# Patterns beyond ``pattern`` that a merged (allOf/anyOf-folded) string node must match.
_EXTRA_PATTERNS = "x-sandbox-patterns"


def _merge_nodes(ctx: _Ctx, base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` constrained further by ``extra`` (both resolved): an allOf of the two."""
    merged = dict(ctx.schema.resolve(base))
    for key, value in ctx.schema.resolve(extra).items():
        if key == "required" and isinstance(value, list):
            merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
        elif key == "properties" and isinstance(value, Mapping):
            props = dict(merged.get("properties") or {})
            for name, sub in value.items():
                props[name] = _merge_nodes(ctx, props[name], sub) if name in props else sub
            merged["properties"] = props
        elif key == "pattern" and isinstance(value, str) and merged.get(key) not in (None, value):
            # Both constrain the string (a property's own pattern and its anyOf branch's):
            # keep the second too, so generated strings satisfy both.
            merged[_EXTRA_PATTERNS] = [*merged.get(_EXTRA_PATTERNS, []), value]
        else:
            merged.setdefault(key, value)
    if "properties" in merged and "type" not in merged:
        merged["type"] = "object"
    return merged


def _choose_branch(ctx: _Ctx, node: Mapping[str, Any]) -> dict[str, Any]:
    """Fold allOf parts and one oneOf/anyOf branch into ``node``.

    Branches are tried simplest first (fewest required properties); ``ctx.attempt`` rotates
    the choice so a caller can retry with another branch. A oneOf branch that requires
    nothing gets its first property, so the other branches (often ``additionalProperties:
    false`` with other members) do not match too.
    """
    node = dict(node)
    for part in node.pop("allOf", None) or []:
        node = _merge_nodes(ctx, node, _choose_branch(ctx, ctx.schema.resolve(part)))
    for key in ("oneOf", "anyOf"):
        branches = node.pop(key, None)
        if not isinstance(branches, list) or not branches:
            continue
        resolved = [_choose_branch(ctx, ctx.schema.resolve(b)) for b in branches]
        order = sorted(
            range(len(resolved)), key=lambda i: (len(resolved[i].get("required", []) or []), i)
        )
        branch = dict(resolved[order[ctx.attempt % len(order)]])
        props = branch.get("properties")
        if key == "oneOf" and not branch.get("required") and isinstance(props, Mapping) and props:
            branch["required"] = [next(iter(props))]
        node = _merge_nodes(ctx, node, branch)
    return node


_MISSING = object()


def _generate(ctx: _Ctx, node: Any, name: str, path: tuple[Any, ...]) -> Any:
    """A value valid for ``node`` (resolved here); ``_MISSING`` when none can be made."""
    resolved = ctx.schema.resolve(node) if isinstance(node, Mapping) else {}
    resolved = _choose_branch(ctx, resolved)
    if "const" in resolved:
        return resolved["const"]
    enum = resolved.get("enum")
    if isinstance(enum, list) and enum:
        return _healthy_enum(enum) if ctx.purpose == "output" else enum[0]
    if ctx.depth > 12:
        return _MISSING
    types = _types(ctx, resolved)
    if not types:
        # An untyped node: free-form JSON. A policy document gets a real one.
        lower = name.lower()
        if "policy" in lower:
            return copy.deepcopy(_ASSUME_ROLE_POLICY if "assume" in lower else _POLICY)
        return {}
    lower = name.lower()
    for t in types:
        if t == "string":
            if "policy" in lower and "object" in types:
                continue  # a real document beats its JSON text
            value = _string_value(ctx, name, resolved)
            if value is not None:
                return value
        elif t == "object":
            if "policy" in lower and not resolved.get("properties"):
                return copy.deepcopy(_ASSUME_ROLE_POLICY if "assume" in lower else _POLICY)
            obj = _object_value(ctx, resolved, path)
            if obj is not _MISSING:
                return obj
        elif t == "array":
            arr = _array_value(ctx, resolved, name, path)
            if arr is not _MISSING:
                return arr
        elif t in ("integer", "number"):
            number = _number_value(ctx, name, resolved, t == "integer")
            if number is not None:
                return number
        elif t == "boolean":
            return ctx.purpose == "input"
        elif t == "null":
            continue
    return _MISSING


def _object_value(ctx: _Ctx, node: Mapping[str, Any], path: tuple[Any, ...]) -> Any:
    props = node.get("properties") or {}
    result: dict[str, Any] = {}
    wanted = [r for r in node.get("required", []) or [] if isinstance(r, str)]
    xor = node.get("requiredXor")
    if isinstance(xor, list) and xor and not any(k in wanted for k in xor):
        wanted.append(xor[0])
    if ctx.variant and props:
        # Make this item differ from its siblings (uniqueItems): add an optional member.
        optional = [
            k
            for k in props
            if k not in wanted
            and not (ctx.purpose == "input" and ctx.schema.is_read_only((*path, k)))
        ]
        if optional:
            wanted.append(optional[(ctx.variant - 1) % len(optional)])
    if ctx.purpose == "output" and not wanted:
        # A read-only object AWS returns: fill its scalar members too.
        wanted = [
            k
            for k, v in props.items()
            if not any(w in k for w in _FAILURE_WORDS)
            and _types(ctx, ctx.schema.resolve(v))[:1] in (["string"], ["integer"], ["boolean"])
        ][:8]
    for key in wanted:
        sub = props.get(key)
        if sub is None:
            patterns = node.get("patternProperties")
            sub = (
                next(iter(patterns.values())) if isinstance(patterns, Mapping) and patterns else {}
            )
        if ctx.purpose == "input" and ctx.schema.is_read_only((*path, key)):
            return _MISSING
        inner = ctx.child()
        value = _generate(inner, sub, key, (*path, key))
        if value is _MISSING:
            return _MISSING
        result[key] = value
    min_props = node.get("minProperties")
    patterns = node.get("patternProperties")
    if isinstance(min_props, int) and len(result) < min_props:
        if isinstance(patterns, Mapping) and patterns:
            key_pattern, sub = next(iter(patterns.items()))
            key = string_for_pattern(key_pattern, _RNG, min_length=1) or "key"
            inner = ctx.child()
            value = _generate(inner, sub, key, (*path, key))
            if value is _MISSING:
                return _MISSING
            result[key] = value
        elif node.get("additionalProperties") is not False:
            result["key"] = "value"
        else:
            for key, sub in props.items():
                if len(result) >= min_props:
                    break
                if key not in result:
                    inner = ctx.child()
                    value = _generate(inner, sub, key, (*path, key))
                    if value is not _MISSING:
                        result[key] = value
    return result


def _array_value(ctx: _Ctx, node: Mapping[str, Any], name: str, path: tuple[Any, ...]) -> Any:
    min_items = node.get("minItems", 0)
    min_items = min_items if isinstance(min_items, int) else 0
    count = max(min_items, 1)
    items = node.get("items")
    if isinstance(items, list):
        items = items[0] if items else {}
    if not isinstance(items, Mapping):
        items = {}
    singular = re.sub(r"(ies)$", "y", name)
    singular = re.sub(r"(s|List|Set)$", "", singular) or name
    result: list[Any] = []
    tries = 0
    while len(result) < count and tries < count * 4 + 4:
        inner = ctx.child(variant=tries)
        tries += 1
        value = _generate(inner, items, singular, (*path, len(result)))
        if value is _MISSING:
            return _MISSING if min_items > 0 else []
        if value in result and (node.get("uniqueItems") or tries <= count * 2):
            continue  # arrays rarely want duplicates; try a variant
        result.append(value)
    if len(result) < min_items:
        return _MISSING
    return result


# ----------------------------------------------------------- derivations
def _derive_route(ctx: _Ctx, model: dict[str, Any]) -> None:
    # AWS::EC2::Route's identifier is RouteTableId|CidrBlock: CidrBlock is the destination.
    for key in ("DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId"):
        if model.get(key):
            model.setdefault("CidrBlock", model[key])
            return


def _fifo_name(model: Mapping[str, Any], name: str) -> str:
    return name + ".fifo" if model.get("FifoQueue") in (True, "true") else name


def _derive_queue(ctx: _Ctx, model: dict[str, Any]) -> None:
    if not model.get("QueueName"):
        model["QueueName"] = _fifo_name(model, _name_for(ctx, "queue"))
    name = model["QueueName"]
    model.setdefault("QueueUrl", f"https://sqs.{ctx.region}.amazonaws.com/{ctx.account_id}/{name}")
    model.setdefault("Arn", f"arn:aws:sqs:{ctx.region}:{ctx.account_id}:{name}")


def _derive_bucket(ctx: _Ctx, model: dict[str, Any]) -> None:
    if not model.get("BucketName"):
        prefix = model.get("BucketNamePrefix")
        if isinstance(prefix, str) and prefix:
            model["BucketName"] = f"{prefix}{_alnum(max(3, min(12, 63 - len(prefix))))}"
        else:
            model["BucketName"] = _name_for(ctx, "bucket")
    name, region = model["BucketName"], ctx.region
    model.setdefault("Arn", f"arn:aws:s3:::{name}")
    model.setdefault("DomainName", f"{name}.s3.amazonaws.com")
    model.setdefault("RegionalDomainName", f"{name}.s3.{region}.amazonaws.com")
    model.setdefault("DualStackDomainName", f"{name}.s3.dualstack.{region}.amazonaws.com")
    model.setdefault("WebsiteURL", f"http://{name}.s3-website-{region}.amazonaws.com")


def _derive_role(ctx: _Ctx, model: dict[str, Any]) -> None:
    if not model.get("RoleName"):
        # AWS names an unnamed role <stack>-<logical id>-<13 random upper-case characters>.
        model["RoleName"] = f"sd-role-{_alnum(13, string.ascii_uppercase + string.digits)}"
    path = model.get("Path") if isinstance(model.get("Path"), str) else "/"
    model.setdefault("Arn", f"arn:aws:iam::{ctx.account_id}:role{path}{model['RoleName']}")
    model.setdefault("RoleId", own_id(ctx.schema))


def _derive_sagemaker_cluster(ctx: _Ctx, model: dict[str, Any]) -> None:
    if not model.get("ClusterArn"):
        model["ClusterArn"] = (
            f"arn:aws:sagemaker:{ctx.region}:{ctx.account_id}:cluster/{_alnum(12)}"
        )
    model.setdefault("ClusterStatus", "InService")
    model.setdefault("CreationTime", _timestamp())


def _derive_vpc(ctx: _Ctx, model: dict[str, Any]) -> None:
    model.setdefault("VpcId", ec2_id("vpc"))
    model.setdefault("DefaultNetworkAcl", ec2_id("acl"))
    model.setdefault("DefaultSecurityGroup", ec2_id("sg"))
    model.setdefault("CidrBlockAssociations", [ec2_id("vpc-cidr-assoc")])
    model.setdefault("Ipv6CidrBlocks", [])


def _derive_security_group(ctx: _Ctx, model: dict[str, Any]) -> None:
    model.setdefault("GroupId", ec2_id("sg"))
    model.setdefault("Id", model["GroupId"])
    if not model.get("GroupName"):
        model["GroupName"] = f"sd-sg-{_alnum(12, string.ascii_uppercase + string.digits)}"


def _derive_gateway_attachment(ctx: _Ctx, model: dict[str, Any]) -> None:
    # The attachment's identifier is AttachmentType|VpcId, the type following the gateway.
    model.setdefault("AttachmentType", "VGW" if model.get("VpnGatewayId") else "IGW")


_DERIVATIONS: dict[str, Callable[[_Ctx, dict[str, Any]], None]] = {
    "AWS::EC2::Route": _derive_route,
    "AWS::EC2::VPCGatewayAttachment": _derive_gateway_attachment,
    "AWS::SQS::Queue": _derive_queue,
    "AWS::S3::Bucket": _derive_bucket,
    "AWS::IAM::Role": _derive_role,
    "AWS::SageMaker::Cluster": _derive_sagemaker_cluster,
    "AWS::EC2::VPC": _derive_vpc,
    "AWS::EC2::SecurityGroup": _derive_security_group,
}
# Nested read-only counters equal to a sibling input (SageMaker's CurrentCount, ...).
_SIBLING_SOURCES: dict[str, tuple[str, ...]] = {
    "CurrentCount": ("InstanceCount", "TargetCount", "DesiredCount", "Count"),
    "CurrentInstanceCount": ("InstanceCount", "DesiredInstanceCount"),
}


def _expand(model: Any, pattern: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """Concrete paths of ``pattern`` whose parent exists in ``model`` (``*`` over arrays)."""

    def walk(value: Any, rest: Sequence[str], prefix: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        if len(rest) == 1:
            if isinstance(value, dict):
                yield (*prefix, rest[0])
            return
        token = rest[0]
        if token == "*":
            if isinstance(value, list):
                for index, item in enumerate(value):
                    yield from walk(item, rest[1:], (*prefix, index))
        elif isinstance(value, dict) and token in value:
            yield from walk(value[token], rest[1:], (*prefix, token))

    if pattern:
        yield from walk(model, list(pattern), ())


def _get(model: Any, path: Sequence[Any]) -> Any:
    for token in path:
        if isinstance(model, dict):
            model = model.get(token)
        elif isinstance(model, list) and isinstance(token, int) and token < len(model):
            model = model[token]
        else:
            return None
    return model


def _set(model: Any, path: Sequence[Any], value: Any) -> None:
    parent = _get(model, path[:-1])
    if isinstance(parent, dict):
        parent[path[-1]] = value


def _default_name_property(schema: ResourceSchema) -> str | None:
    """The name property AWS generates when it is left out (``QueueName``, ``RoleName``).

    CloudFormation generates a unique name for a create-only name property that is not
    required; Cloud Control does the same.
    """
    resource = _segments(schema.type_name)[1]
    for key in (f"{resource}Name", "Name"):
        if key not in schema.properties or key in schema.required:
            continue
        if schema.is_read_only((key,)) or not schema.is_create_only((key,)):
            continue
        if f"{key}Prefix" in schema.properties:
            continue
        if "string" in schema.types_at((key,)):
            return key
    return None


def complete_model(
    schema: ResourceSchema, desired: dict[str, Any], *, region: str, account_id: str
) -> dict[str, Any]:
    """The model the sandbox stores after a create.

    A new dict: ``desired`` plus the primary identifier (the user's value where they set it,
    a generated one in the real format otherwise), a generated name where AWS generates one,
    the properties AWS derives from inputs, and every read-only property filled with a
    plausible value of its real format. ``desired`` is not modified.
    """
    model: dict[str, Any] = copy.deepcopy(desired)
    ctx = _Ctx(schema, region, account_id, "output", model)
    derive = _DERIVATIONS.get(schema.type_name)
    if derive is not None:
        derive(ctx, model)
    name_key = _default_name_property(schema)
    if name_key is not None and not model.get(name_key):
        value = _generate(
            _Ctx(schema, region, account_id, "output", model),
            schema.properties[name_key],
            name_key,
            (name_key,),
        )
        if isinstance(value, str):
            model[name_key] = value
    # Primary identifier parts that are plain ids come first: ARNs may embed them.
    for part in sorted(schema.primary_identifier, key=lambda p: p.lower().endswith("arn")):
        path = tuple(part.split("/"))
        if _get(model, path) not in (None, ""):
            continue
        node = schema.subschema(path) or {"type": "string"}
        value = _identifier_value(ctx, path[-1], node)
        if value is None:
            continue
        parent: Any = model
        for token in path[:-1]:  # a nested identifier (Schedule/ScheduleId): make its parents
            if not isinstance(parent.get(token), dict):
                parent[token] = {}
            parent = parent[token]
        parent[path[-1]] = value
        if isinstance(value, str) and not part.lower().endswith("arn"):
            model.setdefault("__id__", value)
    for pattern in schema.read_only:
        if any(w in pattern[-1] for w in _FAILURE_WORDS):
            continue
        for path in list(_expand(model, pattern)):
            if _get(model, path) is not None:
                continue
            value = _read_only_value(ctx, path)
            if value is not _MISSING:
                _set(model, path, value)
    model.pop("__id__", None)
    return model


def _identifier_value(ctx: _Ctx, name: str, node: Mapping[str, Any]) -> Any:
    """A new primary identifier value; own id / own ARN formats are tried first."""
    pattern, lo, hi = _string_limits(node)
    lower = name.lower()
    candidates: list[str] = []
    if lower in _ACCOUNT_NAMES:
        candidates.append(ctx.account_id)
    if lower.endswith("arn"):
        candidates += list(_own_arn_candidates(ctx))
    elif lower.endswith("id") or lower == "identifier":
        candidates.append(own_id(ctx.schema))
        if name in _ID_PREFIX_BY_NAME:
            candidates.append(ec2_id(_ID_PREFIX_BY_NAME[name]))
        candidates += [_alnum(12), _uuid()]
    elif lower.endswith("name"):
        candidates.append(_name_for(ctx))
    types = _types(ctx, node)
    if types and types[0] != "string":
        value = _generate(ctx, node, name, (name,))
        return None if value is _MISSING else value
    for candidate in candidates:
        if fits(candidate, pattern=pattern, min_length=lo, max_length=hi):
            return candidate
    value = _generate(ctx, node, name, (name,))
    return None if value is _MISSING else value


def _read_only_value(ctx: _Ctx, path: tuple[Any, ...]) -> Any:
    name = str(path[-1])
    parent = _get(ctx.model, path[:-1])
    if isinstance(parent, dict):
        for source in _SIBLING_SOURCES.get(name, ()):
            if isinstance(parent.get(source), int):
                return parent[source]
    node = ctx.schema.subschema(path)
    if node is None:
        return _MISSING
    if len(path) == 1 and name in ("Id", f"{ctx.resource}Id") and "__id__" in ctx.model:
        # The resource's id under another name (the identifier is often Arn, Id a copy).
        pattern, lo, hi = _string_limits(node)
        if "string" in _types(ctx, node) and fits(
            ctx.model["__id__"], pattern=pattern, min_length=lo, max_length=hi
        ):
            return ctx.model["__id__"]
    return _generate(ctx, node, name, path)


# --------------------------------------------------------------- ARNs
def resource_arn(
    schema: ResourceSchema, model: Mapping[str, Any], *, region: str, account_id: str
) -> str | None:
    """The resource's ARN, for the Tagging API.

    Taken from the model's Arn-like property (``Arn``, ``<Resource>Arn``, an ARN primary
    identifier) when it has one; otherwise built in the real format from the identifier.
    None when the model has no identifier.
    """
    for key in [*own_arn_keys(schema), *schema.primary_identifier]:
        value = model.get(key)
        if isinstance(value, str) and value.startswith("arn:"):
            return value
    ident = schema.identifier_of(model)
    if ident is None:
        return None
    ctx = _Ctx(schema, region, account_id, "output", dict(model))
    return _own_arn(ctx, ident.split("|")[-1] if "|" in ident else ident)


# Tagging API resource types that cannot be read off the ARN (no type segment).
_TAGGING_TYPES: dict[str, str] = {
    "AWS::S3::Bucket": "s3:bucket",
    "AWS::SQS::Queue": "sqs:queue",
    "AWS::SNS::Topic": "sns:topic",
    "AWS::Logs::LogGroup": "logs:log-group",
}


def tagging_resource_type(type_name: str) -> str:
    """The Resource Groups Tagging API resource type of ``type_name`` (``ec2:vpc``).

    Derived like AWS does, from the ARN: service, then the resource-type segment. Buckets,
    queues and topics have none in their ARNs; they answer ``s3:bucket``, ``sqs:queue``,
    ``sns:topic`` so that both the service filter (``s3``) and the typed one match.
    """
    if type_name in _TAGGING_TYPES:
        return _TAGGING_TYPES[type_name]
    service_seg, resource = _segments(type_name)
    service = _ARN_SERVICE.get(service_seg, service_seg.lower())
    if service_seg == "EC2":
        return f"ec2:{_EC2_ARN_SEGMENT.get(resource, _kebab(resource))}"
    if service_seg == "IAM":
        return f"iam:{ {'ManagedPolicy': 'policy'}.get(resource, _kebab(resource)) }"
    special = _SPECIAL_ARNS.get(type_name)
    if special is not None:
        bare = ResourceSchema({"typeName": type_name})  # the ARN shape needs no properties
        arn = special(_Ctx(bare, "us-east-1", "123456789012", "output"), "x")
        rest = arn.split(":", 5)[5]
        return f"{service}:{re.split(r'[:/]', rest)[0].lower()}"
    return _tagging_type_from_arn(type_name)


@lru_cache(maxsize=4096)
def _tagging_type_from_arn(type_name: str) -> str:
    """``service:segment`` of the ARN the sandbox builds for the type."""
    from stackdeploy.errors import StackDeployError
    from stackdeploy.schema.registry import get_schema

    try:
        schema = get_schema(type_name)
    except StackDeployError:  # a type this region's registry does not know
        schema = ResourceSchema({"typeName": type_name})
    arn = _own_arn(_Ctx(schema, "us-east-1", "123456789012", "output"), "x")
    parts = arn.split(":", 5)
    segment = re.split(r"[:/]", parts[5])[0] if re.search(r"[:/]", parts[5]) else ""
    return f"{parts[2]}:{segment.lower()}" if segment else parts[2]


# ----------------------------------------------------- minimal desired state
def minimal_desired_state(schema: ResourceSchema) -> dict[str, Any] | None:
    """A minimal valid desired state for ``schema``'s type, or None when none can be made.

    Required properties only (nested required ones too), with values satisfying type, enum,
    pattern, length and range limits; oneOf/anyOf/requiredXor choose a branch. The result
    validates against the schema (``stackdeploy.schema.desired.validate``, create mode) and
    holds no read-only property.
    """
    from stackdeploy.schema import desired as desired_mod

    root: dict[str, Any] = {
        "type": "object",
        "properties": dict(schema.properties),
        "required": list(schema.required),
    }
    for key in ("oneOf", "anyOf", "allOf", "requiredXor"):
        if key in schema.raw:
            root[key] = schema.raw[key]
    for attempt in range(6):
        ctx = _Ctx(schema, schema.region, "123456789012", "input", {}, attempt=attempt)
        state = _generate(ctx, root, "", ())
        if not isinstance(state, dict):
            continue
        if not desired_mod.validate(schema, state, mode="create"):
            return state
    return None


def example_value(schema: ResourceSchema, path: Sequence[str | int]) -> Any:
    """A valid input value for the property at ``path`` (None when none can be made).

    For tests and demonstrations that need a plausible value to set, e.g. in a patch.
    """
    node = schema.subschema(path)
    if node is None:
        return None
    ctx = _Ctx(schema, schema.region, "123456789012", "input", {})
    value = _generate(ctx, node, str(path[-1]) if path else "", tuple(path))
    return None if value is _MISSING else value
