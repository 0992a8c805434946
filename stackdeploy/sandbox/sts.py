"""STS on the sandbox: AssumeRole and GetCallerIdentity, in the AWS query protocol.

botocore's ``sts`` client sends a form-encoded ``POST /`` (``Action=AssumeRole&Version=...``)
and reads an XML answer; with ``endpoint_url`` set to the sandbox's URL it lands on the same
port as Cloud Control, and the server sends it here (:func:`handle`).

AssumeRole of ``arn:aws:iam::ACCOUNT:role/NAME`` issues temporary credentials (``ASIA...``
access key, secret, session token, expiration) and records them in the state file, so another
process using the same file recognises them. A later request signed with them acts in
``ACCOUNT``; GetCallerIdentity then answers the assumed-role ARN. The role need not exist and no
trust policy is evaluated: any role can be assumed unless a ``deny_assume_role`` fault says
otherwise. Credentials the sandbox did not issue keep the usual rule (a 12-digit access key is
the account, anything else the server's default account) and are answered as the IAM user
``sandbox`` of that account.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping
from xml.sax.saxutils import escape

from stackdeploy.sandbox.faults import Faults
from stackdeploy.sandbox.handlers import Context
from stackdeploy.sandbox.store import CredentialRow, Store

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
DEFAULT_DURATION = 3600
MIN_DURATION = 900
MAX_DURATION = 43200  # the longest MaxSessionDuration a role can have
_ROLE_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:iam::(\d{12}):role/((?:[\w+=,.@-]+/)*)([\w+=,.@-]{1,64})"
)
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class StsError(Exception):
    """An STS error as the query protocol returns it: ``<Code>`` verbatim, HTTP ``status``."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _stable_id(prefix: str, seed: str) -> str:
    """A 21-character IAM unique id (``AROA...``, ``AIDA...``) that is the same for ``seed``."""
    digest = hashlib.sha256(seed.encode()).digest()
    return prefix + "".join(_BASE32[b % 32] for b in digest[:17])


def _access_key_id() -> str:
    return "ASIA" + "".join(secrets.choice(_BASE32) for _ in range(16))


def user_identity(ctx: Context) -> tuple[str, str]:
    """(Arn, UserId) of the caller: the assumed role, or the ``sandbox`` user of the account."""
    if ctx.arn:
        return ctx.arn, ctx.user_id
    return ctx.caller_arn, _stable_id("AIDA", ctx.account)


def _validation(message: str) -> StsError:
    return StsError("ValidationError", f"1 validation error detected: {message}")


def assume_role(
    store: Store, faults: Faults, params: Mapping[str, str], ctx: Context
) -> dict[str, str]:
    """Issue and record temporary credentials for a role; the XML fields of the result."""
    role_arn = params.get("RoleArn")
    session_name = params.get("RoleSessionName")
    if not role_arn:
        raise _validation(
            "Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
        )
    if not session_name:
        raise _validation(
            "Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"
        )
    if not _SESSION_NAME.fullmatch(session_name):
        raise _validation(
            f"Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: "
            "Member must have length between 2 and 64 and satisfy regular expression pattern: "
            "[\\w+=,.@-]*"
        )
    match = _ROLE_ARN.fullmatch(role_arn)
    if match is None:
        raise _validation(
            f"Value '{role_arn}' at 'roleArn' is not a role ARN: expected "
            "arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME (ACCOUNT_ID: 12 digits)"
        )
    try:
        duration = int(params.get("DurationSeconds") or DEFAULT_DURATION)
    except ValueError:
        raise _validation(
            f"Value '{params.get('DurationSeconds')}' at 'durationSeconds' is not a number"
        ) from None
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise _validation(
            f"Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must "
            f"have value between {MIN_DURATION} and {MAX_DURATION}"
        )
    if faults.assume_role_denied(role_arn):
        caller, _ = user_identity(ctx)
        raise StsError(
            "AccessDenied",
            f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: "
            f"{role_arn} (injected fault)",
            status=403,
        )
    account, role_name = match.group(1), match.group(3)
    role_id = _stable_id("AROA", role_arn)
    now = store.clock()
    credentials = CredentialRow(
        access_key_id=_access_key_id(),
        secret_access_key=base64.b64encode(secrets.token_bytes(30)).decode(),
        session_token=base64.b64encode(b"stack-deploy-sandbox:" + secrets.token_bytes(96)).decode(),
        account=account,
        arn=f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}",
        user_id=f"{role_id}:{session_name}",
        created_at=now,
        expires_at=float(int(now) + duration),
    )
    store.add_credentials(credentials)
    expiration = datetime.datetime.fromtimestamp(credentials.expires_at, datetime.UTC)
    return {
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
        "SessionToken": credentials.session_token,
        "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Arn": credentials.arn,
        "AssumedRoleId": credentials.user_id,
    }


def handle(
    store: Store, faults: Faults, params: Mapping[str, str], ctx: Context
) -> tuple[str, str]:
    """Run one STS action; ``(action, XML body of the result element)``."""
    action = params.get("Action", "")
    if action == "GetCallerIdentity":
        arn, user_id = user_identity(ctx)
        return action, (
            f"<Arn>{escape(arn)}</Arn><UserId>{escape(user_id)}</UserId>"
            f"<Account>{escape(ctx.account)}</Account>"
        )
    if action == "AssumeRole":
        issued = assume_role(store, faults, params, ctx)
        return action, (
            "<AssumedRoleUser>"
            f"<Arn>{escape(issued['Arn'])}</Arn>"
            f"<AssumedRoleId>{escape(issued['AssumedRoleId'])}</AssumedRoleId>"
            "</AssumedRoleUser><Credentials>"
            f"<AccessKeyId>{issued['AccessKeyId']}</AccessKeyId>"
            f"<SecretAccessKey>{escape(issued['SecretAccessKey'])}</SecretAccessKey>"
            f"<SessionToken>{escape(issued['SessionToken'])}</SessionToken>"
            f"<Expiration>{issued['Expiration']}</Expiration>"
            "</Credentials>"
        )
    raise StsError(
        "InvalidAction",
        f"Could not find operation {action or '(none)'} for version "
        f"{params.get('Version') or '2011-06-15'}: the sandbox's STS answers AssumeRole and "
        "GetCallerIdentity",
    )


def response(action: str, result: str) -> bytes:
    """The full XML document of a successful answer."""
    return (
        f'<{action}Response xmlns="{NAMESPACE}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    ).encode()


def error_response(code: str, message: str) -> bytes:
    """The XML document of an error, as botocore's query parser reads it."""
    kind = "Receiver" if code in ("InternalFailure", "ServiceUnavailable") else "Sender"
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{kind}</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
