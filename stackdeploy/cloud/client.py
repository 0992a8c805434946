"""The one Cloud Control client: every call stack-deploy makes to AWS goes through here.

:class:`CloudControl` wraps the boto3 ``cloudcontrol`` and ``resourcegroupstaggingapi``
clients with what a deployment tool needs and botocore does not give:

* one rate limiter shared by all threads, applied to every call (polls included);
* synchronous throttling and transient network errors retried with exponential back-off and
  jitter, reusing the same ClientToken so a retried mutation stays idempotent;
* mutations polled to their final state (see :mod:`stackdeploy.cloud.polling`), with a
  time-out that comes from the schema's handler ``timeoutInMinutes``;
* async failures that are worth retrying (Throttling, NetworkFailure, ServiceInternalError,
  InternalFailure) resubmitted with a new ClientToken;
* every other failure turned into a :class:`~stackdeploy.errors.CloudControlError` quoting
  the error code and message, never a botocore traceback. ``get_resource`` answers ``None``
  for ResourceNotFound only: an access-denied answer must never read as "absent".
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from stackdeploy.cloud.config import CloudConfig
from stackdeploy.cloud.events import ProgressEvent
from stackdeploy.cloud.polling import PollPolicy, PollTimeout, backoff_delay, poll_to_completion
from stackdeploy.cloud.protocol import EventCallback
from stackdeploy.cloud.ratelimit import RateLimiter
from stackdeploy.cloud.session import ClientPool
from stackdeploy.errors import CloudControlError, RequestTimeoutError

__all__ = ["CloudConfig", "CloudControl", "ProgressEvent", "RequestFailedError"]


# Async ErrorCodes that say "try again", not "this cannot work".
RETRYABLE_ASYNC_CODES = frozenset(
    {"Throttling", "NetworkFailure", "ServiceInternalError", "InternalFailure"}
)
# Synchronous error codes retried in place (botocore's throttling list plus 5xx-like ones).
RETRYABLE_SYNC_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "ServiceInternalErrorException",
        "NetworkFailureException",
    }
)

_CREDENTIALS_HINT = (
    "the AWS credentials are invalid or expired: refresh them (aws sso login, aws configure) "
    "or check --profile"
)
# Hints by error code (sync exception names without "Exception", and async ErrorCodes).
_HINTS = {
    "AccessDenied": "the credentials in use lack an IAM permission this call needs; "
    "`stack-deploy permissions` lists what each resource requires",
    "UnauthorizedOperation": "the credentials in use lack an IAM permission this call needs",
    "UnauthorizedTaggingOperation": "the credentials may create the resource but not tag it; "
    "grant the service's Tag* permissions",
    "InvalidCredentials": _CREDENTIALS_HINT,
    "UnrecognizedClient": _CREDENTIALS_HINT,
    "InvalidClientTokenId": _CREDENTIALS_HINT,
    "InvalidSignature": _CREDENTIALS_HINT,
    "ExpiredToken": _CREDENTIALS_HINT,
    "TypeNotFound": "check the resource type name and that Cloud Control supports it "
    "in this region",
    "UnsupportedAction": "this resource type does not support this operation through Cloud Control",
    "Throttling": "AWS kept throttling after retries: lower --parallelism or --max-rps",
    "ResourceConflict": "another request is in progress on this resource: wait for it, then retry",
    "ConcurrentOperation": "another request is in progress on this resource: wait for it, "
    "then retry",
    "ConcurrentModification": "the resource changed during the request: retry",
    "AlreadyExists": "a resource with this identifier already exists: import it or pick "
    "another name",
    "NotUpdatable": "a create-only property cannot change in place: the resource must be replaced",
    "ServiceLimitExceeded": "an account quota was reached: request an increase or remove "
    "unused resources",
    "ClientTokenConflict": "this client token was used for a different request within "
    "36 hours: use a new one",
    "RequestTokenNotFound": "Cloud Control keeps requests for 7 days; check the token and "
    "the region",
    "NotStabilized": "the resource was created but did not stabilise; check it in the "
    "service's console",
}


def _is_throttling(code: str) -> bool:
    bare = code[: -len("Exception")] if code.endswith("Exception") else code
    return bare.startswith(("Throttl", "TooManyRequests", "RequestLimitExceeded", "SlowDown"))


def _hint_for(code: str | None) -> str | None:
    if not code:
        return None
    bare = code[: -len("Exception")] if code.endswith("Exception") else code
    if bare.startswith("AccessDenied"):
        return _HINTS["AccessDenied"]
    if bare.startswith("Throttl"):
        return _HINTS["Throttling"]
    return _HINTS.get(bare)


class RequestFailedError(CloudControlError):
    """A resource request ended FAILED (or was cancelled); ``event`` is its final event."""

    def __init__(self, message: str, event: ProgressEvent, *, hint: str | None = None) -> None:
        super().__init__(
            message,
            error_code=event.error_code,
            status_message=event.status_message,
            request_token=event.request_token,
            hint=hint,
        )
        self.event = event


def _describe(operation: str, type_name: str | None, identifier: str | None, region: str) -> str:
    parts = [operation]
    if type_name:
        parts.append(type_name)
    if identifier:
        parts.append(repr(identifier))
    return f"{' '.join(parts)} in {region}"


def _identifier_text(identifier: str | Mapping[str, Any] | Sequence[str]) -> str:
    """Cloud Control identifiers: a string, a JSON object of identifier properties, or the
    values of a compound primary identifier (joined with ``|``)."""
    if isinstance(identifier, str):
        return identifier
    if isinstance(identifier, Mapping):
        return json.dumps(dict(identifier), separators=(",", ":"))
    return "|".join(str(part) for part in identifier)


def _json_text(value: str | Mapping[str, Any] | Sequence[Any]) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value if not isinstance(value, Mapping) else dict(value))


def _new_token() -> str:
    return str(uuid.uuid4())


class CloudControl:
    """Cloud Control and tagging calls with rate limit, retries and polling.

    ``clock`` (epoch seconds) and ``sleep`` are used for every wait (polls, back-off, rate
    limit) so tests can inject fakes. ``on_event`` is called with every ProgressEvent seen
    (submission answers and polls) unless a call passes its own.
    """

    def __init__(
        self,
        config: CloudConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_event: EventCallback | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config or CloudConfig()
        self.clock = clock
        self.sleep = sleep
        self.on_event = on_event
        self._rng = rng or random.Random()
        self.pool = ClientPool(self.config)
        self.limiter = RateLimiter(self.max_rps, self.config.burst, clock=clock, sleep=sleep)
        self.poll_policy = PollPolicy(
            self.config.poll_initial, self.config.poll_factor, self.config.poll_max
        )

    @property
    def max_rps(self) -> float:
        """The rate limit in force (0 = unlimited): ``max_rps`` when set, else unlimited on
        loopback endpoints (the sandbox) and 20/s against AWS."""
        from stackdeploy.cloud.config import AWS_DEFAULT_MAX_RPS, is_loopback_url

        if self.config.max_rps is not None:
            return max(0.0, float(self.config.max_rps))
        endpoint = self.config.endpoint_url
        if self.config.sandbox or is_loopback_url(endpoint):
            return 0.0
        if not endpoint:
            from stackdeploy.cloud.session import _endpoint_from_environment

            if is_loopback_url(_endpoint_from_environment()):
                return 0.0
        return AWS_DEFAULT_MAX_RPS

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Resolve credentials and region now (raises StackDeployError when there are none)."""
        self.pool.open()

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> CloudControl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def default_region(self) -> str:
        return self.pool.default_region()

    def _region(self, region: str | None) -> str:
        return region or self.pool.default_region()

    # -- the single call path ----------------------------------------------------------------

    def _call(
        self,
        service: str,
        region: str,
        operation: str,
        what: str,
        *,
        expect: str | None = None,
        **params: Any,
    ) -> Any:
        """One API call: rate-limited, retried on throttling/transient errors, errors mapped.

        ``expect``: the key every complete answer holds. An answer without it (an endpoint
        that died while answering can leave a success status with an empty body) is retried
        like a broken connection, never read as an empty result: an empty GetResource would
        plan an update, a missing ProgressEvent would lose a request."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            HTTPClientError,
            NoCredentialsError,
            ParamValidationError,
            PartialCredentialsError,
            TokenRetrievalError,
        )

        client = self.pool.client(service, region)
        method = getattr(client, operation)
        if self.config.role_arn and service == "cloudcontrol" and operation in _ROLE_OPS:
            params.setdefault("RoleArn", self.config.role_arn)
        attempt = 0
        while True:
            self.limiter.acquire()
            try:
                response = method(**params)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code") or "Unknown")
                message = str(error.get("Message") or exc)
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                retryable = code in RETRYABLE_SYNC_CODES or (
                    isinstance(status, int) and status >= 500
                )
                if retryable and attempt < self.config.max_retries:
                    if _is_throttling(code):
                        # Everyone backs off, not only this thread (see RateLimiter.penalize).
                        self.limiter.penalize(self._backoff_delay(attempt))
                    else:
                        self._backoff(attempt)
                    attempt += 1
                    continue
                suffix = f" (after {attempt + 1} attempts)" if attempt else ""
                raise CloudControlError(
                    f"{what}: {code}: {message}{suffix}",
                    error_code=code,
                    status_message=message,
                    hint=_hint_for(code),
                ) from exc
            except (
                EndpointConnectionError,
                ConnectTimeoutError,
                HTTPClientError,  # ReadTimeoutError and ConnectionClosedError among them
            ) as exc:
                # Refused, reset or timed out. A retried mutation carries the same
                # ClientToken, so a request the server handled before the connection broke
                # is answered again, not made twice. Fewer tries than for throttling: an
                # unreachable endpoint rarely recovers in seconds, and the user should not
                # wait half a minute to learn it.
                if attempt < self.config.max_network_retries:
                    self._backoff(attempt)
                    attempt += 1
                    continue
                suffix = f" (after {attempt + 1} attempts)" if attempt else ""
                raise CloudControlError(
                    f"{what}: cannot reach the {service} endpoint{suffix}: {exc}",
                    error_code="NetworkFailure",
                    hint="check the network, --endpoint-url, or that the sandbox is running",
                ) from exc
            except (NoCredentialsError, PartialCredentialsError, TokenRetrievalError) as exc:
                raise CloudControlError(f"{what}: {exc}", hint=_CREDENTIALS_HINT) from exc
            except ParamValidationError as exc:
                # A bug on our side or a value botocore rejects before sending: say which.
                raise CloudControlError(
                    f"{what}: invalid request: {exc}", error_code="InvalidRequest"
                ) from exc
            except BotoCoreError as exc:
                raise CloudControlError(f"{what}: {exc}") from exc
            if expect is None or expect in response:
                return response
            # A mutation retried carries the same ClientToken: answered again, not made twice.
            if attempt < self.config.max_network_retries:
                self._backoff(attempt)
                attempt += 1
                continue
            raise CloudControlError(
                f"{what}: the {service} endpoint answered without {expect} "
                f"(after {attempt + 1} attempts)",
                error_code="IncompleteResponse",
                hint="check --endpoint-url, or that the sandbox is running",
            )

    def _backoff_delay(self, attempt: int) -> float:
        return backoff_delay(
            attempt, base=self.config.retry_base, cap=self.config.retry_max, rng=self._rng
        )

    def _backoff(self, attempt: int) -> None:
        self.sleep(self._backoff_delay(attempt))

    def _cc(
        self, region: str, operation: str, what: str, *, expect: str | None = None, **params: Any
    ) -> Any:
        return self._call("cloudcontrol", region, operation, what, expect=expect, **params)

    # -- reads -------------------------------------------------------------------------------

    def get_resource(
        self,
        type_name: str,
        identifier: str | Mapping[str, Any] | Sequence[str],
        region: str | None = None,
    ) -> dict[str, Any] | None:
        """The resource's properties, or ``None`` if Cloud Control answers ResourceNotFound."""
        region = self._region(region)
        ident = _identifier_text(identifier)
        try:
            response = self._cc(
                region,
                "get_resource",
                _describe("GetResource", type_name, ident, region),
                expect="ResourceDescription",
                TypeName=type_name,
                Identifier=ident,
            )
        except CloudControlError as exc:
            if exc.error_code == "ResourceNotFoundException":
                return None
            raise
        properties = response.get("ResourceDescription", {}).get("Properties") or "{}"
        loaded = json.loads(properties)
        return loaded if isinstance(loaded, dict) else {}

    def list_resources(
        self,
        type_name: str,
        region: str | None = None,
        resource_model: Mapping[str, Any] | str | None = None,
        max_results: int | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield ``(identifier, properties)`` for every resource of the type, over all pages.

        ``resource_model`` is required by the list handler of some types (the schema's
        ``handlers.list.handlerSchema`` says which properties).
        """
        region = self._region(region)
        params: dict[str, Any] = {"TypeName": type_name}
        if resource_model is not None:
            params["ResourceModel"] = _json_text(resource_model)
        if max_results is not None:
            params["MaxResults"] = max_results
        what = _describe("ListResources", type_name, None, region)
        while True:
            response = self._cc(region, "list_resources", what, **params)
            for description in response.get("ResourceDescriptions", []):
                loaded = json.loads(description.get("Properties") or "{}")
                yield description.get("Identifier", ""), loaded if isinstance(loaded, dict) else {}
            token = response.get("NextToken")
            if not token:
                return
            params["NextToken"] = token

    def request_status(self, request_token: str, region: str | None = None) -> ProgressEvent:
        """The current ProgressEvent of a resource request (GetResourceRequestStatus)."""
        region = self._region(region)
        response = self._cc(
            region,
            "get_resource_request_status",
            f"GetResourceRequestStatus {request_token} in {region}",
            expect="ProgressEvent",
            RequestToken=request_token,
        )
        return ProgressEvent.from_api(response["ProgressEvent"])

    def list_resource_requests(
        self,
        region: str | None = None,
        operations: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[ProgressEvent]:
        """Resource requests of the last 7 days (all pages), optionally filtered by operation
        (CREATE, UPDATE, DELETE) and OperationStatus."""
        region = self._region(region)
        params: dict[str, Any] = {}
        status_filter: dict[str, list[str]] = {}
        if operations:
            status_filter["Operations"] = [op.upper() for op in operations]
        if statuses:
            status_filter["OperationStatuses"] = [s.upper() for s in statuses]
        if status_filter:
            params["ResourceRequestStatusFilter"] = status_filter
        events: list[ProgressEvent] = []
        while True:
            response = self._cc(
                region, "list_resource_requests", f"ListResourceRequests in {region}", **params
            )
            events.extend(
                ProgressEvent.from_api(item)
                for item in response.get("ResourceRequestStatusSummaries", [])
            )
            token = response.get("NextToken")
            if not token:
                return events
            params["NextToken"] = token

    def cancel_resource_request(
        self, request_token: str, region: str | None = None
    ) -> ProgressEvent:
        """Cancel a PENDING or IN_PROGRESS request; returns the event Cloud Control answers."""
        region = self._region(region)
        response = self._cc(
            region,
            "cancel_resource_request",
            f"CancelResourceRequest {request_token} in {region}",
            expect="ProgressEvent",
            RequestToken=request_token,
        )
        return ProgressEvent.from_api(response["ProgressEvent"])

    def tagged_resources(
        self,
        region: str | None = None,
        tag_filters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        resource_type_filters: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``[{ResourceARN, Tags: [{Key, Value}]}]`` from the tagging API, over all pages.

        ``tag_filters`` is the API's ``[{"Key": k, "Values": [...]}]`` or a plain mapping
        ``{key: value-or-values}`` (``None`` as the value matches any value of the key).
        """
        region = self._region(region)
        # The largest page the API allows (its default is 50): half the calls.
        params: dict[str, Any] = {"ResourcesPerPage": 100}
        filters = _tag_filters(tag_filters)
        if filters:
            params["TagFilters"] = filters
        if resource_type_filters:
            params["ResourceTypeFilters"] = list(resource_type_filters)
        results: list[dict[str, Any]] = []
        while True:
            response = self._call(
                "resourcegroupstaggingapi",
                region,
                "get_resources",
                f"tagging GetResources in {region}",
                **params,
            )
            for item in response.get("ResourceTagMappingList", []):
                results.append(
                    {"ResourceARN": item.get("ResourceARN"), "Tags": item.get("Tags", [])}
                )
            token = response.get("PaginationToken")
            if not token:
                return results
            params["PaginationToken"] = token

    # -- mutations ---------------------------------------------------------------------------

    def create_resource(
        self,
        type_name: str,
        desired: Mapping[str, Any] | str,
        region: str | None = None,
        client_token: str | None = None,
        timeout_minutes: float | None = None,
        on_event: EventCallback | None = None,
        first_poll: float | None = None,
    ) -> ProgressEvent:
        """Create a resource and poll to the end; returns the final (SUCCESS) event."""
        return self._mutate(
            "CREATE",
            type_name,
            None,
            {"TypeName": type_name, "DesiredState": _json_text(desired)},
            region=region,
            client_token=client_token,
            timeout_minutes=timeout_minutes,
            on_event=on_event,
            first_poll=first_poll,
        )

    def update_resource(
        self,
        type_name: str,
        identifier: str | Mapping[str, Any] | Sequence[str],
        patch_ops: Sequence[Mapping[str, Any]] | str,
        region: str | None = None,
        client_token: str | None = None,
        timeout_minutes: float | None = None,
        on_event: EventCallback | None = None,
        first_poll: float | None = None,
    ) -> ProgressEvent:
        """Apply RFC 6902 ``patch_ops`` to a resource and poll to the end."""
        ident = _identifier_text(identifier)
        patch = (
            patch_ops if isinstance(patch_ops, str) else json.dumps([dict(op) for op in patch_ops])
        )
        return self._mutate(
            "UPDATE",
            type_name,
            ident,
            {"TypeName": type_name, "Identifier": ident, "PatchDocument": patch},
            region=region,
            client_token=client_token,
            timeout_minutes=timeout_minutes,
            on_event=on_event,
            first_poll=first_poll,
        )

    def delete_resource(
        self,
        type_name: str,
        identifier: str | Mapping[str, Any] | Sequence[str],
        region: str | None = None,
        client_token: str | None = None,
        timeout_minutes: float | None = None,
        on_event: EventCallback | None = None,
        first_poll: float | None = None,
    ) -> ProgressEvent:
        """Delete a resource and poll to the end. A resource already gone counts as deleted:
        the FAILED/NotFound event is returned instead of raised."""
        ident = _identifier_text(identifier)
        return self._mutate(
            "DELETE",
            type_name,
            ident,
            {"TypeName": type_name, "Identifier": ident},
            region=region,
            client_token=client_token,
            timeout_minutes=timeout_minutes,
            on_event=on_event,
            first_poll=first_poll,
        )

    def _timeout_seconds(self, timeout_minutes: float | None) -> float:
        minutes = self.config.timeout_minutes
        if minutes is None:
            minutes = timeout_minutes
        if minutes is None:
            minutes = self.config.default_timeout_minutes
        return float(minutes) * 60.0

    def _mutate(
        self,
        operation: str,
        type_name: str,
        identifier: str | None,
        params: dict[str, Any],
        *,
        region: str | None,
        client_token: str | None,
        timeout_minutes: float | None,
        on_event: EventCallback | None,
        first_poll: float | None = None,
    ) -> ProgressEvent:
        region = self._region(region)
        api = {"CREATE": "create_resource", "UPDATE": "update_resource"}.get(
            operation, "delete_resource"
        )
        what = _describe(f"{operation.capitalize()}Resource", type_name, identifier, region)
        callback = on_event or self.on_event
        timeout_s = self._timeout_seconds(timeout_minutes)
        deadline = self.clock() + timeout_s
        # One token per logical submission: botocore or our own sync retries of the same
        # submission stay idempotent; a resubmission after an async failure gets a new one.
        token = client_token or _new_token()
        resubmits = 0
        while True:
            try:
                response = self._cc(
                    region, api, what, expect="ProgressEvent", ClientToken=token, **params
                )
            except CloudControlError as exc:
                if operation == "DELETE" and exc.error_code == "ResourceNotFoundException":
                    return ProgressEvent(
                        type_name=type_name,
                        identifier=identifier,
                        request_token=None,
                        operation="DELETE",
                        status="FAILED",
                        status_message=exc.status_message,
                        error_code="NotFound",
                    )
                raise
            event = ProgressEvent.from_api(response["ProgressEvent"])
            if callback is not None:
                callback(event)
            event = self._poll(
                event,
                region,
                deadline,
                timeout_s,
                callback,
                operation,
                type_name,
                identifier,
                first_poll=first_poll,
            )
            if event.status == "SUCCESS":
                return event
            if event.status == "FAILED":
                if operation == "DELETE" and event.error_code == "NotFound":
                    return event
                if (
                    event.error_code in RETRYABLE_ASYNC_CODES
                    and resubmits < self.config.max_resubmits
                    and self.clock() < deadline
                ):
                    if event.error_code == "Throttling":
                        self.limiter.penalize(self._backoff_delay(resubmits))
                    else:
                        self._backoff(resubmits)
                    resubmits += 1
                    token = _new_token()
                    continue
            raise self._failure(operation, type_name, identifier, region, event, resubmits)

    def _poll(
        self,
        event: ProgressEvent,
        region: str,
        deadline: float,
        timeout_s: float,
        callback: EventCallback | None,
        operation: str,
        type_name: str | None,
        identifier: str | None,
        started: float | None = None,
        first_poll: float | None = None,
    ) -> ProgressEvent:
        """Poll ``event``'s request to its final state (a time-out raises, naming the token)."""
        policy = self.poll_policy
        if first_poll is not None:
            policy = dataclasses.replace(policy, initial=max(0.0, first_poll))
        try:
            return poll_to_completion(
                event,
                lambda request_token: self.request_status(request_token, region),
                deadline=deadline,
                policy=policy,
                clock=self.clock,
                sleep=self.sleep,
                on_event=callback,
                started=started,
            )
        except PollTimeout as timeout:
            last = timeout.event
            what_now = _describe(
                f"{operation.capitalize()}Resource",
                type_name or last.type_name,
                identifier or last.identifier,
                region,
            )
            raise RequestTimeoutError(
                f"{what_now} did not finish within {timeout_s / 60:g} minutes "
                f"(request token {last.request_token}, last status {last.status})",
                error_code=last.error_code,
                status_message=last.status_message,
                request_token=last.request_token,
                hint="the request may still finish: follow it by its request token, or "
                "raise the time-out (--timeout-minutes)",
            ) from None

    def wait_for_request(
        self,
        request_token: str,
        region: str | None = None,
        timeout_minutes: float | None = None,
        on_event: EventCallback | None = None,
    ) -> ProgressEvent:
        """Poll an existing request to its final state and return the final event, whatever
        its status (a run picking up the requests an interrupted run left in flight)."""
        region = self._region(region)
        callback = on_event or self.on_event
        timeout_s = self._timeout_seconds(timeout_minutes)
        deadline = self.clock() + timeout_s
        event = self.request_status(request_token, region)
        if callback is not None:
            callback(event)
        started = self.clock()
        if event.event_time is not None:
            # Elapsed time counts from the submission, for a request an earlier run made.
            started = min(started, event.event_time.timestamp())
        return self._poll(
            event,
            region,
            deadline,
            timeout_s,
            callback,
            event.operation or "REQUEST",
            event.type_name,
            event.identifier,
            started,
        )

    def _failure(
        self,
        operation: str,
        type_name: str,
        identifier: str | None,
        region: str,
        event: ProgressEvent,
        resubmits: int,
    ) -> RequestFailedError:
        what = _describe(
            f"{operation.capitalize()}Resource", type_name, identifier or event.identifier, region
        )
        if event.status == "CANCEL_COMPLETE":
            return RequestFailedError(
                f"{what} was cancelled (request token {event.request_token})", event
            )
        detail = f"{event.error_code or 'failed'}: {event.status_message or 'no status message'}"
        retried = f" after {resubmits} resubmissions" if resubmits else ""
        return RequestFailedError(
            f"{what} failed{retried}: {detail} (request token {event.request_token})",
            event,
            hint=_hint_for(event.error_code),
        )


def _tag_filters(
    tag_filters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    if not tag_filters:
        return []
    if isinstance(tag_filters, Mapping):
        filters: list[dict[str, Any]] = []
        for key, value in tag_filters.items():
            entry: dict[str, Any] = {"Key": str(key)}
            if value is not None:
                entry["Values"] = (
                    [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
                )
            filters.append(entry)
        return filters
    return [dict(item) for item in tag_filters]


# Cloud Control operations that accept RoleArn.
_ROLE_OPS = frozenset(
    {"create_resource", "update_resource", "delete_resource", "get_resource", "list_resources"}
)
