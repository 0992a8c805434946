"""The sandbox's HTTP server: AWS Cloud Control (JSON 1.0) and Tagging GetResources (JSON 1.1).

Every call is ``POST /`` with an ``X-Amz-Target`` header, exactly as botocore sends it, so an
unmodified boto3 client or the AWS CLI works with ``endpoint_url=`` /
``AWS_ENDPOINT_URL_CLOUDCONTROL``. Errors go back as AWS sends them (HTTP 400, a ``__type``
naming the exception) so botocore raises its modelled exceptions.

The caller's region comes from the SigV4 credential scope of the ``Authorization`` header; the
account is the access key when it is a 12-digit number and the server's default account
otherwise, so tests can keep separate state by using separate keys. Signatures are not checked.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import traceback
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from stackdeploy.sandbox.faults import Faults
from stackdeploy.sandbox.handlers import DEFAULT_ACCOUNT, Context, Handlers, Latency, SandboxError
from stackdeploy.sandbox.store import Store

CLOUDCONTROL_PREFIX = "CloudApiService."
TAGGING_PREFIX = "ResourceGroupsTaggingAPI_20170126."
CLOUDCONTROL_NAMESPACE = "com.amazonaws.cloudapiservice"
TAGGING_NAMESPACE = "com.amazonaws.resourcegroupstaggingapi"
DEFAULT_REGION = "us-east-1"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/")


def context_from_headers(headers: Any, default_account: str) -> Context:
    """Account and region of a request, from its SigV4 ``Authorization`` header."""
    match = _CREDENTIAL.search(headers.get("Authorization") or "")
    if not match:
        return Context(default_account, DEFAULT_REGION)
    access_key, region = match.group(1), match.group(2)
    account = access_key if re.fullmatch(r"\d{12}", access_key) else default_account
    return Context(account, region)


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
        data = json.dumps(body).encode()
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

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target", "")
        sandbox = self.server.sandbox
        if target.startswith(TAGGING_PREFIX):
            namespace, content_type = TAGGING_NAMESPACE, "application/x-amz-json-1.1"
        else:
            namespace, content_type = CLOUDCONTROL_NAMESPACE, "application/x-amz-json-1.0"
        try:
            try:
                params = json.loads(raw or b"{}")
            except ValueError as exc:
                raise SandboxError("SerializationException", f"Malformed JSON body: {exc}") from exc
            if not isinstance(params, dict):
                raise SandboxError("SerializationException", "The request body must be an object")
            ctx = context_from_headers(self.headers, sandbox.account_id)
            body = sandbox.dispatch(target, params, ctx)
            self._send(200, body, content_type)
        except SandboxError as exc:
            error = {"__type": f"{namespace}#{exc.code}", "Message": exc.message}
            self._send(exc.status, error, content_type)
        except Exception as exc:  # a sandbox bug: answer like AWS's 500 and say why on stderr
            traceback.print_exc(file=sys.stderr)
            error = {
                "__type": f"{namespace}#ServiceInternalErrorException",
                "Message": f"Sandbox internal error: {type(exc).__name__}: {exc}",
            }
            self._send(500, error, content_type)


class SandboxServer:
    """A local Cloud Control endpoint: ``with SandboxServer() as s: boto3...(endpoint_url=s.url)``.

    ``state_path=None`` keeps state in memory; otherwise it is a SQLite file (parent folders
    created). ``latency`` is seconds per mutation, or a mapping (see
    :class:`~stackdeploy.sandbox.handlers.Latency`). ``faults`` can be changed while serving.
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
    ) -> None:
        self.store = Store(state_path)
        self.faults = faults if faults is not None else Faults()
        self.handlers = Handlers(self.store, latency=latency, faults=self.faults)
        self.account_id = account_id
        self.verbose = verbose
        self._httpd = _HTTPServer((host, port), self)
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
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------ dispatch
    def dispatch(self, target: str, params: dict[str, Any], ctx: Context) -> dict[str, Any]:
        """Run one API call named by its ``X-Amz-Target``."""
        if target.startswith(CLOUDCONTROL_PREFIX):
            return self.handlers.handle(target[len(CLOUDCONTROL_PREFIX) :], params, ctx)
        if target == TAGGING_PREFIX + "GetResources":
            from stackdeploy.sandbox.tagging import get_resources

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

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
