"""``stack-deploy build | test | teardown | plan STACK_DIR STACK_ENV``.

Thin commands: parse options, load the stack, open Cloud Control (AWS, an endpoint or the
embedded sandbox), build the masker and the progress view, hand over to
:class:`~stackdeploy.engine.runner.Runner`, render the result and choose the exit code.
Results go to stdout (text, one JSON document with ``--output json``, or Markdown for a
pull-request comment with ``--output markdown``); progress and logs go to stderr.

``plan --out FILE`` saves the plan with what it was computed from; ``build --plan FILE``
applies exactly that plan or refuses (:mod:`stackdeploy.engine.saved`). Orphans (resources
tagged for the stack that no manifest entry claims) are listed by ``plan``, ``test`` and
``build``; ``--prune`` deletes them after the build (:mod:`stackdeploy.engine.orphans`).

Exit codes: 0 success; 1 error (or drift found by ``test``); 2 usage error; with
``--detailed-exitcode``, ``plan`` and ``test`` exit 2 when there are changes or drift; 130
after Ctrl-C (SIGINT), 143 after SIGTERM.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import click

from stackdeploy.cli.options import (
    CloudOptions,
    EnvOptions,
    OutputOptions,
    stack_common_options,
)
from stackdeploy.errors import DriftError, StackDeployError, UsageError

if TYPE_CHECKING:
    from stackdeploy.engine import Runner, RunState
    from stackdeploy.engine.events import EventSink
    from stackdeploy.engine.orphans import OrphanScan
    from stackdeploy.engine.scheduler import Cancel
    from stackdeploy.plan.model import Plan
    from stackdeploy.plan.saved import SavedPlan
    from stackdeploy.report.mask import Masker

log = logging.getLogger("stackdeploy")

CHANGES_EXIT_CODE = 2
DEFAULT_PARALLELISM = 10


def _stack_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.argument("stack_env")(func)
    func = click.argument("stack_dir", type=click.Path(file_okay=False))(func)
    return func


def _run_options(
    *, output_file: bool = True, replace: bool = True, prune: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        if prune:
            func = click.option(
                "--prune",
                is_flag=True,
                help="Delete orphans (resources tagged for the stack and environment that no "
                "manifest entry claims any more) after the build; plan: show them as deletes.",
            )(func)
        func = click.option(
            "--target",
            "targets",
            multiple=True,
            metavar="NAME",
            help="Only this resource and what it needs (teardown: and what needs it); repeatable.",
        )(func)
        func = click.option(
            "--strict", is_flag=True, help="Treat manifest warnings (unknown keys...) as errors."
        )(func)
        func = click.option(
            "--parallelism",
            type=click.IntRange(min=1),
            default=DEFAULT_PARALLELISM,
            show_default=True,
            help="Resources worked on at once (1 keeps manifest order).",
        )(func)
        func = click.option(
            "--max-rps",
            type=click.FloatRange(min=0),
            default=None,
            help="Cloud Control requests per second, polls included (default: 20 against "
            "AWS, unlimited against the sandbox; 0 = unlimited).",
        )(func)
        func = click.option(
            "--timeout-minutes",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            metavar="MINUTES",
            help="Time-out of each Cloud Control request instead of the resource type's own "
            "(its schema's timeoutInMinutes); a request still in progress then fails, "
            "naming its request token.",
        )(func)
        func = click.option(
            "--events",
            "events_path",
            type=click.Path(dir_okay=False, allow_dash=True),
            default=None,
            metavar="FILE",
            help="Write one JSON object per run event to FILE ('-' for stderr).",
        )(func)
        func = click.option(
            "--dry-run",
            is_flag=True,
            help="Print the plan, with the statements each change would run, and change nothing.",
        )(func)
        func = click.option(
            "--on-failure",
            type=click.Choice(["error", "ignore", "rollback"]),
            default="error",
            show_default=True,
            help="On a failed resource: stop, carry on with what does not depend on it, or "
            "delete what this run created.",
        )(func)
        if output_file:
            func = click.option(
                "--output-file",
                type=click.Path(dir_okay=False),
                default=None,
                help="Write the stack exports as JSON to this file.",
            )(func)
        if replace:
            func = click.option(
                "--allow-replace",
                is_flag=True,
                help="Allow replacing resources whose create-only properties changed.",
            )(func)
        return func

    return decorate


def _lock_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--lock-timeout",
        type=click.FloatRange(min=0),
        default=0.0,
        show_default=True,
        metavar="SECONDS",
        help="Wait this long for another run of the stack and environment to finish.",
    )(func)
    func = click.option(
        "--no-lock",
        is_flag=True,
        help="Do not take the stack lock (only when nothing else can run this stack).",
    )(func)
    return func


def _detailed(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--detailed-exitcode",
        is_flag=True,
        help="Exit 2 when there are changes (plan) or drift (test).",
    )(func)


@dataclass(frozen=True)
class RunArgs:
    """What every stack command passes on to the engine."""

    stack_dir: str
    stack_env: str
    dry_run: bool = False
    allow_replace: bool = False
    on_failure: str = "error"
    targets: tuple[str, ...] = ()
    strict: bool = False
    parallelism: int = DEFAULT_PARALLELISM
    max_rps: float | None = None
    events_path: str | None = None
    no_lock: bool = False
    lock_timeout: float = 0.0
    timeout_minutes: float | None = None
    prune: bool = False

    def check_prune(self) -> None:
        if self.prune and self.targets:
            raise UsageError(
                "--prune works on the whole stack: it cannot be combined with --target"
            )


def _pairs(env: EnvOptions) -> dict[str, str]:
    from stackdeploy.manifest.envfile import parse_env_overrides

    return parse_env_overrides(env.pairs)


@contextmanager
def _signals(cancel: Cancel, state: RunState, echo: Callable[[str], None]) -> Iterator[None]:
    """First SIGINT/SIGTERM: stop scheduling, let what is in flight finish. Second: exit at
    once, naming the request tokens still in flight (they can be followed with
    ``stack-deploy query "SELECT * FROM awscc.cloud_control.resource_request WHERE
    RequestToken = '...'"`` or by simply running the command again)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    count = 0

    def handler(signum: int, frame: Any) -> None:
        nonlocal count
        count += 1
        name = "SIGTERM" if signum == signal.SIGTERM else "SIGINT"
        flying = state.in_flight()
        if count == 1:
            which = ", ".join(f"{r.resource} ({r.operation.lower()})" for r in flying)
            echo(
                f"{name}: starting nothing new; waiting for {len(flying)} request(s) in flight"
                + (f": {which}" if which else "")
                + ". Interrupt again to exit at once."
            )
            cancel.set(name)
            return
        tokens = ", ".join(f"{r.resource}: {r.request_token}" for r in flying) or "none"
        echo(f"{name}: exiting at once; requests still in flight: {tokens}")
        sys.stderr.flush()
        os._exit(143 if name == "SIGTERM" else 130)

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _progress_sinks(
    stack: Any, masker: Masker, events_path: str | None, output: OutputOptions, stack_: ExitStack
) -> list[EventSink]:
    from stackdeploy.report.progress import (
        JsonLinesEvents,
        LiveProgress,
        PlainProgress,
        live_view_wanted,
    )

    sinks: list[EventSink] = []
    # Events written to stderr would be cut into the live view's lines: plain lines then.
    if live_view_wanted(sys.stderr) and events_path != "-":
        live = LiveProgress(mask=masker.text)
        live.start()
        stack_.callback(live.stop)
        sinks.append(live)
    else:
        plain = PlainProgress(mask=masker.text)
        plain.start()
        stack_.callback(plain.stop)
        sinks.append(plain)
    if events_path:
        stream: IO[str]
        if events_path == "-":
            stream = sys.stderr
        else:
            stream = open(events_path, "w", encoding="utf-8")  # noqa: SIM115 (closed by the ExitStack)
            stack_.callback(stream.close)
        sinks.append(JsonLinesEvents(stream, mask=masker.text))
    return sinks


@contextmanager
def _runner(
    args: RunArgs, env: EnvOptions, cloud: CloudOptions, output: OutputOptions
) -> Iterator[tuple[Runner, Masker]]:
    """Load the stack, open Cloud Control, and yield a ready runner with its masker."""
    from stackdeploy.engine import Cancel, Run, Runner, RunOptions, RunState
    from stackdeploy.engine.events import Emitter, FanOut
    from stackdeploy.engine.graph import build_graph
    from stackdeploy.manifest.stack import load_stack
    from stackdeploy.report.mask import Masker, masked_logs

    stack = load_stack(
        args.stack_dir,
        args.stack_env,
        env_file=env.env_file,
        env_overrides=_pairs(env),
        strict=args.strict,
    )
    for warning in stack.warnings:
        click.echo(warning if "warning:" in warning else f"warning: {warning}", err=True)
    graph = build_graph(stack)  # a cycle is refused before any call
    graph.select(args.targets, stack=stack.name)  # so is an unknown --target
    region = cloud.region or stack.region
    if region and not cloud.region:
        cloud = dataclasses.replace(cloud, region=region)
    state = RunState(stack)
    masker = Masker(source=state.secrets)
    cancel = Cancel()
    config: dict[str, Any] = {"max_rps": args.max_rps, "timeout_minutes": args.timeout_minutes}
    with ExitStack() as stack_, cloud.open(**config) as client:
        sinks = _progress_sinks(stack, masker, args.events_path, output, stack_)
        emitter = Emitter(FanOut(sinks))
        clouds = _clouds(client, stack_)
        run = Run(
            stack=stack,
            state=state,
            cloud=client,
            region=region or client.default_region,
            options=RunOptions(
                dry_run=args.dry_run,
                allow_replace=args.allow_replace,
                on_failure=args.on_failure,  # type: ignore[arg-type]
                show_queries=output.show_queries,
                targets=args.targets,
                parallelism=args.parallelism,
                lock=not args.no_lock,
                lock_timeout=args.lock_timeout,
            ),
            emit=emitter,
            cancel=cancel,
            mask=masker.text,
            clouds=clouds,
        )
        stack_.enter_context(_signals(cancel, state, lambda m: click.echo(m, err=True)))
        stack_.enter_context(masked_logs(masker.text))
        try:
            yield Runner(run, graph=graph), masker
        except StackDeployError as exc:
            # Errors may quote rendered queries, schema violations or values Cloud Control
            # echoed: the CLI prints them as they are, so they are masked here.
            masker.error(exc)
            raise


def _clouds(client: Any, stack_: ExitStack) -> Any:
    """Per-resource clients (own region, role, profile or credentials), derived from the
    run's and closed with it."""
    from stackdeploy.cloud.client import CloudControl
    from stackdeploy.cloud.session import CloudControls

    if not isinstance(client, CloudControl):
        return None
    clouds = CloudControls(client)
    stack_.callback(clouds.close)
    return clouds


def _print_plan(
    plan: Plan,
    masker: Masker,
    output: OutputOptions,
    *,
    dml: bool = False,
    exports: dict[str, Any] | None = None,
) -> None:
    """The plan on stdout; ``dml``: with the statements each action would run; ``exports``:
    the stack exports of a finished build (JSON only)."""
    from stackdeploy.report.jsonreport import render_plan_json
    from stackdeploy.report.markdown import render_plan_markdown
    from stackdeploy.report.progress import no_color
    from stackdeploy.report.text import render_plan_text

    if output.json:
        click.echo(render_plan_json(plan, masker, dml=dml, exports=exports), nl=False)
    elif output.markdown:
        click.echo(render_plan_markdown(plan, masker), nl=False)
    else:
        color = sys.stdout.isatty() and not no_color()
        click.echo(render_plan_text(plan, color=color, masker=masker, dml=dml), nl=False)


def _report_run(
    result: Any, masker: Masker, output: OutputOptions, *, dry_run: bool, teardown: bool = False
) -> None:
    """A dry run (or any run with --output json) prints its plan (with the stack exports of
    a finished build under ``exports``); a real text run prints one line of what it did, the
    per-resource progress having gone to stderr, then the stack exports table."""
    from stackdeploy.report.text import render_applied_text

    if dry_run or output.json:
        exports = None if dry_run else result.exports
        _print_plan(result.plan, masker, output, dml=dry_run, exports=exports)
        return
    if output.markdown:
        from stackdeploy.report.markdown import render_plan_markdown

        done = "Teardown" if teardown else "Build"
        click.echo(render_plan_markdown(result.plan, masker, done=done), nl=False)
        return
    click.echo(
        render_applied_text(result.plan, elapsed=result.elapsed, teardown=teardown), nl=False
    )


def _print_exports_table(runner: Runner, exports: dict[str, Any] | None, masker: Masker) -> None:
    """The stack exports as a table on stdout (masked), as stackql-deploy 2.x prints them."""
    if exports is None:
        return
    from stackdeploy.report.exports import render_exports_table

    table = render_exports_table(
        exports, stack_name=runner.stack.name, env=runner.stack.env, mask=masker.text
    )
    if table:
        click.echo("")
        click.echo(table, nl=False)


def _find_orphans(runner: Runner, plan: Plan, *, prune: bool) -> OrphanScan:
    from stackdeploy.engine.orphans import find_orphans

    return find_orphans(runner.run, plan, prune=prune)


def _save_plan(
    path: str, runner: Runner, plan: Plan, scan: OrphanScan, masker: Masker, args: RunArgs
) -> None:
    """``plan --out FILE``: the plan and its basis (0600 when it derives from a secret)."""
    from stackdeploy.engine.saved import PlanSettings, new_saved_plan
    from stackdeploy.plan.saved import PLAN_KEY_ENV
    from stackdeploy.report.exports import write_text_file

    settings = PlanSettings(
        region=runner.run.region,
        targets=args.targets,
        allow_replace=args.allow_replace,
        prune=args.prune,
    )
    document = masker.strings(masker.plan(plan).to_json_dict())
    saved, private = new_saved_plan(
        runner,
        plan,
        scan,
        settings=settings,
        document=document,
        plan_key=os.environ.get(PLAN_KEY_ENV) or None,
    )
    write_text_file(path, saved.to_json(), private=private)
    mode = " (mode 0600: it holds digests of secrets)" if private else ""
    click.echo(f"plan written to {path}{mode}", err=True)


def _load_plan(path: str, args: RunArgs, allow_replace_given: bool) -> tuple[SavedPlan, RunArgs]:
    """``build --plan FILE``: the saved plan, and the run arguments it was made with."""
    from stackdeploy.plan.saved import SavedPlan

    saved = SavedPlan.load(path)
    if saved.env != args.stack_env:
        raise UsageError(
            f"{path} is a plan of stack {saved.stack_name!r} in environment {saved.env!r}, "
            f"not {args.stack_env!r}"
        )
    if args.targets:
        raise UsageError(
            "--target cannot be combined with --plan: the plan applies the targets it was "
            f"made with ({', '.join(saved.targets) or 'the whole stack'})"
        )
    if allow_replace_given and not saved.allow_replace:
        raise UsageError(f"{path} was made without --allow-replace; make the plan again with it")
    if args.prune and not saved.prune:
        raise UsageError(
            f"{path} was made without --prune, so it deletes no orphan; make the plan again "
            "with plan --prune to review the deletes"
        )
    return saved, dataclasses.replace(
        args, targets=saved.targets, allow_replace=saved.allow_replace, prune=saved.prune
    )


def _write_exports(runner: Runner, path: str | None, exports: dict[str, Any] | None) -> None:
    """``--output-file`` (JSON) and stackql-deploy's ``./.stackql-deploy-exports``."""
    if exports is None:
        return
    from stackdeploy.report.exports import (
        holds_secret,
        value_text,
        write_exports_env_file,
        write_output_file,
    )

    secret = holds_secret(exports, runner.run.state.secrets())
    for name, value in exports.items():
        log.info("stack export %s = %s", name, runner.run.mask(value_text(value)))
    if path:
        write_output_file(path, exports, private=secret)
        click.echo(f"stack exports written to {path}", err=True)
    written = write_exports_env_file(
        exports, stack_name=runner.stack.name, env=runner.stack.env, private=secret
    )
    if written is not None:
        click.echo(f"stack exports written to {written} (source it in a shell)", err=True)


def _fail_on(failures: list[tuple[str, str]], rolled_back: list[str] | None = None) -> None:
    """One error naming every failed resource and why (already masked)."""
    if not failures:
        return
    more = f" (rolled back: {', '.join(rolled_back)})" if rolled_back else ""
    if len(failures) == 1:
        name, why = failures[0]
        raise StackDeployError(f"1 resource(s) failed: {name}{more}: {why}")
    names = ", ".join(name for name, _ in failures)
    lines = [f"{len(failures)} resource(s) failed: {names}{more}"]
    lines += [f"  {name}: {why}" for name, why in failures]
    raise StackDeployError("\n".join(lines))


@click.command()
@_stack_arguments
@_run_options(prune=True)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Apply exactly the plan saved by `plan --out FILE`: refused (nothing changed) when "
    "the manifest, the inputs or a live resource changed since.",
)
@_lock_options
@stack_common_options
def build(
    stack_dir: str,
    stack_env: str,
    env: EnvOptions,
    cloud: CloudOptions,
    output: OutputOptions,
    output_file: str | None,
    allow_replace: bool,
    plan_file: str | None,
    **options: Any,
) -> None:
    """Create or update the resources of the stack in STACK_DIR for STACK_ENV."""
    from stackdeploy.engine.orphans import OrphanScan, prune_orphans

    args = RunArgs(stack_dir, stack_env, allow_replace=allow_replace, **options)
    saved: SavedPlan | None = None
    if plan_file is not None:
        saved, args = _load_plan(plan_file, args, allow_replace)
    args.check_prune()
    with _runner(args, env, cloud, output) as (runner, masker):
        scan = OrphanScan()
        if saved is not None:
            from stackdeploy.engine.saved import PlanGuard
            from stackdeploy.plan.saved import PLAN_KEY_ENV

            if runner.stack.name != saved.stack_name:
                raise UsageError(
                    f"{plan_file} is a plan of stack {saved.stack_name!r}, not "
                    f"{runner.stack.name!r}"
                )
            guard = PlanGuard(
                saved, runner, file=str(plan_file), plan_key=os.environ.get(PLAN_KEY_ENV) or None
            )

            def before_apply(plan: Plan) -> Plan:
                nonlocal scan
                plan = guard.before_apply(plan)
                scan = guard.scan
                return plan

        else:

            def before_apply(plan: Plan) -> Plan:
                nonlocal scan
                scan = _find_orphans(runner, plan, prune=args.prune)
                return scan.on(plan)

        result = runner.build(before_apply=before_apply)
        if not args.dry_run:
            orphans = scan.orphans
            if args.prune and not result.failures:
                pruned = prune_orphans(runner.run, orphans)
                orphans = pruned.orphans
                result.failures.extend(pruned.failures)
            elif args.prune:
                orphans = tuple(
                    dataclasses.replace(o, action="skip", reason="not deleted: the build failed")
                    if o.action == "delete"
                    else o
                    for o in orphans
                )
            result.plan = dataclasses.replace(result.plan, orphans=orphans)
    # Results once the progress view has ended, so that it never mixes with them.
    _report_run(result, masker, output, dry_run=args.dry_run)
    if not args.dry_run:
        if not output.json and not output.markdown:
            _print_exports_table(runner, result.exports, masker)
        _write_exports(runner, output_file, result.exports)
    _fail_on(result.failures, result.rolled_back)


