"""The stack exports: ``--output-file`` (JSON), ``./.stackql-deploy-exports`` and the table a
build or test prints.

The files hold real values, protected ones included (they are outputs for a pipeline, not logs),
so a file that holds a secret is created readable by its owner only (0600), and an existing
file is replaced rather than rewritten in place (its old permissions do not leak the new
content).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

EXPORTS_ENV_FILE = ".stackql-deploy-exports"


def holds_secret(exports: dict[str, Any], secrets: Iterable[str]) -> bool:
    """True when any secret appears in the exports' values."""
    text = json.dumps(exports, sort_keys=True, default=str)
    return any(secret and secret in text for secret in secrets)


def _write(target: Path, text: str, *, private: bool) -> None:
    """Write atomically; 0600 when ``private``, else the usual umask."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if private:
            os.chmod(tmp, 0o600)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_file(path: str | Path, text: str, *, private: bool = False) -> None:
    """Write ``text`` atomically (parents created); 0600 when ``private`` (a saved plan
    holding digests of secrets)."""
    _write(Path(path), text, private=private)


def write_output_file(path: str | Path, exports: dict[str, Any], *, private: bool = False) -> None:
    """The stack exports as pretty JSON (2-space indent, sorted keys), parents created."""
    _write(Path(path), json.dumps(exports, indent=2, sort_keys=True) + "\n", private=private)


def _shell_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


#: The names every stack export document has besides the manifest's ``exports``.
AUTOMATIC = ("stack_name", "stack_env", "elapsed_time")


def value_text(value: Any) -> str:
    """An export as text: strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def variable_name(stack_name: str, env: str, name: str) -> str:
    """The shell variable of one export: ``STACKQL_DEPLOY__<stack>__<env>__<name>``."""
    return f"STACKQL_DEPLOY__{_shell_name(stack_name)}__{_shell_name(env)}__{_shell_name(name)}"


def has_manifest_exports(exports: dict[str, Any]) -> bool:
    return any(k not in AUTOMATIC for k in exports)


def render_exports_table(
    exports: dict[str, Any],
    *,
    stack_name: str,
    env: str,
    mask: Callable[[str], str],
    width: int = 80,
) -> str:
    """The stack exports as stackql-deploy 2.x prints them after a build or test: one row per
    shell variable of ``./.stackql-deploy-exports`` (sorted), its value masked and cut at
    ``width`` characters. Empty when the manifest declares no exports."""
    if not has_manifest_exports(exports):
        return ""
    rows = [
        (variable_name(stack_name, env, key), mask(value_text(exports[key])))
        for key in sorted(exports)
    ]
    rows = [(n, v if len(v) <= width else v[: width - 3] + "...") for n, v in rows]
    name_width = max(len("variable"), *(len(n) for n, _ in rows))
    value_width = max(5, *(len(v) for _, v in rows))
    rule = f"+-{'-' * name_width}-+-{'-' * value_width}-+"
    lines = ["stack exports:", rule, f"| {'variable':<{name_width}} | {'value':<{value_width}} |"]
    lines.append(rule)
    lines += [f"| {n:<{name_width}} | {v:<{value_width}} |" for n, v in rows]
    lines.append(rule)
    return "\n".join(lines) + "\n"


def write_exports_env_file(
    exports: dict[str, Any],
    *,
    stack_name: str,
    env: str,
    directory: str | Path = ".",
    private: bool = False,
) -> Path | None:
    """stackql-deploy 2.x's ``./.stackql-deploy-exports``: one ``export`` line per stack
    export, ``stack_name``, ``stack_env`` and ``elapsed_time`` included, sorted by name
    (``STACKQL_DEPLOY__<stack>__<env>__<var>='<value>'``; characters a shell name cannot hold
    become ``_``), for ``source`` in a CI job. Nothing is written when the manifest declares no
    exports."""
    if not has_manifest_exports(exports):
        return None
    lines = []
    for name in sorted(exports):
        text = value_text(exports[name])
        quoted = "'" + text.replace("'", "'\\''") + "'"
        lines.append(f"export {variable_name(stack_name, env, name)}={quoted}")
    target = Path(directory) / EXPORTS_ENV_FILE
    _write(target, "\n".join(lines) + "\n", private=private)
    return target
