"""Eventual consistency and teardown, stackql-deploy 2.x style, through the CLI against the
sandbox (its ``stale`` fault makes reads lag behind a mutation by a number of reads):

- ``test`` runs ``exists`` and the statecheck with their ``retries``, so a resource AWS has
  not made visible yet is not reported as drift;
- every retry reads afresh (a cached read must not answer a retry);
- ``postdelete_retries`` / ``postdelete_retry_delay`` of the check anchor say how many
  post-delete checks run and how far apart;
- the DELETE's RETURNING row feeds ``return_vals.delete`` (``this.*``) and
  ``callback:delete``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.compat.conftest import Cli, write_stack

QUEUE = "AWS::SQS::Queue"

MANIFEST = """
name: lag
providers: [awscc]
globals:
  - name: region
    value: us-east-1
resources:
  - name: queue
    props:
      - name: queue_name
        value: "lag-{{ stack_env }}-q"
      - name: vis
        value: "{{ vars.VIS | default('30') }}"
    exports:
      - queue_url
"""


def queue_iql(*, exists: str = "", statecheck: str = "", delete: str = "") -> str:
    return f"""
    /*+ exists{exists} */
    SELECT queue_url FROM awscc.sqs.queues_list_only
    WHERE region = '{{{{ region }}}}' AND queue_url LIKE '%/{{{{ queue_name }}}}';

    /*+ statecheck{statecheck} */
    SELECT COUNT(*) as count FROM awscc.sqs.queues
    WHERE region = '{{{{ region }}}}' AND Identifier = '{{{{ this.queue_url }}}}'
    AND visibility_timeout = {{{{ vis }}}};

    /*+ create */
    INSERT INTO awscc.sqs.queues (QueueName, VisibilityTimeout, region)
    SELECT '{{{{ queue_name }}}}', {{{{ vis }}}}, '{{{{ region }}}}';

    /*+ update */
    UPDATE awscc.sqs.queues
    SET PatchDocument = string('[{{{{ '{{' }}}}"op": "add", "path": "/VisibilityTimeout",
        "value": {{{{ vis }}}}{{{{ '}}' }}}}]')
    WHERE region = '{{{{ region }}}}' AND Identifier = '{{{{ this.queue_url }}}}';

    /*+ exports */
    SELECT queue_url FROM awscc.sqs.queues
    WHERE region = '{{{{ region }}}}' AND Identifier = '{{{{ this.queue_url }}}}';

    /*+ delete{delete} */
    DELETE FROM awscc.sqs.queues
    WHERE region = '{{{{ region }}}}' AND Identifier = '{{{{ this.queue_url }}}}';
    """


def faults(**rules: Any) -> dict[str, str]:
    """``STACK_DEPLOY_SANDBOX_FAULTS`` for the embedded sandbox of one command."""
    return {"STACK_DEPLOY_SANDBOX_FAULTS": json.dumps(rules)}


def test_build_post_deploy_retries_read_afresh(cli: Cli, tmp_path: Path) -> None:
    stack = write_stack(
        tmp_path / "lag",
        MANIFEST,
        {"queue": queue_iql(statecheck=", retries=3, retry_delay=0")},
    )
    # The first two reads after the create still see no queue: the post-deploy exists check
    # (with the statecheck's retries) must read again, not answer from what it read first.
    lagging = Cli(cli.state, env=faults(stale=[{"type": QUEUE, "operation": "CREATE", "reads": 2}]))
    lagging("build", str(stack), "dev")
    assert cli.actions(stack) == {"queue": "noop"}


def test_test_honours_exists_and_statecheck_retries(
    tmp_path: Path, sandbox_server: Any, client_for: Any, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    cli = Cli(tmp_path / "unused.db", endpoint=sandbox_server.url)
    patient = write_stack(
        tmp_path / "patient",
        MANIFEST,
        {"queue": queue_iql(exists=", retries=3, retry_delay=0", statecheck=", retries=3")},
    )
    hasty = write_stack(tmp_path / "hasty", MANIFEST, {"queue": queue_iql()})
    cc = client_for(sandbox_server.url)

    # A queue made by another pipeline a moment ago: the next two reads do not see it yet.
    sandbox_server.faults.stale(QUEUE, "CREATE", reads=2)
    cc.create_resource(
        TypeName=QUEUE, DesiredState=json.dumps({"QueueName": "lag-dev-q", "VisibilityTimeout": 30})
    )
    cli("test", str(patient), "dev")  # exists: absent, absent, present
    sandbox_server.faults.stale(QUEUE, "CREATE", reads=2)
    cc.delete_resource(TypeName=QUEUE, Identifier=URL)
    cc.create_resource(
        TypeName=QUEUE, DesiredState=json.dumps({"QueueName": "lag-dev-q", "VisibilityTimeout": 30})
    )
    drift = cli("test", str(hasty), "dev", expect=1)  # one attempt: reported absent
    assert "drift found in 1 resource(s): queue" in drift.stderr

    # An update another pipeline just made: the statecheck sees the old value twice.
    sandbox_server.faults.stale(QUEUE, "UPDATE", reads=2)
    patch = [{"op": "replace", "path": "/VisibilityTimeout", "value": 40}]
    cc.update_resource(TypeName=QUEUE, Identifier=URL, PatchDocument=json.dumps(patch))
    # exists (a listing) uses one stale read, the statecheck's first attempt the other; its
    # second attempt reads afresh and passes, and so does the property diff after it.
    cli("test", str(patient), "dev", "-e", "VIS=40")
    sandbox_server.faults.stale(QUEUE, "UPDATE", reads=2)
    patch = [{"op": "replace", "path": "/VisibilityTimeout", "value": 50}]
    cc.update_resource(TypeName=QUEUE, Identifier=URL, PatchDocument=json.dumps(patch))
    drift = cli("test", str(hasty), "dev", "-e", "VIS=50", expect=1)
    assert "drift found in 1 resource(s): queue" in drift.stderr


URL = "https://sqs.us-east-1.amazonaws.com/123456789012/lag-dev-q"


def test_postdelete_retries_are_honoured(cli: Cli, tmp_path: Path) -> None:
    lagging = Cli(cli.state, env=faults(stale=[{"type": QUEUE, "operation": "DELETE", "reads": 2}]))
    # Two post-delete checks, both answered by stale reads: unconfirmed, the teardown fails.
    short = write_stack(
        tmp_path / "short",
        MANIFEST,
        {"queue": queue_iql(exists=", postdelete_retries=2, postdelete_retry_delay=0")},
    )
    cli("build", str(short), "dev")
    failed = lagging("teardown", str(short), "dev", expect=1)
    assert "delete ran but the resource is still there" in failed.stderr
    assert cli.resources() == []  # it was deleted: AWS had not caught up

    # Three checks: the third sees the queue gone.
    enough = write_stack(
        tmp_path / "enough",
        MANIFEST,
        {"queue": queue_iql(exists=", postdelete_retries=3, postdelete_retry_delay=0")},
    )
    cli("build", str(enough), "dev")
    lagging("teardown", str(enough), "dev")
    assert cli.resources() == []


DELETE_RETURNING = """
name: rv
providers: [awscc]
globals:
  - name: region
    value: us-east-1
resources:
  - name: queue
    props:
      - name: queue_name
        value: "rv-{{ stack_env }}-q"
    return_vals:
      delete:
        - RequestToken: delete_token
        - NoSuchField
"""

DELETE_RETURNING_IQL = """
/*+ exists */
SELECT queue_url FROM awscc.sqs.queues_list_only
WHERE region = '{{ region }}' AND queue_url LIKE '%/{{ queue_name }}';

/*+ create */
INSERT INTO awscc.sqs.queues (QueueName, region) SELECT '{{ queue_name }}', '{{ region }}';

/*+ delete */
DELETE FROM awscc.sqs.queues
WHERE region = '{{ region }}' AND Identifier = '{{ this.queue_url }}'
RETURNING *;

/*+ callback:delete, retries=3, retry_delay=0 */
SELECT OperationStatus = 'SUCCESS' AS success, '{{ this.delete_token }}' AS token,
       '{{ callback.Operation }}' AS op
FROM awscc.cloud_control.resource_request
WHERE RequestToken = '{{ this.delete_token }}' AND region = '{{ region }}';
"""


def test_delete_returning_feeds_return_vals_and_callback(cli: Cli, tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "rv", DELETE_RETURNING, {"queue": DELETE_RETURNING_IQL})
    cli("build", str(stack), "dev")
    result = cli("teardown", str(stack), "dev", "--show-queries")
    assert cli.resources() == []
    # callback:delete ran with the token captured by return_vals.delete (this.delete_token)
    # and the RETURNING row as callback.*; a field the row lacks is a warning, not a failure.
    shown = result.stderr.split("callback:delete query:")[1]
    token = shown.split("AS success, '")[1].split("'")[0]
    assert len(token) == 36 and token.count("-") == 4
    assert "'DELETE' AS op" in shown
    assert "return_vals.delete field 'NoSuchField' is missing from the RETURNING row" in (
        result.stderr
    )
