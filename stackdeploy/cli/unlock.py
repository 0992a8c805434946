"""``stack-deploy unlock STACK_DIR STACK_ENV``: break a stack lock left by a run that is gone.

A build or teardown that is killed (SIGKILL, a cancelled CI job on another machine) leaves
its lock in the account. On the same machine the next run takes it over by itself (the holder
process is provably gone); elsewhere it expires after its lease. ``unlock`` shows who holds
it and since when, and deletes it after confirmation (``--yes`` to skip the question). Only
break a lock whose run you know is gone: two runs acting at once can create resources twice.
"""

from __future__ import annotations

import dataclasses
import json

import click

from stackdeploy.cli.options import CloudOptions, EnvOptions, OutputOptions, common_options


@click.command()
@click.argument("stack_dir", type=click.Path(file_okay=False))
@click.argument("stack_env")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@common_options
def unlock(
    stack_dir: str,
    stack_env: str,
    yes: bool,
    env: EnvOptions,
    cloud: CloudOptions,
    output: OutputOptions,
) -> None:
    """Break the lock of the stack in STACK_DIR for STACK_ENV (a run that is gone)."""
    from stackdeploy.engine.lock import StackLock, lock_summary
    from stackdeploy.manifest.envfile import parse_env_overrides
    from stackdeploy.manifest.stack import load_stack

    stack = load_stack(
        stack_dir, stack_env, env_file=env.env_file, env_overrides=parse_env_overrides(env.pairs)
    )
    if not cloud.region and stack.region:
        cloud = dataclasses.replace(cloud, region=stack.region)
    with cloud.open() as client:
        region = cloud.region or client.default_region
        lock = StackLock(client, stack.name, stack.env, region)
        holder = lock.peek()
        if holder is None:
            if output.json:
                click.echo(json.dumps({"locked": False, "lock": lock.name}))
            else:
                click.echo(f"stack {stack.name} ({stack.env}) is not locked")
            return
        if not output.json:
            click.echo(f"stack {stack.name} ({stack.env}) is locked by {holder.describe()}")
            if holder.in_flight:
                click.echo(f"requests it had in flight: {', '.join(holder.in_flight)}")
        if not yes and not click.confirm(
            "Break the lock? Only do this if that run is gone", default=False, err=True
        ):
            raise click.exceptions.Exit(1)
        lock.break_lock()
        if output.json:
            click.echo(json.dumps({"locked": False, "broken": lock_summary(holder)}))
        else:
            click.echo("lock broken")
