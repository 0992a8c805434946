"""``vars.X`` (the ``--env-file`` / ``-e`` variables) wherever templates render: globals,
props, query files, ``if`` (bare and templated), and the access keys (``region``)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import Cli, write_stack

MANIFEST = """
name: v
providers: [awscc]
globals:
  - name: region
    value: "{{ vars.HOME_REGION }}"
  - name: prefix
    value: "{{ vars.PREFIX }}-{{ stack_env }}"
resources:
  - name: queue
    if: vars.WITH_QUEUE == 'yes'
    props:
      - name: queue_name
        value: "{{ prefix }}-q"
    exports:
      - queue_url
  - name: param
    if: "'{{ vars.WITH_PARAM }}' == 'yes'"
    resource_type: awscc.ssm.parameters
    region: "{{ vars.PARAM_REGION }}"
    props:
      - name: name
        value: "/{{ vars.PREFIX }}/queue"
      - name: type
        value: String
      - name: value
        value: "{{ queue_url }}"
"""

QUEUE = """
/*+ exists */
SELECT queue_url FROM awscc.sqs.queues_list_only
WHERE region = '{{ region }}' AND queue_url LIKE '%/{{ queue_name }}';

/*+ statecheck */
SELECT COUNT(*) as count FROM awscc.sqs.queues
WHERE region = '{{ region }}' AND Identifier = '{{ this.queue_url }}'
AND visibility_timeout = {{ vars.VIS }};

/*+ create */
INSERT INTO awscc.sqs.queues (QueueName, VisibilityTimeout, region)
SELECT '{{ queue_name }}', {{ vars.VIS }}, '{{ region }}';

/*+ exports */
SELECT queue_url FROM awscc.sqs.queues
WHERE region = '{{ region }}' AND Identifier = '{{ this.queue_url }}';

/*+ delete */
DELETE FROM awscc.sqs.queues WHERE region = '{{ region }}' AND Identifier = '{{ this.queue_url }}';
"""


def test_vars_everywhere(cli: Cli, tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "v", MANIFEST, {"queue": QUEUE})
    env_file = tmp_path / "vars.env"
    env_file.write_text(
        "HOME_REGION=eu-west-2\nPREFIX=acme\nWITH_QUEUE=yes\nWITH_PARAM=no\nVIS=45\n"
        "PARAM_REGION=us-west-1\n"
    )
    args = ("--env-file", str(env_file))
    assert cli.actions(stack, "dev", *args) == {"queue": "create", "param": "skip"}
    cli("build", str(stack), "dev", *args)
    held = {(r["region"], r["type"], r["identifier"]) for r in cli.resources()}
    assert held == {
        (
            "eu-west-2",
            "AWS::SQS::Queue",
            "https://sqs.eu-west-2.amazonaws.com/123456789012/acme-dev-q",
        )
    }
    (queue,) = cli.resources()
    assert queue["properties"]["VisibilityTimeout"] == 45  # vars in the query file

    # -e overrides the env file; the templated if and the param's region use vars too.
    cli("build", str(stack), "dev", *args, "-e", "WITH_PARAM=yes")
    param = [r for r in cli.resources() if r["type"] == "AWS::SSM::Parameter"]
    assert [(p["region"], p["identifier"]) for p in param] == [("us-west-1", "/acme/queue")]
    assert param[0]["properties"]["Value"].endswith("/acme-dev-q")
    assert cli.actions(stack, "dev", *args, "-e", "WITH_PARAM=yes") == {
        "queue": "noop",
        "param": "noop",
    }
    # A changed variable reaches the statecheck (vars in query files): drift.
    drift = cli("test", str(stack), "dev", *args, "-e", "WITH_PARAM=yes", "-e", "VIS=60", expect=1)
    assert "drift found in 1 resource(s): queue" in drift.stderr
    cli("teardown", str(stack), "dev", *args, "-e", "WITH_PARAM=yes")
    assert cli.resources() == []
