"""Orphans: resources tagged for a stack that no manifest entry claims any more.

stack-deploy tags what it creates with the stack name, the environment and the resource's
manifest name (:mod:`stackdeploy.tags`). A resource carrying the stack's tags whose name tag
no manifest entry has was removed from the manifest, or renamed there. Orphans are found
with the tagging query every run makes anyway
(:class:`~stackdeploy.engine.discovery.StackTags`, one call per 100 tagged resources), each
ARN turned into a Cloud Control type and identifier the way ``import`` does it
(:func:`stackdeploy.adopt.discover.resolve_arn`) and confirmed by the resource's own live
tags.

Not orphans:

* a resource whose name tag is a manifest entry's name, whatever its physical name (a
  declarative resource whose identifier changed is found by its tags and planned as a
  replacement of the same resource);
* a resource the plan already claims by its identifier (an entry renamed in the manifest
  while its physical name stayed: the build moves its name tag), or whose identifier or ARN
  a manifest resource's exports or captured ``exists`` row hold (a query file that tags
  with another name than the entry's: never deleted by mistake);
* a resource whose live tags no longer say it belongs to the stack (the tagging API lags).

``build --prune`` deletes them after the build (:func:`prune_orphans`): in parallel, an
orphan that refers to another one (a subnet to its VPC) before the one it refers to.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from stackdeploy.adopt.discover import Listings, candidate_types, parse_arn, resolve_arn
from stackdeploy.adopt.model import LiveResource
from stackdeploy.adopt.refs import link
from stackdeploy.engine.context import Run
from stackdeploy.engine.discovery import tags_of
from stackdeploy.engine.scheduler import NodeResult, Policy, Scheduler
from stackdeploy.errors import PlanError, StackDeployError
from stackdeploy.plan.model import Orphan, OrphanAction, Plan
from stackdeploy.schema.registry import get_schema
from stackdeploy.tags import TAG_ENV, TAG_RESOURCE, TAG_STACK

log = logging.getLogger("stackdeploy.engine")

#: The reasons of an orphan left alone, and of one deleted.
KEPT = "build --prune deletes it"
PRUNED = "--prune"


@dataclass(frozen=True)
class OrphanScan:
    """The orphans of one run, and the live model of each (by orphan name) that the scan
    read: a saved plan fingerprints them so ``build --plan --prune`` deletes only those."""

    orphans: tuple[Orphan, ...] = ()
    models: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    available: bool = True  # False: the tagging API could not be used, nothing was looked for

    def on(self, plan: Plan) -> Plan:
        """``plan`` with these orphans."""
        return replace(plan, orphans=self.orphans)


def find_orphans(run: Run, plan: Plan, *, prune: bool) -> OrphanScan:
    """The orphans of ``run``'s stack in its region (read-only). ``plan`` is the run's
    plan: what it claims by identifier is never an orphan. With ``prune`` the orphans that
    can be deleted get the action ``delete``."""
    index = run.tags.index(run.region)
    if index is None:
        if prune:
            raise PlanError(
                "--prune: orphans cannot be looked for, the tagging API (GetResources) "
                "cannot be used here; nothing was changed",
                hint="grant tag:GetResources, or run without --prune",
            )
        log.info("orphans were not looked for: the tagging API (GetResources) cannot be used")
        return OrphanScan(available=False)
    claimed = {res.name for res in run.stack.resources}
    taken = {(r.type, r.identifier) for r in plan.resources if r.identifier}
    known = _values_read(run)
    candidates = [
        (tag, arn) for tag in sorted(index) if tag not in claimed for arn in sorted(set(index[tag]))
    ]
    if not candidates:
        return OrphanScan()
    cloud = run.plan_reads  # reads made while planning are reused, new ones kept for later
    listings: Listings = {}

    def resolve(item: tuple[str, str]) -> tuple[str, str, LiveResource | None]:
        tag, arn = item
        return tag, arn, resolve_arn(cloud, run.region, arn, listings=listings)

    workers = max(1, min(run.options.parallelism, len(candidates)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="orphans") as pool:
        resolved = list(pool.map(resolve, candidates))

    found: list[tuple[str, str, LiveResource | None]] = []
    for tag, arn, live in resolved:
        if live is not None:
            tags = tags_of(live.schema, live.properties)
            wanted = {TAG_STACK: run.stack.name, TAG_ENV: run.stack.env, TAG_RESOURCE: tag}
            if any(tags.get(k) != v for k, v in wanted.items()):
                log.debug("%s: its live tags no longer name %s; not an orphan", arn, tag)
                continue
            if (live.type_name, live.identifier) in taken or {live.identifier, arn} & known:
                log.debug("%s (tagged %s) is claimed by the plan; not an orphan", arn, tag)
                continue
        found.append((tag, arn, live))

    names = _unique_names([tag for tag, _, _ in found])
    resolved_names = [n for n, (_, _, live) in zip(names, found, strict=True) if live is not None]
    lives = [live for _, _, live in found if live is not None]
    _, depends = link(resolved_names, lives, [dict(live.properties) for live in lives])
    depends_on = dict(zip(resolved_names, depends, strict=True))

    orphans: list[Orphan] = []
    models: dict[str, Mapping[str, Any] | None] = {}
    for name, (_, arn, live) in zip(names, found, strict=True):
        models[name] = dict(live.properties) if live is not None else None
        if live is None:
            orphans.append(Orphan(name=name, arn=arn, reason=_unresolved_reason(run, arn)))
            continue
        deletable = live.schema.has_handler("delete")
        action: OrphanAction = "delete" if prune and deletable else "skip"
        if not deletable:
            reason = "its type cannot be deleted through Cloud Control"
        else:
            reason = PRUNED if action == "delete" else KEPT
        orphans.append(
            Orphan(
                name=name,
                arn=arn,
                type=live.type_name,
                identifier=live.identifier,
                action=action,
                reason=reason,
                depends_on=depends_on.get(name, ()),
            )
        )
    return OrphanScan(tuple(orphans), models)


def _values_read(run: Run) -> set[str]:
    """Every text value the run recorded for the manifest's resources (exports, ``this.*``)."""
    values: set[str] = set()
    for res in run.stack.resources:
        for found in (run.state.exported(res.name), run.state.this(res)):
            values.update(v for v in found.values() if isinstance(v, str) and v)
    return values


