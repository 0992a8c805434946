"""A state file the sandbox cannot use is one clear line naming it (a StateFileError from
``Store`` / ``SandboxServer``; exit 1 from ``sandbox serve|list|reset``), never a traceback, and
it is left as it was."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from stackdeploy.cli import main
from stackdeploy.errors import StackDeployError
from stackdeploy.sandbox.server import SandboxServer
from stackdeploy.sandbox.store import SCHEMA_VERSION, StateFileError, Store


def _random(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 40)


def _text(path: Path) -> None:
    path.write_text("resources:\n  - name: not a database\n" * 50)


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "inside").write_text("x")


def _foreign(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
        conn.commit()


def _newer(path: Path) -> None:
    Store(path).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,)
        )
        conn.commit()


CASES = {
    "random bytes": (_random, "is not a sandbox state file (not an SQLite database)"),
    "text": (_text, "is not a sandbox state file (not an SQLite database)"),
    "directory": (_directory, "is a directory, not a sandbox state file"),
    "another database": (_foreign, "is an SQLite database but not a sandbox state file"),
    "newer version": (_newer, "was written by a newer stack-deploy"),
}


def _snapshot(path: Path) -> object:
    if path.is_dir():
        return sorted(p.name for p in path.iterdir())
    return path.read_bytes()


@pytest.mark.parametrize("case", list(CASES))
def test_refused_from_python(tmp_path: Path, case: str) -> None:
    make, message = CASES[case]
    path = tmp_path / "state.db"
    make(path)
    before = _snapshot(path)
    for opener in (Store, SandboxServer):
        with pytest.raises(StateFileError) as info:
            opener(path)
        assert isinstance(info.value, StackDeployError)
        text = str(info.value)
        assert text.startswith(f"{path}: {message}")
        assert "\n" not in text
        assert "--state" in text  # the hint says what to do
    assert _snapshot(path) == before


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", ["serve", "list", "reset"])
def test_refused_by_the_cli(tmp_path: Path, case: str, command: str) -> None:
    make, message = CASES[case]
    path = tmp_path / "state.db"
    make(path)
    args = ["sandbox", command, "--state", str(path)]
    if command == "serve":
        args += ["--port", "0"]
    if command == "reset":
        args.append("--yes")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: {path}: {message}")
    assert "Traceback" not in result.output and "DatabaseError" not in result.output


def test_older_state_file_is_moved_forward(tmp_path: Path) -> None:
    """A state file from before STS (format 1) opens, keeps its data and gains the new table."""
    path = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
            INSERT INTO meta VALUES ('schema_version', '1');
            CREATE TABLE resources (account TEXT, region TEXT, type_name TEXT, identifier TEXT,
                properties TEXT, created_at REAL, updated_at REAL,
                PRIMARY KEY (account, region, type_name, identifier));
            INSERT INTO resources VALUES ('123456789012', 'us-east-1', 'AWS::S3::Bucket', 'b1',
                '{"BucketName": "b1"}', 1, 1);
            """
        )
    with Store(path) as store:
        assert [r.identifier for r in store.all_resources()] == ["b1"]
        assert store.get_credentials("ASIANOTHING") is None
    with contextlib.closing(sqlite3.connect(path)) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)


@contextlib.contextmanager
def _read_only_folder(folder: Path) -> Iterator[None]:
    """``folder`` made read-only: by permissions for a normal user; root ignores those, so as
    root a tmpfs is mounted read-only over it (skipped where mounting is not allowed)."""
    folder.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("running as root without mount(8): cannot make a read-only location")
    staged = folder.with_name(folder.name + "-content")
    shutil.copytree(folder, staged)
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"running as root and cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        shutil.copytree(staged, folder, dirs_exist_ok=True)
        subprocess.run([mount, "-o", "remount,ro", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_read_only_location(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    existing = folder / "existing.db"
    Store(existing).close()
    with _read_only_folder(folder):
        for path in (existing, folder / "new.db", folder / "sub" / "new.db"):
            with pytest.raises(StateFileError) as info:
                SandboxServer(path)
            text = str(info.value)
            assert text.startswith(f"{path}: the sandbox state file cannot be written")
            assert "read-only location" in text
            result = CliRunner().invoke(
                main, ["sandbox", "serve", "--port", "0", "--state", str(path)]
            )
            assert result.exit_code == 1, result.output
            assert result.output.strip().splitlines() == [f"Error: {text}"]
        result = CliRunner().invoke(main, ["sandbox", "list", "--state", str(existing)])
        assert result.exit_code == 1
        assert "cannot be written (read-only location)" in result.output


def test_embedded_sandbox_refuses_too(tmp_path: Path) -> None:
    """Commands running the sandbox in-process (--sandbox) say the same one line."""
    path = tmp_path / "state.db"
    _random(path)
    result = CliRunner().invoke(
        main, ["query", "SELECT 1", "--sandbox", "--sandbox-state", str(path)]
    )
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [
        f"Error: {path}: is not a sandbox state file (not an SQLite database) (hint: delete or "
        "move it, or choose another state file (--state for `sandbox` commands, "
        "--sandbox-state for the others))"
    ]
