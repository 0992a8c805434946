"""``stack-deploy build | test | teardown | plan STACK_DIR STACK_ENV``.

Thin commands: parse options, load the stack, open Cloud Control (AWS, an endpoint or the
embedded sandbox), hand over to :class:`~stackdeploy.engine.runner.StackRunner`, render the
result and choose the exit code. Results go to stdout (text, or one JSON document with
``--output json``); progress and logs go to stderr.

Exit codes: 0 success; 1 error (or drift found by ``test``); 2 usage error; with
``--detailed-exitcode``, ``plan`` and ``test`` exit 2 when there are changes or drift.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from stackdeploy.cli.options import CloudOptions, EnvOptions, OutputOptions, common_options
from stackdeploy.errors import DriftError, StackDeployError

CHANGES_EXIT_CODE = 2


def _stack_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.argument("stack_env")(func)
    func = click.argument("stack_dir", type=click.Path(file_okay=False))(func)
    return func


def _run_options(
    *, dry_run: bool = True, output_file: bool = True, replace: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option(
            "--target",
            "targets",
            multiple=True,
            metavar="NAME",
            help="Only this resource and what it needs (repeatable).",
        )(func)
        func = click.option(
            "--strict", is_flag=True, help="Treat manifest warnings (unknown keys...) as errors."
        )(func)
        func = click.option(
            "--parallelism",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Resources run at once (runs are sequential in this release).",
        )(func)
        if dry_run:
            func = click.option(
                "--dry-run", is_flag=True, help="Print the plan and change nothing."
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


def _on_failure(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--on-failure",
        type=click.Choice(["error", "ignore", "rollback"]),
        default="error",
        show_default=True,
        help="On a failed resource: stop, carry on, or delete what this run created.",
    )(func)


def _detailed(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--detailed-exitcode",
        is_flag=True,
        help="Exit 2 when there are changes (plan) or drift (test).",
    )(func)


@contextmanager
def _runner(
    stack_dir: str,
    stack_env: str,
    env: EnvOptions,
    cloud: CloudOptions,
    output: OutputOptions,
    **options: Any,
) -> Iterator[Any]:
    from stackdeploy.engine.context import RunContext, RunOptions
    from stackdeploy.engine.runner import StackRunner
    from stackdeploy.manifest.context import Stack
    from stackdeploy.query.engine import QueryEngine

    stack = Stack.load(
        stack_dir,
        stack_env,
        env_file=env.env_file,
        env_overrides=_pairs(env),
        strict=bool(options.pop("strict", False)),
    )
    for warning in stack.warnings:
        click.echo(f"warning: {warning}", err=True)
    region = cloud.region or stack.region
    if region and not cloud.region:
        cloud = dataclasses.replace(cloud, region=region)
    # The embedded sandbox answers in microseconds: poll it often rather than every 0.2 s.
    fast = {"poll_initial": 0.01, "poll_max": 0.5} if cloud.sandbox else {}
    with cloud.open(**fast) as client:
        region = region or client.default_region
        run = RunContext(
            stack=stack,
            cloud=client,
            engine=QueryEngine(client, region=region),
            region=region,
            options=RunOptions(show_queries=output.show_queries, **options),
        )
        yield StackRunner(run)


def _pairs(env: EnvOptions) -> dict[str, str]:
    from stackdeploy.manifest.envfile import parse_env_overrides

    return parse_env_overrides(env.pairs)


def _masker(runner: Any) -> Any:
    from stackdeploy.report.mask import Masker

    return Masker(protected_values=runner.stack.secret_values())


def _print_plan(runner: Any, plan: Any, output: OutputOptions) -> None:
    from stackdeploy.report.jsonreport import render_plan_json
    from stackdeploy.report.text import render_plan_text

    masker = _masker(runner)
    if output.json:
        click.echo(render_plan_json(plan, masker), nl=False)
    else:
        click.echo(render_plan_text(plan, color=sys.stdout.isatty(), masker=masker), nl=False)


def _report_run(
    runner: Any, result: Any, output: OutputOptions, *, dry_run: bool, teardown: bool = False
) -> None:
    """A dry run (or any run with --output json) prints its plan; a real text run prints
    one line of what it did, the per-resource progress having gone to stderr."""
    if dry_run or output.json:
        _print_plan(runner, result.plan, output)
        return
    from stackdeploy.report.text import render_applied_text

    click.echo(
        render_applied_text(result.plan, elapsed=result.elapsed, teardown=teardown), nl=False
    )


def _write_exports(runner: Any, path: str | None, exports: dict[str, Any] | None) -> None:
    """``--output-file`` (JSON) and stackql-deploy's ``./.stackql-deploy-exports``."""
    if exports is None:
        return
    from stackdeploy.engine.runner import write_exports_env_file, write_output_file

    if path:
        write_output_file(path, exports)
        click.echo(f"stack exports written to {path}", err=True)
    written = write_exports_env_file(exports, stack_name=runner.stack.name, env=runner.stack.env)
    if written is not None:
        click.echo(f"stack exports written to {written} (source it in a shell)", err=True)


