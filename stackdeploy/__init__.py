"""stack-deploy: deploy stacks of AWS resources through the AWS Cloud Control API.

The package is laid out along the pipeline (see docs/architecture.md):
manifest -> schema -> query -> plan -> engine -> cloud, with the embedded Cloud Control
emulator in ``sandbox`` and the command line in ``cli``. Importing the package is cheap on
purpose: heavy modules (boto3, the schemas, sqlglot) are imported by the code that needs them.
"""

__version__ = "0.1.0"
