"""The stack lock: one ``build`` or ``teardown`` of a stack and environment at a time, on
any machine.

The lock lives in the target account itself, next to the resources it protects, so it holds
across CI runners and works against the sandbox alike: an SSM parameter
(``/stack-deploy/locks/<stack>-<env>``, :func:`lock_name`) created through Cloud Control. Creating it is the
test-and-set: Cloud Control answers AlreadyExists while another run holds it. Its value is a
small JSON record (:class:`LockRecord`): who holds it (user, host, process and the process's
start time), since when, the run's id and the Cloud Control requests it has in flight.

A run that dies (SIGKILL, a cancelled CI job) leaves its lock behind. The next run takes it
over when the holder is provably gone: same host and its process no longer runs (or another
process has its id), or its lease ran out (the holder refreshes the record while it runs).
Taking over swaps the record with a compare-and-swap (a JSON Patch ``test`` of the old value),
so two runs can never both take over. The new run *resumes* the dead one: it keeps its run id
(request ClientTokens are derived from it, so resubmitting what the dead run had sent returns
the original request instead of creating a second resource) and first waits for the requests
the record lists. ``stack-deploy unlock`` breaks a lock by hand.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from stackdeploy.cloud.protocol import CloudControlAPI
from stackdeploy.errors import CloudControlError, StackDeployError

log = logging.getLogger("stackdeploy.engine")

LOCK_TYPE = "AWS::SSM::Parameter"
LOCK_PREFIX = "/stack-deploy/locks"
#: A holder refreshes its record at least this often (seconds) while it runs...
HEARTBEAT = 60.0
#: ...and a record not refreshed for this long belongs to a run that is gone.
LEASE = 300.0
#: How long a request on the lock itself that is still running is waited for (seconds).
BUSY_WAIT = 120.0
#: Seconds before the first status poll of a request on the lock: they are quick and every
#: run waits for two of them (taking and giving back), so they are not polled on the slower
#: schedule of resources.
LOCK_POLL = 0.05
#: The SSM parameter value limit (standard tier) bounds the in-flight tokens recorded.
MAX_VALUE = 4000

#: What the lock needs, beside Cloud Control itself (the SSM parameter's handlers).
LOCK_PERMISSIONS = (
    "ssm:PutParameter",
    "ssm:GetParameters",
    "ssm:DeleteParameter",
    "ssm:AddTagsToResource",
    "ssm:RemoveTagsFromResource",
    "ssm:ListTagsForResource",
)


class LockHeld(StackDeployError):
    """Another run holds the lock (and did not let go within ``--lock-timeout``)."""


class LockUnavailable(StackDeployError):
    """The lock cannot be used at all (for example no permission to create it)."""


def lock_name(stack: str, env: str) -> str:
    """The SSM parameter name of a stack's lock (characters SSM refuses become ``-``)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in f"{stack}/{env}")
    return f"{LOCK_PREFIX}/{safe}"


