"""SQLite state of the sandbox: resources and resource requests, per account and region.

The sandbox keeps everything in one SQLite database (a file, default
``.stack-deploy/sandbox.db``, or memory). WAL mode and a busy time-out let one server and
several CLI processes (``sandbox list``, ``sandbox reset``) use the same file in turn.

Requests are asynchronous without any background thread: a request row records when it was
made, when it stops being PENDING and when it ends (``end_at``; NULL for a request that never
ends), and the outcome decided when it was accepted. Its status at any moment is computed from
those timestamps (:meth:`RequestRow.status_at`), and :meth:`Store.settle` applies the effect of
every request whose end has passed (insert, update or delete the resource) exactly once. Every
read calls ``settle`` first, so the state seen is always the state at "now".
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackdeploy.errors import UsageError

DEFAULT_STATE_PATH = Path(".stack-deploy") / "sandbox.db"
# Cloud Control keeps requests for 7 days; ClientTokens are honoured for 36 hours.
REQUEST_RETENTION_SECONDS = 7 * 24 * 3600
CLIENT_TOKEN_SECONDS = 36 * 3600
_PURGE_EVERY_SECONDS = 60.0
SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS resources (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    type_name TEXT NOT NULL,
    identifier TEXT NOT NULL,
    properties TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (account, region, type_name, identifier)
);
CREATE TABLE IF NOT EXISTS requests (
    token TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    type_name TEXT NOT NULL,
    identifier TEXT,
    operation TEXT NOT NULL,
    client_token TEXT,
    fingerprint TEXT,
    created_at REAL NOT NULL,
    pending_until REAL NOT NULL,
    end_at REAL,
    final_status TEXT NOT NULL,
    error_code TEXT,
    status_message TEXT,
    model TEXT,
    event_model TEXT,
    canceled_at REAL,
    applied INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS requests_unapplied ON requests (applied, end_at);
CREATE INDEX IF NOT EXISTS requests_resource
    ON requests (account, region, type_name, identifier);
CREATE INDEX IF NOT EXISTS requests_client_token ON requests (account, region, client_token);
CREATE INDEX IF NOT EXISTS requests_created ON requests (account, region, created_at);
"""

FINAL_STATUSES = frozenset({"SUCCESS", "FAILED", "CANCEL_COMPLETE"})


@dataclass
class RequestRow:
    """One Cloud Control resource request as stored."""

    token: str
    account: str
    region: str
    type_name: str
    identifier: str | None
    operation: str  # CREATE, UPDATE, DELETE
    client_token: str | None
    fingerprint: str | None
    created_at: float
    pending_until: float
    end_at: float | None  # None: the request never ends (fault injection)
    final_status: str  # SUCCESS or FAILED, decided when the request was accepted
    error_code: str | None = None
    status_message: str | None = None
    model: str | None = None  # JSON model written to the resource on SUCCESS
    event_model: str | None = None  # JSON ResourceModel reported on SUCCESS
    canceled_at: float | None = None
    applied: int = 0

    def status_at(self, now: float) -> str:
        """The OperationStatus of this request at time ``now``."""
        if self.canceled_at is not None:
            return "CANCEL_COMPLETE"
        if self.end_at is not None and now >= self.end_at:
            return self.final_status
        if now < self.pending_until:
            return "PENDING"
        return "IN_PROGRESS"

    def is_final_at(self, now: float) -> bool:
        return self.status_at(now) in FINAL_STATUSES


_REQUEST_COLUMNS = tuple(RequestRow.__dataclass_fields__)


@dataclass
class ResourceRow:
    """One resource held by the sandbox."""

    account: str
    region: str
    type_name: str
    identifier: str
    properties: dict[str, Any]
    created_at: float
    updated_at: float


def _resource(row: tuple[Any, ...]) -> ResourceRow:
    account, region, type_name, identifier, props, created, updated = row
    return ResourceRow(account, region, type_name, identifier, json.loads(props), created, updated)


