"""Stack variables from ``--env-file`` and ``-e KEY=VALUE`` (docs/manifest.md,
"Variables and rendering order").

The env file (default ``./.env`` relative to the working directory, skipped when absent) is
read as UTF-8 and parsed with python-dotenv's parser; ``-e`` values override it. A file that
is binary, not UTF-8, or holds a line that is not ``KEY=VALUE`` (python-dotenv would only log
and skip it) is an error naming the file and line: a variable silently lost is a stack
deployed with the wrong value. The process environment is never read or written:
interpolation (``${VAR}``) is not done because python-dotenv would resolve it from
``os.environ``, which would make a stack's result depend on the shell it runs in.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from pathlib import Path

from dotenv.parser import parse_stream

from stackdeploy.errors import EnvFileError, UsageError
from stackdeploy.textfile import read_text

DEFAULT_ENV_FILE = ".env"


def parse_env_overrides(items: Iterable[str]) -> dict[str, str]:
    """``["K=V", "A=b=c"]`` -> ``{"K": "V", "A": "b=c"}``; a later K wins.

    Raises :class:`UsageError` for an item without ``=`` or with an empty name.
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not _is_utf8(item):
            # Bytes the shell passed through undecoded (Python keeps them as surrogates):
            # rendered into a template they would fail far from here, or reach AWS mangled.
            raise UsageError(
                f"-e {item.encode('utf-8', 'surrogateescape')!r} is not UTF-8 text",
                hint="pass UTF-8 text (check the terminal's or the script's encoding)",
            )
        if not sep or not name:
            raise UsageError(
                f"-e {item!r} is not KEY=VALUE", hint="for example -e AWS_REGION=us-east-1"
            )
        out[name] = value
    return out


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def load_env_vars(
    env_file: str | Path | None = None,
    overrides: Mapping[str, str] | None = None,
    *,
    cwd: str | Path | None = None,
) -> dict[str, str]:
    """The stack variables: the env file's entries overridden by ``overrides``.

    ``env_file=None`` means ``./.env`` in ``cwd`` (default: the working directory), skipped
    when it does not exist; a file given explicitly must exist. Keys without a value
    (``KEY`` alone on a line) become ``""``.
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    explicit = env_file is not None
    path = Path(env_file) if env_file is not None else Path(DEFAULT_ENV_FILE)
    if not path.is_absolute():
        path = base / path
    values: dict[str, str] = {}
    shown = str(env_file) if explicit else DEFAULT_ENV_FILE
    if path.is_dir():
        # ./.env is also a common name for a virtualenv folder: only an explicit one counts.
        if explicit:
            raise UsageError(f"env file {shown} is a folder, not a file", hint="check --env-file")
    elif path.exists():
        values = parse_env_text(read_text(path, display=shown, error=EnvFileError), file=shown)
    elif explicit:
        raise UsageError(f"env file {env_file} not found", hint="check --env-file")
    values.update(overrides or {})
    return values


def parse_env_text(text: str, *, file: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (dotenv syntax: quotes, ``export``, comments) -> ``{KEY: VALUE}``.

    A later KEY wins; ``KEY`` alone means ``""``. A line python-dotenv cannot parse raises
    :class:`~stackdeploy.errors.EnvFileError` naming ``file`` and the line.
    """
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            shown = binding.original.string.strip()
            if len(shown) > 40:
                shown = shown[:37] + "..."
            raise EnvFileError(
                f"cannot read {shown!r} as KEY=VALUE",
                file=file,
                line=binding.original.line,
                hint='write KEY=VALUE (quote values with spaces or #: KEY="a b")',
            )
        if binding.key is not None:
            values[binding.key] = "" if binding.value is None else binding.value
    return values
