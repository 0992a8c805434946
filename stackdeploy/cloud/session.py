"""AWS sessions and clients, and :func:`open_cloud`, the way commands get a client.

One boto3 session per :class:`~stackdeploy.cloud.client.CloudControl`, one boto3 client per
(service, region), created on first use and reused. boto3 clients are thread-safe once created
but sessions are not, so creation happens under a lock. boto3 is imported inside functions so
that importing stack-deploy (and ``stack-deploy --help``) stays fast.

Credentials come from the standard chain (``--profile``, environment, config files, SSO, ...).
Against the sandbox, credentials are always fake: real keys are never sent to a local server.
Against another endpoint (``--endpoint-url`` or ``AWS_ENDPOINT_URL*``) fake credentials are used
only when none are configured, since emulators accept any.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from stackdeploy.cloud.config import CloudConfig
from stackdeploy.errors import StackDeployError, UsageError

if TYPE_CHECKING:
    from stackdeploy.cloud.client import CloudControl
    from stackdeploy.cloud.protocol import CloudTarget

# Region used against the sandbox or an endpoint when nothing else names one.
LOCAL_DEFAULT_REGION = "us-east-1"
FAKE_ACCESS_KEY = "AKIASTACKDEPLOYFAKE0"
FAKE_SECRET_KEY = "stack-deploy-fake-secret-key"

NO_CREDENTIALS_HINT = (
    "configure a profile (aws configure, then --profile NAME or AWS_PROFILE), "
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "or run against the embedded sandbox with --sandbox"
)


def _endpoint_from_environment() -> str | None:
    """The endpoint boto3 will use for Cloud Control from the environment, if any."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    return os.environ.get("AWS_ENDPOINT_URL_CLOUDCONTROL") or os.environ.get("AWS_ENDPOINT_URL")


