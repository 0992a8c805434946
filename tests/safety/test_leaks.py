"""No secret is ever printed or written where it does not belong.

One stack (tests/data/stacks/secrets) holds every kind of secret: a protected query-file prop
and export, a protected global fed by ``-e``, a global derived from it, a protected
declarative prop and schema write-only properties (a SecretString, an IAM user's
LoginProfile password). It goes through a create, a rotation (every secret changed, drift
shown, built again) and a teardown, running every stack command in every output mode
against the embedded sandbox; after each run stdout and stderr, and at the end every file
the runs wrote, are searched for each secret. The only files allowed to hold one are the
stack exports meant for a pipeline (``--output-file``, ``./.stackql-deploy-exports``), and
they must be readable by their owner only.
"""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from click.testing import Result

from tests.engine.conftest import STACKS, StackCli

STACK = STACKS / "secrets"

OLD = {
    "API_TOKEN": "tok-OLD-a1b2c3",
    "DB_PASSWORD": "pw-OLD-d4e5f6",
    "USER_PASSWORD": "user-OLD-g7h8i9",
    "SIGNING_KEY": "sign-OLD-j0k1l2",
}
NEW = {
    "API_TOKEN": "tok-NEW-m3n4o5",
    "DB_PASSWORD": "pw-NEW-p6q7r8",
    "USER_PASSWORD": "user-NEW-s9t0u1",
    "SIGNING_KEY": "sign-NEW-v2w3x4",
}
SECRETS = [*OLD.values(), *NEW.values()]
EXPORTS_FILE = ".stackql-deploy-exports"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackCli:
    monkeypatch.chdir(tmp_path)
    return StackCli(tmp_path / "sandbox.db")


def _env(values: dict[str, str]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("-e", f"{key}={value}")]


class LeakCheck:
    """Runs the CLI and fails at the first secret in stdout or stderr."""

    def __init__(self, cli: StackCli, tmp_path: Path) -> None:
        self.cli = cli
        self.tmp = tmp_path
        self.runs = 0
        self.count = 0

    def modes(self, command: str) -> list[list[str]]:
        """The output modes, two runs per command: text and JSON, both with the queries
        shown, debug logs (``trace`` is stackql-deploy's spelling of debug) and an events
        file; build and test also write the exports (--output-file)."""
        self.count += 1
        text = ["--show-queries", "--log-level", "debug", "--events", f"events-{self.count}a"]
        json_ = ["--output", "json", "--show-queries", "--log-level", "trace"]
        json_ += ["--events", f"events-{self.count}b"]
        if command in ("build", "test"):
            text += ["--output-file", f"out/exports-{self.count}a.json"]
            json_ += ["--output-file", f"out/exports-{self.count}b.json"]
        return [text, json_]

    def __call__(
        self, command: str, values: dict[str, str], *extra: str, expect: int = 0
    ) -> list[Result]:
        results = []
        for mode in self.modes(command):
            argv = [command, str(STACK), "dev", *_env(values), *extra, *mode]
            result = self.cli(*argv, expect=expect)
            self.runs += 1
            for secret in SECRETS:
                assert secret not in result.stdout, f"{secret!r} in stdout of {argv}"
                assert secret not in result.stderr, f"{secret!r} in stderr of {argv}"
            results.append(result)
        return results

    def files(self) -> dict[Path, list[str]]:
        """Every file the runs wrote (the sandbox's own state aside: it is the cloud), with
        the secrets each holds."""
        found: dict[Path, list[str]] = {}
        for path in sorted(self.tmp.rglob("*")):
            if not path.is_file() or path.name.startswith("sandbox.db"):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            found[path] = [s for s in SECRETS if s in text]
        return found


def test_no_secret_leaks_through_any_command_or_output_mode(cli: StackCli, tmp_path: Path) -> None:
    run = LeakCheck(cli, tmp_path)

    # -- create -------------------------------------------------------------------------
    (text, as_json) = run("plan", OLD)
    assert text.stdout.count("will be created") == 5
    assert '+ Value: "****"' in text.stdout  # the protected values are there, masked
    assert '+ SecretString: "****"' in text.stdout
    assert json.loads(as_json.stdout)["summary"]["create"] == 5
    permissions = cli("permissions", str(STACK), "dev", *_env(OLD))
    for secret in SECRETS:
        assert secret not in permissions.stdout + permissions.stderr
    run("build", OLD, "--dry-run")
    run("build", OLD)  # the text run creates, the JSON run finds everything in sync
    assert len(cli.resources()) == 5
    (text, as_json) = run("test", OLD)
    assert "No drift: 5 resources" in text.stdout

    # -- rotation: every secret changes; the old live values must not show either --------
    (text, as_json) = run("plan", NEW)
    assert text.stdout.count('~ Value: "****" → "****"') == 3  # token, connection, key
    assert json.loads(as_json.stdout)["summary"]["update"] == 3
    (text, _) = run("test", NEW, expect=1)
    assert text.stdout.count('Value: live "****", desired "****"') == 3
    run("build", NEW, "--dry-run")
    run("build", NEW)
    (text, _) = run("test", NEW)
    assert "No drift: 5 resources" in text.stdout
    # The new values did reach the cloud: what the test searches for is really there.
    held = json.dumps(cli.resources())
    assert NEW["API_TOKEN"] in held and NEW["SIGNING_KEY"] in held
    assert NEW["DB_PASSWORD"] in held  # inside the connection string

    # -- teardown ------------------------------------------------------------------------
    run("teardown", NEW, "--dry-run")
    run("teardown", NEW)  # the text run deletes, the JSON run finds nothing left
    assert cli.resources() == []

    # -- files ---------------------------------------------------------------------------
    files = run.files()
    assert run.runs == 2 * 11
    assert len([p for p in files if p.name.startswith("events-")]) == run.runs
    holding = {path for path, secrets in files.items() if secrets}
    allowed = {p for p in files if p.name == EXPORTS_FILE or p.parent.name == "out"}
    assert holding <= allowed, f"secrets written to {sorted(holding - allowed)}"
    # The exports meant for a pipeline hold the protected export, readable by its owner
    # only: the shell file, and --output-file of each build and test that wrote exports
    # (runs 3, 4, 8 and 9: a dry run or a test finding drift writes none).
    written = {tmp_path / "out" / f"exports-{n}{m}.json" for n in (3, 4, 8, 9) for m in "ab"}
    assert holding == written | {tmp_path / EXPORTS_FILE}
    for path in holding:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600, f"{path.name} is {oct(mode)}"
    latest = json.loads((tmp_path / "out" / "exports-9b.json").read_text())
    assert latest["api_token_value"] == NEW["API_TOKEN"]


