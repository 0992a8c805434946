"""Stack variables from ``--env-file`` and ``-e KEY=VALUE`` (compat §3.1).

The env file (default ``./.env`` relative to the working directory, skipped when absent) is
parsed with python-dotenv's ``dotenv_values``; ``-e`` values override it. The process
environment is never read or written: interpolation (``${VAR}``) is turned off because
python-dotenv would resolve it from ``os.environ``, which would make a stack's result depend
on the shell it runs in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from dotenv import dotenv_values

from stackdeploy.errors import UsageError

DEFAULT_ENV_FILE = ".env"


def parse_env_overrides(items: Iterable[str]) -> dict[str, str]:
    """``["K=V", "A=b=c"]`` -> ``{"K": "V", "A": "b=c"}``; a later K wins.

    Raises :class:`UsageError` for an item without ``=`` or with an empty name.
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(
                f"-e {item!r} is not KEY=VALUE", hint="for example -e AWS_REGION=us-east-1"
            )
        out[name] = value
    return out


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
    if path.is_file():
        parsed = dotenv_values(path, interpolate=False, encoding="utf-8")
        values = {key: "" if value is None else value for key, value in parsed.items()}
    elif explicit:
        raise UsageError(f"env file {env_file} not found", hint="check --env-file")
    values.update(overrides or {})
    return values
