"""Run a stack: plan the whole of it first, then apply it over the dependency graph.

One loop per verb, and no look at what kind each resource is (its handler knows):

* ``plan`` / ``test``: plan every selected resource (read-only), in parallel over the graph;
  every error of every resource is reported at once.
* ``build``: the same plan first, and only when it holds no error, apply: a resource starts
  as soon as everything it needs is done. A resource planned while something it needs was
  still to change is planned again, with the real values, when its turn comes.
* ``teardown``: collect every resource's exports (graph order), plan every delete (the check
  queries), then delete in reverse graph order, in parallel.

Failures follow ``--on-failure``: ``error`` stops scheduling and lets what runs finish;
``ignore`` carries on with everything that does not depend on the failure; ``rollback``
stops, then deletes what this run created, dependents first, in parallel. An interrupt
(:class:`~stackdeploy.engine.scheduler.Cancel`) stops scheduling; requests in flight are
polled to their end before the run reports :class:`Interrupted`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from stackdeploy.engine.context import Run
from stackdeploy.engine.graph import Graph, build_graph
from stackdeploy.engine.handlers import ResourceHandler, Verb, handler_for
from stackdeploy.engine.lock import HEARTBEAT, LockRecord, StackLock
from stackdeploy.engine.scheduler import NodeResult, Policy, Scheduler
from stackdeploy.errors import CloudControlError, LocatedError, StackDeployError
from stackdeploy.manifest.stack import EVALUATED, UNKNOWN
from stackdeploy.plan.model import Plan, ResourcePlan

log = logging.getLogger("stackdeploy.engine")


def elapsed_text(seconds: float) -> str:
    """A run's duration as stackql-deploy 2.x writes ``elapsed_time`` (Rust's ``{:.2?}`` of a
    Duration): ``49.22s``, or ``312.40ms`` / ``15.00µs`` / ``800.00ns`` under a second."""
    nanos = max(0, round(seconds * 1e9))
    if nanos >= 1_000_000_000:
        return f"{nanos / 1e9:.2f}s"
    if nanos >= 1_000_000:
        return f"{nanos / 1e6:.2f}ms"
    if nanos >= 1_000:
        return f"{nanos / 1e3:.2f}µs"
    return f"{nanos:.2f}ns"


class PlanErrors(StackDeployError):
    """Planning found errors: every one of them, each with its file and line. Nothing was
    changed."""

    def __init__(self, errors: list[tuple[str, StackDeployError]]) -> None:
        self.errors = errors
        if len(errors) == 1:
            name, exc = errors[0]
            message = _with_resource(name, exc)
            super().__init__(message)
            self.exit_code = exc.exit_code
            return
        lines = [f"{len(errors)} resources cannot be planned (nothing was changed):"]
        lines += [f"  {_with_resource(name, exc)}" for name, exc in errors]
        super().__init__("\n".join(lines))


def _with_resource(name: str, exc: StackDeployError) -> str:
    text = str(exc)
    if isinstance(exc, LocatedError) or name in text:
        return text
    return f"{name}: {text}"


def _raise_plan_errors(results: Mapping[str, NodeResult[Any]]) -> None:
    """Every resource's planning error at once, when there is any."""
    errors = [
        (name, r.error)
        for name, r in results.items()
        if r.status == "failed" and isinstance(r.error, StackDeployError)
    ]
    if errors:
        raise PlanErrors(errors)


class Interrupted(StackDeployError):
    """The run was interrupted (SIGINT: exit 130, SIGTERM: exit 143) after what was in
    flight finished."""

    def __init__(self, message: str, *, signal_name: str, result: RunResult | None = None) -> None:
        super().__init__(message)
        self.exit_code = 143 if signal_name == "SIGTERM" else 130
        self.result = result


@dataclass
class RunResult:
    """What a run did: the plan carried out, the resources that failed, the stack exports."""

    plan: Plan
    failures: list[tuple[str, str]] = field(default_factory=list)
    exports: dict[str, Any] | None = None
    elapsed: float = 0.0
    rolled_back: list[str] = field(default_factory=list)


