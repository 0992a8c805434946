"""The sandbox: a local AWS Cloud Control API emulator for every CloudFormation registry type.

``SandboxServer`` (``stackdeploy.sandbox.server``) serves the Cloud Control JSON protocol, the
Tagging API's GetResources and STS AssumeRole / GetCallerIdentity (``sts``) over HTTP on
loopback; ``store`` keeps the state in SQLite (``StateFileError`` when a file cannot serve);
``handlers`` implements the operations from the resource schemas; ``values`` invents the
identifiers and read-only values AWS would assign; ``faults`` injects failures for tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stackdeploy.sandbox.faults import Faults
    from stackdeploy.sandbox.server import SandboxServer
    from stackdeploy.sandbox.store import StateFileError

__all__ = ["Faults", "SandboxServer", "StateFileError"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing a submodule (values, store) does not pull in the HTTP server.
    if name == "SandboxServer":
        from stackdeploy.sandbox.server import SandboxServer

        return SandboxServer
    if name == "Faults":
        from stackdeploy.sandbox.faults import Faults

        return Faults
    if name == "StateFileError":
        from stackdeploy.sandbox.store import StateFileError

        return StateFileError
    raise AttributeError(name)
