"""What a run hands its resource handlers: options, the run state, Cloud Control, reporting.

:class:`Run` is built once per command (by the CLI, or a library caller) and handed to
:class:`~stackdeploy.engine.runner.Runner`;
:class:`Step` is one handler call's view of Cloud Control: during planning every step shares
one read cache (nothing changes while planning); during apply each step gets its own, and
every request it submits is recorded in the run state (so an interrupt can name it) and
reported as an event.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from stackdeploy.cloud.events import ProgressEvent
from stackdeploy.cloud.protocol import CloudControlAPI, CloudFactory, CloudTarget
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
    lock: bool = True
    lock_timeout: float = 0.0


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
    #: Clients of resources that name their own region, role, profile or credentials; None:
    #: every resource uses ``cloud`` (its region still applies to the calls it makes).
    clouds: CloudFactory | None = None
    #: Where ``auth`` variables not in a resource's context are looked up (1.x names process
    #: environment variables there).
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def __post_init__(self) -> None:
        self.tags = StackTags(self.cloud, self.stack.name, self.stack.env)
        self.plan_reads = ReadCache(self.cloud)
        self._lock = threading.Lock()
        self._targets: dict[str, CloudTarget | None] = {}
        # Per target (its client): its plan-time read cache and its tag index.
        self._target_reads: dict[CloudTarget, ReadCache] = {}
        self._target_tags: dict[CloudTarget, StackTags] = {}
        self._offline = False  # see :meth:`offline`

    # -- where and as whom each resource's calls go ----------------------------------------

    def target_for(self, res: ResourceDef) -> CloudTarget | None:
        """The resource's :class:`CloudTarget` (its ``region``, ``role_arn``, ``profile``,
        ``auth``), or None when it uses the run's defaults. Rendered once per run; the
        credentials it reads are remembered as secrets at once."""
        with self._lock:
            if res.name in self._targets:
                return self._targets[res.name]
        target = resolve_target(self, res)
        with self._lock:
            self._targets[res.name] = target
        return target

    def region_for(self, res: ResourceDef) -> str:
        target = self.target_for(res)
        return target.region if target is not None and target.region else self.region

    def cloud_for(self, res: ResourceDef) -> CloudControlAPI:
        """The client the resource's calls go through."""
        target = self.target_for(res)
        if target is None or self.clouds is None or not (target.identity or target.region):
            return self.cloud
        return self.clouds(target)

    @property
    def is_offline(self) -> bool:
        """True while the validating pass runs against an empty, read-only account."""
        return self._offline

    @contextmanager
    def offline(self) -> Iterator[None]:
        """Plan against an empty account that refuses changes (:class:`OfflineCloud`): every
        resource is absent, nothing is read. ``build`` and ``teardown`` validate the stack this
        way before they take the lock. It stands in for the run's client and for the clients
        of resources with their own targets; the plan-time caches are dropped on the way
        out."""
        from stackdeploy.cloud.offline import OfflineCloud

        cloud, clouds = self.cloud, self.clouds
        self.cloud, self.clouds, self._offline = OfflineCloud(self.region), None, True
        self.forget_plan_reads()
        try:
            yield
        finally:
            self.cloud, self.clouds, self._offline = cloud, clouds, False
            self.forget_plan_reads()

    def tags_for(self, res: ResourceDef) -> StackTags:
        """The stack's tag index as the resource's client sees it (its account)."""
        target = self.target_for(res)
        if target is None or self.clouds is None or not target.identity:
            return self.tags
        with self._lock:
            found = self._target_tags.get(target)
        if found is None:
            found = StackTags(self.cloud_for(res), self.stack.name, self.stack.env)
            with self._lock:
                found = self._target_tags.setdefault(target, found)
        return found

    def _plan_reads_for(self, res: ResourceDef | None) -> ReadCache:
        target = self.target_for(res) if res is not None else None
        cloud = self.cloud_for(res) if res is not None else self.cloud
        if target is None or cloud is self.cloud:
            return self.plan_reads
        with self._lock:
            found = self._target_reads.get(target)
            if found is None:
                found = self._target_reads[target] = ReadCache(cloud)
        return found

    def forget_plan_reads(self) -> None:
        """Drop every plan-time cache (reads, tag indexes): the account is read again."""
        self.tags = StackTags(self.cloud, self.stack.name, self.stack.env)
        self.plan_reads = ReadCache(self.cloud)
        self._target_reads.clear()
        self._target_tags.clear()

    def plan_step(self, res: ResourceDef | None = None) -> Step:
        """A read-only step sharing the plan-time read cache of the resource's client."""
        return Step(self, self._plan_reads_for(res), None, region_of=res)

    def apply_step(self, res: ResourceDef) -> Step:
        """A step that may mutate: its own read cache, requests recorded and reported."""
        return Step(self, ReadCache(self.cloud_for(res)), res)

    def show_query(self, res: ResourceDef, anchor: str, sql: str) -> None:
        """``--show-queries``: the rendered query, secrets masked (logs go to stderr)."""
        if self.options.show_queries:
            log.info("[%s] %s query:\n%s", res.name, anchor, self.mask(sql))
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("[%s] %s query:\n%s", res.name, anchor, self.mask(sql))