@click.command()
@_stack_arguments
@_run_options()
@_on_failure
@common_options
def build(
    stack_dir: str,
    stack_env: str,
    env: EnvOptions,
    cloud: CloudOptions,
    output: OutputOptions,
    dry_run: bool,
    output_file: str | None,
    allow_replace: bool,
    on_failure: str,
    targets: tuple[str, ...],
    strict: bool,
    parallelism: int,
) -> None:
    """Create or update the resources of the stack in STACK_DIR for STACK_ENV."""
    with _runner(
        stack_dir,
        stack_env,
        env,
        cloud,
        output,
        dry_run=dry_run,
        allow_replace=allow_replace,
        on_failure=on_failure,
        targets=targets,
        strict=strict,
    ) as runner:
        result = runner.build()
        _report_run(runner, result, output, dry_run=dry_run)
        if not dry_run:
            _write_exports(runner, output_file, result.exports)
        if result.failures:
            names = ", ".join(name for name, _ in result.failures)
            raise StackDeployError(f"{len(result.failures)} resource(s) failed: {names}")


@click.command()
@_stack_arguments
@_run_options(dry_run=False)
@_detailed
@common_options
def plan(
    stack_dir: str,
    stack_env: str,
    env: EnvOptions,
    cloud: CloudOptions,
    output: OutputOptions,
    output_file: str | None,
    allow_replace: bool,
    detailed_exitcode: bool,
    targets: tuple[str, ...],
    strict: bool,
    parallelism: int,
) -> None:
    """Show what build would change, without changing anything."""
    with _runner(
        stack_dir,
        stack_env,
        env,
        cloud,
        output,
        allow_replace=allow_replace,
        targets=targets,
        strict=strict,
    ) as runner:
        result = runner.plan()
        _print_plan(runner, result, output)
    if detailed_exitcode and result.has_changes:
        sys.exit(CHANGES_EXIT_CODE)


@click.command(name="test")
@_stack_arguments
@_run_options(dry_run=False, replace=False)
@_detailed
@common_options
def test(
    stack_dir: str,
    stack_env: str,
    env: EnvOptions,
    cloud: CloudOptions,
    output: OutputOptions,
    output_file: str | None,
    detailed_exitcode: bool,
    targets: tuple[str, ...],
    strict: bool,
    parallelism: int,
) -> None:
    """Check that every resource exists, is in its desired state and exports resolve."""
    from stackdeploy.report.jsonreport import render_plan_json
    from stackdeploy.report.text import render_drift_text

    with _runner(
        stack_dir, stack_env, env, cloud, output, targets=targets, strict=strict
    ) as runner:
        result = runner.test()
        masker = _masker(runner)
        if output.json:
            click.echo(render_plan_json(result.plan, masker), nl=False)
        else:
            click.echo(
                render_drift_text(result.plan, color=sys.stdout.isatty(), masker=masker),
                nl=False,
            )
        _write_exports(runner, output_file, result.exports)
    if result.plan.has_changes:
        if detailed_exitcode:
            sys.exit(CHANGES_EXIT_CODE)
        drifted = [r.name for r in result.plan.resources if r.changed]
        raise DriftError(f"drift found in {len(drifted)} resource(s): {', '.join(drifted)}")


@click.command()
@_stack_arguments
@_run_options(output_file=False, replace=False)
@_on_failure
@common_options
def teardown(
    stack_dir: str,
    stack_env: str,
    env: EnvOptions,
    cloud: CloudOptions,
    output: OutputOptions,
    dry_run: bool,
    on_failure: str,
    targets: tuple[str, ...],
    strict: bool,
    parallelism: int,
) -> None:
    """Delete the stack's resources, in reverse order."""
    with _runner(
        stack_dir,
        stack_env,
        env,
        cloud,
        output,
        dry_run=dry_run,
        on_failure=on_failure,
        targets=targets,
        strict=strict,
    ) as runner:
        result = runner.teardown()
        _report_run(runner, result, output, dry_run=dry_run, teardown=True)
