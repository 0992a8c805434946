"""SQLite state of the sandbox: resources, resource requests and issued STS credentials.

The sandbox keeps everything in one SQLite database (a file, default
``.stack-deploy/sandbox.db``, or memory). WAL mode and a busy time-out let one server and
several CLI processes (``sandbox list``, ``sandbox reset``) use the same file in turn. A file
that is not a sandbox state file (not SQLite, another program's database, a directory, a
read-only location) is refused with a :class:`StateFileError` naming it, before anything is
written.

Requests are asynchronous without any background thread: a request row records when it was
made, when it stops being PENDING and when it ends (``end_at``; NULL for a request that never
ends), and the outcome decided when it was accepted. Its status at any moment is computed from
those timestamps (:meth:`RequestRow.status_at`), and :meth:`Store.settle` applies the effect of
every request whose end has passed (insert, update or delete the resource) exactly once. Every
read calls ``settle`` first, so the state seen is always the state at "now".
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackdeploy.errors import StackDeployError

DEFAULT_STATE_PATH = Path(".stack-deploy") / "sandbox.db"
# Cloud Control keeps requests for 7 days; ClientTokens are honoured for 36 hours.
REQUEST_RETENTION_SECONDS = 7 * 24 * 3600
CLIENT_TOKEN_SECONDS = 36 * 3600
_PURGE_EVERY_SECONDS = 60.0
# 1: resources and requests; 2: adds the credentials issued by STS AssumeRole.
SCHEMA_VERSION = 2
_STATE_HINT = (
    "delete or move it, or choose another state file "
    "(--state for `sandbox` commands, --sandbox-state for the others)"
)

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
CREATE TABLE IF NOT EXISTS credentials (
    access_key_id TEXT PRIMARY KEY,
    secret_access_key TEXT NOT NULL,
    session_token TEXT NOT NULL,
    account TEXT NOT NULL,
    arn TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
"""

FINAL_STATUSES = frozenset({"SUCCESS", "FAILED", "CANCEL_COMPLETE"})


class StateFileError(StackDeployError):
    """The sandbox state file cannot be used: not SQLite, not the sandbox's, not writable."""


@dataclass(frozen=True)
class CredentialRow:
    """Temporary credentials issued by the sandbox's STS AssumeRole."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    account: str
    arn: str  # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
    user_id: str  # AROA...:SESSION
    created_at: float
    expires_at: float


_CREDENTIAL_COLUMNS = tuple(CredentialRow.__dataclass_fields__)


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
        if self.path is None:
            self._conn = self._connect(":memory:")
            self._initialise()
            return
        if self.path.is_dir():
            raise StateFileError(
                f"{self.path}: is a directory, not a sandbox state file", hint=_STATE_HINT
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._explain(exc) from exc
        try:
            self._conn = self._connect(str(self.path))
        except sqlite3.Error as exc:
            raise self._explain(exc) from exc
        try:
            self._check_owner()
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._initialise()
        except (sqlite3.Error, StateFileError) as exc:
            self._conn.close()
            if isinstance(exc, StateFileError):
                raise
            raise self._explain(exc) from exc

    @staticmethod
    def _connect(target: str) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE in atomic()).
        conn = sqlite3.connect(target, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _initialise(self) -> None:
        with self._lock, self.atomic():
            # One statement at a time: executescript() would commit the transaction.
            for statement in _DDL.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            # Tables added by later versions are created above (IF NOT EXISTS), so moving
            # an older file forward is only a matter of recording the new version.
            self._conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def _check_owner(self) -> None:
        """Refuse an SQLite database that is not a sandbox state file (or is a newer one)."""
        tables = {
            row[0]
            for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not tables:
            return  # a new (or empty) file: ours to initialise
        version = None
        if "meta" in tables and "resources" in tables:
            rows = self._conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchall()
            version = rows[0][0] if rows else None
        if version is None or not str(version).isdigit():
            raise StateFileError(
                f"{self.path}: is an SQLite database but not a sandbox state file "
                f"(it holds the tables {', '.join(sorted(tables)[:5])})",
                hint=_STATE_HINT,
            )
        if int(version) > SCHEMA_VERSION:
            raise StateFileError(
                f"{self.path}: was written by a newer stack-deploy (state format {version}, "
                f"this version reads up to {SCHEMA_VERSION})",
                hint="upgrade stack-deploy, or " + _STATE_HINT,
            )

    def _explain(self, exc: BaseException) -> StateFileError:
        """One clear line for why the state file cannot be opened."""
        path = self.path
        name = getattr(exc, "sqlite_errorname", "")
        text = str(exc)
        if name == "SQLITE_NOTADB" or "not a database" in text:
            return StateFileError(
                f"{path}: is not a sandbox state file (not an SQLite database)", hint=_STATE_HINT
            )
        if _read_only(path) or "readonly" in text or isinstance(exc, PermissionError):
            return StateFileError(
                f"{path}: the sandbox state file cannot be written (read-only location)",
                hint="choose a writable location with --state / --sandbox-state, "
                "or make the file and its folder writable",
            )
        if isinstance(exc, OSError):
            return StateFileError(
                f"{path}: cannot create the sandbox state file: {exc.strerror or exc}",
                hint=_STATE_HINT,
            )
        return StateFileError(
            f"{path}: cannot open the sandbox state file: {text}", hint=_STATE_HINT
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
                # Expired keys are kept a while so their use says "expired", not "invalid".
                conn.execute(
                    "DELETE FROM credentials WHERE expires_at < ?",
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

    # ---------------------------------------------------------- credentials
    def add_credentials(self, credentials: CredentialRow) -> None:
        marks = ", ".join("?" for _ in _CREDENTIAL_COLUMNS)
        with self.atomic() as conn:
            conn.execute(
                f"INSERT INTO credentials ({', '.join(_CREDENTIAL_COLUMNS)}) VALUES ({marks})",
                tuple(getattr(credentials, c) for c in _CREDENTIAL_COLUMNS),
            )

    def get_credentials(self, access_key_id: str) -> CredentialRow | None:
        rows = self._query(
            f"SELECT {', '.join(_CREDENTIAL_COLUMNS)} FROM credentials WHERE access_key_id = ?",
            (access_key_id,),
        )
        return CredentialRow(*rows[0]) if rows else None

    # ---------------------------------------------------------------- admin
    def counts(self) -> dict[str, int]:
        resources = self._query("SELECT COUNT(*) FROM resources")[0][0]
        requests = self._query("SELECT COUNT(*) FROM requests")[0][0]
        return {"resources": int(resources), "requests": int(requests)}

    def reset(self) -> dict[str, int]:
        """Delete every resource and request; return how many of each there were.

        Credentials issued by AssumeRole are kept: clients holding them go on working."""
        with self.atomic() as conn:
            before = self.counts()
            conn.execute("DELETE FROM resources")
            conn.execute("DELETE FROM requests")
        return before


def _read_only(path: Path | None) -> bool:
    """Whether ``path`` (or the folder it would be created in) cannot be written."""
    if path is None:
        return False
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    with contextlib.suppress(OSError):
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    target = path if path.exists() else folder
    return not os.access(target, os.W_OK)
