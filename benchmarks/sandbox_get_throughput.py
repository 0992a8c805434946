"""GetResource and ListResources throughput of the sandbox on loopback, one boto3 client thread.

Starts the sandbox in-process (in-memory state by default), creates some S3 buckets, then times
N GetResource calls and N ListResources calls (one full page each) from a single boto3 client
and prints calls per second for each. ``--server-only`` times the server's own work instead
(identity, dispatch, store and JSON, without HTTP or boto3).

    python benchmarks/sandbox_get_throughput.py [--calls 2000] [--resources 25] [--state PATH]
        [--operation get|list|both] [--list-mode identifiers|full] [--server-only]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import time
from typing import Any


def _timed(label: str, calls: int, call: Any, detail: str) -> None:
    start = time.perf_counter()
    for n in range(calls):
        call(n)
    elapsed = time.perf_counter() - start
    print(
        f"{label}: {calls} calls in {elapsed:.2f} s = {calls / elapsed:.0f} calls/s "
        f"({elapsed / calls * 1000:.2f} ms/call, {detail})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--resources", type=int, default=25)
    parser.add_argument("--state", default=None, help="SQLite file (default: in memory)")
    parser.add_argument("--operation", choices=["get", "list", "both"], default="both")
    parser.add_argument("--list-mode", choices=["identifiers", "full"], default=None)
    parser.add_argument("--server-only", action="store_true", help="no HTTP, no boto3")
    args = parser.parse_args()

    # Never reach real AWS, whatever the environment says.
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
    import boto3

    from stackdeploy.sandbox.server import SandboxServer

    options: dict[str, Any] = {}
    if args.list_mode and "list_mode" in inspect.signature(SandboxServer).parameters:
        options["list_mode"] = args.list_mode
    with SandboxServer(args.state, **options) as server:
        list_mode = getattr(server, "list_mode", "full")
        cc = boto3.client("cloudcontrol", endpoint_url=server.url, region_name="us-east-1")
        ids = []
        for i in range(args.resources):
            event = cc.create_resource(
                TypeName="AWS::S3::Bucket",
                DesiredState=json.dumps(
                    {
                        "BucketName": f"bench-{os.getpid()}-{i}",
                        "Tags": [{"Key": "i", "Value": str(i)}],
                    }
                ),
            )["ProgressEvent"]
            status = cc.get_resource_request_status(RequestToken=event["RequestToken"])
            ids.append(status["ProgressEvent"]["Identifier"])
        for identifier in ids[:5]:  # warm up connections and caches
            cc.get_resource(TypeName="AWS::S3::Bucket", Identifier=identifier)
        state = "file" if args.state else "in-memory"
        detail = f"one boto3 client thread, loopback, {state} state"
        get: Any = cc.get_resource
        listing: Any = cc.list_resources
        if args.server_only:
            detail = f"server-side only, {state} state"
            headers = {
                "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/"
                "cloudcontrolapi/aws4_request, SignedHeaders=host, Signature=0"
            }

            def call(operation: str, **params: Any) -> Any:
                context = server.context(headers) if hasattr(server, "context") else None
                if context is None:
                    from stackdeploy.sandbox.handlers import Context

                    context = Context()
                return server.dispatch(f"CloudApiService.{operation}", params, context)

            def get(**params: Any) -> Any:
                return call("GetResource", **params)

            def listing(**params: Any) -> Any:
                return call("ListResources", **params)

        if args.operation in ("get", "both"):
            _timed(
                "GetResource",
                args.calls,
                lambda n: get(TypeName="AWS::S3::Bucket", Identifier=ids[n % len(ids)]),
                detail,
            )
        if args.operation in ("list", "both"):
            page = listing(TypeName="AWS::S3::Bucket")["ResourceDescriptions"]
            _timed(
                "ListResources",
                args.calls,
                lambda n: listing(TypeName="AWS::S3::Bucket"),
                f"{len(page)} resources a page, list mode {list_mode}, {detail}",
            )
        cc.close()


if __name__ == "__main__":
    main()
