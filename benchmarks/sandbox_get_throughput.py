"""GetResource throughput of the sandbox on loopback, with one boto3 client thread.

Starts the sandbox in-process (in-memory state by default), creates a few resources, then
times N GetResource calls from a single boto3 client and prints calls per second.

    python benchmarks/sandbox_get_throughput.py [--calls 2000] [--resources 20] [--state PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--resources", type=int, default=20)
    parser.add_argument("--state", default=None, help="SQLite file (default: in memory)")
    args = parser.parse_args()

    # Never reach real AWS, whatever the environment says.
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
    import boto3

    from stackdeploy.sandbox.server import SandboxServer

    with SandboxServer(args.state) as server:
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
        start = time.perf_counter()
        for n in range(args.calls):
            cc.get_resource(TypeName="AWS::S3::Bucket", Identifier=ids[n % len(ids)])
        elapsed = time.perf_counter() - start
        cc.close()
    print(
        f"GetResource: {args.calls} calls in {elapsed:.2f} s = {args.calls / elapsed:.0f} calls/s "
        f"({elapsed / args.calls * 1000:.2f} ms/call, one boto3 client thread, loopback, "
        f"{'file' if args.state else 'in-memory'} state)"
    )


if __name__ == "__main__":
    main()