@click.command()
@_stack_arguments
@_run_options(prune=True)
@_detailed
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Save the plan, with digests of what it was computed from, for `build --plan FILE`.",
)
@stack_common_options
def plan(
    stack_dir: str,
    stack_env: str,
    env: EnvOptions,
    cloud: CloudOptions,
    output: OutputOptions,
    output_file: str | None,
    allow_replace: bool,
    detailed_exitcode: bool,
    out_file: str | None,
    **options: Any,
) -> None:
    """Show what build would change, without changing anything."""
    if output_file:
        click.echo(
            "notice: --output-file has no effect with plan (build and test write the exports)",
            err=True,
        )
    options["dry_run"] = True
    args = RunArgs(stack_dir, stack_env, allow_replace=allow_replace, **options)
    args.check_prune()
    with _runner(args, env, cloud, output) as (runner, masker):
        result = runner.plan()
        scan = _find_orphans(runner, result, prune=args.prune)
        result = scan.on(result)
        if out_file is not None:
            _save_plan(out_file, runner, result, scan, masker, args)
    _print_plan(result, masker, output, dml=output.show_queries)
    if detailed_exitcode and result.has_changes:
        sys.exit(CHANGES_EXIT_CODE)


@click.command(name="test")
@_stack_arguments
@_run_options(replace=False)
@_detailed
@stack_common_options
def test(
    stack_dir: str,
    stack_env: str,
    env: EnvOptions,
    cloud: CloudOptions,
    output: OutputOptions,
    output_file: str | None,
    detailed_exitcode: bool,
    **options: Any,
) -> None:
    """Check that every resource exists, is in its desired state and exports resolve."""
    from stackdeploy.report.jsonreport import render_plan_json
    from stackdeploy.report.markdown import render_drift_markdown
    from stackdeploy.report.progress import no_color
    from stackdeploy.report.text import render_drift_text

    args = RunArgs(stack_dir, stack_env, **options)
    with _runner(args, env, cloud, output) as (runner, masker):
        result = runner.test()
        # Orphans are reported, but are not drift: build (without --prune) leaves them.
        result.plan = _find_orphans(runner, result.plan, prune=False).on(result.plan)
    exports = None if args.dry_run else result.exports
    if output.json:
        click.echo(render_plan_json(result.plan, masker, exports=exports), nl=False)
    elif output.markdown:
        click.echo(render_drift_markdown(result.plan, masker), nl=False)
    else:
        color = sys.stdout.isatty() and not no_color()
        click.echo(render_drift_text(result.plan, color=color, masker=masker), nl=False)
        _print_exports_table(runner, exports, masker)
    if not args.dry_run:
        _write_exports(runner, output_file, result.exports)
    if result.plan.has_changes:
        if detailed_exitcode:
            sys.exit(CHANGES_EXIT_CODE)
        drifted = [r.name for r in result.plan.resources if r.changed]
        raise DriftError(f"drift found in {len(drifted)} resource(s): {', '.join(drifted)}")


@click.command()
@_stack_arguments
@_run_options(output_file=False, replace=False)
@_lock_options
@stack_common_options
def teardown(
    stack_dir: str,
    stack_env: str,
    env: EnvOptions,
    cloud: CloudOptions,
    output: OutputOptions,
    **options: Any,
) -> None:
    """Delete the stack's resources, dependents first, in parallel."""
    args = RunArgs(stack_dir, stack_env, **options)
    with _runner(args, env, cloud, output) as (runner, masker):
        result = runner.teardown()
    _report_run(result, masker, output, dry_run=args.dry_run, teardown=True)
    _fail_on(result.failures)