class ClientPool:
    """Lazily built boto3 session and one client per (service, region), safe across threads."""

    def __init__(self, config: CloudConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._session: Any = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._default_region: str | None = None

    @property
    def local(self) -> bool:
        """True when requests go to the sandbox or another non-AWS endpoint."""
        return (
            self.config.sandbox
            or bool(self.config.endpoint_url)
            or bool(_endpoint_from_environment())
        )

    def _build_session(self) -> Any:
        session = self._base_session()
        if self.config.assume_role_arn:
            session = self._assumed_role_session(session)
        return session

    def _base_session(self) -> Any:
        import boto3
        from botocore.exceptions import BotoCoreError, ProfileNotFound

        config = self.config
        if config.access_key_id and config.secret_access_key:
            if config.sandbox:
                # The key id picks the sandbox account (a 12-digit id is one); the secret is
                # never sent to a local server: signatures made with it could be replayed.
                return boto3.Session(
                    aws_access_key_id=config.access_key_id,
                    aws_secret_access_key=FAKE_SECRET_KEY,
                    region_name=config.region,
                )
            return boto3.Session(
                aws_access_key_id=config.access_key_id,
                aws_secret_access_key=config.secret_access_key,
                aws_session_token=config.session_token or None,
                region_name=config.region,
            )
        if config.sandbox:
            return boto3.Session(
                aws_access_key_id=FAKE_ACCESS_KEY,
                aws_secret_access_key=FAKE_SECRET_KEY,
                region_name=config.region,
            )
        try:
            session = boto3.Session(profile_name=self.config.profile)
            credentials = session.get_credentials()
        except ProfileNotFound as exc:
            raise StackDeployError(
                f"AWS profile {self.config.profile!r} not found",
                hint="list profiles with `aws configure list-profiles` or run `aws configure`",
            ) from exc
        except BotoCoreError as exc:
            raise StackDeployError(
                f"cannot load AWS credentials: {exc}",
                hint="check your AWS configuration and --profile",
            ) from exc
        if credentials is None:
            if not self.local:
                raise StackDeployError("no AWS credentials found", hint=NO_CREDENTIALS_HINT)
            # Emulators accept any credentials; keep the profile's region if it has one.
            session = boto3.Session(
                aws_access_key_id=FAKE_ACCESS_KEY,
                aws_secret_access_key=FAKE_SECRET_KEY,
                region_name=session.region_name,
            )
        return session

    def _assumed_role_session(self, base: Any) -> Any:
        """A session whose credentials come from STS AssumeRole (signed with ``base``'s),
        refreshed before they expire. STS is called on the same endpoint override as Cloud
        Control (the sandbox answers AssumeRole too)."""
        import boto3
        from botocore.config import Config
        from botocore.credentials import RefreshableCredentials
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.session import get_session

        config = self.config
        role = config.assume_role_arn
        region = config.region or base.region_name or os.environ.get("AWS_REGION")
        if not region and self.local:
            region = LOCAL_DEFAULT_REGION
        sts = base.client(
            "sts",
            region_name=region,
            endpoint_url=config.endpoint_url or None,
            config=Config(
                retries={"total_max_attempts": 3, "mode": "standard"},
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
                user_agent_extra="stack-deploy",
            ),
        )
        params: dict[str, Any] = {
            "RoleArn": role,
            "RoleSessionName": config.role_session_name or "stack-deploy",
        }
        if config.external_id:
            params["ExternalId"] = config.external_id

        def fetch() -> dict[str, str]:
            try:
                answer = sts.assume_role(**params)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                raise StackDeployError(
                    f"cannot assume role {role}: {error.get('Code', 'Error')}: "
                    f"{error.get('Message', exc)}",
                    hint="check the role's trust policy allows the credentials in use "
                    "(and its external id), or the role ARN",
                ) from exc
            except BotoCoreError as exc:
                raise StackDeployError(f"cannot assume role {role}: {exc}") from exc
            creds = answer["Credentials"]
            expiry = creds["Expiration"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": expiry.isoformat() if hasattr(expiry, "isoformat") else str(expiry),
            }

        credentials = RefreshableCredentials.create_from_metadata(
            metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
        )
        botocore_session = get_session()
        botocore_session._credentials = credentials
        if region:
            botocore_session.set_config_variable("region", region)
        return boto3.Session(botocore_session=botocore_session)

    def _ensure_session(self) -> Any:
        # Caller holds the lock.
        if self._session is None:
            self._session = self._build_session()
            # botocore reads AWS_DEFAULT_REGION and the profile; AWS_REGION (what the AWS CLI
            # v2 and the other SDKs honour first) it does not, so look at it here.
            region = self.config.region or os.environ.get("AWS_REGION") or self._session.region_name
            if not region and self.local:
                region = LOCAL_DEFAULT_REGION
            self._default_region = region
        return self._session

    def session(self) -> Any:
        """The boto3 session (built on first use)."""
        with self._lock:
            return self._ensure_session()

    def open(self) -> None:
        """Resolve session, credentials and region now, so configuration errors come early."""
        with self._lock:
            self._ensure_session()

    def default_region(self) -> str:
        """The region used when a call names none; an error if nothing configures one."""
        with self._lock:
            self._ensure_session()
            region = self._default_region
        if not region:
            raise StackDeployError(
                "no AWS region configured",
                hint="pass --region, set AWS_REGION, or set a region in your AWS profile",
            )
        return region

    def client(self, service: str, region: str) -> Any:
        """The boto3 client for ``service`` in ``region`` (created once, then reused)."""
        key = (service, region)
        found = self._clients.get(key)
        if found is not None:
            return found
        from botocore.config import Config

        with self._lock:
            found = self._clients.get(key)
            if found is not None:
                return found
            session = self._ensure_session()
            botocore_config = Config(
                # Retries are ours (rate limit, back-off, resubmission): botocore makes one try.
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=self.config.connect_timeout,
                read_timeout=self.config.read_timeout,
                max_pool_connections=self.config.max_pool_connections,
                user_agent_extra="stack-deploy",
            )
            created = session.client(
                service,
                region_name=region,
                endpoint_url=self.config.endpoint_url or None,
                config=botocore_config,
            )
            self._clients[key] = created
            return created

    def close(self) -> None:
        """Close every client's connection pool."""
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for created in clients:
            close = getattr(created, "close", None)
            if close is not None:
                close()


@contextmanager
def open_cloud(
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    sandbox: bool = False,
    **config: Any,
) -> Iterator[CloudControl]:
    """Yield a ready :class:`CloudControl` (credentials and region resolved).

    ``sandbox=True`` says that ``endpoint_url`` is the sandbox: fake credentials are always
    used there, never real ones. Starting the sandbox is the caller's business (the CLI does
    it for ``--sandbox``; see :func:`stackdeploy.cli.options.open_cloud_from`). Extra keyword
    arguments are :class:`CloudConfig` fields (``max_rps``, ``timeout_minutes``, ...) or
    ``clock``/``sleep``/``on_event`` for :class:`CloudControl`.
    """
    from stackdeploy.cloud.client import CloudControl

    if sandbox and not endpoint_url:
        raise UsageError("the sandbox needs its endpoint URL (start it first)")
    control_kwargs = {k: config.pop(k) for k in ("clock", "sleep", "on_event") if k in config}
    cloud_config = CloudConfig(
        region=region,
        profile=None if sandbox else profile,
        endpoint_url=endpoint_url,
        sandbox=sandbox,
        **config,
    )
    cloud = CloudControl(cloud_config, **control_kwargs)
    try:
        cloud.open()
        yield cloud
    finally:
        cloud.close()


class CloudControls:
    """The Cloud Control clients of one run, one per region and identity: a resource that
    names its own ``region``, ``role_arn``, ``profile`` or ``auth`` credentials gets a client
    derived from the run's (same endpoint, sandbox, rate and poll settings), created on first
    use, kept for the run and closed with it."""

    def __init__(self, base: CloudControl) -> None:
        self.base = base
        self._lock = threading.Lock()
        self._made: dict[CloudTarget, CloudControl] = {}

    def __call__(self, target: CloudTarget) -> CloudControl:
        from dataclasses import replace

        from stackdeploy.cloud.client import CloudControl

        with self._lock:
            found = self._made.get(target)
            if found is not None:
                return found
            base = self.base.config
            config = replace(
                base,
                region=target.region or base.region,
                profile=target.profile if target.profile is not None else base.profile,
                access_key_id=target.access_key_id,
                secret_access_key=target.secret_access_key,
                session_token=target.session_token,
                assume_role_arn=target.role_arn,
                role_session_name=target.role_session_name,
                external_id=target.external_id,
            )
            if target.access_key_id:
                config = replace(config, profile=None)
            made = CloudControl(
                config, clock=self.base.clock, sleep=self.base.sleep, on_event=self.base.on_event
            )
            # One rate limiter for every call of the run, whatever the account or region:
            # throttling backs everyone off, and --max-rps bounds the whole run.
            made.limiter = self.base.limiter
            try:
                made.open()  # credentials, role and region resolved now: errors come early
            except BaseException:
                made.close()
                raise
            self._made[target] = made
            return made

    def close(self) -> None:
        with self._lock:
            made = list(self._made.values())
            self._made.clear()
        for client in made:
            client.close()