def _process_start(pid: int) -> str | None:
    """The start time of a process (clock ticks since boot), to tell a live holder from a
    new process that reuses its id; None where /proc is not available."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            # The command name may hold spaces and parentheses: fields start after ')'.
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    if started is not None:
        current = _process_start(pid)
        if current is not None and current != started:
            return False  # the id was reused by another process
    return True


@dataclass(frozen=True)
class LockRecord:
    """What the lock says about its holder."""

    run_id: str
    user: str
    host: str
    pid: int
    process_started: str | None
    command: str
    since: float
    heartbeat: float
    in_flight: tuple[str, ...] = ()
    region: str | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["in_flight"] = list(self.in_flight)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str) -> LockRecord | None:
        try:
            data = json.loads(text)
            data["in_flight"] = tuple(data.get("in_flight") or ())
            return cls(**data)
        except (ValueError, TypeError, KeyError):
            return None

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.since, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{self.user}@{self.host} (pid {self.pid}, {self.command}) since {since}"

    def gone(self, now: float, *, host: str) -> bool:
        """True when the holder can no longer be running."""
        if now - self.heartbeat > LEASE:
            return True
        return self.host == host and not _alive(self.pid, self.process_started)


@dataclass
class Acquired:
    """A lock this run holds; ``resumed`` is the record of a dead run it took over."""

    record: LockRecord
    value: str
    resumed: LockRecord | None = None


@dataclass
class StackLock:
    """The lock of one stack and environment (see the module docstring)."""

    cloud: CloudControlAPI
    stack: str
    env: str
    region: str
    command: str = "build"
    #: The id of the run taking the lock (recorded, and inherited by a run that resumes it).
    run_id: str | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    held: Acquired | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _pending: tuple[str, ...] | None = None
    _writer: threading.Thread | None = None
    # The tokens of the latest set queued or written: a set holding no other token is not
    # written (see record_in_flight).
    _promised: frozenset[str] = frozenset()
    _closing: bool = False

    @property
    def name(self) -> str:
        return lock_name(self.stack, self.env)

    # -- reading --------------------------------------------------------------------------

    def peek(self) -> LockRecord | None:
        """The current holder, or None when the stack is not locked."""
        live = self.cloud.get_resource(LOCK_TYPE, self.name, region=self.region)
        if live is None:
            return None
        return LockRecord.parse(str(live.get("Value", ""))) or LockRecord(
            run_id="?", user="?", host="?", pid=0, process_started=None, command="?",
            since=0.0, heartbeat=0.0,
        )  # fmt: skip

    # -- taking and giving back ---------------------------------------------------------------

    def _new_record(self, run_id: str | None = None) -> LockRecord:
        now = self.clock()
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return LockRecord(
            run_id=run_id or self.run_id or str(uuid.uuid4()),
            user=user,
            host=self.host,
            pid=self.pid,
            process_started=_process_start(self.pid),
            command=self.command,
            since=now,
            heartbeat=now,
            region=self.region,
        )

    def acquire(
        self,
        timeout: float = 0.0,
        *,
        on_wait: Callable[[LockRecord], None] | None = None,
        abort: Callable[[], bool] = lambda: False,
    ) -> Acquired:
        """Take the lock, waiting up to ``timeout`` seconds for another run to let go.

        A dead holder's lock is taken over (and its run resumed). Raises :class:`LockHeld`
        naming the holder, or :class:`LockUnavailable` when the lock cannot be created.
        """
        deadline = self.clock() + max(0.0, timeout)
        # A request on the lock itself still running (a run killed while it was taking or
        # updating the lock) is waited for, whatever the timeout: it ends in seconds.
        busy_until = self.clock() + max(timeout, BUSY_WAIT)
        told = False
        while True:
            record = self._new_record()
            try:
                self.cloud.create_resource(
                    LOCK_TYPE,
                    {"Name": self.name, "Type": "String", "Value": record.to_json()},
                    region=self.region,
                    first_poll=LOCK_POLL,
                )
                self.held = Acquired(record, record.to_json())
                self._fresh_writes()
                return self.held
            except CloudControlError as exc:
                if _busy(exc) and self.clock() < busy_until:
                    self.sleep(0.5)
                    continue
                if not _already_exists(exc):
                    raise self._unavailable(exc) from exc
            live = self.cloud.get_resource(LOCK_TYPE, self.name, region=self.region)
            if live is None:
                continue  # released meanwhile: try again at once
            value = str(live.get("Value", ""))
            holder = LockRecord.parse(value)
            if holder is None or holder.gone(self.clock(), host=self.host):
                taken = self._take_over(value, holder)
                if taken is not None:
                    return taken
                continue  # someone else took it over first: look again
            if self.clock() >= deadline or abort():
                raise LockHeld(
                    f"stack {self.stack!r} ({self.env}) is locked by {holder.describe()}",
                    hint="wait for that run to finish, pass --lock-timeout SECONDS to wait, or "
                    f"if it is gone, `stack-deploy unlock STACK_DIR {self.env}`",
                )
            if not told and on_wait is not None:
                on_wait(holder)
                told = True
            self.sleep(min(2.0, max(0.1, deadline - self.clock())))

    def _take_over(self, value: str, holder: LockRecord | None) -> Acquired | None:
        """Swap a dead holder's record for ours, only if it is still that record."""
        record = self._new_record(run_id=holder.run_id if holder else None)
        if holder is not None:
            record = replace(record, in_flight=holder.in_flight)
        try:
            self.cloud.update_resource(
                LOCK_TYPE,
                self.name,
                [
                    {"op": "test", "path": "/Value", "value": value},
                    {"op": "replace", "path": "/Value", "value": record.to_json()},
                ],
                region=self.region,
                first_poll=LOCK_POLL,
            )
        except CloudControlError as exc:
            if exc.error_code in (
                "InvalidRequestException",
                "InvalidRequest",
                "ResourceNotFoundException",
            ):
                return None  # another run swapped it first (or it was released)
            raise self._unavailable(exc) from exc
        log.warning(
            "took over the lock of %s, which is gone; resuming its run",
            holder.describe() if holder else "an unreadable lock record",
        )
        self.held = Acquired(record, record.to_json(), resumed=holder)
        self._fresh_writes()
        return self.held

    def _fresh_writes(self) -> None:
        """A lock just taken: its record is what has been written so far."""
        with self._lock:
            self._closing = False
            self._pending = None
            self._promised = frozenset(self.held.record.in_flight if self.held else ())

    def _unavailable(self, exc: CloudControlError) -> StackDeployError:
        if exc.error_code and exc.error_code.startswith(("AccessDenied", "UnauthorizedOperation")):
            return LockUnavailable(
                f"cannot take the stack lock (SSM parameter {self.name} in {self.region}): "
                f"{exc.error_code}",
                hint="grant " + ", ".join(LOCK_PERMISSIONS) + " on arn:aws:ssm:*:*:parameter"
                f"{LOCK_PREFIX}/* (`stack-deploy permissions` lists them), or run with "
                "--no-lock if you are sure no other run can act on this stack",
            )
        return exc

    def record_in_flight(self, tokens: Iterable[str]) -> None:
        """Remember the run's requests in flight in the lock (written in the background,
        coalesced: at most one write at a time, always of the latest set).

        Only a set with a request not yet recorded is written. A record that still lists
        requests which have ended costs a run that resumes this one nothing (it finds them
        ended at once), while each write is a Cloud Control request of its own: writing the
        set every time it shrinks would add lock writes at the end of every run."""
        if self.held is None:
            return
        current = tuple(tokens)  # oldest first (the run state's order)
        with self._lock:
            if self._closing or set(current) <= self._promised:
                return
            self._pending = current
            self._promised = frozenset(current)
            if self._writer is not None and self._writer.is_alive():
                return
            self._writer = threading.Thread(target=self._write_loop, name="stack-lock", daemon=True)
            self._writer.start()

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                pending = self._pending
                self._pending = None
            if pending is None or self.held is None or self._closing:
                return
            self._write(in_flight=pending)

    def refresh(self) -> None:
        """Renew the lease (called by the run while it goes on)."""
        if self.held is not None and self.clock() - self.held.record.heartbeat >= HEARTBEAT:
            self._write(in_flight=self.held.record.in_flight)

    def _write(self, *, in_flight: tuple[str, ...]) -> None:
        held = self.held
        if held is None:
            return
        record = replace(held.record, heartbeat=self.clock(), in_flight=in_flight)
        text = record.to_json()
        while len(text) > MAX_VALUE and record.in_flight:
            # Too many to record: keep the newest; ClientTokens cover the rest on resume.
            record = replace(record, in_flight=record.in_flight[1:])
            text = record.to_json()
        try:
            self.cloud.update_resource(
                LOCK_TYPE,
                self.name,
                [
                    {"op": "test", "path": "/Value", "value": held.value},
                    {"op": "replace", "path": "/Value", "value": text},
                ],
                region=self.region,
                first_poll=LOCK_POLL,
            )
        except CloudControlError as exc:
            log.warning("could not update the stack lock: %s", exc)
            with self._lock:
                # Not written: the next new request writes the whole set again.
                self._promised = frozenset(held.record.in_flight)
            return
        self.held = replace(held, record=record, value=text)

    def release(self) -> None:
        """Give the lock back (delete it), after the write in progress (none is started
        from now on: the record is about to go)."""
        with self._lock:
            self._closing = True
            self._pending = None
        held, writer = self.held, self._writer
        if held is None:
            return
        if writer is not None:
            writer.join(timeout=30)
        try:
            self.cloud.delete_resource(
                LOCK_TYPE, self.name, region=self.region, first_poll=LOCK_POLL
            )
        except CloudControlError as exc:
            log.warning(
                "could not release the stack lock %s: %s (remove it with `stack-deploy unlock`)",
                self.name,
                exc,
            )
        self.held = None

    def break_lock(self) -> LockRecord | None:
        """``stack-deploy unlock``: delete the lock whoever holds it; returns who held it."""
        holder = self.peek()
        if holder is not None:
            self.cloud.delete_resource(LOCK_TYPE, self.name, region=self.region)
        return holder


def _busy(exc: CloudControlError) -> bool:
    """Another request on the lock parameter is still in progress."""
    code = exc.error_code or ""
    return code.startswith(("ConcurrentOperation", "ResourceConflict")) or code == "Throttling"


def _already_exists(exc: CloudControlError) -> bool:
    code = exc.error_code or ""
    return code.startswith("AlreadyExists") or "AlreadyExists" in str(exc.status_message or "")


def lock_summary(record: LockRecord) -> dict[str, Any]:
    """The record as shown by ``unlock`` and in JSON output."""
    data = asdict(record)
    data["in_flight"] = list(record.in_flight)
    return data
