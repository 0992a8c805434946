"""``stack-deploy init NAME``: scaffold a new stack folder that builds in the sandbox."""

from __future__ import annotations

from pathlib import Path

import click

from stackdeploy.errors import UsageError

MANIFEST = """\
# {name}: a new stack. Build it locally with
#   stack-deploy build {name} dev --sandbox
version: 1
name: {name}
description: {name} stack
providers:
  - awscc
globals:
  - name: region
    value: us-east-1
resources:
  # A query-file resource (resources/bucket.iql), in the stackql-deploy style.
  - name: bucket
    props:
      - name: bucket_name
        value: "{{{{ stack_name }}}}-{{{{ stack_env }}}}-bucket"
      - name: tags
        value:
          - Key: stackql:stack-name
            Value: "{{{{ stack_name }}}}"
          - Key: stackql:stack-env
            Value: "{{{{ stack_env }}}}"
    exports:
      - bucket_name
  # A declarative resource: no query file, the props are the desired state.
  - name: queue
    resource_type: awscc.sqs.queues
    props:
      - name: queue_name
        value: "{{{{ stack_name }}}}-{{{{ stack_env }}}}-queue"
      - name: visibility_timeout
        value: 30
    exports:
      - queue_url
exports:
  - bucket_name
  - queue_url
"""

BUCKET_IQL = """\
/*+ exists */
SELECT COUNT(*) AS count
FROM awscc.s3.buckets
WHERE region = '{{ region }}'
AND Identifier = '{{ bucket_name }}';

/*+ create */
INSERT INTO awscc.s3.buckets (
 BucketName,
 Tags,
 region
)
SELECT
 '{{ bucket_name }}',
 '{{ tags }}',
 '{{ region }}';

/*+ update */
UPDATE awscc.s3.buckets
SET PatchDocument = string('{{ { "Tags": tags } | generate_patch_document }}')
WHERE region = '{{ region }}'
AND Identifier = '{{ bucket_name }}';

/*+ exports */
SELECT bucket_name
FROM awscc.s3.buckets
WHERE region = '{{ region }}'
AND Identifier = '{{ bucket_name }}';

/*+ delete */
DELETE FROM awscc.s3.buckets
WHERE Identifier = '{{ bucket_name }}'
AND region = '{{ region }}';
"""

README = """\
# {name}

```bash
stack-deploy build {name} dev --sandbox      # create it in the local sandbox
stack-deploy plan {name} dev --sandbox       # nothing left to do
stack-deploy teardown {name} dev --sandbox   # delete it again
```

Drop `--sandbox` to deploy to AWS with your usual credentials.
"""


@click.command()
@click.argument("name")
@click.option(
    "--provider",
    type=click.Choice(["awscc", "aws"]),
    default="awscc",
    show_default=True,
    help="Provider (aws is accepted as awscc, as in stackql-deploy).",
)
def init(name: str, provider: str) -> None:
    """Create a new stack folder NAME with a manifest, a query file and a README."""
    target = Path(name)
    if target.exists():
        raise UsageError(f"{name} already exists", hint="choose a new folder name")
    stack_name = target.name
    if not stack_name.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"stack name {stack_name!r} may hold only letters, digits, '-' and '_'")
    (target / "resources").mkdir(parents=True)
    (target / "stackql_manifest.yml").write_text(MANIFEST.format(name=stack_name))
    (target / "resources" / "bucket.iql").write_text(BUCKET_IQL)
    (target / "README.md").write_text(README.format(name=stack_name))
    click.echo(f"created {name}/: stackql_manifest.yml, resources/bucket.iql, README.md")
    click.echo(f"next: stack-deploy build {name} dev --sandbox")
