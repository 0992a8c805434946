"""Read the text files a user hands stack-deploy (manifests, includes, env and query files).

Every such file is untrusted input: it may be binary, in another encoding, unreadable, or a
path that leaves the stack folder. The helpers here turn each of those into one located
error (``file:line: what is wrong (hint: what to do)``) of the caller's error class, instead
of a ``UnicodeDecodeError`` or an ``OSError`` escaping as an internal error.
"""

from __future__ import annotations

import os
from pathlib import Path

from stackdeploy.errors import LocatedError

#: A UTF-8 byte order mark, as some Windows editors write it; accepted and dropped.
_BOM = b"\xef\xbb\xbf"
_UTF8_HINT = "save the file as UTF-8 text"


def decode_text(data: bytes, *, display: str, error: type[LocatedError]) -> str:
    """``data`` decoded as UTF-8 (a leading byte order mark dropped).

    Raises ``error`` naming the line of the first NUL byte (a binary file) or of the first
    byte that is not UTF-8.
    """
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise error(
            "this file is UTF-16 text (as some Windows tools write it), not UTF-8",
            file=display,
            line=1,
            hint=_UTF8_HINT,
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise error(
            "this is a binary file, not text (it holds NUL bytes)",
            file=display,
            line=data.count(b"\n", 0, nul) + 1,
            hint=_UTF8_HINT,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at column {column} cannot be "
            "decoded (Latin-1 or another encoding?)",
            file=display,
            line=line,
            hint=_UTF8_HINT,
        ) from None


def read_text(path: Path, *, display: str | None = None, error: type[LocatedError]) -> str:
    """The UTF-8 text of ``path``; every failure is an ``error`` naming ``display``."""
    shown = display or str(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise error("is a folder, not a file", file=shown) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise error(f"cannot read the file: {reason}", file=shown) from None
    return decode_text(data, display=shown, error=error)


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path``, with every symlink resolved, lies inside ``root`` (resolved)."""
    try:
        resolved = path.resolve()
        base = root.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return False
    return resolved == base or resolved.is_relative_to(base)


def unsafe_relative_path(text: str) -> str | None:
    """Why ``text`` cannot be a path relative to the stack folder, or None when it can.

    Absolute paths (``/x``, ``~/x``), ``..`` segments, backslashes and control
    characters are refused before any file system access, whatever exists on disk.
    """
    if not text.strip():
        return "it is empty"
    if any(ord(ch) < 32 or ch == "\x7f" for ch in text):
        return "it holds control characters"
    if "\\" in text:
        return "it holds a backslash (use / between folders)"
    if text.startswith(("/", "~")) or os.path.isabs(text):
        return "it is an absolute path"
    if ".." in text.split("/"):
        return "it leaves its folder ('..')"
    return None
