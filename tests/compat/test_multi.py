"""``type: multi``: errors of its create, update and delete statements are warnings, as in
both stackql-deploy versions; the checks after them still decide (through the CLI, with the
sandbox's faults)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.compat.conftest import Cli, write_stack

MANIFEST = """
name: many
providers: [awscc]
globals:
  - name: region
    value: us-east-1
resources:
  - name: pair
    type: {kind}
    props:
      - name: queue_name
        value: "many-{{{{ stack_env }}}}-q"
      - name: bucket_name
        value: "many-{{{{ stack_env }}}}-b"
      - name: vis
        value: "{{{{ vars.VIS | default('30') }}}}"
"""

IQL = """
/*+ exists, postdelete_retries=1, postdelete_retry_delay=0 */
SELECT queue_url FROM awscc.sqs.queues_list_only
WHERE region = '{{ region }}' AND queue_url LIKE '%/{{ queue_name }}';

/*+ statecheck */
SELECT COUNT(*) as count FROM awscc.sqs.queues
WHERE region = '{{ region }}' AND Identifier = '{{ this.queue_url }}'
AND visibility_timeout = {{ vis }};

/*+ create */
INSERT INTO awscc.sqs.queues (QueueName, VisibilityTimeout, region)
SELECT '{{ queue_name }}', {{ vis }}, '{{ region }}';
INSERT INTO awscc.s3.buckets (BucketName, region) SELECT '{{ bucket_name }}', '{{ region }}';

/*+ update */
UPDATE awscc.sqs.queues SET PatchDocument = string('[{"op": "add", "path": "/VisibilityTimeout", "value": {{ vis }}}]')
WHERE region = '{{ region }}' AND Identifier = '{{ this.queue_url }}';

/*+ delete, retries=2 */
DELETE FROM awscc.sqs.queues WHERE region = '{{ region }}' AND Identifier = '{{ this.queue_url }}';
"""


def stack(tmp_path: Path, kind: str) -> Path:
    return write_stack(tmp_path / kind, MANIFEST.format(kind=kind), {"pair": IQL})


def with_faults(cli: Cli, *rules: dict[str, object]) -> Cli:
    return Cli(cli.state, env={"STACK_DEPLOY_SANDBOX_FAULTS": json.dumps({"fail": list(rules)})})


BUCKET_FAILS = {"type": "AWS::S3::Bucket", "operation": "CREATE", "error_code": "AccessDenied"}


def test_create_errors_are_warnings_for_multi_only(cli: Cli, tmp_path: Path) -> None:
    failing = with_faults(cli, BUCKET_FAILS)
    # A plain resource stops at the failed INSERT.
    plain = failing("build", str(stack(tmp_path, "resource")), "dev", expect=1)
    assert "AccessDenied" in plain.stderr
    cli("teardown", str(stack(tmp_path, "resource")), "dev")

    # multi: the failure is a warning, the post-deploy checks find the queue, exit 0.
    multi = stack(tmp_path, "multi")
    built = failing("build", str(multi), "dev")
    assert "pair: create failed (ignored: multi resource)" in built.stderr
    assert "AccessDenied" in built.stderr
    assert [r["type"] for r in cli.resources()] == ["AWS::SQS::Queue"]


def test_update_and_delete_errors_are_warnings(cli: Cli, tmp_path: Path) -> None:
    multi = stack(tmp_path, "multi")
    cli("build", str(multi), "dev")
    queue_fails = {"type": "AWS::SQS::Queue", "error_code": "AccessDenied", "count": 1}
    # The update fails and is ignored; the statecheck after it still says it is not done.
    failed = with_faults(cli, {**queue_fails, "operation": "UPDATE"})(
        "build", str(multi), "dev", "-e", "VIS=45", expect=1
    )
    assert "pair: update failed (ignored: multi resource)" in failed.stderr
    assert "still not in its desired state" in failed.stderr
    # The first DELETE fails (ignored), the check finds the queue, the second DELETE works.
    gone = with_faults(cli, {**queue_fails, "operation": "DELETE", "sync": True})(
        "teardown", str(multi), "dev"
    )
    assert "pair: delete failed (ignored: multi resource)" in gone.stderr
    assert [r["type"] for r in cli.resources()] == ["AWS::S3::Bucket"]
