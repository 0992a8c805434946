"""Settings of the Cloud Control client (re-exported as ``stackdeploy.cloud.client.CloudConfig``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CloudConfig:
    """Where to send requests and how patiently.

    ``region``/``profile`` follow the standard AWS configuration when left ``None``
    (``AWS_REGION``, ``AWS_PROFILE``, ``~/.aws/config``). ``endpoint_url`` points every client
    (Cloud Control and the tagging API) at another server, such as the sandbox; boto3 also
    honours ``AWS_ENDPOINT_URL_CLOUDCONTROL`` / ``AWS_ENDPOINT_URL`` by itself. ``sandbox``
    means "the endpoint is the embedded sandbox": fake credentials, never the real ones.
    """

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    sandbox: bool = False
    # The service role Cloud Control itself uses (the API's RoleArn parameter).
    role_arn: str | None = None
    # Credentials of this client instead of the standard chain: static keys (a resource's
    # stackql-deploy 1.x ``auth``), and/or a role assumed through STS (on the same endpoint
    # override as Cloud Control) on top of them or of the profile / standard chain.
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    assume_role_arn: str | None = None
    role_session_name: str | None = None
    external_id: str | None = field(default=None, repr=False)
    # Rate limit for every API call, polls included, shared by all threads. None: 20/s against
    # AWS (safe below the ~25-30/s where Cloud Control throttles), unlimited against the
    # sandbox or any loopback endpoint; 0 or less: unlimited.
    max_rps: float | None = None
    burst: int = 10
    # Poll schedule: first poll after poll_initial seconds, growing by poll_factor to poll_max.
    poll_initial: float = 0.2
    poll_factor: float = 1.5
    poll_max: float = 5.0
    # Time-out per request: timeout_minutes (when set) overrides what callers pass (the
    # schema's handler timeoutInMinutes); default_timeout_minutes applies when neither is set.
    timeout_minutes: float | None = None
    default_timeout_minutes: float = 60.0
    # Async failures worth retrying (Throttling, NetworkFailure, ...) are resubmitted with a new
    # ClientToken at most max_resubmits times.
    max_resubmits: int = 3
    # Synchronous throttling / transient errors: at most max_retries retries, exponential
    # back-off from retry_base seconds capped at retry_max, with jitter.
    max_retries: int = 6
    retry_base: float = 0.5
    retry_max: float = 20.0
    # Connection failures and network time-outs: at most this many retries.
    max_network_retries: int = 3
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_pool_connections: int = 50

    @property
    def loopback(self) -> bool:
        """True for the embedded sandbox or an endpoint on this machine."""
        if self.sandbox:
            return True
        return is_loopback_url(self.endpoint_url)


AWS_DEFAULT_MAX_RPS = 20.0


def is_loopback_url(url: str | None) -> bool:
    """True when ``url`` points at this machine (127.0.0.0/8, ::1, localhost)."""
    if not url:
        return False
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host == "localhost" or host == "::1" or host.startswith("127.")
