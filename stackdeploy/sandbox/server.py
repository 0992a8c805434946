"""The sandbox's HTTP server: AWS Cloud Control (JSON 1.0), Tagging GetResources (JSON 1.1)
and STS AssumeRole / GetCallerIdentity (query protocol), all on one port.

Every Cloud Control and Tagging call is ``POST /`` with an ``X-Amz-Target`` header, exactly as
botocore sends it, so an unmodified boto3 client or the AWS CLI works with ``endpoint_url=`` /
``AWS_ENDPOINT_URL_CLOUDCONTROL``; STS calls are form-encoded posts without that header.
Errors go back as AWS sends them (HTTP 400, a ``__type`` naming the exception, or an XML
``ErrorResponse`` for STS) so botocore raises its modelled exceptions.

The caller's region comes from the SigV4 credential scope of the ``Authorization`` header. The
account is the one STS AssumeRole issued the access key for; else the access key itself when it
is a 12-digit number; else the server's default account, so tests keep separate state by using
separate keys. Signatures are not checked; the session token of issued credentials and their
expiry are.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl

from stackdeploy.errors import UsageError
from stackdeploy.sandbox.faults import Faults
from stackdeploy.sandbox.handlers import (
    DEFAULT_ACCOUNT,
    HANDLER_OF,
    LIST_MODES,
    Context,
    Handlers,
    Latency,
    SandboxError,
)
from stackdeploy.sandbox.store import CredentialRow, Store

CLOUDCONTROL_PREFIX = "CloudApiService."
TAGGING_PREFIX = "ResourceGroupsTaggingAPI_20170126."
CLOUDCONTROL_NAMESPACE = "com.amazonaws.cloudapiservice"
TAGGING_NAMESPACE = "com.amazonaws.resourcegroupstaggingapi"
DEFAULT_REGION = "us-east-1"
LIST_MODE_ENV_VAR = "STACK_DEPLOY_SANDBOX_LIST_MODE"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/")
_FORM = "application/x-www-form-urlencoded"


class CredentialError(Exception):
    """Credentials the sandbox issued, used after expiry or without their session token."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired

    def json_error(self) -> tuple[str, str]:
        if self.expired:
            return "ExpiredTokenException", "The security token included in the request is expired"
        return (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )

    def sts_error(self) -> tuple[str, str]:
        if self.expired:
            return "ExpiredToken", "The security token included in the request is expired"
        return "InvalidClientTokenId", "The security token included in the request is invalid."


