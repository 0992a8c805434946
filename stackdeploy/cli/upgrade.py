"""``stack-deploy upgrade``: how to upgrade, for users of stackql-deploy's ``upgrade``.

stackql-deploy's ``upgrade`` downloads a new stackql binary (and upgrades pystackql).
stack-deploy has no binary to download: its query engine and resource schemas ship in the
Python package, so upgrading is upgrading the package. The command says how, for the way it
was installed (pip, pipx, or a source checkout), and changes nothing itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from stackdeploy import __version__
from stackdeploy.cli.options import logging_options

PACKAGE = "stack-deploy"


def _source_checkout() -> str | None:
    """The folder of an editable (``pip install -e``) install, if this is one."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution(PACKAGE).read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not data.get("dir_info", {}).get("editable"):
        return None
    url = str(data.get("url", ""))
    return url.removeprefix("file://") or None


def upgrade_instructions() -> list[str]:
    """The lines ``upgrade`` prints."""
    lines = [
        f"stack-deploy {__version__} (Python {sys.version.split()[0]} at {sys.executable})",
        "stack-deploy needs no stackql binary: the query engine and the resource schemas "
        "ship in the package, so there is nothing to download.",
    ]
    checkout = _source_checkout()
    if checkout:
        lines.append(f"It is installed from a source checkout ({checkout}); to upgrade:")
        lines.append(f"  git -C {checkout} pull && {sys.executable} -m pip install -e {checkout}")
    elif "pipx" in Path(sys.prefix).parts:
        lines.append("It is installed with pipx; to upgrade:")
        lines.append(f"  pipx upgrade {PACKAGE}")
    else:
        lines.append("To upgrade:")
        lines.append(f"  {sys.executable} -m pip install --upgrade {PACKAGE}")
    return lines


@click.command()
@logging_options
def upgrade() -> None:
    """Say how to upgrade stack-deploy (there is no binary to download)."""
    for line in upgrade_instructions():
        click.echo(line)