class Step:
    """One handler call's Cloud Control (``cloud``) and SQL engine (``queries``)."""

    def __init__(
        self,
        run: Run,
        reads: ReadCache,
        res: ResourceDef | None,
        *,
        region_of: ResourceDef | None = None,
    ) -> None:
        self.run = run
        self.res = res
        cloud = (
            reads
            if res is None
            else ReadCache(reads.inner, observer=_Observer(run, res), tokens=_Tokens(run, res))
        )
        self.reads = cloud
        self.cloud: CloudControlAPI = cloud
        owner = res if res is not None else region_of
        region = run.region_for(owner) if owner is not None else run.region
        self.queries = QueryEngine(cloud, region=region, parallelism=run.query_parallelism)

    def forget_reads(self) -> None:
        """Read afresh from now on (a check retried because AWS is eventually consistent)."""
        self.reads.forget_all()


class _Tokens:
    """Deterministic ClientTokens: ``uuid5`` of the run id, the resource, the operation, the
    request's content and how many such requests this step made before. A run that resumes
    one that died keeps its run id, so what the dead run submitted is answered with the
    original request, never created twice; a new run (after a teardown, say) has a new id."""

    def __init__(self, run: Run, res: ResourceDef) -> None:
        self.run = run
        self.res = res
        self.seen: dict[str, int] = {}

    def __call__(self, operation: str, type_name: str, body: Any) -> str:
        text = body if isinstance(body, str) else json.dumps(body, sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        key = f"{self.res.name}|{operation}|{type_name}|{digest}"
        count = self.seen.get(key, 0)
        self.seen[key] = count + 1
        return str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"stack-deploy:{self.run.state.run_id}|{key}|{count}")
        )


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


def resolve_target(run: Run, res: ResourceDef) -> CloudTarget | None:
    """Render the resource's access keys and read its ``auth`` variables (from its context:
    props, globals, exports, env vars; then the process environment, as stackql's own
    ``keyIDenvvar``/``credentialsenvvar`` names are environment variables)."""
    access = res.access
    if access.default:
        return None
    from stackdeploy.errors import DeployError, StackDeployError
    from stackdeploy.manifest.render import render_access, render_props
    from stackdeploy.manifest.stack import has_placeholder

    context = run.state.context(res)
    values = render_access(run.stack, res, context)
    unknown = [k for k, v in values.items() if has_placeholder(v)]
    if unknown:
        raise DeployError(
            f"resource {res.name!r}: {', '.join(unknown)} uses values known only after other "
            "resources are applied",
            hint="give region, role_arn and profile from globals or env vars",
        )
    keys: dict[str, str | None] = {}
    if access.auth is not None:
        props: dict[str, Any] = {}
        try:
            props = render_props(run.stack, res, context)
        except StackDeployError:  # props needing later values: the context may still do
            props = {}
        lookup = {**context, **context.get("vars", {}), **props}
        for field_name, var in (
            ("access_key_id", access.auth.key_id_var),
            ("secret_access_key", access.auth.secret_var),
            ("session_token", access.auth.token_var),
        ):
            if var is None:
                continue
            value = lookup.get(var)
            if value is None:
                value = run.environ.get(var)
            if value is None or not str(value).strip():
                raise DeployError(
                    f"resource {res.name!r}: auth names variable {var!r}, which is not set",
                    hint=f"set it with -e {var}=..., in the env file, or in the environment",
                )
            keys[field_name] = str(value).strip()
        run.state.add_secrets(v for v in keys.values() if v)
    return CloudTarget(
        region=values.get("region"),
        profile=values.get("profile"),
        role_arn=values.get("role_arn"),
        role_session_name=values.get("role_session_name")
        or (_session_name(f"stack-deploy-{run.stack.name}") if values.get("role_arn") else None),
        external_id=values.get("external_id"),
        access_key_id=keys.get("access_key_id"),
        secret_access_key=keys.get("secret_access_key"),
        session_token=keys.get("session_token"),
    )


def _session_name(text: str) -> str:
    """An STS role session name (2 to 64 of ``[\\w+=,.@-]``)."""
    import re

    return re.sub(r"[^\w+=,.@-]", "-", text)[:64]