def list_mode_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The ListResources mode named by ``STACK_DEPLOY_SANDBOX_LIST_MODE`` (default identifiers)."""
    value = (environ if environ is not None else os.environ).get(LIST_MODE_ENV_VAR, "")
    mode = value.strip().lower() or "identifiers"
    if mode not in LIST_MODES:
        raise UsageError(
            f"{LIST_MODE_ENV_VAR}={value!r} is not a ListResources mode",
            hint=f"use one of: {', '.join(LIST_MODES)}",
        )
    return mode


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop idle keep-alive connections so their threads end with the server."""
        with self.connections_lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive: botocore reuses them, which doubles throughput.
    protocol_version = "HTTP/1.1"
    server_version = "stack-deploy-sandbox"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every response.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sandbox.verbose:
            sys.stderr.write("sandbox: " + (format % args) + "\n")

    def _send(self, status: int, body: dict[str, Any], content_type: str) -> None:
        self._send_bytes(status, json.dumps(body).encode(), content_type)

    def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        # A tiny health check for scripts waiting for the server to come up.
        self._send(
            200, {"service": "stack-deploy sandbox", "status": "running"}, "application/json"
        )

    def _reset(self) -> None:
        """Drop the connection without answering, with a TCP reset as a failing peer does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            # Linger on with a zero time-out: close() sends RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The descriptor is only released (and the RST sent) once no file wraps the socket.
        with contextlib.suppress(OSError):
            self.rfile.close()
            self.wfile.close()
            self.connection.close()
        # What the request loop still flushes and closes after this handler returns.
        self.rfile, self.wfile = io.BytesIO(), io.BytesIO()

    def do_POST(self) -> None:
        arrived = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target", "")
        if not target and (self.headers.get("Content-Type") or "").startswith(_FORM):
            self._query_protocol(raw, arrived)
            return
        sandbox = self.server.sandbox
        if target.startswith(TAGGING_PREFIX):
            namespace, content_type = TAGGING_NAMESPACE, "application/x-amz-json-1.1"
        else:
            namespace, content_type = CLOUDCONTROL_NAMESPACE, "application/x-amz-json-1.0"
        operation = target.rpartition(".")[2]
        params: Any = None
        problem = "The request body must be a JSON object"
        try:
            params = json.loads(raw or b"{}")
        except ValueError as exc:
            problem = f"Malformed JSON body: {exc}"
        type_name = params.get("TypeName") if isinstance(params, dict) else None
        fault_key = (
            HANDLER_OF.get(operation, operation),
            type_name if isinstance(type_name, str) else "",
        )
        if sandbox.faults.connection_reset("before", *fault_key):
            self._reset()
            return
        try:
            if not isinstance(params, dict):
                raise SandboxError("SerializationException", problem)
            ctx = sandbox.context(self.headers)
            body = sandbox.dispatch(target, params, ctx)
            status = 200
        except SandboxError as exc:
            status, body = exc.status, {"__type": f"{namespace}#{exc.code}", "Message": exc.message}
        except CredentialError as exc:
            code, message = exc.json_error()
            status, body = 403, {"__type": code, "message": message}
        except Exception as exc:  # a sandbox bug: answer like AWS's 500 and say why on stderr
            traceback.print_exc(file=sys.stderr)
            status, body = (
                500,
                {
                    "__type": f"{namespace}#ServiceInternalErrorException",
                    "Message": f"Sandbox internal error: {type(exc).__name__}: {exc}",
                },
            )
        sandbox.log_request(arrived, operation, fault_key[1], status)
        if sandbox.faults.connection_reset("after", *fault_key):
            self._reset()
            return
        self._send(status, body, content_type)

    def _query_protocol(self, raw: bytes, arrived: float) -> None:
        """An STS call: form-encoded parameters in, XML out."""
        from stackdeploy.sandbox import sts

        sandbox = self.server.sandbox
        params = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        action = params.get("Action", "")
        if sandbox.faults.connection_reset("before", action, ""):
            self._reset()
            return
        try:
            ctx = sandbox.context(self.headers)
            name, result = sts.handle(sandbox.store, sandbox.faults, params, ctx)
            status, data = 200, sts.response(name, result)
        except sts.StsError as exc:
            status, data = exc.status, sts.error_response(exc.code, exc.message)
        except CredentialError as exc:
            status, data = 403, sts.error_response(*exc.sts_error())
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            message = f"Sandbox internal error: {type(exc).__name__}: {exc}"
            status, data = 500, sts.error_response("InternalFailure", message)
        sandbox.log_request(arrived, action, "", status)
        if sandbox.faults.connection_reset("after", action, ""):
            self._reset()
            return
        self._send_bytes(status, data, "text/xml")


class SandboxServer:
    """A local Cloud Control endpoint: ``with SandboxServer() as s: boto3...(endpoint_url=s.url)``.

    ``state_path=None`` keeps state in memory; otherwise it is a SQLite file (parent folders
    created; a file that cannot serve raises :class:`~stackdeploy.sandbox.store.StateFileError`).
    ``latency`` is seconds per mutation, or a mapping (see
    :class:`~stackdeploy.sandbox.handlers.Latency`). ``faults`` can be changed while serving.
    ``list_mode`` is what ListResources returns: ``"identifiers"`` (the primary identifier
    properties only, as AWS does for many types) or ``"full"`` (whole models); ``None`` reads
    ``STACK_DEPLOY_SANDBOX_LIST_MODE`` (default identifiers). ``clock`` replaces ``time.time``
    (tests; ``sandbox serve --clock-offset``). ``request_log`` names a file to which one JSON
    line is appended per API call answered (``{"time": arrival epoch seconds, "operation",
    "type", "status": HTTP status}``): what benchmarks count calls and request rates from.
    Requests whose end passed while no server ran are completed as the server starts.
    """

    def __init__(
        self,
        state_path: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float | Mapping[str, float] | Latency = 0.0,
        account_id: str = DEFAULT_ACCOUNT,
        faults: Faults | None = None,
        verbose: bool = False,
        list_mode: str | None = None,
        clock: Callable[[], float] | None = None,
        request_log: str | Path | None = None,
    ) -> None:
        mode = list_mode_from_env() if list_mode is None else list_mode
        if mode not in LIST_MODES:
            raise UsageError(
                f"list_mode {mode!r} is not a ListResources mode",
                hint=f"use one of: {', '.join(LIST_MODES)}",
            )
        self.store = Store(state_path, clock=clock or time.time)
        self._log_lock = threading.Lock()
        self._request_log: IO[str] | None = None
        try:
            self.store.settle()
            self.faults = faults if faults is not None else Faults()
            self.handlers = Handlers(
                self.store, latency=latency, faults=self.faults, list_mode=mode
            )
            self.account_id = account_id
            self.verbose = verbose
            self._credentials: dict[str, CredentialRow] = {}
            if request_log is not None:
                self._request_log = open(request_log, "a", encoding="utf-8")  # noqa: SIM115 (closed by stop())
            self._httpd = _HTTPServer((host, port), self)
        except BaseException:
            self.store.close()
            if self._request_log is not None:
                self._request_log.close()
            raise
        self._thread: threading.Thread | None = None
        self._closed = False
        self._serving = False

    # ------------------------------------------------------------- settings
    @property
    def latency(self) -> Latency:
        return self.handlers.latency

    @latency.setter
    def latency(self, value: float | Mapping[str, float] | Latency) -> None:
        self.handlers.latency = Latency.parse(value)

    @property
    def list_mode(self) -> str:
        return self.handlers.list_mode

    @list_mode.setter
    def list_mode(self, value: str) -> None:
        if value not in LIST_MODES:
            raise ValueError(f"list_mode must be one of {', '.join(LIST_MODES)}: {value!r}")
        self.handlers.list_mode = value

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------ identity
    def context(self, headers: Any) -> Context:
        """Account, region and caller of a request, from its SigV4 ``Authorization`` header
        (and ``X-Amz-Security-Token`` for credentials issued by AssumeRole)."""
        match = _CREDENTIAL.search(headers.get("Authorization") or "")
        if not match:
            return Context(self.account_id, DEFAULT_REGION)
        access_key, region = match.group(1), match.group(2)
        if access_key.startswith("ASIA"):
            issued = self._issued(access_key)
            if issued is not None:
                if headers.get("X-Amz-Security-Token") != issued.session_token:
                    raise CredentialError(expired=False)
                if self.store.clock() >= issued.expires_at:
                    raise CredentialError(expired=True)
                return Context(issued.account, region, issued.arn, issued.user_id)
        account = access_key if re.fullmatch(r"\d{12}", access_key) else self.account_id
        return Context(account, region)

    def _issued(self, access_key: str) -> CredentialRow | None:
        """Credentials issued by AssumeRole (by this process or another on the same state)."""
        found = self._credentials.get(access_key)
        if found is None:
            found = self.store.get_credentials(access_key)
            if found is not None:
                self._credentials[access_key] = found  # rows never change once written
        return found

    def log_request(self, arrived: float, operation: str, type_name: str, status: int) -> None:
        """Append one line to the request log (when there is one)."""
        if self._request_log is None:
            return
        line = json.dumps(
            {"time": arrived, "operation": operation, "type": type_name, "status": status}
        )
        with self._log_lock:
            if not self._request_log.closed:
                self._request_log.write(line + "\n")
                self._request_log.flush()

    # ------------------------------------------------------------ dispatch
    def dispatch(self, target: str, params: dict[str, Any], ctx: Context) -> dict[str, Any]:
        """Run one API call named by its ``X-Amz-Target``."""
        if target.startswith(CLOUDCONTROL_PREFIX):
            return self.handlers.handle(target[len(CLOUDCONTROL_PREFIX) :], params, ctx)
        if target == TAGGING_PREFIX + "GetResources":
            from stackdeploy.sandbox.tagging import get_resources

            failure = self.faults.sync_failure("GetResources", "")
            if failure is not None:
                code, message = failure
                raise SandboxError(
                    code,
                    message
                    or f"User: {ctx.caller_arn} is not authorized to perform: "
                    f"tag:GetResources (injected fault {code})",
                )
            return get_resources(self.store, params, ctx)
        raise SandboxError("UnknownOperationException", f"Unknown operation {target!r}")

    # ----------------------------------------------------------- lifecycle
    def start(self) -> SandboxServer:
        """Serve in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"sandbox-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` is called from another."""
        self._serving = True
        self._httpd.serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        """Stop serving, drop open connections and close the store. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None or self._serving:
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd.close_connections()
        self._httpd.server_close()
        self.store.close()
        if self._request_log is not None:
            with self._log_lock:
                self._request_log.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
