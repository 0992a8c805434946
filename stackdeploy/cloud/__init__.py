"""The one Cloud Control client: calls, polling, retries and rate limit (the only way to AWS).

Importing this package does not import boto3; that happens when the first client is built.
"""

from stackdeploy.cloud.client import CloudControl, RequestFailedError
from stackdeploy.cloud.config import CloudConfig
from stackdeploy.cloud.events import ProgressEvent
from stackdeploy.cloud.session import open_cloud

__all__ = ["CloudConfig", "CloudControl", "ProgressEvent", "RequestFailedError", "open_cloud"]
