"""Sessions, credentials, regions, endpoints and client reuse (no call leaves the machine)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from stackdeploy.cloud import CloudConfig, CloudControl
from stackdeploy.cloud.session import FAKE_ACCESS_KEY, ClientPool
from stackdeploy.errors import StackDeployError, UsageError

LOCAL = "http://127.0.0.1:9"


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An environment with no AWS configuration at all (and no metadata-service lookups)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_CLOUDCONTROL",
        "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def access_key(cloud: CloudControl) -> str:
    return str(cloud.pool.session().get_credentials().access_key)


def test_no_credentials_and_no_endpoint_is_a_clear_error(bare_env: Any) -> None:
    cloud = CloudControl(CloudConfig(region="us-east-1"))
    with pytest.raises(StackDeployError) as info:
        cloud.open()
    text = str(info.value)
    assert text.startswith("no AWS credentials found")
    assert "--profile" in text
    assert "AWS_ACCESS_KEY_ID" in text
    assert "--sandbox" in text


def test_endpoint_without_credentials_uses_fake_ones(bare_env: Any) -> None:
    cloud = CloudControl(CloudConfig(endpoint_url=LOCAL))
    cloud.open()
    assert access_key(cloud) == FAKE_ACCESS_KEY
    assert cloud.default_region == "us-east-1"
    client = cloud.pool.client("cloudcontrol", "eu-west-1")
    assert client.meta.endpoint_url == LOCAL
    assert client.meta.region_name == "eu-west-1"
    # The tagging client goes to the same endpoint.
    assert cloud.pool.client("resourcegroupstaggingapi", "eu-west-1").meta.endpoint_url == LOCAL


def test_endpoint_from_environment_counts_as_local(bare_env: Any) -> None:
    bare_env.setenv("AWS_ENDPOINT_URL_CLOUDCONTROL", "http://127.0.0.1:4566")
    cloud = CloudControl(CloudConfig())
    cloud.open()
    assert access_key(cloud) == FAKE_ACCESS_KEY
    client = cloud.pool.client("cloudcontrol", cloud.default_region)
    assert client.meta.endpoint_url == "http://127.0.0.1:4566"


def test_sandbox_never_uses_real_credentials(bare_env: Any) -> None:
    bare_env.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY000000000")
    bare_env.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    cloud = CloudControl(CloudConfig(endpoint_url=LOCAL, sandbox=True))
    assert access_key(cloud) == FAKE_ACCESS_KEY


def test_configured_credentials_and_region_are_used(bare_env: Any) -> None:
    bare_env.setenv("AWS_ACCESS_KEY_ID", "AKIAENVKEY0000000000")
    bare_env.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    bare_env.setenv("AWS_REGION", "ap-southeast-2")
    cloud = CloudControl(CloudConfig(endpoint_url=LOCAL))
    assert access_key(cloud) == "AKIAENVKEY0000000000"
    assert cloud.default_region == "ap-southeast-2"
    # An explicit region wins over the environment.
    assert CloudControl(CloudConfig(region="eu-north-1", endpoint_url=LOCAL)).default_region == (
        "eu-north-1"
    )


def test_profile_from_config_files(bare_env: Any, tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text(
        "[dev]\naws_access_key_id = AKIAPROFILEKEY000000\naws_secret_access_key = s\n"
    )
    (tmp_path / "config").write_text("[profile dev]\nregion = eu-central-1\n")
    cloud = CloudControl(CloudConfig(profile="dev", endpoint_url=LOCAL))
    assert access_key(cloud) == "AKIAPROFILEKEY000000"
    assert cloud.default_region == "eu-central-1"


def test_unknown_profile_is_a_clear_error(bare_env: Any) -> None:
    with pytest.raises(StackDeployError, match="AWS profile 'nope' not found"):
        CloudControl(CloudConfig(profile="nope")).open()


def test_missing_region_against_aws_is_a_clear_error(bare_env: Any) -> None:
    bare_env.setenv("AWS_ACCESS_KEY_ID", "AKIAENVKEY0000000000")
    bare_env.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    cloud = CloudControl(CloudConfig())
    with pytest.raises(StackDeployError, match="no AWS region configured") as info:
        cloud.get_resource("AWS::S3::Bucket", "b")
    assert "--region" in str(info.value)


def test_one_client_per_service_and_region_even_across_threads(bare_env: Any) -> None:
    pool = ClientPool(CloudConfig(endpoint_url=LOCAL))
    results: list[Any] = []
    barrier = threading.Barrier(6)

    def make() -> None:
        barrier.wait()
        results.append(pool.client("cloudcontrol", "us-east-1"))

    threads = [threading.Thread(target=make) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in results}) == 1
    assert pool.client("cloudcontrol", "us-west-2") is not results[0]
    assert pool.client("cloudcontrol", "us-east-1") is results[0]
    # botocore makes a single attempt: retries are ours.
    assert results[0].meta.config.retries["total_max_attempts"] == 1
    pool.close()


def test_sandbox_and_endpoint_together_are_rejected() -> None:
    from stackdeploy.cli.options import CloudOptions, open_cloud_from

    with pytest.raises(UsageError), open_cloud_from(CloudOptions(sandbox=True, endpoint_url=LOCAL)):
        pass


def test_importing_the_package_does_not_import_boto3() -> None:
    code = "import sys, stackdeploy.cloud; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]
