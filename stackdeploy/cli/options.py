"""Command-line options shared by the commands, as composable click decorators.

Each decorator adds a group of options and hands the command one immutable value instead of
loose keyword arguments:

- :func:`env_options` -> ``env: EnvOptions`` (``-e/--env KEY=VALUE`` repeatable,
  ``--env-file PATH``); ``env.variables()`` gives the merged variables (the env file, default
  ``./.env`` when it exists, overridden by ``-e``; the process environment is never read,
  as in stackql-deploy).
- :func:`cloud_options` -> ``cloud: CloudOptions`` (``--region``, ``--profile``,
  ``--endpoint-url``, ``--sandbox``, ``--sandbox-state``); ``cloud.open()`` is
  :func:`open_cloud_from` for them, which starts the embedded sandbox for ``--sandbox`` (the
  ``cloud`` package never does) and otherwise is
  :func:`stackdeploy.cloud.session.open_cloud`.
- :func:`output_options` -> ``output: OutputOptions`` (``--output text|json``,
  ``--show-queries``, ``--log-level``); ``output.configure_logging()`` sends logs to stderr.
  It also adds stackql-deploy's options that only configure the stackql binary
  (:func:`upstream_options`: ``--custom-registry``, ``--download-dir``, ``--server``,
  ``--port``), accepted so upstream command lines keep working, with one notice that they
  have no effect.
- :func:`common_options` applies all three; :func:`stack_common_options` the same with
  ``--output text|json|markdown`` (build, plan, test, teardown).

``--log-level`` and the upstream options may also be given before the command
(``stack-deploy --log-level debug build ...``): the group (``stackdeploy.cli.main``) records
them in the click context's ``meta``, where the command-level options find them.

Usage::

    @click.command()
    @common_options
    def build(env: EnvOptions, cloud: CloudOptions, output: OutputOptions) -> None:
        with cloud.open() as client: ...
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click

from stackdeploy.errors import UsageError

if TYPE_CHECKING:
    from stackdeploy.cloud.protocol import CloudControlAPI

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_ENV_FILE = ".env"
DEFAULT_SANDBOX_STATE = ".stack-deploy/sandbox.db"
DEFAULT_LOG_LEVEL = "WARNING"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# stackql-deploy's spellings: 1.x takes Python's names, 2.x (Rust) trace/debug/info/warn/error.
LOG_LEVEL_ALIASES = {"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}

# click context ``meta`` keys shared by the group and the commands (see the module docstring).
META_LOG_LEVEL = "stackdeploy.log_level"
META_IGNORED = "stackdeploy.ignored_options"
META_NOTICE_SHOWN = "stackdeploy.ignored_notice_shown"

# stackql-deploy options that configure the stackql binary or its server; stack-deploy has
# neither, so they are accepted and ignored: (flags, parameter name, help).
UPSTREAM_OPTIONS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("--custom-registry",), "upstream_custom_registry", "stackql provider registry URL"),
    (("--download-dir",), "upstream_download_dir", "where stackql is downloaded"),
    (("--server", "--host", "-H"), "upstream_server", "stackql server host"),
    (("--port", "-p"), "upstream_port", "stackql server port"),
)


class LogLevel(click.ParamType):
    """A log level in any case, with stackql-deploy's spellings (``trace``, ``warn``)."""

    name = "level"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[trace|debug|info|warn|error|critical]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip().upper()
        text = LOG_LEVEL_ALIASES.get(text, text)
        if text not in LOG_LEVELS:
            self.fail(
                f"{value!r} is not a log level: use trace, debug, info, warn(ing), error or "
                "critical (any case)",
                param,
                ctx,
            )
        return text


def log_level_option(**extra: Any) -> Callable[[F], F]:
    """The ``--log-level`` option (no default: the group's value or WARNING applies)."""
    return click.option(
        "--log-level",
        "log_level",
        type=LogLevel(),
        default=None,
        help="Log level, logs go to stderr: trace, debug, info, warn, error, critical "
        f"(any case; default {DEFAULT_LOG_LEVEL.lower()}).",
        **extra,
    )


