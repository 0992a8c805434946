"""Stack variables: --env-file (python-dotenv) overridden by -e; never the process env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackdeploy.errors import UsageError
from stackdeploy.manifest import load_env_vars, parse_env_overrides


def test_parse_env_overrides() -> None:
    assert parse_env_overrides(["A=1", "B=x=y", "A=2", "C="]) == {"A": "2", "B": "x=y", "C": ""}
    with pytest.raises(UsageError, match="-e 'NOEQUALS' is not KEY=VALUE"):
        parse_env_overrides(["NOEQUALS"])
    with pytest.raises(UsageError):
        parse_env_overrides(["=v"])


def test_default_env_file_in_cwd_and_overrides(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nAWS_REGION=us-west-2\nexport QUOTED='a b'\nBARE\nREF=${HOME}\n"
    )
    values = load_env_vars(None, {"AWS_REGION": "eu-west-1", "EXTRA": "1"}, cwd=tmp_path)
    assert values == {
        "AWS_REGION": "eu-west-1",  # -e wins over the file
        "QUOTED": "a b",
        "BARE": "",
        # No interpolation: ${HOME} would come from the process environment.
        "REF": "${HOME}",
        "EXTRA": "1",
    }


def test_missing_default_env_file_is_skipped(tmp_path: Path) -> None:
    assert load_env_vars(None, {"A": "1"}, cwd=tmp_path) == {"A": "1"}


def test_explicit_env_file_relative_to_cwd_must_exist(tmp_path: Path) -> None:
    (tmp_path / "vars").mkdir()
    (tmp_path / "vars" / "prd.env").write_text("X=1\n")
    assert load_env_vars("vars/prd.env", cwd=tmp_path) == {"X": "1"}
    with pytest.raises(UsageError, match=r"env file nope\.env not found"):
        load_env_vars("nope.env", cwd=tmp_path)


def test_process_environment_is_neither_read_nor_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SD_TEST_SECRET", "from-shell")
    (tmp_path / ".env").write_text("FILE_ONLY=1\n")
    before = dict(os.environ)
    values = load_env_vars(None, None, cwd=tmp_path)
    assert values == {"FILE_ONLY": "1"}
    assert "FILE_ONLY" not in os.environ
    assert dict(os.environ) == before


def test_env_file_errors_name_the_line(tmp_path: Path) -> None:
    from stackdeploy.errors import EnvFileError

    (tmp_path / ".env").write_bytes(b"A=1\nB=caf\xe9\n")
    with pytest.raises(EnvFileError, match=r"^\.env:2: not UTF-8 text"):
        load_env_vars(cwd=tmp_path)
    (tmp_path / ".env").write_text('A=1\nB="open\n')
    with pytest.raises(EnvFileError, match=r"^\.env:2: cannot read 'B=\"open' as KEY=VALUE"):
        load_env_vars(cwd=tmp_path)


def test_a_default_env_folder_is_skipped_but_an_explicit_one_is_an_error(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()  # a virtualenv called .env
    assert load_env_vars(overrides={"A": "1"}, cwd=tmp_path) == {"A": "1"}
    with pytest.raises(UsageError, match="is a folder"):
        load_env_vars(".env", cwd=tmp_path)


def test_e_values_must_be_utf8() -> None:
    with pytest.raises(UsageError, match="is not UTF-8 text"):
        parse_env_overrides(["OWNER=Jos\udce9"])
