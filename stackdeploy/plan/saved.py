"""Saved plans: the plan ``plan --out FILE`` writes, and what it was computed from (pure).

A saved plan is the JSON plan document (the contract of docs/plan.md, secrets masked) plus a
``saved_plan`` section, the :class:`Basis`: digests of the manifest and query files, of the
rendered inputs (variables, globals, each resource's rendered props), of the live state each
resource was planned against, and of each planned action, with the paths each action may
touch. ``build --plan FILE`` plans again, computes the same basis with the file's salt, and
refuses unless nothing differs (:func:`compare`); while applying, a resource planned again
with values known only after apply must stay within its saved bounds
(:func:`bound_violation`).

No digest lets a secret be read back (:class:`Hasher`):

* every digest is HMAC-SHA256 under a key derived from a random salt kept in the file and,
  when it is set, the ``STACK_DEPLOY_PLAN_KEY`` environment variable (never stored);
* every secret (each variable's value, protected values, write-only values) is replaced by
  its scrypt hash (N=2^14, r=8, p=1, salted with the file's salt) before anything is
  digested, so testing one guess of a secret costs one scrypt (about 16 MiB and 60 ms), and
  a precomputed table is useless. A very short secret can still be found by trying every
  value; with ``STACK_DEPLOY_PLAN_KEY`` set (a CI secret shared by the plan and the apply
  job) no guess can be tested at all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackdeploy.errors import UsageError
from stackdeploy.plan.model import ResourcePlan

FORMAT = "stack-deploy-plan"
VERSION = 1
#: The environment variable holding an optional key mixed into every digest.
PLAN_KEY_ENV = "STACK_DEPLOY_PLAN_KEY"
#: The live digest of a resource that did not exist when it was planned.
ABSENT = "absent"
#: Secrets shorter than this are replaced only where their position is known (a variable's
#: value, a write-only property), not wherever the text occurs.
MIN_SUBSTRING_SECRET = 3

SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_MAXMEM = 64 * 1024 * 1024


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class Hasher:
    """Keyed digests of plan inputs in which no secret survives (see the module docstring).

    ``secrets`` are replaced wherever their text occurs (single pass, longest first);
    ``volatile`` strings that change on every run without meaning anything (idempotency
    tokens) are replaced by their label. Thread-safe.
    """

    def __init__(
        self,
        salt: bytes,
        *,
        plan_key: str | None = None,
        secrets: Iterable[str] = (),
        volatile: Mapping[str, str] | None = None,
        scrypt: Mapping[str, int] | None = None,
    ) -> None:
        self.salt = salt
        self.keyed = bool(plan_key)
        self.scrypt = dict(scrypt or SCRYPT)
        material = (plan_key or "").encode("utf-8")
        self._key = hmac.new(material, b"stack-deploy plan v1:" + salt, hashlib.sha256).digest()
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._volatile = dict(volatile or {})
        #: True once a secret went into a digest (the file is then written 0600).
        self.secret_used = False
        self.add_secrets(secrets)

    @property
    def key_check(self) -> str:
        """A digest telling, at apply time, whether ``STACK_DEPLOY_PLAN_KEY`` is the same."""
        return hmac.new(self._key, b"key check", hashlib.sha256).hexdigest()

    def add_secrets(self, values: Iterable[Any]) -> None:
        with self._lock:
            before = len(self._secrets)
            for value in values:
                text = value if isinstance(value, str) else _canonical(value)
                if len(text) >= MIN_SUBSTRING_SECRET:
                    self._secrets.add(text)
            if len(self._secrets) != before:
                self._pattern = None

    def token(self, secret: str) -> str:
        """The stand-in of one secret: its salted scrypt hash (computed once per value)."""
        with self._lock:
            self.secret_used = True
            found = self._tokens.get(secret)
        if found is None:
            derived = hashlib.scrypt(
                secret.encode("utf-8"),
                salt=self.salt,
                n=self.scrypt["n"],
                r=self.scrypt["r"],
                p=self.scrypt["p"],
                maxmem=_MAXMEM,
                dklen=32,
            )
            found = f"\x00secret:{derived.hex()}\x00"
            with self._lock:
                self._tokens[secret] = found
        return found

    def _regex(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and (self._secrets or self._volatile):
                words = sorted({*self._secrets, *self._volatile}, key=lambda s: (-len(s), s))
                self._pattern = re.compile("|".join(re.escape(w) for w in words))
            return self._pattern

    def _text(self, text: str, pattern: re.Pattern[str] | None) -> str:
        if pattern is None:
            return text

        def swap(match: re.Match[str]) -> str:
            word = match.group(0)
            label = self._volatile.get(word)
            return label if label is not None else self.token(word)

        return pattern.sub(swap, text)

    def scrub(self, value: Any) -> Any:
        """``value`` with every secret (and volatile string) replaced, at any depth."""
        pattern = self._regex()
        if pattern is None:
            return value
        return self._scrub(value, pattern)

    def _scrub(self, value: Any, pattern: re.Pattern[str]) -> Any:
        if isinstance(value, str):
            return self._text(value, pattern)
        if isinstance(value, Mapping):
            return {self._text(str(k), pattern): self._scrub(v, pattern) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(v, pattern) for v in value]
        return value

    def digest(self, value: Any) -> str:
        """The keyed digest of ``value`` (any JSON value) after :meth:`scrub`."""
        data = _canonical(self.scrub(value)).encode("utf-8")
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def secret_digest(self, value: str) -> str:
        """The keyed digest of a value that is a secret whatever its length."""
        return hmac.new(self._key, self.token(value).encode("utf-8"), hashlib.sha256).hexdigest()


# -- the basis ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceBasis:
    """What one resource's plan was computed from, and what its action may touch.

    ``paths``: the JSON pointers the action changes (an update's patch paths; for a create
    or a replace, the top-level properties it sends too). ``deferred``: pointers whose values
    were known only after apply (they may join ``paths`` when the resource is planned again
    with the real values)."""

    action: str
    plan: str
    props: str
    live: str
    paths: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "plan": self.plan,
            "props": self.props,
            "live": self.live,
            "paths": list(self.paths),
            "deferred": list(self.deferred),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResourceBasis:
        return cls(
            action=str(data["action"]),
            plan=str(data["plan"]),
            props=str(data["props"]),
            live=str(data["live"]),
            paths=tuple(str(p) for p in data.get("paths", ())),
            deferred=tuple(str(p) for p in data.get("deferred", ())),
        )


@dataclass(frozen=True)
class OrphanBasis:
    """One orphan as the plan found it: its ARN, its action and its live state."""

    arn: str
    action: str
    live: str

    def to_json_dict(self) -> dict[str, Any]:
        return {"arn": self.arn, "action": self.action, "live": self.live}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrphanBasis:
        return cls(arn=str(data["arn"]), action=str(data["action"]), live=str(data["live"]))


@dataclass(frozen=True)
class Basis:
    """Everything a plan was computed from, as digests (``settings`` in clear: the region
    and the options that shape a plan)."""

    files: Mapping[str, str]
    document: str
    settings: Mapping[str, Any]
    variables: Mapping[str, str]
    globals: Mapping[str, str]
    resources: Mapping[str, ResourceBasis]
    orphans: Mapping[str, OrphanBasis] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "settings": dict(self.settings),
            "manifest": {"files": dict(self.files), "document": self.document},
            "inputs": {"variables": dict(self.variables), "globals": dict(self.globals)},
            "resources": {k: v.to_json_dict() for k, v in self.resources.items()},
            "orphans": {k: v.to_json_dict() for k, v in self.orphans.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Basis:
        manifest = data["manifest"]
        inputs = data["inputs"]
        return cls(
            files={str(k): str(v) for k, v in manifest["files"].items()},
            document=str(manifest["document"]),
            settings=dict(data["settings"]),
            variables={str(k): str(v) for k, v in inputs["variables"].items()},
            globals={str(k): str(v) for k, v in inputs["globals"].items()},
            resources={str(k): ResourceBasis.from_json(v) for k, v in data["resources"].items()},
            orphans={str(k): OrphanBasis.from_json(v) for k, v in data["orphans"].items()},
        )


def _names(items: Iterable[str]) -> str:
    return ", ".join(sorted(items))


def _mapping_changes(what: str, saved: Mapping[str, str], fresh: Mapping[str, str]) -> list[str]:
    added = [k for k in fresh if k not in saved]
    removed = [k for k in saved if k not in fresh]
    changed = [k for k in saved if k in fresh and saved[k] != fresh[k]]
    out = []
    if changed:
        out.append(f"{what} changed: {_names(changed)}")
    if added:
        out.append(f"{what} added: {_names(added)}")
    if removed:
        out.append(f"{what} removed: {_names(removed)}")
    return out


def compare(saved: Basis, fresh: Basis) -> list[str]:
    """What differs between the basis a plan was saved with and the one of now, one
    sentence each, naming the files, variables, globals and resources; empty when the
    saved plan still holds."""
    problems: list[str] = []
    files = _mapping_changes("manifest files", saved.files, fresh.files)
    problems += files
    if not files and saved.document != fresh.document:
        problems.append("the manifest's file() includes changed")
    for key in sorted(set(saved.settings) | set(fresh.settings)):
        before, after = saved.settings.get(key), fresh.settings.get(key)
        if before != after:
            problems.append(f"{key} was {before!r} when the plan was made, now {after!r}")
    problems += _mapping_changes("variables (--env-file / -e)", saved.variables, fresh.variables)
    problems += _mapping_changes("globals", saved.globals, fresh.globals)
    gone = [n for n in saved.resources if n not in fresh.resources]
    new = [n for n in fresh.resources if n not in saved.resources]
    if gone:
        problems.append(f"resources no longer planned: {_names(gone)}")
    if new:
        problems.append(f"resources not in the saved plan: {_names(new)}")
    for name, before in saved.resources.items():
        after = fresh.resources.get(name)
        if after is None:
            continue
        if before.props != after.props:
            problems.append(f"{name}: its rendered props changed")
        if before.live != after.live:
            if before.live == ABSENT:
                problems.append(f"{name}: it exists now; it did not when the plan was made")
            elif after.live == ABSENT:
                problems.append(f"{name}: it no longer exists")
            else:
                problems.append(f"{name}: the live resource changed since the plan was made")
        if before.props == after.props and before.live == after.live:
            if before.action != after.action:
                problems.append(f"{name}: planned again, it is {after.action}, not {before.action}")
            elif before.plan != after.plan:
                problems.append(f"{name}: planned again, its {after.action} differs")
    gone_orphans = [n for n in saved.orphans if n not in fresh.orphans]
    new_orphans = [n for n in fresh.orphans if n not in saved.orphans]
    if gone_orphans:
        problems.append(f"orphans gone since the plan was made: {_names(gone_orphans)}")
    if new_orphans:
        problems.append(f"new orphans: {_names(new_orphans)}")
    for name, orphan in saved.orphans.items():
        now = fresh.orphans.get(name)
        if now is None:
            continue
        if orphan.arn != now.arn or orphan.live != now.live:
            problems.append(f"orphan {name}: the live resource changed since the plan was made")
        elif orphan.action != now.action:
            problems.append(
                f"orphan {name}: planned again, it is {now.action}, not {orphan.action}"
            )
    return problems


def touched_paths(plan: ResourcePlan) -> tuple[str, ...]:
    """The JSON pointers ``plan``'s action changes: an update's (or replace's) patch paths,
    and for a create or replace the top-level properties it sends."""
    paths: set[str] = set()
    if plan.action in ("update", "replace"):
        for op in plan.patch:
            for key in ("path", "from"):
                value = op.get(key)
                if isinstance(value, str):
                    paths.add(value if value.startswith("/") else f"/{value}")
    if plan.action in ("create", "replace") and plan.desired:
        paths |= {"/" + str(k).replace("~", "~0").replace("/", "~1") for k in plan.desired}
    return tuple(sorted(paths))


def _within(path: str, allowed: Iterable[str]) -> bool:
    for bound in allowed:
        if path == bound or path.startswith(bound + "/") or bound.startswith(path + "/"):
            return True
    return False


def bound_violation(saved: ResourceBasis, fresh: ResourcePlan) -> str | None:
    """Why ``fresh`` (a resource planned again at apply time, with values known only then)
    is outside what the saved plan allows, or None. Allowed: the saved action over the saved
    paths and the paths that were known only after apply; or nothing at all (noop, skip)."""
    if fresh.action in ("noop", "skip"):
        return None
    if fresh.action != saved.action:
        return f"planned again with the values known now, it is {fresh.action}, not {saved.action}"
    allowed = (*saved.paths, *saved.deferred)
    extra = [p for p in touched_paths(fresh) if not _within(p, allowed)]
    if extra:
        return (
            f"planned again with the values known now, its {fresh.action} would also change "
            f"{', '.join(extra)}"
        )
    return None


# -- the file -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedPlan:
    """A plan file: the plan document (masked), its basis and how the basis was hashed."""

    document: Mapping[str, Any]
    basis: Basis
    salt: bytes
    keyed: bool
    key_check: str | None
    tool: str
    created: str
    scrypt: Mapping[str, int] = field(default_factory=lambda: dict(SCRYPT))

    @property
    def stack_name(self) -> str:
        return str(self.document["stack"]["name"])

    @property
    def env(self) -> str:
        return str(self.document["stack"]["env"])

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(str(t) for t in self.basis.settings.get("targets", ()))

    @property
    def allow_replace(self) -> bool:
        return bool(self.basis.settings.get("allow_replace", False))

    @property
    def prune(self) -> bool:
        return bool(self.basis.settings.get("prune", False))

    def hasher(
        self,
        plan_key: str | None,
        *,
        secrets: Iterable[str] = (),
        volatile: Mapping[str, str] | None = None,
        file: str = "the plan",
    ) -> Hasher:
        """A hasher computing digests comparable with this plan's; a usage error when
        ``STACK_DEPLOY_PLAN_KEY`` is missing or not the key the plan was made with."""
        if self.keyed and not plan_key:
            raise UsageError(
                f"{file} was made with {PLAN_KEY_ENV} set; set the same key to apply it"
            )
        hasher = Hasher(
            self.salt,
            plan_key=plan_key if self.keyed else None,
            secrets=secrets,
            volatile=volatile,
            scrypt=self.scrypt,
        )
        if self.keyed and not hmac.compare_digest(hasher.key_check, self.key_check or ""):
            raise UsageError(f"{PLAN_KEY_ENV} is not the key {file} was made with")
        return hasher

    def to_json_dict(self) -> dict[str, Any]:
        saved = {
            "format": FORMAT,
            "version": VERSION,
            "tool": self.tool,
            "created": self.created,
            "hash": {
                "mac": "hmac-sha256",
                "secrets": {"kdf": "scrypt", **self.scrypt},
                "salt": self.salt.hex(),
                "keyed": self.keyed,
                **({"key_check": self.key_check} if self.keyed else {}),
            },
            **self.basis.to_json_dict(),
        }
        return {**self.document, "saved_plan": saved}

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json_dict(cls, data: Any, *, file: str) -> SavedPlan:
        """Parse a plan file's JSON; a usage error naming ``file`` when it is not one."""
        saved = data.get("saved_plan") if isinstance(data, Mapping) else None
        if not isinstance(saved, Mapping) or saved.get("format") != FORMAT:
            raise UsageError(
                f"{file} is not a saved plan",
                hint="write one with: stack-deploy plan STACK_DIR STACK_ENV --out FILE",
            )
        if saved.get("version") != VERSION:
            raise UsageError(
                f"{file} is a saved plan of format version {saved.get('version')!r}; this "
                f"stack-deploy reads version {VERSION}",
                hint="make the plan again with this version of stack-deploy",
            )
        try:
            hashing = saved["hash"]
            document = {k: v for k, v in data.items() if k != "saved_plan"}
            _ = document["stack"]["name"], document["stack"]["env"]
            return cls(
                document=document,
                basis=Basis.from_json(saved),
                salt=bytes.fromhex(str(hashing["salt"])),
                keyed=bool(hashing["keyed"]),
                key_check=hashing.get("key_check"),
                tool=str(saved.get("tool", "")),
                created=str(saved.get("created", "")),
                scrypt={k: int(hashing["secrets"][k]) for k in ("n", "r", "p")},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(
                f"{file} is a damaged saved plan ({type(exc).__name__}: {exc})",
                hint="make the plan again: stack-deploy plan STACK_DIR STACK_ENV --out FILE",
            ) from None

    @classmethod
    def load(cls, path: str | Path) -> SavedPlan:
        """Read a plan file; a usage error naming it when it cannot be read or parsed."""
        target = Path(path)
        try:
            text = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"plan file {path} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"plan file {path} cannot be read: {exc}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"{path} is not a saved plan (not JSON: {exc})") from None
        return cls.from_json_dict(data, file=str(path))


def describe_problems(file: str, problems: Sequence[str]) -> str:
    """The refusal message of a stale plan (one problem per line, then what to do)."""
    lines = [f"the saved plan {file} no longer holds; nothing was changed:"]
    lines += [f"  {p}" for p in problems]
    lines.append("Make a new plan (stack-deploy plan ... --out FILE), review it, and apply it.")
    return "\n".join(lines)