# Libraries whose debug logs would print request bodies (a DesiredState holding a password,
# a rendered query): kept at WARNING whatever --log-level says.
QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "sqlglot")


def configure_logging(level: str, *, show_queries: bool = False) -> None:
    """Send stack-deploy's logs to stderr at ``level`` (``--show-queries`` needs INFO).
    Libraries that log request bodies stay at WARNING (:data:`QUIET_LOGGERS`)."""
    numeric = getattr(logging, level.upper(), logging.WARNING)
    if show_queries:
        numeric = min(numeric, logging.INFO)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    root = logging.getLogger("stackdeploy")
    root.setLevel(numeric)
    if not any(getattr(h, "_stackdeploy", False) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        handler._stackdeploy = True  # type: ignore[attr-defined]
        root.addHandler(handler)


def effective_log_level(given: str | None) -> str:
    """The command's ``--log-level``, else the one given before the command, else WARNING."""
    if given:
        return given
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        return str(ctx.meta.get(META_LOG_LEVEL) or DEFAULT_LOG_LEVEL)
    return DEFAULT_LOG_LEVEL


def record_ignored(ctx: click.Context, values: dict[str, Any]) -> None:
    """Remember which upstream-only options were given (``values``: parameter -> value)."""
    given = [
        flags[0] for flags, param, _ in UPSTREAM_OPTIONS if values.get(param) not in (None, "")
    ]
    ignored: list[str] = ctx.meta.setdefault(META_IGNORED, [])
    ignored.extend(flag for flag in given if flag not in ignored)


def announce_ignored(ctx: click.Context) -> None:
    """Print the one notice line for the upstream-only options given, once per run."""
    ignored = ctx.meta.get(META_IGNORED) or []
    if not ignored or ctx.meta.get(META_NOTICE_SHOWN):
        return
    ctx.meta[META_NOTICE_SHOWN] = True
    names = ", ".join(ignored)
    verb = "has" if len(ignored) == 1 else "have"
    click.echo(
        f"notice: {names} {verb} no effect here and {'is' if verb == 'has' else 'are'} "
        "ignored: stack-deploy uses no stackql binary or server",
        err=True,
    )


def takes_upstream_options(command: click.Command | None) -> bool:
    """True when ``command`` accepts the upstream-only options itself (and so announces them)."""
    return command is not None and any(p.name == UPSTREAM_OPTIONS[0][1] for p in command.params)


def upstream_option_decorators(
    *, short: bool = True, hidden: bool = False
) -> list[Callable[[Any], Any]]:
    """click options for :data:`UPSTREAM_OPTIONS` (``short=False`` leaves out -H and -p;
    commands hide them from their help, the group's help lists them)."""
    return [
        click.option(
            *(f for f in flags if short or f.startswith("--")),
            param,
            default=None,
            metavar="VALUE",
            hidden=hidden,
            help=f"Accepted for stackql-deploy compatibility ({text}); no effect.",
        )
        for flags, param, text in UPSTREAM_OPTIONS
    ]


def upstream_options(func: F) -> F:
    """Accept stackql-deploy's stackql-only options; the command receives nothing from them,
    but one notice line is printed when any of them was given (here or before the command).
    """
    return _upstream_options(func, short=True)


def _upstream_options(func: F, *, short: bool) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        record_ignored(ctx, {param: kwargs.pop(param, None) for _, param, _ in UPSTREAM_OPTIONS})
        announce_ignored(ctx)
        return func(*args, **kwargs)

    return _apply(wrapper, upstream_option_decorators(short=short, hidden=True))


def logging_options(func: F | None = None, *, short: bool = True) -> Any:
    """``--log-level`` and the upstream-only options, for commands without
    :func:`output_options`; logging is configured before the command runs. Use as
    ``@logging_options`` or ``@logging_options(short=False)`` (no ``-H``/``-p``, for a
    command whose own ``-p`` means something else)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            configure_logging(effective_log_level(kwargs.pop("log_level")))
            return func(*args, **kwargs)

        return _upstream_options(log_level_option()(wrapper), short=short)  # type: ignore[return-value]

    return decorate if func is None else decorate(func)


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
        # One reading of env files and -e for every command (the stack commands load them
        # through load_stack): same syntax, same errors naming the file and line.
        from stackdeploy.manifest.envfile import load_env_vars, parse_env_overrides

        return load_env_vars(self.env_file, parse_env_overrides(self.pairs))


@dataclass(frozen=True)
class CloudOptions:
    """Where Cloud Control is: AWS (region/profile), an endpoint, or the embedded sandbox."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    sandbox: bool = False
    sandbox_state: str = DEFAULT_SANDBOX_STATE

    def open(self, **config: Any) -> AbstractContextManager[CloudControlAPI]:
        """``open_cloud(...)`` for these options; ``config`` passes CloudConfig fields."""
        return open_cloud_from(self, **config)


@dataclass(frozen=True)
class OutputOptions:
    """How results and logs are shown."""

    output: str = "text"
    show_queries: bool = False
    log_level: str = DEFAULT_LOG_LEVEL

    @property
    def json(self) -> bool:
        return self.output == "json"

    @property
    def markdown(self) -> bool:
        return self.output == "markdown"

    def configure_logging(self) -> None:
        """Logs go to stderr (stdout is for results), at ``log_level``; ``--show-queries``
        needs INFO for the queries to show."""
        configure_logging(self.log_level, show_queries=self.show_queries)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Writes to the *current* sys.stderr (click's test runner swaps it per invocation)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


# CloudConfig settings for --sandbox (the embedded emulator), unless a caller gives its own.
SANDBOX_CLOUD_CONFIG: dict[str, Any] = {"poll_initial": 0.01, "poll_max": 0.5}


@contextmanager
def open_cloud_from(options: CloudOptions, **config: Any) -> Iterator[CloudControlAPI]:
    """A ready Cloud Control client for ``options``; with ``--sandbox``, the embedded sandbox
    runs in this process (on a loopback port, state in ``--sandbox-state``) meanwhile.

    ``config`` passes :class:`~stackdeploy.cloud.config.CloudConfig` fields.
    """
    check_cloud_options(options)
    from stackdeploy.cloud.session import open_cloud

    if not options.sandbox:
        with open_cloud(
            region=options.region,
            profile=options.profile,
            endpoint_url=options.endpoint_url,
            **config,
        ) as cloud:
            yield cloud
        return
    from stackdeploy.sandbox.faults import Faults
    from stackdeploy.sandbox.server import SandboxServer

    state = Path(options.sandbox_state or DEFAULT_SANDBOX_STATE)
    # The embedded sandbox answers at once and throttles only when faults say so: the poll
    # schedule meant for AWS would only slow it down (and no rate limit applies to it).
    for key, value in SANDBOX_CLOUD_CONFIG.items():
        config.setdefault(key, value)
    # STACK_DEPLOY_SANDBOX_FAULTS works for the embedded sandbox too, so a stack's failure
    # handling (--on-failure, troubleshoot) can be tried without a separate server.
    server = SandboxServer(state_path=str(state), faults=Faults.from_env())
    server.start()
    try:
        with open_cloud(
            region=options.region, endpoint_url=server.url, sandbox=True, **config
        ) as cloud:
            yield cloud
    finally:
        server.stop()


def check_cloud_options(options: CloudOptions) -> None:
    """Usage errors (exit 2, one line) for values no Cloud Control location can have."""
    if options.region is not None and (not options.region.strip() or " " in options.region):
        raise UsageError(
            f"--region {options.region!r} is not a region name",
            hint="give one such as --region us-east-1, or leave --region out to use "
            "AWS_REGION or the profile's region",
        )
    if options.endpoint_url is not None:
        check_endpoint_url(options.endpoint_url)
    if options.sandbox and options.endpoint_url:
        raise UsageError(
            "--sandbox and --endpoint-url cannot be used together",
            hint="--sandbox runs its own endpoint; drop one of them",
        )


def check_endpoint_url(url: str) -> None:
    """An ``--endpoint-url`` must be an absolute http(s) URL with a host (and valid port)."""
    from urllib.parse import urlsplit

    hint = "give an http(s) URL such as --endpoint-url http://127.0.0.1:4566"
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # an unbalanced [ in the host
        raise UsageError(f"--endpoint-url {url!r} is not an http(s) URL", hint=hint) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--endpoint-url {url!r} is not an http(s) URL", hint=hint)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # not a number, or above 65535
        port_ok = False
    if not port_ok:
        raise UsageError(f"--endpoint-url {url!r} has an invalid port", hint=hint)


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


# An AWS region name: us-east-1, us-gov-west-1, eu-isoe-west-1, cn-northwest-1.
_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+)*-[0-9]+")


def checked_region(value: str | None) -> str | None:
    """``--region`` as given, or a :class:`UsageError`: an empty or misspelt region would
    otherwise be replaced silently by the profile's or sent to a host that does not exist."""
    if value is None:
        return None
    if not _REGION.fullmatch(value):
        raise UsageError(
            f"--region {value!r} is not an AWS region name",
            hint="for example --region us-east-1 (lower case), or leave it out to use the "
            "stack's region global or the profile's region",
        )
    return value


def checked_endpoint_url(value: str | None) -> str | None:
    """``--endpoint-url`` as given when it is an http(s) URL with a host and a valid port."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or not port_ok
        or any(ch.isspace() for ch in value)
    ):
        raise UsageError(
            f"--endpoint-url {value!r} is not an http(s) URL",
            hint="for example --endpoint-url http://127.0.0.1:4566",
        )
    return value


def cloud_options(func: F) -> F:
    """Add the Cloud Control location options; the command receives ``cloud: CloudOptions``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cloud = CloudOptions(
            region=checked_region(kwargs.pop("region")),
            profile=kwargs.pop("profile"),
            endpoint_url=checked_endpoint_url(kwargs.pop("endpoint_url")),
            sandbox=kwargs.pop("sandbox"),
            sandbox_state=kwargs.pop("sandbox_state"),
        )
        check_cloud_options(cloud)
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


OUTPUT_FORMATS = ("text", "json")
#: The stack commands (build, plan, test, teardown) also render Markdown.
STACK_OUTPUT_FORMATS = ("text", "json", "markdown")


def output_options(func: F, *, formats: tuple[str, ...] = OUTPUT_FORMATS) -> F:
    """Add ``--output`` (one of ``formats``), ``--show-queries`` and ``--log-level`` (plus
    the accepted, ignored :func:`upstream_options`); the command receives ``output:
    OutputOptions`` (logging already configured)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        output = OutputOptions(
            output=kwargs.pop("output_format"),
            show_queries=kwargs.pop("show_queries"),
            log_level=effective_log_level(kwargs.pop("log_level")),
        )
        output.configure_logging()
        return func(*args, output=output, **kwargs)

    return upstream_options(
        _apply(
            wrapper,
            [
                click.option(
                    "--output",
                    "output_format",
                    type=click.Choice(list(formats)),
                    default="text",
                    show_default=True,
                    help="Result format on stdout.",
                ),
                click.option(
                    "--show-queries", is_flag=True, help="Log every rendered query (to stderr)."
                ),
                log_level_option(),
            ],
        )
    )


def common_options(func: F) -> F:
    """:func:`env_options`, :func:`cloud_options` and :func:`output_options` together."""
    return env_options(cloud_options(output_options(func)))


def stack_common_options(func: F) -> F:
    """:func:`common_options` with ``--output text|json|markdown`` (the stack commands)."""
    return env_options(cloud_options(output_options(func, formats=STACK_OUTPUT_FORMATS)))
