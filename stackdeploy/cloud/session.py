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
        import boto3
        from botocore.exceptions import BotoCoreError, ProfileNotFound

        if self.config.sandbox:
            return boto3.Session(
                aws_access_key_id=FAKE_ACCESS_KEY,
                aws_secret_access_key=FAKE_SECRET_KEY,
                region_name=self.config.region,
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
