"""Command-line options shared by the commands, as composable click decorators.

Each decorator adds a group of options and hands the command one immutable value instead of
loose keyword arguments:

- :func:`env_options` -> ``env: EnvOptions`` (``-e/--env KEY=VALUE`` repeatable,
  ``--env-file PATH``); ``env.variables()`` gives the merged variables (the env file, default
  ``./.env`` when it exists, overridden by ``-e``; the process environment is never read,
  as in stackql-deploy).
- :func:`cloud_options` -> ``cloud: CloudOptions`` (``--region``, ``--profile``,
  ``--endpoint-url``, ``--sandbox``, ``--sandbox-state``); ``cloud.open()`` is the
  :func:`stackdeploy.cloud.session.open_cloud` context manager for them.
- :func:`output_options` -> ``output: OutputOptions`` (``--output text|json``,
  ``--show-queries``, ``--log-level``); ``output.configure_logging()`` sends logs to stderr.
- :func:`common_options` applies all three.

Usage::

    @click.command()
    @common_options
    def build(env: EnvOptions, cloud: CloudOptions, output: OutputOptions) -> None:
        with cloud.open() as client: ...
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from stackdeploy.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_ENV_FILE = ".env"
DEFAULT_SANDBOX_STATE = ".stack-deploy/sandbox.db"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


# -- values handed to commands ---------------------------------------------------------------


@dataclass(frozen=True)
class EnvOptions:
    """``-e KEY=VALUE`` pairs and the env file."""

    pairs: tuple[str, ...] = ()
    env_file: str | None = None

    def variables(self) -> dict[str, str]:
        """The env file's variables (when it exists), then ``-e`` values over them.

        An ``--env-file`` given explicitly must exist; the default ``./.env`` is skipped when
        absent. Values are strings.
        """
        result: dict[str, str] = {}
        path = Path(self.env_file) if self.env_file else Path(DEFAULT_ENV_FILE)
        if path.is_file():
            from dotenv import dotenv_values

            result.update({k: v or "" for k, v in dotenv_values(path).items()})
        elif self.env_file:
            raise UsageError(f"env file not found: {self.env_file}")
        for pair in self.pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise UsageError(
                    f"-e expects KEY=VALUE, got {pair!r}", hint="for example -e region=us-east-1"
                )
            result[key.strip()] = value
        return result


@dataclass(frozen=True)
class CloudOptions:
    """Where Cloud Control is: AWS (region/profile), an endpoint, or the embedded sandbox."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    sandbox: bool = False
    sandbox_state: str = DEFAULT_SANDBOX_STATE

    def open(self, **config: Any) -> AbstractContextManager[Any]:
        """``open_cloud(...)`` for these options; ``config`` passes CloudConfig fields."""
        return open_cloud_from(self, **config)