class Store:
    """The sandbox database. Thread-safe: one connection guarded by a re-entrant lock.

    ``path=None`` keeps the state in memory (lost when the store closes).
    """

    def __init__(
        self, path: str | Path | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.clock = clock
        self._lock = threading.RLock()
        self._depth = 0
        self._last_purge = 0.0
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._open()
        except (OSError, sqlite3.DatabaseError) as exc:
            # A state file that is not a SQLite database (or cannot be created) is bad
            # input, not a bug: say which file and what to do.
            conn = getattr(self, "_conn", None)
            if conn is not None:
                conn.close()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(
                f"sandbox state {self.path}: cannot use it as the sandbox database ({reason})",
                hint="point --sandbox-state at another file, or delete this one to start empty",
            ) from None

    def _open(self) -> None:
        target = str(self.path) if self.path is not None else ":memory:"
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE in atomic()).
        self._conn = sqlite3.connect(
            target, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        with self._lock:
            if self.path is not None:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            with self.atomic():
                # One statement at a time: executescript() would commit the transaction.
                for statement in _DDL.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )

    # ------------------------------------------------------------ plumbing
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (nested calls join the outer one). BEGIN IMMEDIATE takes the
        database write lock up front, so a check-then-insert cannot race another process."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._conn
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._conn.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------- settling
    def settle(self, now: float | None = None) -> int:
        """Apply the effects of every request that has ended by ``now``; return how many."""
        now = self.clock() if now is None else now
        due = self._query(
            "SELECT token FROM requests WHERE applied = 0 AND end_at IS NOT NULL "
            "AND end_at <= ? LIMIT 1",
            (now,),
        )
        purge = now - self._last_purge > _PURGE_EVERY_SECONDS
        if not due and not purge:
            return 0
        count = 0
        with self.atomic() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM requests WHERE applied = 0 "
                "AND end_at IS NOT NULL AND end_at <= ? ORDER BY end_at, created_at",
                (now,),
            ).fetchall()
            for raw in rows:
                request = RequestRow(*raw)
                if request.canceled_at is None and request.final_status == "SUCCESS":
                    self._apply(conn, request)
                conn.execute("UPDATE requests SET applied = 1 WHERE token = ?", (request.token,))
                count += 1
            if purge:
                conn.execute(
                    "DELETE FROM requests WHERE created_at < ?",
                    (now - REQUEST_RETENTION_SECONDS,),
                )
                self._last_purge = now
        return count

    def _apply(self, conn: sqlite3.Connection, request: RequestRow) -> None:
        key = (request.account, request.region, request.type_name, request.identifier)
        when = request.end_at or request.created_at
        if request.operation == "DELETE":
            conn.execute(
                "DELETE FROM resources WHERE account = ? AND region = ? AND type_name = ? "
                "AND identifier = ?",
                key,
            )
        elif request.operation == "CREATE":
            conn.execute(
                "INSERT OR REPLACE INTO resources VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*key, request.model or "{}", when, when),
            )
        elif request.operation == "UPDATE":
            conn.execute(
                "UPDATE resources SET properties = ?, updated_at = ? WHERE account = ? "
                "AND region = ? AND type_name = ? AND identifier = ?",
                (request.model or "{}", when, *key),
            )

    # ------------------------------------------------------------ resources
    def get_resource(
        self, account: str, region: str, type_name: str, identifier: str
    ) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT properties FROM resources WHERE account = ? AND region = ? "
            "AND type_name = ? AND identifier = ?",
            (account, region, type_name, identifier),
        )
        return json.loads(rows[0][0]) if rows else None

    def resource_exists(self, account: str, region: str, type_name: str, identifier: str) -> bool:
        return bool(
            self._query(
                "SELECT 1 FROM resources WHERE account = ? AND region = ? AND type_name = ? "
                "AND identifier = ?",
                (account, region, type_name, identifier),
            )
        )

    def list_resources(
        self,
        account: str,
        region: str,
        type_name: str,
        *,
        after: str | None = None,
    ) -> list[ResourceRow]:
        """Resources of one type ordered by identifier, those after ``after`` only."""
        rows = self._query(
            "SELECT * FROM resources WHERE account = ? AND region = ? AND type_name = ? "
            "AND identifier > ? ORDER BY identifier",
            (account, region, type_name, after or ""),
        )
        return [_resource(r) for r in rows]

    def all_resources(
        self,
        *,
        account: str | None = None,
        region: str | None = None,
        type_name: str | None = None,
    ) -> list[ResourceRow]:
        """Every resource, optionally filtered, ordered by account, region, type, identifier."""
        clauses, params = [], []
        for column, value in (("account", account), ("region", region), ("type_name", type_name)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(
            f"SELECT * FROM resources {where} ORDER BY account, region, type_name, identifier",
            tuple(params),
        )
        return [_resource(r) for r in rows]

    # ------------------------------------------------------------- requests
    def insert_request(self, request: RequestRow) -> None:
        marks = ", ".join("?" for _ in _REQUEST_COLUMNS)
        with self.atomic() as conn:
            conn.execute(
                f"INSERT INTO requests ({', '.join(_REQUEST_COLUMNS)}) VALUES ({marks})",
                tuple(getattr(request, c) for c in _REQUEST_COLUMNS),
            )

    def get_request(self, token: str) -> RequestRow | None:
        rows = self._query(
            f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM requests WHERE token = ?", (token,)
        )
        return RequestRow(*rows[0]) if rows else None

    def find_client_token(
        self, account: str, region: str, client_token: str, now: float
    ) -> RequestRow | None:
        rows = self._query(
            f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM requests WHERE account = ? "
            "AND region = ? AND client_token = ? AND created_at >= ? "
            "ORDER BY created_at DESC LIMIT 1",
            (account, region, client_token, now - CLIENT_TOKEN_SECONDS),
        )
        return RequestRow(*rows[0]) if rows else None

    def in_flight(
        self, account: str, region: str, type_name: str, identifier: str, now: float
    ) -> RequestRow | None:
        """A request on this resource that has not reached its end, if any."""
        rows = self._query(
            f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM requests WHERE account = ? "
            "AND region = ? AND type_name = ? AND identifier = ? AND canceled_at IS NULL "
            "AND (end_at IS NULL OR end_at > ?) LIMIT 1",
            (account, region, type_name, identifier, now),
        )
        return RequestRow(*rows[0]) if rows else None

    def list_requests(self, account: str, region: str) -> list[RequestRow]:
        """All requests of an account and region, newest first."""
        rows = self._query(
            f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM requests WHERE account = ? "
            "AND region = ? ORDER BY created_at DESC, token",
            (account, region),
        )
        return [RequestRow(*r) for r in rows]

    def cancel_request(self, token: str, now: float) -> None:
        with self.atomic() as conn:
            conn.execute(
                "UPDATE requests SET canceled_at = ?, applied = 1 WHERE token = ?", (now, token)
            )

    # ---------------------------------------------------------------- admin
    def counts(self) -> dict[str, int]:
        resources = self._query("SELECT COUNT(*) FROM resources")[0][0]
        requests = self._query("SELECT COUNT(*) FROM requests")[0][0]
        return {"resources": int(resources), "requests": int(requests)}

    def reset(self) -> dict[str, int]:
        """Delete every resource and request; return how many of each there were."""
        with self.atomic() as conn:
            before = self.counts()
            conn.execute("DELETE FROM resources")
            conn.execute("DELETE FROM requests")
        return before
