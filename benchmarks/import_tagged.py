"""How long ``stack-deploy import --tag`` takes to adopt a whole estate, and the plan after.

Starts an in-process sandbox server, creates N resources by hand through Cloud Control
(a mix: VPCs with a subnet each, buckets, queues; all tagged ``bench=1``), then times
``import STACK dev --tag bench=1 --yes`` and ``plan`` (which must show every resource
unchanged), in each style.

    python benchmarks/import_tagged.py [-n 20] [--latency 0]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20, help="groups of 4 resources")
    parser.add_argument("--latency", type=float, default=0.0, help="sandbox latency (s)")
    args = parser.parse_args()

    from click.testing import CliRunner

    from stackdeploy.cli import main as cli
    from stackdeploy.cloud.session import open_cloud
    from stackdeploy.sandbox.server import SandboxServer

    for style in ("declarative", "query-file"):
        with tempfile.TemporaryDirectory() as tmp, SandboxServer() as server:
            os.chdir(tmp)
            with open_cloud(endpoint_url=server.url, region="us-east-1", poll_initial=0.01) as cc:
                tags = [{"Key": "bench", "Value": "1"}]
                for i in range(args.n):
                    vpc = cc.create_resource(
                        "AWS::EC2::VPC", {"CidrBlock": f"10.{i}.0.0/16", "Tags": tags}
                    ).identifier
                    cc.create_resource(
                        "AWS::EC2::Subnet",
                        {"VpcId": vpc, "CidrBlock": f"10.{i}.1.0/24", "Tags": tags},
                    )
                    cc.create_resource("AWS::S3::Bucket", {"BucketName": f"b-{i}", "Tags": tags})
                    cc.create_resource("AWS::SQS::Queue", {"QueueName": f"q-{i}", "Tags": tags})
            server.latency = args.latency
            where = ["--endpoint-url", server.url, "--region", "us-east-1"]
            runner = CliRunner()
            start = time.perf_counter()
            result = runner.invoke(
                cli, ["import", "s", "dev", "--tag", "bench=1", "--yes", "--style", style, *where]
            )
            adopted = time.perf_counter() - start
            assert result.exit_code == 0, result.output
            start = time.perf_counter()
            result = runner.invoke(cli, ["plan", "s", "dev", "--output", "json", *where])
            planned = time.perf_counter() - start
            assert result.exit_code == 0, result.output
            actions = {r["action"] for r in json.loads(result.stdout)["resources"]}
            assert actions == {"noop"}, actions
            count = len(list(Path("s").glob("resources/*.iql"))) or 4 * args.n
            print(
                f"{style:<12} {4 * args.n} resources: import {adopted:6.2f} s, "
                f"plan {planned:6.2f} s (all unchanged; {count} entries)"
            )


if __name__ == "__main__":
    main()