class Runner:
    """Plans and runs one loaded stack (see the module docstring)."""

    def __init__(self, run: Run, *, graph: Graph | None = None) -> None:
        self.run = run
        self.stack = run.stack
        self.graph: Graph = graph if graph is not None else build_graph(self.stack)
        self.handlers: dict[str, ResourceHandler] = {}
        for res in self.stack.resources:
            handler = handler_for(run, res)
            handler.depends_on = self.graph.deps[res.name]
            self.handlers[res.name] = handler
        self._started = run.clock()

    # -- helpers --------------------------------------------------------------------------

    def selected(self, *, reverse: bool = False) -> tuple[str, ...]:
        return self.graph.select(self.run.options.targets, reverse=reverse)

    def _scheduler(self, *, depends_word: str = "depends on") -> Scheduler:
        return Scheduler(self.run.options.parallelism, self.run.cancel, depends_word=depends_word)

    def _elapsed(self) -> float:
        return self.run.clock() - self._started

    def _error_text(self, exc: BaseException) -> str:
        return self.run.mask(str(exc))

    def _raise_unexpected(self, results: Mapping[str, NodeResult[Any]]) -> None:
        """A bug inside a worker is not a resource failure: raise it (after in-flight work
        ended) so the CLI reports an internal error."""
        for result in results.values():
            if result.status == "failed" and not isinstance(result.error, StackDeployError):
                assert result.error is not None
                raise result.error

    def _check_interrupted(self, result: RunResult | None = None) -> None:
        cancel = self.run.cancel
        if cancel.is_set():
            reason = cancel.reason or "SIGINT"
            raise Interrupted(
                f"interrupted ({reason}): nothing new was started; requests already in flight "
                "were followed to their end",
                signal_name=reason,
                result=result,
            )

    # -- the stack lock -------------------------------------------------------------------

    @contextmanager
    def locked(self, command: str) -> Iterator[StackLock]:
        """Hold the stack lock (``build``/``teardown``) for the block: taken before planning,
        so what is planned is what is applied; requests in flight are recorded in it; a dead
        run's lock is taken over and that run resumed (see :mod:`stackdeploy.engine.lock`)."""
        options = self.run.options
        emit = self.run.emit
        lock = StackLock(
            self.run.cloud,
            self.stack.name,
            self.stack.env,
            self.run.region,
            command=command,
            run_id=self.run.state.run_id,
            clock=self.run.clock,
            sleep=self.run.sleep,
        )
        try:
            acquired = lock.acquire(
                options.lock_timeout,
                on_wait=lambda holder: emit(
                    "note", message=f"waiting for the stack lock, held by {holder.describe()}"
                ),
                abort=self.run.cancel.is_set,
            )
        except StackDeployError:
            self._check_interrupted()  # an interrupt while waiting is an interrupt (130/143)
            raise
        if acquired.resumed is not None:
            self.run.state.resume(acquired.resumed.run_id)
            self._resume(acquired.resumed)
        self.run.state.on_in_flight = lock.record_in_flight
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(HEARTBEAT / 2):
                lock.refresh()

        beat = threading.Thread(target=heartbeat, name="stack-lock-heartbeat", daemon=True)
        beat.start()
        try:
            yield lock
        finally:
            stop.set()
            self.run.state.on_in_flight = None
            lock.release()

    def _resume(self, dead: LockRecord) -> None:
        """Finish what a dead run had in flight before planning (its requests are followed
        to their end, never submitted again)."""
        emit = self.run.emit
        emit(
            "note",
            message=f"resuming the interrupted run of {dead.describe()}: waiting for its "
            f"{len(dead.in_flight)} request(s) in flight",
        )

        def wait(token: str) -> None:
            try:
                event = self.run.cloud.wait_for_request(token, region=dead.region)
                emit("note", message=f"request {token} of the interrupted run: {event.status}")
            except CloudControlError as exc:
                log.warning("request %s of the interrupted run: %s", token, exc)

        threads = [threading.Thread(target=wait, args=(t,), daemon=True) for t in dead.in_flight]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def warn_if_locked(self) -> None:
        """``plan`` and ``test`` take no lock, but say when a run holds it."""
        lock = StackLock(self.run.cloud, self.stack.name, self.stack.env, self.run.region)
        try:
            holder = lock.peek()
        except CloudControlError as exc:
            log.debug("cannot read the stack lock: %s", exc)
            return
        if holder is not None:
            log.warning(
                "stack %s (%s) is locked by %s: a build or teardown may be changing it",
                self.stack.name,
                self.stack.env,
                holder.describe(),
            )

    # -- planning -------------------------------------------------------------------------

    def _plan_all(self, verb: Verb, nodes: tuple[str, ...]) -> dict[str, ResourcePlan]:
        emit = self.run.emit
        emit("phase", phase="planning", message=f"{len(nodes)} resources", count=len(nodes))

        def work(name: str) -> ResourcePlan:
            handler = self.handlers[name]
            emit("planning", name)
            try:
                plan = handler.plan(self.run.plan_step(handler.res), verb)
            except StackDeployError:
                # Later resources still get planned: their own errors are reported too.
                self.run.state.set_placeholders(handler.res, EVALUATED)
                raise
            emit("planned", name, action=plan.action, message=plan.reason, type_name=plan.type)
            return plan

        results = self._scheduler().run(nodes, self.graph.deps, work, policy="continue")
        self._raise_unexpected(results)
        self._check_interrupted()
        errors: list[tuple[str, StackDeployError]] = []
        for name, result in results.items():
            if result.status == "failed":
                assert isinstance(result.error, StackDeployError)
                errors.append((name, result.error))
                emit("failed", name, phase="planning", message=self._error_text(result.error))
        if errors:
            raise PlanErrors(errors)
        return {name: r.value for name, r in results.items() if r.value is not None}

    def plan(self) -> Plan:
        """What build would do; runs only read-only queries."""
        if self.run.options.lock:
            self.warn_if_locked()
        nodes = self.selected()
        plans = self._plan_all("plan", nodes)
        return Plan(self.stack.name, self.stack.env, tuple(plans[n] for n in nodes))

    def test(self) -> RunResult:
        """Every resource exists, is in its desired state and its exports resolve."""
        if self.run.options.lock:
            self.warn_if_locked()
        nodes = self.selected()
        plans = self._plan_all("test", nodes)
        plan = Plan(self.stack.name, self.stack.env, tuple(plans[n] for n in nodes))
        result = RunResult(plan, elapsed=self._elapsed())
        if not plan.has_changes and not self.run.options.targets:
            result.exports = self._stack_exports(result.elapsed)
        return result

    # -- build ----------------------------------------------------------------------------

    def build(self, *, before_apply: Callable[[Plan], Plan] | None = None) -> RunResult:
        """Plan every resource, then (unless a dry run) apply over the graph, holding the
        stack lock.

        ``before_apply`` sees the whole plan once every resource is planned (under the lock)
        and before anything changes (orphans are added, a saved plan is compared there);
        what it returns is the plan a dry run reports. Raising stops the build, nothing
        changed."""
        return self._guarded(
            "build",
            validate=lambda: self._plan_all("build", self.selected()),
            run=lambda: self._build(before_apply),
        )

    def _guarded(
        self, command: str, *, validate: Callable[[], object], run: Callable[[], RunResult]
    ) -> RunResult:
        """``run`` a build or teardown under the stack lock, once ``validate`` passed.

        The whole stack is validated before the account is touched (not even the lock),
        against an empty read-only account so nothing is read twice; ``run`` then plans under
        the lock: what is changed is what the run holding it read and planned. A dry run
        takes no lock (it says when one is held); ``--no-lock`` skips both."""
        options = self.run.options
        if options.dry_run or not options.lock:
            if options.dry_run and options.lock:
                self.warn_if_locked()
            return run()
        with self._quietly(), self.run.offline():
            validate()
        with self.locked(command):
            return run()

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """The validating pass reports nothing as it goes (its errors end the run; the
        plan made under the lock is the one the progress shows)."""
        from stackdeploy.engine.events import Emitter

        emit = self.run.emit
        self.run.emit = Emitter(None, clock=self.run.clock)
        try:
            yield
        finally:
            self.run.emit = emit

    def _build(self, before_apply: Callable[[Plan], Plan] | None = None) -> RunResult:
        nodes = self.selected()
        plans = self._plan_all("build", nodes)
        whole = Plan(self.stack.name, self.stack.env, tuple(plans[n] for n in nodes))
        if before_apply is not None:
            whole = before_apply(whole)
        if self.run.options.dry_run:
            return RunResult(whole, elapsed=self._elapsed())
        changing = {n for n in nodes if self.handlers[n].runs_on_apply(plans[n])}
        emit = self.run.emit
        emit("phase", phase="applying", message=f"{len(changing)} to change", count=len(changing))
        policy: Policy = "skip" if self.run.options.on_failure == "ignore" else "stop"

        def work(name: str) -> ResourcePlan:
            handler = self.handlers[name]
            replan = any(dep in changing for dep in self.graph.deps[name])
            planned = plans[name]
            began = self.run.clock()
            if name in changing or replan:
                emit("started", name, action=planned.action, type_name=planned.type)
            step = self.run.apply_step(handler.res)
            final = handler.apply(planned, step, replan=replan)
            if name in changing or replan or final.changed:
                emit(
                    "done",
                    name,
                    action=final.action,
                    elapsed=self.run.clock() - began,
                    message=handler.done_message(final),
                    type_name=final.type,
                )
            return final

        def on_finish(name: str, result: NodeResult[ResourcePlan], running: frozenset[str]) -> None:
            if result.status == "failed" and isinstance(result.error, StackDeployError):
                emit("failed", name, message=self._error_text(result.error))
                if policy == "stop" and running:
                    emit(
                        "note",
                        message=f"{name} failed: starting nothing more; waiting for "
                        f"{', '.join(sorted(running))} to finish",
                    )

        results = self._scheduler().run(
            nodes, self.graph.deps, work, policy=policy, on_finish=on_finish
        )
        self._raise_unexpected(results)
        final_plans: list[ResourcePlan] = []
        failures: list[tuple[str, str]] = []
        for name in nodes:
            result = results[name]
            if result.status == "done" and result.value is not None:
                final_plans.append(result.value)
                continue
            planned = plans[name]
            if result.status == "failed":
                assert result.error is not None
                text = self._error_text(result.error)
                failures.append((name, text))
                reason = f"failed: {text}"
            elif result.status == "skipped":
                reason = f"skipped: {result.reason}"
                emit("skipped", name, message=result.reason)
            else:
                reason = f"not started: {result.reason}"
                emit("not_started", name, message=result.reason)
            final_plans.append(
                ResourcePlan(
                    name=name,
                    type=planned.type,
                    action="skip",
                    identifier=planned.identifier,
                    depends_on=planned.depends_on,
                    reason=reason,
                )
            )
        plan = Plan(self.stack.name, self.stack.env, tuple(final_plans))
        run_result = RunResult(plan, failures, elapsed=self._elapsed())
        if failures and self.run.options.on_failure == "rollback":
            run_result.rolled_back = self._rollback(nodes, plans, run_result.failures)
        self._check_interrupted(run_result)
        if not failures and not self.run.options.targets:
            # With --target only part of the stack ran: its exports may be incomplete.
            run_result.exports = self._stack_exports(run_result.elapsed)
        return run_result

    def _rollback(
        self,
        nodes: tuple[str, ...],
        plans: dict[str, ResourcePlan],
        failures: list[tuple[str, str]],
    ) -> list[str]:
        """Delete what this run created, dependents first, in parallel; what could not be
        deleted is added to ``failures`` (the run's exit message names it)."""
        created = [n for n in nodes if self.handlers[n].created]
        if not created:
            return []
        emit = self.run.emit
        emit(
            "phase",
            phase="rolling back",
            message=f"{len(created)} created by this run",
            count=len(created),
        )
        reverse = self.graph.dependents()

        def work(name: str) -> None:
            handler = self.handlers[name]
            emit("started", name, action="delete", phase="rollback")
            handler.rollback(plans[name], self.run.apply_step(handler.res))
            emit("done", name, action="delete", phase="rollback", message="rolled back")

        results = self._scheduler(depends_word="needed by").run(
            list(reversed(created)), reverse, work, policy="skip"
        )
        done = []
        for name, result in results.items():
            if result.status == "done":
                done.append(name)
            elif result.error is not None:
                text = self._error_text(result.error)
                emit("failed", name, phase="rollback", message=text)
                failures.append((name, f"rollback could not delete it: {text}"))
            else:
                failures.append((name, f"rollback did not delete it: {result.reason}"))
        return done

    def _stack_exports(self, elapsed: float) -> dict[str, Any]:
        exports = self.run.state.stack_exports()
        exports["elapsed_time"] = elapsed_text(elapsed)
        return exports

    # -- teardown -------------------------------------------------------------------------

    def teardown(self) -> RunResult:
        """Collect exports (graph order), plan every delete, then delete in reverse order,
        holding the stack lock."""
        return self._guarded(
            "teardown",
            validate=lambda: self._plan_teardown(self.selected(reverse=True)),
            run=self._teardown,
        )

    def _plan_teardown(self, nodes: tuple[str, ...]) -> dict[str, ResourcePlan]:
        """Teardown's plan: every resource's exports collected, every delete planned."""
        self.run.state.whole_manifest = False
        emit = self.run.emit
        emit("phase", phase="planning", message=f"{len(nodes)} resources", count=len(nodes))

        def collect(name: str) -> None:
            handler = self.handlers[name]
            if handler.res.skip_on_delete and handler.res.type == "query":
                # Kept, not run (stackql-deploy 2.2): its exports are unknown.
                self.run.state.set_placeholders(handler.res, UNKNOWN)
                return
            handler.collect(self.run.plan_step(handler.res))

        # With --target, what the selected resources need is read too (never deleted): their
        # delete queries may use its exports.
        needed = self.graph.closure(nodes)
        readable = tuple(n for n in self.graph.order if n in needed)
        collected = self._scheduler().run(readable, self.graph.deps, collect, policy="continue")
        self._raise_unexpected(collected)
        self._check_interrupted()
        _raise_plan_errors(collected)
        # Every export is known now: a delete query sees them all, as in a sequential run.
        self.run.state.whole_manifest = True

        def plan_delete(name: str) -> ResourcePlan:
            handler = self.handlers[name]
            if handler.res.skip_on_delete:
                plan = ResourcePlan(
                    name=name,
                    type=handler.res.resource_type or "-",
                    action="skip",
                    reason="skip_on_delete: kept",
                    depends_on=handler.depends_on,
                )
            else:
                plan = handler.plan_delete(self.run.plan_step(handler.res))
            emit("planned", name, action=plan.action, message=plan.reason, type_name=plan.type)
            return plan

        reverse = self.graph.dependents()
        planned = self._scheduler().run(
            tuple(reversed(nodes)), reverse, plan_delete, policy="continue"
        )
        self._raise_unexpected(planned)
        self._check_interrupted()
        _raise_plan_errors(planned)
        return {name: r.value for name, r in planned.items() if r.value is not None}

    def _teardown(self) -> RunResult:
        nodes = self.selected(reverse=True)
        emit = self.run.emit
        plans = self._plan_teardown(nodes)
        order = tuple(reversed(nodes))
        reverse = self.graph.dependents()
        if self.run.options.dry_run:
            plan = Plan(self.stack.name, self.stack.env, tuple(plans[n] for n in order))
            return RunResult(plan, elapsed=self._elapsed())
        deleting = sum(p.action == "delete" for p in plans.values())
        emit("phase", phase="deleting", message=f"{deleting} to delete", count=deleting)
        policy: Policy = "skip" if self.run.options.on_failure == "ignore" else "stop"

        def delete(name: str) -> ResourcePlan:
            plan = plans[name]
            if plan.action != "delete":
                return plan
            handler = self.handlers[name]
            began = self.run.clock()
            emit("started", name, action="delete", type_name=plan.type)
            handler.delete(plan, self.run.apply_step(handler.res))
            emit(
                "done",
                name,
                action="delete",
                elapsed=self.run.clock() - began,
                message="deleted",
                type_name=plan.type,
            )
            return plan

        def on_finish(name: str, result: NodeResult[ResourcePlan], running: frozenset[str]) -> None:
            if result.status == "failed" and isinstance(result.error, StackDeployError):
                emit("failed", name, message=self._error_text(result.error))

        results = self._scheduler(depends_word="needed by").run(
            order, reverse, delete, policy=policy, on_finish=on_finish
        )
        self._raise_unexpected(results)
        final: list[ResourcePlan] = []
        failures: list[tuple[str, str]] = []
        for name in order:
            result = results[name]
            if result.status == "done" and result.value is not None:
                final.append(result.value)
                continue
            base = plans[name]
            if result.status == "failed":
                assert result.error is not None
                text = self._error_text(result.error)
                failures.append((name, text))
                reason = f"failed: {text}"
            else:
                reason = f"{result.status.replace('_', ' ')}: {result.reason}"
                emit(result.status, name, message=result.reason)
            final.append(
                ResourcePlan(
                    name=name,
                    type=base.type,
                    action="skip",
                    identifier=base.identifier,
                    depends_on=base.depends_on,
                    reason=reason,
                )
            )
        run_result = RunResult(
            Plan(self.stack.name, self.stack.env, tuple(final)), failures, elapsed=self._elapsed()
        )
        self._check_interrupted(run_result)
        return run_result