def _unique_names(tags: Sequence[str]) -> list[str]:
    """The tags, with ``#2``, ``#3``... added to repeats (in order)."""
    seen: dict[str, int] = {}
    out = []
    for tag in tags:
        seen[tag] = seen.get(tag, 0) + 1
        out.append(tag if seen[tag] == 1 else f"{tag}#{seen[tag]}")
    return out


def _unresolved_reason(run: Run, arn: str) -> str:
    parts = parse_arn(arn)
    if parts is None or not candidate_types(run.region, parts):
        return "no Cloud Control type matches its ARN: delete it by other means"
    return (
        "Cloud Control does not find it (deleted already, or its identifier cannot be read "
        "from the ARN)"
    )


@dataclass
class PruneResult:
    """The orphans after ``--prune`` (deleted ones keep the action ``delete``; one that
    failed or was not started becomes ``skip`` with the reason) and the failures."""

    orphans: tuple[Orphan, ...]
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def deleted(self) -> int:
        return sum(1 for o in self.orphans if o.action == "delete")


def orphan_label(orphan: Orphan) -> str:
    """How progress names an orphan (never a manifest resource's name)."""
    return f"{orphan.name} (orphan)"


def prune_orphans(run: Run, orphans: Sequence[Orphan]) -> PruneResult:
    """Delete the orphans whose action is ``delete``: in parallel, each before the orphans
    it refers to; one that fails leaves those it refers to in place (they are reported
    skipped). A resource already gone counts as deleted."""
    doomed = {o.name: o for o in orphans if o.action == "delete" and o.type and o.identifier}
    if not doomed:
        return PruneResult(tuple(orphans))
    emit = run.emit
    emit("phase", phase="deleting", message=f"{len(doomed)} orphan(s) (--prune)", count=len(doomed))
    # An orphan waits until every orphan that refers to it is gone.
    needed_by: dict[str, list[str]] = {name: [] for name in doomed}
    for orphan in doomed.values():
        for dep in orphan.depends_on:
            if dep in needed_by:
                needed_by[dep].append(orphan.name)

    def work(name: str) -> None:
        orphan = doomed[name]
        assert orphan.type is not None and orphan.identifier is not None
        label = orphan_label(orphan)
        run.cancel.check(f"delete of orphan {name}")
        began = run.clock()
        emit("started", label, action="delete", type_name=orphan.type)
        schema = get_schema(orphan.type, run.region)
        run.cloud.delete_resource(
            orphan.type,
            orphan.identifier,
            region=run.region,
            timeout_minutes=schema.timeout_minutes("delete"),
        )
        emit(
            "done",
            label,
            action="delete",
            elapsed=run.clock() - began,
            message="orphan deleted",
            type_name=orphan.type,
        )

    def on_finish(name: str, result: NodeResult[None], running: frozenset[str]) -> None:
        if result.status == "failed" and isinstance(result.error, StackDeployError):
            emit("failed", orphan_label(doomed[name]), message=run.mask(str(result.error)))

    policy: Policy = "skip" if run.options.on_failure == "ignore" else "stop"
    results = Scheduler(run.options.parallelism, run.cancel, depends_word="needed by").run(
        list(doomed), needed_by, work, policy=policy, on_finish=on_finish
    )
    for result in results.values():
        if result.status == "failed" and not isinstance(result.error, StackDeployError):
            assert result.error is not None
            raise result.error  # a bug, not a failed delete
    final: list[Orphan] = []
    failures: list[tuple[str, str]] = []
    for orphan in orphans:
        ended = results.get(orphan.name) if orphan.name in doomed else None
        if ended is None or ended.status == "done":
            final.append(orphan)
            continue
        if ended.status == "failed":
            text = run.mask(str(ended.error))
            failures.append((orphan_label(orphan), text))
            reason = f"failed: {text}"
        else:
            reason = f"{ended.status.replace('_', ' ')}: {ended.reason}"
        final.append(replace(orphan, action="skip", reason=reason))
    return PruneResult(tuple(final), failures)
