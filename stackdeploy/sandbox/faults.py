"""Fault injection for the sandbox, so tests can exercise retries, failures and time-outs.

Every fault is deterministic for a given ``seed``:

- ``throttle_rate``: the fraction of Cloud Control calls answered with a synchronous
  ``ThrottlingException`` (HTTP 400), before anything else happens;
- ``async_throttle_rate``: the fraction of mutations (create, update, delete) accepted but
  ending FAILED with ErrorCode ``Throttling``;
- ``reset_rate`` / ``reset_after_rate``: the fraction of calls (any API the server answers)
  whose connection the server resets without answering, before handling the call (it never
  happened) or after (it took effect, the answer is lost): clients see a connection reset;
- ``fail`` rules: calls of a type / operation that fail. By default a mutation is accepted and
  ends FAILED with the rule's ErrorCode; with ``"sync": true`` the call itself is refused with
  ``<error_code>Exception`` (``AccessDenied`` gives ``AccessDeniedException``, worded as AWS
  words a missing permission), for reads and lists too;
- ``stuck`` rules: mutations of a type / operation that stay IN_PROGRESS for ever (until
  cancelled);
- ``reset`` rules: connections reset for calls of a type / operation (``"when"``: ``before``
  or ``after`` handling the call);
- ``deny_assume_role``: role ARN patterns whose STS AssumeRole is refused (AccessDenied);
- ``stale`` rules: eventual consistency. After a matching mutation takes effect, the next
  ``reads`` reads of that resource (GetResource, or a ListResources of its type) still see it
  as it was before: absent after a create, the old model after an update, present after a
  delete. Counted in reads, not time, so tests stay deterministic.

Configure in process (``server.faults.fail("AWS::S3::Bucket", "CREATE", "AccessDenied")``),
from a dict / JSON text / JSON file (:meth:`Faults.from_dict`, :meth:`Faults.load`), or through
the ``STACK_DEPLOY_SANDBOX_FAULTS`` environment variable (JSON text or a path to a JSON file)
read by ``stack-deploy sandbox serve`` and by the embedded sandbox. The JSON form::

    {"seed": 7, "throttle_rate": 0.1, "async_throttle_rate": 0.0,
     "reset_rate": 0.05, "reset_after_rate": 0.05,
     "fail": [{"type": "AWS::S3::Bucket", "operation": "CREATE", "error_code": "AccessDenied",
               "message": "denied", "count": 1},
              {"type": "AWS::SSM::Parameter", "operation": "CREATE",
               "error_code": "AccessDenied", "sync": true}],
     "stuck": [{"type": "AWS::EC2::VPC", "operation": "DELETE"}],
     "reset": [{"type": "AWS::EC2::VPC", "operation": "CREATE", "when": "after", "count": 1}],
     "deny_assume_role": ["arn:aws:iam::*:role/forbidden-*"],
     "stale": [{"type": "AWS::SQS::Queue", "operation": "UPDATE", "reads": 2}]}

``type`` accepts shell-style wildcards (``AWS::EC2::*``). ``operation`` is a handler name
(CREATE, READ, UPDATE, DELETE, LIST), another API call's name (``GetResourceRequestStatus``,
``GetResources``, ``AssumeRole``), or ``*``. Unknown keys are refused, so a typo never
silently disables a fault.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import random
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stackdeploy.errors import UsageError

ENV_VAR = "STACK_DEPLOY_SANDBOX_FAULTS"
MUTATIONS = ("CREATE", "UPDATE", "DELETE")
RESET_WHEN = ("before", "after")
_KEYS = {
    "seed",
    "throttle_rate",
    "async_throttle_rate",
    "reset_rate",
    "reset_after_rate",
    "fail",
    "stuck",
    "reset",
    "deny_assume_role",
    "stale",
}
_RULE_KEYS = {
    "fail": {"type", "operation", "error_code", "message", "count", "sync"},
    "stuck": {"type", "operation"},
    "reset": {"type", "operation", "when", "count"},
    "stale": {"type", "operation", "reads", "count"},
}


class FaultConfigError(UsageError):
    """A fault configuration that cannot be used (bad JSON, unknown key, bad value)."""


@dataclass
class FailRule:
    """Calls matching ``type``/``operation`` fail with ``error_code``: mutations end FAILED,
    or, with ``sync``, any matching call is refused with ``<error_code>Exception``."""

    type: str = "*"
    operation: str = "*"
    error_code: str = "InternalFailure"
    message: str | None = None
    count: int | None = None  # None: every time; otherwise only the first N matches
    sync: bool = False

    def matches(self, operation: str, type_name: str) -> bool:
        return _matches(self.type, self.operation, operation, type_name)


@dataclass
class StuckRule:
    """Mutations matching ``type``/``operation`` never leave IN_PROGRESS."""

    type: str = "*"
    operation: str = "*"

    def matches(self, operation: str, type_name: str) -> bool:
        return _matches(self.type, self.operation, operation, type_name)


@dataclass
class ResetRule:
    """Connections of calls matching ``type``/``operation`` are reset ``when`` (before or
    after the call is handled)."""

    type: str = "*"
    operation: str = "*"
    when: str = "before"
    count: int | None = None

    def matches(self, operation: str, type_name: str) -> bool:
        return _matches(self.type, self.operation, operation, type_name)


def _matches(type_pattern: str, op_pattern: str, operation: str, type_name: str) -> bool:
    if op_pattern not in ("*", "") and op_pattern.upper() != operation.upper():
        return False
    return fnmatch.fnmatchcase(type_name, type_pattern or "*")


@dataclass
class StaleRule:
    """Mutations of a type / operation whose effect the next ``reads`` reads do not see
    (``count``: how many mutations it applies to, None for all)."""

    type: str
    operation: str
    reads: int
    count: int | None = None

    def matches(self, operation: str, type_name: str) -> bool:
        return _matches(self.type, self.operation, operation, type_name)


@dataclass
class StaleView:
    """What reads of one resource see while a stale rule holds: the model before the
    mutation (None: absent), from ``since`` (when the mutation takes effect) for ``left``
    more reads."""

    before: dict[str, Any] | None
    since: float
    left: int


@dataclass
class Faults:
    """The fault configuration of one sandbox server; safe to change while it runs."""

    throttle_rate: float = 0.0
    async_throttle_rate: float = 0.0
    seed: int | None = None
    fail_rules: list[FailRule] = field(default_factory=list)
    stuck_rules: list[StuckRule] = field(default_factory=list)
    reset_rate: float = 0.0
    reset_after_rate: float = 0.0
    reset_rules: list[ResetRule] = field(default_factory=list)
    deny_assume_role: list[str] = field(default_factory=list)
    stale_rules: list[StaleRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        # (account, region, type, identifier) -> what reads still see.
        self._stale: dict[tuple[str, str, str, str], StaleView] = {}

    # -------------------------------------------------------- configuration
    def reset(self) -> None:
        """Remove every fault."""
        with self._lock:
            self.throttle_rate = 0.0
            self.async_throttle_rate = 0.0
            self.reset_rate = 0.0
            self.reset_after_rate = 0.0
            self.fail_rules.clear()
            self.stuck_rules.clear()
            self.reset_rules.clear()
            self.deny_assume_role.clear()
            self.stale_rules.clear()
            self._stale.clear()

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)

    def fail(
        self,
        type_name: str = "*",
        operation: str = "*",
        error_code: str = "InternalFailure",
        *,
        message: str | None = None,
        count: int | None = None,
        sync: bool = False,
    ) -> FailRule:
        """Make matching mutations end FAILED with ``error_code`` (``sync``: refuse matching
        calls at once with ``<error_code>Exception``)."""
        rule = FailRule(type_name, operation.upper(), error_code, message, count, sync)
        with self._lock:
            self.fail_rules.append(rule)
        return rule

    def deny(
        self, type_name: str = "*", operation: str = "*", *, count: int | None = None
    ) -> FailRule:
        """Refuse matching calls with ``AccessDeniedException``, as a missing IAM permission."""
        return self.fail(type_name, operation, "AccessDenied", count=count, sync=True)

    def stick(self, type_name: str = "*", operation: str = "*") -> StuckRule:
        """Make matching mutations stay IN_PROGRESS for ever."""
        rule = StuckRule(type_name, operation.upper())
        with self._lock:
            self.stuck_rules.append(rule)
        return rule

    def reset_connection(
        self,
        type_name: str = "*",
        operation: str = "*",
        *,
        when: str = "before",
        count: int | None = None,
    ) -> ResetRule:
        """Reset the connection of matching calls, ``before`` or ``after`` handling them."""
        if when not in RESET_WHEN:
            raise FaultConfigError(f"reset 'when' must be before or after, got {when!r}")
        rule = ResetRule(type_name, operation.upper(), when, count)
        with self._lock:
            self.reset_rules.append(rule)
        return rule

    def stale(
        self,
        type_name: str = "*",
        operation: str = "*",
        *,
        reads: int = 1,
        count: int | None = None,
    ) -> StaleRule:
        """After matching mutations, the next ``reads`` reads of the resource see it as it
        was before (eventual consistency)."""
        if isinstance(reads, bool) or not isinstance(reads, int) or reads < 0:
            raise FaultConfigError(f"stale 'reads' must be a whole number >= 0, got {reads!r}")
        rule = StaleRule(type_name, operation.upper(), reads, count)
        with self._lock:
            self.stale_rules.append(rule)
        return rule

    def update(self, data: dict[str, Any]) -> None:
        """Merge a JSON-style configuration (see the module docstring) into this one."""
        if not isinstance(data, dict):
            raise FaultConfigError("the fault configuration must be a JSON object")
        _check_keys(data, _KEYS, "the fault configuration")
        try:
            if "seed" in data:
                self.reseed(None if data["seed"] is None else int(data["seed"]))
            rates = {}
            for name in ("throttle_rate", "async_throttle_rate", "reset_rate", "reset_after_rate"):
                if name in data:
                    rates[name] = _rate(data[name], name)
            with self._lock:
                for name, value in rates.items():
                    setattr(self, name, value)
            for rule in _rules(data, "fail"):
                self.fail(
                    str(rule.get("type", "*")),
                    str(rule.get("operation", "*")),
                    str(rule.get("error_code", "InternalFailure")),
                    message=rule.get("message"),
                    count=_count(rule.get("count")),
                    sync=_flag(rule.get("sync", False), "sync"),
                )
            for rule in _rules(data, "stuck"):
                self.stick(str(rule.get("type", "*")), str(rule.get("operation", "*")))
            for rule in _rules(data, "reset"):
                self.reset_connection(
                    str(rule.get("type", "*")),
                    str(rule.get("operation", "*")),
                    when=str(rule.get("when", "before")),
                    count=_count(rule.get("count")),
                )
            for rule in _rules(data, "stale"):
                self.stale(
                    str(rule.get("type", "*")),
                    str(rule.get("operation", "*")),
                    reads=rule.get("reads", 1),
                    count=_count(rule.get("count")),
                )
            patterns = data.get("deny_assume_role") or []
            if not isinstance(patterns, list) or not all(isinstance(x, str) for x in patterns):
                raise FaultConfigError("deny_assume_role must be a list of role ARN patterns")
            with self._lock:
                self.deny_assume_role.extend(patterns)
        except (TypeError, ValueError) as exc:
            raise FaultConfigError(f"invalid fault configuration: {exc}") from exc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        faults = cls()
        faults.update(data)
        return faults

    @classmethod
    def load(cls, source: str, *, origin: str = "--faults") -> Faults:
        """From JSON text or the path of a JSON file; ``origin`` names the source in errors."""
        text = source.strip()
        where = origin
        if not text.startswith("{"):
            where = f"{origin} file {source}"
            try:
                text = Path(source).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise FaultConfigError(
                    f"{where}: cannot read the fault configuration: "
                    f"{getattr(exc, 'strerror', None) or exc}",
                    hint="pass JSON text such as '{\"throttle_rate\": 0.1}' or a JSON file",
                ) from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise FaultConfigError(
                f"{where}: the fault configuration is not valid JSON: {exc}",
                hint="see the fault injection section of docs/sandbox.md",
            ) from exc
        try:
            return cls.from_dict(data)
        except FaultConfigError as exc:
            raise FaultConfigError(f"{where}: {exc.message}", hint=exc.hint) from exc

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Faults:
        """From ``STACK_DEPLOY_SANDBOX_FAULTS`` if set, else no faults."""
        value = (environ if environ is not None else os.environ).get(ENV_VAR, "")
        return cls.load(value, origin=ENV_VAR) if value.strip() else cls()

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "throttle_rate": self.throttle_rate,
            "async_throttle_rate": self.async_throttle_rate,
            "reset_rate": self.reset_rate,
            "reset_after_rate": self.reset_after_rate,
            "fail": [asdict(r) for r in self.fail_rules],
            "stuck": [asdict(r) for r in self.stuck_rules],
            "reset": [asdict(r) for r in self.reset_rules],
            "deny_assume_role": list(self.deny_assume_role),
            "stale": [asdict(r) for r in self.stale_rules],
        }

    # ------------------------------------------------------------ decisions
    def sync_throttle(self) -> bool:
        """Whether this call is answered with ThrottlingException."""
        with self._lock:
            return self.throttle_rate > 0 and self._rng.random() < self.throttle_rate

    def sync_failure(self, operation: str, type_name: str) -> tuple[str, str | None] | None:
        """``(error_code, message or None)`` when this call is to be refused at once."""
        with self._lock:
            for rule in self.fail_rules:
                if rule.sync and _take(rule, operation, type_name):
                    return rule.error_code, rule.message
        return None

    def async_failure(self, operation: str, type_name: str) -> tuple[str, str] | None:
        """``(ErrorCode, StatusMessage)`` when this mutation is to end FAILED."""
        with self._lock:
            for rule in self.fail_rules:
                if not rule.sync and _take(rule, operation, type_name):
                    message = rule.message or (
                        f"Injected fault: {operation} of {type_name} failed with {rule.error_code}"
                    )
                    return rule.error_code, message
            if self.async_throttle_rate > 0 and self._rng.random() < self.async_throttle_rate:
                return "Throttling", "Rate exceeded (injected fault)"
        return None

    def is_stuck(self, operation: str, type_name: str) -> bool:
        with self._lock:
            return any(rule.matches(operation, type_name) for rule in self.stuck_rules)

    def connection_reset(self, when: str, operation: str, type_name: str) -> bool:
        """Whether the connection of this call is to be reset ``when`` (before / after)."""
        with self._lock:
            for rule in self.reset_rules:
                if rule.when == when and _take(rule, operation, type_name):
                    return True
            rate = self.reset_rate if when == "before" else self.reset_after_rate
            return rate > 0 and self._rng.random() < rate

    def mutation_applied(
        self,
        key: tuple[str, str, str, str],
        operation: str,
        before: dict[str, Any] | None,
        since: float,
    ) -> None:
        """A mutation of the resource ``key`` (account, region, type, identifier) takes
        effect at ``since``: a matching stale rule keeps ``before`` visible for a while."""
        with self._lock:
            for rule in self.stale_rules:
                if rule.reads > 0 and _take(rule, operation, key[2]):
                    self._stale[key] = StaleView(before, since, rule.reads)
                    return

    def stale_read(
        self, key: tuple[str, str, str, str], now: float
    ) -> tuple[bool, dict[str, Any] | None]:
        """``(True, model before)`` when this read of ``key`` must see the old state (one
        read used up), else ``(False, None)``."""
        if not self._stale:
            return False, None
        with self._lock:
            view = self._stale.get(key)
            if view is None or now < view.since:
                return False, None
            view.left -= 1
            if view.left <= 0:
                del self._stale[key]
            return True, view.before

    def stale_keys(
        self, account: str, region: str, type_name: str
    ) -> list[tuple[str, str, str, str]]:
        """The resources of one type whose reads are stale now (for listings)."""
        if not self._stale:
            return []
        with self._lock:
            return [k for k in self._stale if k[:3] == (account, region, type_name)]

    def assume_role_denied(self, role_arn: str) -> bool:
        with self._lock:
            return any(fnmatch.fnmatchcase(role_arn, p) for p in self.deny_assume_role)


def _take(rule: FailRule | ResetRule | StaleRule, operation: str, type_name: str) -> bool:
    """Whether ``rule`` applies to this call, using up one of its ``count`` (lock held)."""
    if not rule.matches(operation, type_name) or (rule.count is not None and rule.count <= 0):
        return False
    if rule.count is not None:
        rule.count -= 1
    return True


def _check_keys(data: dict[str, Any], known: set[str], where: str) -> None:
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            raise FaultConfigError(
                f"unknown key {key!r} in {where}{suggestion}",
                hint="known keys: " + ", ".join(sorted(known)),
            )


def _rules(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    rules = data.get(kind) or []
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise FaultConfigError(f"{kind!r} must be a list of objects")
    for rule in rules:
        _check_keys(rule, _RULE_KEYS[kind], f"a {kind!r} rule")
    return rules


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FaultConfigError(f"count must be a whole number >= 0, got {value!r}")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise FaultConfigError(f"{name} must be true or false, got {value!r}")
    return value


def _rate(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise FaultConfigError(f"{name} must be a number between 0 and 1, got {value!r}")
    try:
        rate = float(value)
    except (TypeError, ValueError) as exc:
        raise FaultConfigError(f"{name} must be a number between 0 and 1, got {value!r}") from exc
    if not 0.0 <= rate <= 1.0:
        raise FaultConfigError(f"{name} must be between 0 and 1, got {value!r}")
    return rate
