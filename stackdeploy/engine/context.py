"""What every resource handler needs during a run: stack, clients, options, reporting."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stackdeploy.manifest.context import Stack

log = logging.getLogger("stackdeploy.engine")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RunOptions:
    """Options of one build / test / teardown / plan run."""

    dry_run: bool = False
    allow_replace: bool = False
    on_failure: str = "error"  # error | ignore | rollback
    show_queries: bool = False
    targets: tuple[str, ...] = ()


@dataclass
class RunContext:
    """Shared state of a run. ``sleep`` is injectable so tests never wait for real."""

    stack: Stack
    cloud: Any  # stackdeploy.cloud.client.CloudControl
    engine: Any  # stackdeploy.query.engine.QueryEngine
    region: str
    options: RunOptions = field(default_factory=RunOptions)
    sleep: Callable[[float], None] = time.sleep
    progress: Callable[[str], None] = field(default=lambda message: _stderr(message))

    def say(self, message: str) -> None:
        """A progress line (stderr)."""
        self.progress(message)

    def show_query(self, resource: str, anchor: str, sql: str) -> None:
        if self.options.show_queries:
            masked = sql
            for secret in self.stack.secret_values():
                masked = masked.replace(secret, "****")
            log.info("[%s] %s query:\n%s", resource, anchor, masked)
