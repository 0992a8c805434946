"""Fault injection for the sandbox, so tests can exercise retries, failures and time-outs.

Four kinds of fault, all deterministic for a given ``seed``:

- ``throttle_rate``: the fraction of Cloud Control calls answered with a synchronous
  ``ThrottlingException`` (HTTP 400), before anything else happens;
- ``async_throttle_rate``: the fraction of mutations (create, update, delete) accepted but
  ending FAILED with ErrorCode ``Throttling``;
- ``fail`` rules: mutations of a type / operation that end FAILED with a given ErrorCode
  (optionally only the first ``count`` times);
- ``stuck`` rules: mutations of a type / operation that stay IN_PROGRESS for ever (until
  cancelled).

Configure in process (``server.faults.fail("AWS::S3::Bucket", "CREATE", "AccessDenied")``),
from a dict / JSON text / JSON file (:meth:`Faults.from_dict`, :meth:`Faults.load`), or through
the ``STACK_DEPLOY_SANDBOX_FAULTS`` environment variable (JSON text or a path to a JSON file)
read by ``stack-deploy sandbox serve``. The JSON form::

    {"seed": 7, "throttle_rate": 0.1, "async_throttle_rate": 0.0,
     "fail": [{"type": "AWS::S3::Bucket", "operation": "CREATE", "error_code": "AccessDenied",
               "message": "denied", "count": 1}],
     "stuck": [{"type": "AWS::EC2::VPC", "operation": "DELETE"}]}

``type`` accepts shell-style wildcards (``AWS::EC2::*``); ``operation`` is CREATE, UPDATE,
DELETE or ``*``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import random
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ENV_VAR = "STACK_DEPLOY_SANDBOX_FAULTS"
MUTATIONS = ("CREATE", "UPDATE", "DELETE")


@dataclass
class FailRule:
    """Mutations matching ``type``/``operation`` end FAILED with ``error_code``."""

    type: str = "*"
    operation: str = "*"
    error_code: str = "InternalFailure"
    message: str | None = None
    count: int | None = None  # None: every time; otherwise only the first N matches

    def matches(self, operation: str, type_name: str) -> bool:
        return _matches(self.type, self.operation, operation, type_name)


@dataclass
class StuckRule:
    """Mutations matching ``type``/``operation`` never leave IN_PROGRESS."""

    type: str = "*"
    operation: str = "*"

    def matches(self, operation: str, type_name: str) -> bool:
        return _matches(self.type, self.operation, operation, type_name)


def _matches(type_pattern: str, op_pattern: str, operation: str, type_name: str) -> bool:
    if op_pattern not in ("*", "") and op_pattern.upper() != operation.upper():
        return False
    return fnmatch.fnmatchcase(type_name, type_pattern or "*")


@dataclass
class Faults:
    """The fault configuration of one sandbox server; safe to change while it runs."""

    throttle_rate: float = 0.0
    async_throttle_rate: float = 0.0
    seed: int | None = None
    fail_rules: list[FailRule] = field(default_factory=list)
    stuck_rules: list[StuckRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)

    # -------------------------------------------------------- configuration
    def reset(self) -> None:
        """Remove every fault."""
        with self._lock:
            self.throttle_rate = 0.0
            self.async_throttle_rate = 0.0
            self.fail_rules.clear()
            self.stuck_rules.clear()

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
    ) -> FailRule:
        """Make matching mutations end FAILED with ``error_code``."""
        rule = FailRule(type_name, operation.upper(), error_code, message, count)
        with self._lock:
            self.fail_rules.append(rule)
        return rule

    def stick(self, type_name: str = "*", operation: str = "*") -> StuckRule:
        """Make matching mutations stay IN_PROGRESS for ever."""
        rule = StuckRule(type_name, operation.upper())
        with self._lock:
            self.stuck_rules.append(rule)
        return rule

    def update(self, data: dict[str, Any]) -> None:
        """Merge a JSON-style configuration (see the module docstring) into this one."""
        if "seed" in data:
            self.reseed(None if data["seed"] is None else int(data["seed"]))
        with self._lock:
            if "throttle_rate" in data:
                self.throttle_rate = _rate(data["throttle_rate"], "throttle_rate")
            if "async_throttle_rate" in data:
                self.async_throttle_rate = _rate(data["async_throttle_rate"], "async_throttle_rate")
        for rule in data.get("fail", []) or []:
            self.fail(
                rule.get("type", "*"),
                rule.get("operation", "*"),
                rule.get("error_code", "InternalFailure"),
                message=rule.get("message"),
                count=rule.get("count"),
            )
        for rule in data.get("stuck", []) or []:
            self.stick(rule.get("type", "*"), rule.get("operation", "*"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        faults = cls()
        faults.update(data)
        return faults

    @classmethod
    def load(cls, source: str) -> Faults:
        """From JSON text or the path of a JSON file."""
        text = source.strip()
        if not text.startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("fault configuration must be a JSON object")
        return cls.from_dict(data)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Faults:
        """From ``STACK_DEPLOY_SANDBOX_FAULTS`` if set, else no faults."""
        value = (environ if environ is not None else os.environ).get(ENV_VAR, "")
        return cls.load(value) if value.strip() else cls()

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "throttle_rate": self.throttle_rate,
            "async_throttle_rate": self.async_throttle_rate,
            "fail": [asdict(r) for r in self.fail_rules],
            "stuck": [asdict(r) for r in self.stuck_rules],
        }

    # ------------------------------------------------------------ decisions
    def sync_throttle(self) -> bool:
        """Whether this call is answered with ThrottlingException."""
        with self._lock:
            return self.throttle_rate > 0 and self._rng.random() < self.throttle_rate

    def async_failure(self, operation: str, type_name: str) -> tuple[str, str] | None:
        """``(ErrorCode, StatusMessage)`` when this mutation is to end FAILED."""
        with self._lock:
            for rule in self.fail_rules:
                if rule.matches(operation, type_name) and (rule.count is None or rule.count > 0):
                    if rule.count is not None:
                        rule.count -= 1
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


def _rate(value: Any, name: str) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return rate