def _stack(root: Path, manifest: str, queries: dict[str, str] | None = None) -> Path:
    stack = root / "stack"
    (stack / "resources").mkdir(parents=True)
    (stack / "stackql_manifest.yml").write_text(manifest)
    for name, text in (queries or {}).items():
        (stack / "resources" / f"{name}.iql").write_text(text)
    return stack


PARAM_QUERIES = {
    "param": (
        "/*+ exists */\nSELECT name FROM awscc.ssm.parameters\n"
        "WHERE region = 'us-east-1' AND Identifier = '{{ param_name }}' {{ extra }};\n\n"
        "/*+ create */\nINSERT INTO awscc.ssm.parameters (Name, Type, Value, region)\n"
        "SELECT '{{ param_name }}', '{{ param_type }}', 'v', 'us-east-1';\n"
    )
}


def _param_manifest(param_type: str, extra: str = "") -> str:
    return (
        "name: leaky\nproviders: [awscc]\nglobals:\n"
        "  - name: hidden\n    value: '{{ SECRET }}'\n    protected: true\n"
        "resources:\n  - name: param\n    props:\n"
        "      - name: param_name\n        value: leaky-param\n"
        f"      - name: param_type\n        value: '{param_type}'\n"
        f"      - name: extra\n        value: '{extra}'\n"
        "    protected: [param_type, extra]\n"
    )


def test_schema_violation_does_not_quote_a_protected_value(cli: StackCli, tmp_path: Path) -> None:
    stack = _stack(tmp_path, _param_manifest("Str-9f8e7d"), PARAM_QUERIES)
    for command in ("plan", "build"):
        result = cli(command, str(stack), "dev", "-e", "SECRET=x", "--log-level", "debug", expect=1)
        assert "Str-9f8e7d" not in result.stdout + result.stderr
        assert "/Type: '****' is not one of ['String', 'StringList']" in result.stderr


def test_sql_error_does_not_quote_a_protected_value(cli: StackCli, tmp_path: Path) -> None:
    # The protected value ends up outside the quotes: a syntax error near it.
    stack = _stack(tmp_path, _param_manifest("String", "zz9y8x7w"), PARAM_QUERIES)
    result = cli("build", str(stack), "dev", "-e", "SECRET=x", "--show-queries", expect=1)
    assert "zz9y8x7w" not in result.stdout + result.stderr
    assert "param.iql:3: syntax error" in result.stderr and "near '****'" in result.stderr


def test_protected_global_from_an_env_value_is_masked_in_errors(
    cli: StackCli, tmp_path: Path
) -> None:
    """A protected global (its value given with -e) quoted by a failing check."""
    manifest = _param_manifest("String").replace("value: 'String'", "value: '{{ hidden }}'")
    stack = _stack(tmp_path, manifest, PARAM_QUERIES)
    result = cli("plan", str(stack), "dev", "-e", "SECRET=Strong-5d4c", expect=1)
    assert "Strong-5d4c" not in result.stdout + result.stderr
    assert "/Type: '****'" in result.stderr


def test_protected_on_a_global_must_be_a_boolean(cli: StackCli, tmp_path: Path) -> None:
    stack = _stack(tmp_path, _param_manifest("String").replace("protected: true", "protected: 1"))
    result = cli("plan", str(stack), "dev", "-e", "SECRET=x", expect=1)
    assert "stackql_manifest.yml:6: global 'hidden': protected must be true or false" in (
        result.stderr
    )


def test_library_debug_logs_never_carry_request_bodies(cli: StackCli) -> None:
    """Even when the process's root logger takes DEBUG (a wrapper that called
    ``logging.basicConfig(level=logging.DEBUG)``), botocore never logs a request body (a
    DesiredState holding a password) and every record that reaches a handler is masked."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    root = logging.getLogger()
    keep, level = Keep(logging.DEBUG), root.level
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)
    try:
        cli("build", str(STACK), "dev", *_env(OLD), "--log-level", "debug", "--show-queries")
    finally:
        root.removeHandler(keep)
        root.setLevel(level)
    libraries = ("botocore", "boto3", "urllib3")
    assert not [r for r in records if r.name.startswith(libraries) and r.levelno < logging.WARNING]
    shown = [r.getMessage() for r in records]
    assert any(r.name.startswith("stackdeploy") for r in records)  # the run did log
    assert any("****" in text for text in shown)
    for secret in SECRETS:
        assert not [text for text in shown if secret in text]