@dataclass(frozen=True)
class OutputOptions:
    """How results and logs are shown."""

    output: str = "text"
    show_queries: bool = False
    log_level: str = "WARNING"

    @property
    def json(self) -> bool:
        return self.output == "json"

    def configure_logging(self) -> None:
        """Logs go to stderr (stdout is for results), at ``log_level``; ``--show-queries``
        needs INFO for the queries to show."""
        level = getattr(logging, self.log_level.upper(), logging.WARNING)
        if self.show_queries:
            level = min(level, logging.INFO)
        root = logging.getLogger("stackdeploy")
        root.setLevel(level)
        if not any(getattr(h, "_stackdeploy", False) for h in root.handlers):
            handler = _StderrHandler()
            handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
            handler._stackdeploy = True  # type: ignore[attr-defined]
            root.addHandler(handler)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Writes to the *current* sys.stderr (click's test runner swaps it per invocation)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


# CloudConfig settings for --sandbox (the embedded emulator), unless a caller gives its own.
SANDBOX_CLOUD_CONFIG: dict[str, Any] = {
    "max_rps": 1000.0,
    "burst": 100,
    "poll_initial": 0.01,
    "poll_max": 0.5,
}


def open_cloud_from(options: CloudOptions, **config: Any) -> AbstractContextManager[Any]:
    """The :func:`~stackdeploy.cloud.session.open_cloud` context manager for ``options``."""
    if options.sandbox and options.endpoint_url:
        raise UsageError(
            "--sandbox and --endpoint-url cannot be used together",
            hint="--sandbox runs its own endpoint; drop one of them",
        )
    from stackdeploy.cloud.session import open_cloud

    if options.sandbox:
        # The embedded sandbox answers at once and throttles only when faults say so: the
        # rate limit and poll schedule meant for AWS would only slow it down.
        for key, value in SANDBOX_CLOUD_CONFIG.items():
            config.setdefault(key, value)
    return open_cloud(
        region=options.region,
        profile=options.profile,
        endpoint_url=options.endpoint_url,
        sandbox=options.sandbox,
        sandbox_state=options.sandbox_state if options.sandbox else None,
        **config,
    )


# -- decorators ------------------------------------------------------------------------------


def _apply(func: Callable[..., Any], options: list[Callable[[Any], Any]]) -> Any:
    for option in reversed(options):
        func = option(func)
    return func


def env_options(func: F) -> F:
    """Add ``-e/--env`` and ``--env-file``; the command receives ``env: EnvOptions``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        env = EnvOptions(
            pairs=tuple(kwargs.pop("env_pairs") or ()), env_file=kwargs.pop("env_file")
        )
        return func(*args, env=env, **kwargs)

    return _apply(
        wrapper,
        [
            click.option(
                "-e",
                "--env",
                "env_pairs",
                multiple=True,
                metavar="KEY=VALUE",
                help="A template variable (repeatable); overrides the env file.",
            ),
            click.option(
                "--env-file",
                type=click.Path(dir_okay=False),
                default=None,
                help=f"Variables file (default {DEFAULT_ENV_FILE} when it exists).",
            ),
        ],
    )


def cloud_options(func: F) -> F:
    """Add the Cloud Control location options; the command receives ``cloud: CloudOptions``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cloud = CloudOptions(
            region=kwargs.pop("region"),
            profile=kwargs.pop("profile"),
            endpoint_url=kwargs.pop("endpoint_url"),
            sandbox=kwargs.pop("sandbox"),
            sandbox_state=kwargs.pop("sandbox_state"),
        )
        if cloud.sandbox and cloud.endpoint_url:
            raise UsageError("--sandbox and --endpoint-url cannot be used together")
        return func(*args, cloud=cloud, **kwargs)

    return _apply(
        wrapper,
        [
            click.option("--region", default=None, help="AWS region (default: from the profile)."),
            click.option("--profile", default=None, help="AWS profile to use."),
            click.option(
                "--endpoint-url",
                default=None,
                metavar="URL",
                help="Cloud Control endpoint (a sandbox or LocalStack).",
            ),
            click.option(
                "--sandbox",
                is_flag=True,
                help="Use the embedded local Cloud Control sandbox instead of AWS.",
            ),
            click.option(
                "--sandbox-state",
                type=click.Path(dir_okay=False),
                default=DEFAULT_SANDBOX_STATE,
                show_default=True,
                help="State file of the --sandbox.",
            ),
        ],
    )


def output_options(func: F) -> F:
    """Add ``--output``, ``--show-queries`` and ``--log-level``; the command receives
    ``output: OutputOptions`` (logging already configured)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        output = OutputOptions(
            output=kwargs.pop("output_format"),
            show_queries=kwargs.pop("show_queries"),
            log_level=kwargs.pop("log_level"),
        )
        output.configure_logging()
        return func(*args, output=output, **kwargs)

    return _apply(
        wrapper,
        [
            click.option(
                "--output",
                "output_format",
                type=click.Choice(["text", "json"]),
                default="text",
                show_default=True,
                help="Result format on stdout.",
            ),
            click.option(
                "--show-queries", is_flag=True, help="Log every rendered query (to stderr)."
            ),
            click.option(
                "--log-level",
                type=click.Choice(LOG_LEVELS, case_sensitive=False),
                default="WARNING",
                show_default=True,
                help="Log level (logs go to stderr).",
            ),
        ],
    )


def common_options(func: F) -> F:
    """:func:`env_options`, :func:`cloud_options` and :func:`output_options` together."""
    return env_options(cloud_options(output_options(func)))
