"""The bad-input corpus: cases as data (``cases/*.yml``), and how one case is run.

A case is a folder of files (the stack under ``stack/``, anything else beside it), one
command line, the exit code it must end with and the first line of stderr it must print
(exactly, or as a regular expression). Every case also asserts what holds for all bad
input: no traceback, no ``internal error``, the sandbox state unchanged (same resources,
no new requests) and no file created or changed in the case folder.

Case keys:

- ``id`` (unique), ``about`` (one line: what the case is about);
- ``manifest``: text of ``stack/stackql_manifest.yml``; ``resources``: ``{name: text}`` for
  ``stack/resources/<name>``; ``files``: ``{relative path: content}`` for anything else.
  Content is text (written as UTF-8), or a mapping: ``{latin1: text}``, ``{utf16: text}``,
  ``{base64: data}``, or ``{generate: NAME, ...}`` (see :data:`GENERATORS`);
- ``symlinks``: ``{link: target}`` (paths relative to the case folder; targets may be
  absolute);
- ``command``: ``plan``, ``build``, ``build --dry-run``, ``test``, ``teardown`` (run on
  ``stack dev`` with the sandbox), ``query`` (the sandbox added) or ``raw`` (``args`` is the
  whole command line; ``{state}`` is replaced by the sandbox state path);
- ``args``: extra arguments (a mapping ``{latin1: text}`` is passed as raw bytes, which
  needs ``subprocess: true``);
- ``exit``: the exit code; ``stderr`` (exact first line) or ``stderr_re`` (``re.fullmatch``
  of the first line); ``error`` / ``error_re`` optionally, the same for the first line that
  starts with ``Error:`` (when warnings or click's usage come first); ``stdout_re``
  optionally;
- ``requests``: how many Cloud Control requests the command may record in the sandbox
  (default 0; a DELETE that AWS refuses still leaves its FAILED request);
- ``subprocess: true`` runs ``python -m stackdeploy`` in a child process (encodings of the
  process itself, signals); ``env``: extra environment for it; ``stdin``: text sent to it;
  ``stdin`` may also be ``{latin1: text}``; ``signal``: ``SIGINT`` / ``SIGTERM`` sent once
  the child blocks reading stdin;
- ``needs: plan-first``: the case fails on the engine that applies while it plans (a
  resource created before the error in a later one is found, ``plan`` passing what
  ``build`` rejects). The runner marks it ``xfail(strict=True)``, so it turns into a loud
  XPASS failure once the plan-first engine lands: then delete the mark.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

CASES_DIR = Path(__file__).resolve().parent / "cases"
REPO_ROOT = Path(__file__).resolve().parents[2]
STACK_COMMANDS = ("plan", "build", "build --dry-run", "test", "teardown")
COMMANDS = (*STACK_COMMANDS, "query", "raw")
NEEDS = ("plan-first",)
CASE_KEYS = frozenset(
    {
        "id",
        "about",
        "manifest",
        "resources",
        "files",
        "symlinks",
        "command",
        "args",
        "exit",
        "stderr",
        "stderr_re",
        "error",
        "error_re",
        "stdout_re",
        "requests",
        "subprocess",
        "env",
        "stdin",
        "signal",
        "needs",
    }
)
SUBPROCESS_TIMEOUT = 120.0


def _alias_bomb(levels: int = 9, width: int = 10, under: str = "ignored") -> str:
    """A "billion laughs" YAML: ``width ** levels`` strings from a few hundred bytes."""
    lines = [f"{under}:", '  l0: &l0 "lol"']
    for level in range(1, levels + 1):
        items = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"  l{level}: &l{level} [{items}]")
    return "\n".join(lines) + "\n"


def _merge_bomb(levels: int = 30) -> str:
    """Merge keys (``<<``) doubling a mapping at every level."""
    lines = ["ignored:", "  m0: &m0 {a: 1}"]
    for level in range(1, levels + 1):
        lines.append(f"  m{level}: &m{level} {{<<: [*m{level - 1}, *m{level - 1}]}}")
    return "\n".join(lines) + "\n"


def _digits(count: int) -> str:
    return "9" * count


def _deep(kind: str, depth: int) -> str:
    if kind == "flow_list":
        return "[" * depth + "]" * depth
    if kind == "flow_map":
        return "{a: " * depth + "1" + "}" * depth
    if kind == "block_map":
        return "\n".join("  " * i + "a:" for i in range(depth)) + " 1"
    if kind == "json":
        return "[" * depth + "]" * depth
    if kind == "jinja_parens":
        return "{{ " + "(" * depth + "1" + ")" * depth + " }}"
    if kind == "jinja_blocks":
        return "{% if true %}" * depth + "x" + "{% endif %}" * depth
    raise ValueError(kind)


GENERATORS: dict[str, Callable[..., str]] = {
    "alias_bomb": _alias_bomb,
    "merge_bomb": _merge_bomb,
    "deep": _deep,
    "digits": _digits,
}


@dataclass
class Case:
    """One case of the corpus, as read from ``cases/*.yml``."""

    id: str
    source: str
    data: dict[str, Any] = field(repr=False)

    @property
    def needs(self) -> str | None:
        value = self.data.get("needs")
        return str(value) if value else None

    @property
    def command(self) -> str:
        return str(self.data["command"])

    @property
    def in_subprocess(self) -> bool:
        return bool(self.data.get("subprocess"))


def load_cases() -> list[Case]:
    """Every case, checked for well-formedness (a malformed case fails collection)."""
    cases: list[Case] = []
    seen: set[str] = set()
    for path in sorted(CASES_DIR.glob("*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            unknown = set(item) - CASE_KEYS
            assert not unknown, f"{path.name}: case {item.get('id')}: unknown keys {unknown}"
            case_id = item["id"]
            assert case_id not in seen, f"duplicate case id {case_id}"
            seen.add(case_id)
            assert item["command"] in COMMANDS, f"{case_id}: bad command {item['command']!r}"
            assert ("stderr" in item) != ("stderr_re" in item), (
                f"{case_id}: give exactly one of stderr and stderr_re"
            )
            assert isinstance(item["exit"], int), f"{case_id}: exit must be a number"
            assert item.get("needs") in (None, *NEEDS), f"{case_id}: bad needs"
            cases.append(Case(case_id, path.name, item))
    return cases


def _content(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict):
        if "latin1" in value:
            return str(value["latin1"]).encode("latin-1")
        if "utf16" in value:
            return str(value["utf16"]).encode("utf-16")
        if "base64" in value:
            return base64.b64decode(value["base64"])
        if "generate" in value:
            options = {k: v for k, v in value.items() if k not in ("generate", "prefix", "suffix")}
            text = GENERATORS[value["generate"]](**options)
            return (str(value.get("prefix", "")) + text + str(value.get("suffix", ""))).encode()
    raise ValueError(f"bad file content: {value!r}")


def materialise(case: Case, folder: Path) -> None:
    """Write the case's files (and symlinks) under ``folder``."""
    data = case.data
    files: dict[str, Any] = {}
    if "manifest" in data:
        files["stack/stackql_manifest.yml"] = data["manifest"]
    for name, text in (data.get("resources") or {}).items():
        files[f"stack/resources/{name}"] = text
    files.update(data.get("files") or {})
    (folder / "stack" / "resources").mkdir(parents=True, exist_ok=True)
    for rel, value in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_content(value))
    for link, target in (data.get("symlinks") or {}).items():
        path = folder / link
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)


def argv(case: Case, state: Path) -> list[str | bytes]:
    """The command line of ``case`` (without the program name)."""
    extra: list[str | bytes] = []
    for arg in case.data.get("args") or []:
        if isinstance(arg, dict):
            extra.append(str(arg["latin1"]).encode("latin-1"))
        else:
            extra.append(str(arg).replace("{state}", str(state)))
    sandbox = ["--sandbox", "--sandbox-state", str(state)]
    command = case.command
    if command in STACK_COMMANDS:
        return [*command.split(), "stack", "dev", *extra, *sandbox]
    if command == "query":
        return ["query", *extra, *sandbox]
    return extra


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None


def run_in_process(args: list[str | bytes], cwd: Path) -> Outcome:
    """``stack-deploy ARGS`` through click's CliRunner, from ``cwd``."""
    from stackdeploy.cli import main

    assert all(isinstance(a, str) for a in args), "raw bytes need subprocess: true"
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, [str(a) for a in args])
    finally:
        os.chdir(previous)
    exception = result.exception
    if isinstance(exception, SystemExit):
        exception = None
    return Outcome(result.exit_code, result.stdout, result.stderr, exception)


def _blocked_reading_stdin(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    # read(2) is syscall 0 on x86-64 and 63 on arm64; its first argument is the fd.
    return len(fields) > 1 and fields[0] in ("0", "63") and fields[1] == "0x0"


def run_subprocess(case: Case, args: list[str | bytes], cwd: Path) -> Outcome:
    """``python -m stackdeploy ARGS`` in a child process, from ``cwd``."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("STACK_DEPLOY_DEBUG", None)
    env.update({k: str(v) for k, v in (case.data.get("env") or {}).items()})
    command: list[str | bytes] = [sys.executable, "-m", "stackdeploy", *args]
    stdin = case.data.get("stdin")
    sig = case.data.get("signal")
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if sig:
        # Wait until the child is blocked in read(0, ...), then interrupt it there: the
        # signal lands at a known point instead of at a moment chosen by a sleep.
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT
        while not _blocked_reading_stdin(process.pid):
            assert process.poll() is None, "the child ended before reading stdin"
            assert time.monotonic() < deadline, "the child never read stdin"
            time.sleep(0.01)
        process.send_signal(getattr(signal, sig))
        out, err = process.communicate(timeout=SUBPROCESS_TIMEOUT)
    else:
        data = _content(stdin) if stdin is not None else b""
        out, err = process.communicate(data, timeout=SUBPROCESS_TIMEOUT)
    return Outcome(
        process.returncode,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
    )


def tree_snapshot(folder: Path, *, skip: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (symlinks as their target text), ``skip`` left out."""
    out: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        if path == skip or skip in path.parents:
            continue
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = f"-> {os.readlink(path)}".encode()
        elif path.is_file():
            out[rel] = path.read_bytes()
    return out


def same_sandbox(
    before: tuple[list[tuple[str, str, str]], int],
    after: tuple[list[tuple[str, str, str]], int],
    *,
    requests: int = 0,
) -> bool:
    """The same resources, and exactly ``requests`` more requests recorded."""
    return before[0] == after[0] and after[1] == before[1] + requests


def sandbox_snapshot(state: Path) -> tuple[list[tuple[str, str, str]], int]:
    """The resources of the sandbox state (type, identifier, model) and how many requests."""
    from stackdeploy.sandbox.store import Store

    if not state.exists():
        return [], 0
    with Store(state) as store:
        resources = [(r.type_name, r.identifier, repr(r.properties)) for r in store.all_resources()]
        return resources, store.counts()["requests"]


def copy_state(seed: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(seed, target)


def first_line(text: str) -> str:
    lines = text.splitlines()
    return lines[0] if lines else ""


def check(case: Case, outcome: Outcome) -> list[str]:
    """What is wrong with ``outcome`` for ``case`` (empty when it is right)."""
    problems: list[str] = []
    data = case.data
    both = outcome.stdout + outcome.stderr
    if outcome.exception is not None:
        problems.append(f"an exception escaped: {outcome.exception!r}")
    if "Traceback (most recent call last)" in both:
        problems.append("a traceback was printed")
    if "internal error" in both:
        problems.append("an internal error was reported")
    if outcome.exit_code != data["exit"]:
        problems.append(f"exit code {outcome.exit_code}, expected {data['exit']}")
    line = first_line(outcome.stderr)
    if "stderr" in data and line != data["stderr"]:
        problems.append(f"first stderr line {line!r}\n    expected {data['stderr']!r}")
    if "stderr_re" in data and not re.fullmatch(data["stderr_re"], line):
        problems.append(f"first stderr line {line!r}\n    does not match {data['stderr_re']!r}")
    error = next((x for x in outcome.stderr.splitlines() if x.startswith("Error:")), "")
    if "error" in data and error != data["error"]:
        problems.append(f"Error line {error!r}\n    expected {data['error']!r}")
    if "error_re" in data and not re.fullmatch(data["error_re"], error):
        problems.append(f"Error line {error!r}\n    does not match {data['error_re']!r}")
    if "stdout_re" in data and not re.search(data["stdout_re"], outcome.stdout):
        problems.append(f"stdout does not match {data['stdout_re']!r}")
    return problems
