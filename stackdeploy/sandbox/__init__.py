"""The sandbox: a local AWS Cloud Control API emulator for every CloudFormation registry type.

``SandboxServer`` (``stackdeploy.sandbox.server``) serves the Cloud Control JSON protocol and
the Tagging API's GetResources over HTTP on loopback; ``store`` keeps the state in SQLite;
``handlers`` implements the operations from the resource schemas; ``values`` invents the
identifiers and read-only values AWS would assign; ``faults`` injects failures for tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stackdeploy.sandbox.faults import Faults
    from stackdeploy.sandbox.server import SandboxServer

__all__ = ["Faults", "SandboxServer"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing a submodule (values, store) does not pull in the HTTP server.
    if name == "SandboxServer":
        from stackdeploy.sandbox.server import SandboxServer

        return SandboxServer
    if name == "Faults":
        from stackdeploy.sandbox.faults import Faults

        return Faults
    raise AttributeError(name)
