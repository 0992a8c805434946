"""What a run hands its resource handlers: options, the run state, Cloud Control, reporting.

:class:`Run` is built once per command by :class:`~stackdeploy.engine.runner.Runner`;
:class:`Step` is one handler call's view of Cloud Control: during planning every step shares
one read cache (nothing changes while planning); during apply each step gets its own, and
every request it submits is recorded in the run state (so an interrupt can name it) and
reported as an event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from stackdeploy.cloud.events import ProgressEvent
from stackdeploy.cloud.protocol import CloudControlAPI
from stackdeploy.engine.discovery import ReadCache, StackTags
from stackdeploy.engine.events import Emitter
from stackdeploy.engine.scheduler import Cancel
from stackdeploy.engine.state import RunState
from stackdeploy.manifest.model import ResourceDef
from stackdeploy.manifest.stack import LoadedStack
from stackdeploy.query.engine import QueryEngine

log = logging.getLogger("stackdeploy.engine")

OnFailure = Literal["error", "ignore", "rollback"]


@dataclass(frozen=True)
class RunOptions:
    """Options of one build / test / teardown / plan run."""

    dry_run: bool = False
    allow_replace: bool = False
    on_failure: OnFailure = "error"
    show_queries: bool = False
    targets: tuple[str, ...] = ()
    parallelism: int = 10


def _identity(text: str) -> str:
    return text


@dataclass
class Run:
    """Shared by every handler of one run. ``mask`` hides secrets in anything logged (the
    CLI builds it over :meth:`RunState.secrets`); ``sleep``/``clock`` are injectable so
    tests never wait."""

    stack: LoadedStack
    state: RunState
    cloud: CloudControlAPI
    region: str
    options: RunOptions = field(default_factory=RunOptions)
    emit: Emitter = field(default_factory=lambda: Emitter(None))
    cancel: Cancel = field(default_factory=Cancel)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    mask: Callable[[str], str] = _identity
    query_parallelism: int = 16

    def __post_init__(self) -> None:
        self.tags = StackTags(self.cloud, self.stack.name, self.stack.env)
        self.plan_reads = ReadCache(self.cloud)

    def plan_step(self) -> Step:
        """A read-only step sharing the run's plan-time read cache."""
        return Step(self, self.plan_reads, None)

    def apply_step(self, res: ResourceDef) -> Step:
        """A step that may mutate: its own read cache, requests recorded and reported."""
        return Step(self, ReadCache(self.cloud), res)

    def show_query(self, res: ResourceDef, anchor: str, sql: str) -> None:
        """``--show-queries``: the rendered query, secrets masked (logs go to stderr)."""
        if self.options.show_queries:
            log.info("[%s] %s query:\n%s", res.name, anchor, self.mask(sql))
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("[%s] %s query:\n%s", res.name, anchor, self.mask(sql))


class Step:
    """One handler call's Cloud Control (``cloud``) and SQL engine (``queries``)."""

    def __init__(self, run: Run, reads: ReadCache, res: ResourceDef | None) -> None:
        self.run = run
        self.res = res
        cloud = reads if res is None else ReadCache(reads.inner, observer=_Observer(run, res))
        self.reads = cloud
        self.cloud: CloudControlAPI = cloud
        self.queries = QueryEngine(cloud, region=run.region, parallelism=run.query_parallelism)

    def forget_reads(self) -> None:
        """Read afresh from now on (a check retried because AWS is eventually consistent)."""
        self.reads.forget_all()


class _Observer:
    """Refuses mutations once the run is cancelled; records and reports each request."""

    def __init__(self, run: Run, res: ResourceDef) -> None:
        self.run = run
        self.res = res

    def __call__(
        self, operation: str, type_name: str, region: str | None
    ) -> Callable[[ProgressEvent], None]:
        run, res = self.run, self.res
        run.cancel.check(f"{operation.lower()} of {res.name}")
        announced: set[str] = set()

        def seen(event: ProgressEvent) -> None:
            token = event.request_token
            if not token:
                return
            if token not in announced:
                announced.add(token)
                run.state.request_started(res, operation, token, type_name=type_name, region=region)
                run.emit(
                    "request",
                    res.name,
                    request_token=token,
                    operation=operation,
                    type_name=type_name,
                )
            if event.is_final:
                run.state.request_finished(token)
                run.emit(
                    "request_done",
                    res.name,
                    request_token=token,
                    operation=operation,
                    type_name=type_name,
                    message=event.status,
                )

        return seen
