"""Writing the stack exports: ``--output-file`` (JSON) and ``./.stackql-deploy-exports``.

Both hold real values, protected ones included (they are outputs for a pipeline, not logs),
so a file that holds a secret is created readable by its owner only (0600), and an existing
file is replaced rather than rewritten in place (its old permissions do not leak the new
content).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
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


def write_exports_env_file(
    exports: dict[str, Any],
    *,
    stack_name: str,
    env: str,
    directory: str | Path = ".",
    private: bool = False,
) -> Path | None:
    """stackql-deploy 2.x's ``./.stackql-deploy-exports``: one ``export`` line per manifest
    export (``STACKQL_DEPLOY__<stack>__<env>__<var>='<value>'``, ``-`` turned into ``_``),
    for ``source`` in a CI job. Nothing is written when the manifest has no exports."""
    names = [k for k in exports if k not in ("stack_name", "stack_env", "elapsed_time")]
    if not names:
        return None
    prefix = f"STACKQL_DEPLOY__{_shell_name(stack_name)}__{_shell_name(env)}__"
    lines = []
    for name in names:
        value = exports[name]
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        quoted = "'" + text.replace("'", "'\\''") + "'"
        lines.append(f"export {prefix}{_shell_name(name)}={quoted}")
    target = Path(directory) / EXPORTS_ENV_FILE
    _write(target, "\n".join(lines) + "\n", private=private)
    return target
