"""``stack-deploy info``: what is installed and where commands would run, like stackql-deploy's
``info`` (which shows its own, the stackql binary's and the providers' versions).

Here: stack-deploy's version, Python, the resource schema registry (cfn-lint's bundled
CloudFormation schemas: version and type count), the providers the query engine serves, where
AWS credentials would come from (their source, never a key or secret), the Cloud Control
endpoint and the sandbox state file. Nothing is sent anywhere: credentials are located, not
used.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click

from stackdeploy import __version__
from stackdeploy.cli.options import DEFAULT_SANDBOX_STATE, logging_options

# botocore's names for where credentials were found -> what a user recognises.
_CREDENTIAL_SOURCES = {
    "env": "environment (AWS_ACCESS_KEY_ID)",
    "shared-credentials-file": "shared credentials file",
    "config-file": "AWS config file",
    "custom-process": "credential_process",
    "assume-role": "assume role (profile)",
    "assume-role-with-web-identity": "web identity token",
    "sso": "IAM Identity Center (SSO)",
    "container-role": "container role",
    "iam-role": "instance profile",
    "explicit": "explicit keys",
}


def _package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _registry(region: str) -> dict[str, Any]:
    from stackdeploy.errors import StackDeployError
    from stackdeploy.schema.registry import provider_index, schemas_dir

    info: dict[str, Any] = {"source": "cfn-lint", "version": _package_version("cfn-lint")}
    try:
        info["types"] = len(provider_index(region))
        info["region"] = region
        info["path"] = str(schemas_dir())
    except (StackDeployError, OSError) as exc:
        info["error"] = str(exc)
    return info


def _providers(region: str) -> list[dict[str, Any]]:
    """The providers whose tables the query engine resolves (checked, not assumed)."""
    from stackdeploy.errors import StackDeployError
    from stackdeploy.query.tables import resolve_table
    from stackdeploy.schema.registry import get_registry

    providers = [
        {"name": "awscc", "tables": len(get_registry(region).awscc_index()), "api": "Cloud Control"}
    ]
    try:
        resolve_table("aws.s3.buckets", region=region)
    except StackDeployError:
        pass
    else:
        providers.append({"name": "aws", "api": "Cloud Control (stackql-deploy 1.x names)"})
    return providers


def _credentials(profile: str | None) -> dict[str, Any]:
    """Where credentials would come from, without fetching or printing them."""
    import boto3
    from botocore.exceptions import BotoCoreError

    info: dict[str, Any] = {"profile": profile or os.environ.get("AWS_PROFILE")}
    try:
        session = boto3.Session(profile_name=profile)
        credentials = session.get_credentials()
        info["region"] = os.environ.get("AWS_REGION") or session.region_name
    except BotoCoreError as exc:
        info.update(source="error", error=str(exc))
        return info
    if credentials is None:
        info["source"] = "none"
        return info
    method = getattr(credentials, "method", None) or "unknown"
    info["source"] = _CREDENTIAL_SOURCES.get(method, method)
    return info


def _endpoint() -> str | None:
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    return os.environ.get("AWS_ENDPOINT_URL_CLOUDCONTROL") or os.environ.get("AWS_ENDPOINT_URL")


def _sandbox(state: str) -> dict[str, Any]:
    """The state file's resources, read only (the file is never created or changed)."""
    path = Path(state)
    info: dict[str, Any] = {"state": str(path), "exists": path.is_file()}
    if not path.is_file():
        return info
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
            resources, types = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT type_name) FROM resources"
            ).fetchone()
            regions = [r for (r,) in conn.execute("SELECT DISTINCT region FROM resources")]
        info.update(resources=resources, types=types, regions=sorted(regions))
    except sqlite3.Error as exc:
        info["error"] = f"not a sandbox state file ({exc})"
    return info


def collect(*, region: str, profile: str | None, sandbox_state: str) -> dict[str, Any]:
    """Everything ``info`` shows, as one JSON-ready document."""
    return {
        "stack_deploy": {"version": __version__},
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "platform": platform.platform(terse=True),
        },
        "registry": _registry(region),
        "providers": _providers(region),
        "credentials": _credentials(profile),
        "endpoint": _endpoint(),
        "sandbox": _sandbox(sandbox_state),
        "libraries": {
            name: _package_version(name)
            for name in ("boto3", "botocore", "sqlglot", "jinja2", "click", "prompt_toolkit")
        },
    }


def _text(doc: dict[str, Any]) -> list[str]:
    registry, creds, sandbox = doc["registry"], doc["credentials"], doc["sandbox"]
    if "error" in registry:
        schemas = f"unavailable: {registry['error']}"
    else:
        schemas = (
            f"cfn-lint {registry['version']}: {registry['types']} resource types "
            f"({registry['region']})"
        )
    providers = ", ".join(
        f"{p['name']} ({p['tables']} tables)" if "tables" in p else p["name"]
        for p in doc["providers"]
    )
    source = creds["source"]
    if creds.get("profile"):
        source += f", profile {creds['profile']}"
    if creds.get("error"):
        source += f": {creds['error']}"
    if sandbox["exists"]:
        if "error" in sandbox:
            state = f"{sandbox['state']}: {sandbox['error']}"
        else:
            state = (
                f"{sandbox['state']}: {sandbox['resources']} resources of {sandbox['types']} types"
            )
            if sandbox["regions"]:
                state += f" in {', '.join(sandbox['regions'])}"
    else:
        state = f"{sandbox['state']}: none yet (created by the first --sandbox run)"
    python = doc["python"]
    rows = [
        ("stack-deploy", doc["stack_deploy"]["version"]),
        ("python", f"{python['implementation']} {python['version']} ({python['executable']})"),
        ("platform", python["platform"]),
        ("schemas", schemas),
        ("providers", providers),
        ("credentials", source),
        ("region", creds.get("region") or "not set (pass --region or set AWS_REGION)"),
        ("endpoint", doc["endpoint"] or "AWS (no AWS_ENDPOINT_URL set)"),
        ("sandbox state", state),
        ("libraries", ", ".join(f"{k} {v}" for k, v in doc["libraries"].items() if v)),
    ]
    width = max(len(label) for label, _ in rows)
    return [f"{label.ljust(width)}  {value}" for label, value in rows]


@click.command()
@click.option(
    "--region", default=None, help="Region whose schemas are counted (default us-east-1)."
)
@click.option("--profile", default=None, help="AWS profile whose credentials source is shown.")
@click.option(
    "--sandbox-state",
    type=click.Path(dir_okay=False),
    default=DEFAULT_SANDBOX_STATE,
    show_default=True,
    help="Sandbox state file to describe.",
)
@click.option(
    "--output",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Result format on stdout.",
)
@logging_options
def info(region: str | None, profile: str | None, sandbox_state: str, output_format: str) -> None:
    """Show versions, schemas, providers, credentials source and sandbox state."""
    doc = collect(region=region or "us-east-1", profile=profile, sandbox_state=sandbox_state)
    if output_format == "json":
        click.echo(json.dumps(doc, indent=2))
        return
    for line in _text(doc):
        click.echo(line)
