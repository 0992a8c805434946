"""The run state: everything that changes while a stack runs, owned by the engine.

The loaded stack (:class:`~stackdeploy.manifest.stack.LoadedStack`) never changes; this does:
each resource's exports, its ``this.*`` fields and callbacks, placeholders for values known
only after apply, the secrets seen so far, the idempotency tokens and the Cloud Control
requests in flight. Every method is safe to call from the engine's worker threads.

Exports stay what a sequential run gives, whatever order resources finish in: each
resource's exports are kept apart, and an unscoped name (``{{ vpc_id }}``) seen by a
resource resolves to the value of the *last resource in manifest order, up to and including
itself,* that has exported it (teardown's delete phase looks across the whole manifest, as a
sequential teardown, which collects every export first, does). The dependency graph makes a
resource wait for every earlier exporter of the names it uses, so the answer never depends
on timing.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stackdeploy.manifest.model import ResourceDef
from stackdeploy.manifest.render import (
    ContextInputs,
    build_context,
    callback_values,
    export_values,
    resource_globals,
)
from stackdeploy.manifest.stack import PLACEHOLDERS, LoadedStack, as_json, is_placeholder
from stackdeploy.templating import serialise_value

#: Shortest protected value masked wherever it appears in text.
MIN_SECRET = 3
#: Shortest write-only value masked by content (they are masked by position in plans).
MIN_WRITE_ONLY_SECRET = 6


@dataclass(frozen=True)
class InFlight:
    """A Cloud Control request a run has submitted and not yet seen finish."""

    resource: str
    operation: str
    request_token: str
    type_name: str | None
    region: str | None
    started: float


class RunState:
    """Exports, ``this.*``, callbacks, placeholders, secrets and requests of one run."""

    def __init__(
        self,
        stack: LoadedStack,
        *,
        run_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stack = stack
        self._clock = clock
        self._lock = threading.RLock()
        self._index = {res.name: i for i, res in enumerate(stack.resources)}
        #: The run's id: ClientTokens and idempotency tokens derive from it, so a run that
        #: resumes one that died (and takes its id) repeats exactly what that run sent.
        self.run_id = run_id or str(uuid.uuid4())
        self._exports: dict[str, dict[str, Any]] = {}
        self._placeholder: dict[str, bool] = {}
        self._this: dict[str, dict[str, Any]] = {}
        self._callbacks: dict[str, dict[str, Any]] = {}
        self._extra: dict[str, dict[str, Any]] = {}
        self._secrets: set[str] = set()
        for text in stack.secret_globals():
            # Through _add_secret: a protected global holding JSON is masked in parts too.
            self._add_secret(text)
        self._in_flight: dict[str, InFlight] = {}
        self._scoped_globals: dict[str, dict[str, Any]] = {}
        # export name -> exporters, in manifest order
        self._exporters: dict[str, list[str]] = {}
        for res in stack.resources:
            for export in res.exports:
                owners = self._exporters.setdefault(export.name, [])
                if res.name not in owners:
                    owners.append(res.name)
        self.whole_manifest = False  # teardown's delete phase: exports seen across the stack
        # Told the tokens in flight whenever they change (the stack lock records them).
        self.on_in_flight: Callable[[list[str]], None] | None = None

    def resume(self, run_id: str) -> None:
        """Take the id of the run this one resumes (its tokens, so what it sent is repeated
        exactly); what was rendered with the old id is rendered again."""
        with self._lock:
            self.run_id = run_id
            self._scoped_globals.clear()

    @property
    def tokens(self) -> dict[str, str]:
        """Each resource's idempotency token: a UUIDv4 per resource per run (derived from the
        run id, so a resumed run renders what the interrupted one rendered)."""
        return {res.name: idempotency_token(self.run_id, res.name) for res in self.stack.resources}

    # -- exports ---------------------------------------------------------------------------

    def record_exports(
        self,
        res: ResourceDef,
        row: Mapping[str, Any],
        *,
        file: str | None = None,
        line: int | None = None,
    ) -> dict[str, Any]:
        """Store the resource's declared exports from ``row`` (replacing what it exported
        before, placeholders included); returns ``{name: value}``."""
        values = export_values(res, row, file=file, line=line)
        with self._lock:
            self._exports[res.name] = dict(values)
            self._placeholder[res.name] = False
            if res.protected:
                for e in res.exports:
                    if e.name in res.protected or e.column in res.protected:
                        self._add_secret(values.get(e.name))
        return values

    def set_placeholders(self, res: ResourceDef, placeholder: str) -> None:
        """Every export of ``res`` becomes ``placeholder`` (``<evaluated>``: known after
        apply; ``<unknown>``: absent in teardown)."""
        if placeholder not in PLACEHOLDERS:
            raise ValueError(f"not a placeholder: {placeholder!r}")
        with self._lock:
            self._exports[res.name] = {e.name: placeholder for e in res.exports}
            self._placeholder[res.name] = True

    def exported(self, name: str) -> dict[str, Any]:
        """What resource ``name`` exported (``{}`` if nothing yet)."""
        with self._lock:
            return dict(self._exports.get(name, {}))

    def has_exported(self, name: str) -> bool:
        with self._lock:
            return name in self._exports

    def add_alias_columns(self, res: ResourceDef) -> None:
        """Teardown: for each ``{col: alias}`` export, ``col`` also answers with the alias's
        value, so delete queries written with the column name work (stackql-deploy does so)."""
        with self._lock:
            exported = self._exports.get(res.name, {})
            values = {e.column: exported[e.alias] for e in res.exports if e.alias in exported}
            if values:
                self._extra.setdefault(res.name, {}).update(values)

    def _visible(self, name: str, res: ResourceDef) -> tuple[bool, Any]:
        # Caller holds the lock.
        owners = self._exporters.get(name)
        if not owners:
            return False, None
        limit = len(self._index) if self.whole_manifest else self._index[res.name]
        for owner in reversed(owners):
            if self._index[owner] > limit:
                continue
            values = self._exports.get(owner)
            if values is not None and name in values:
                return True, values[name]
        return False, None

    # -- this.* and callbacks ---------------------------------------------------------------

    def capture_this(self, res: ResourceDef, row: Mapping[str, Any]) -> None:
        """Fields captured by ``exists`` or ``return_vals``, visible as ``this.<f>``."""
        with self._lock:
            self._this.setdefault(res.name, {}).update(row)

    def this(self, res: ResourceDef) -> dict[str, Any]:
        with self._lock:
            return dict(self._this.get(res.name, {}))

    def clear_this(self, res: ResourceDef) -> None:
        with self._lock:
            self._this.pop(res.name, None)

    def record_callback(self, res: ResourceDef, row: Mapping[str, Any]) -> None:
        """The first RETURNING row of a DML, as ``callback.*`` of ``res``."""
        with self._lock:
            self._callbacks[res.name] = callback_values(row)

    def callback(self, res: ResourceDef) -> dict[str, Any] | None:
        """The unscoped ``callback`` ``res`` sees: its own latest RETURNING row, else the
        latest one of the resources before it in manifest order."""
        with self._lock:
            own = self._callbacks.get(res.name)
            if own is not None:
                return dict(own)
            index = self._index[res.name]
            for other in reversed(self.stack.resources[:index]):
                found = self._callbacks.get(other.name)
                if found is not None:
                    return dict(found)
        return None

    # -- contexts ---------------------------------------------------------------------------

    def scoped_globals(self, res: ResourceDef) -> dict[str, Any]:
        """The resource-scoped globals rendered for ``res`` (rendered once per run)."""
        if not self.stack.scoped_globals:
            return {}
        with self._lock:
            cached = self._scoped_globals.get(res.name)
        if cached is None:
            cached = resource_globals(self.stack, res, idempotency_token(self.run_id, res.name))
            with self._lock:
                self._scoped_globals[res.name] = cached
                for g in self.stack.scoped_globals:
                    if g.protected and g.name in cached:
                        self._add_secret(cached[g.name])
        return cached

    def inputs(self, res: ResourceDef, names: Iterable[str] | None = None) -> ContextInputs:
        """What ``res`` sees of the run, limited to the names its templates use (or to
        ``names``)."""
        refs = (
            frozenset(names)
            if names is not None
            else self.stack.references.get(res.name, frozenset())
        )
        exports: dict[str, Any] = {}
        namespaces: dict[str, dict[str, Any]] = {}
        with self._lock:
            for name in refs:
                found, value = self._visible(name, res)
                if found:
                    exports[name] = value
                if name in self._index:
                    namespace: dict[str, Any] = {
                        "idempotency_token": idempotency_token(self.run_id, name)
                    }
                    namespace.update(self._exports.get(name, {}))
                    callback = self._callbacks.get(name)
                    if callback is not None:
                        namespace["callback"] = dict(callback)
                    if name == res.name:
                        namespace.update(self._this.get(name, {}))
                    namespaces[name] = namespace
            if res.name not in namespaces:
                namespace = {"idempotency_token": idempotency_token(self.run_id, res.name)}
                namespace.update(self._this.get(res.name, {}))
                namespaces[res.name] = namespace
            extra = dict(self._extra.get(res.name, {}))
        callback = self.callback(res) if "callback" in refs else None
        return ContextInputs(
            token=idempotency_token(self.run_id, res.name),
            exports=exports,
            namespaces=namespaces,
            callback=callback,
            extra=extra,
        )

    def context(self, res: ResourceDef, names: Iterable[str] | None = None) -> dict[str, Any]:
        """The template context of ``res`` now (nested; no props)."""
        return build_context(
            self.stack, res, self.inputs(res, names), scoped_globals=self.scoped_globals(res)
        )

    def stack_exports(self) -> dict[str, Any]:
        """The stack exports: ``stack_name``, ``stack_env`` and each name of the manifest's
        ``exports`` (the last resource in manifest order that exported it, else the global),
        strings holding JSON parsed. A name with no value is an error."""
        from stackdeploy.errors import ManifestError
        from stackdeploy.manifest.validate import did_you_mean

        stack = self.stack
        out: dict[str, Any] = {"stack_name": stack.name, "stack_env": stack.env}
        last = stack.resources[-1] if stack.resources else None
        with self._lock:
            for name in stack.manifest.exports:
                found, value = (False, None)
                if last is not None:
                    saved, self.whole_manifest = self.whole_manifest, True
                    found, value = self._visible(name, last)
                    self.whole_manifest = saved
                if not found and name in stack.globals:
                    found, value = True, stack.globals[name]
                if not found:
                    known = list(self._exporters) + list(stack.globals)
                    raise ManifestError(
                        f"stack export {name!r} has no value (not a global nor an export of "
                        "any resource that ran)",
                        file=stack.manifest.display_path,
                        line=stack.manifest.exports_line,
                        hint=did_you_mean(name, known),
                    )
                out[name] = as_json(value)
        return out

    # -- secrets ----------------------------------------------------------------------------

    def _add_secret(self, value: Any, min_length: int = MIN_SECRET) -> None:
        # Caller holds the lock.
        text = serialise_value(value) if value is not None else ""
        if len(text) >= min_length and not is_placeholder(text):
            self._secrets.add(text)
            if text.strip() != text and len(text.strip()) >= min_length:
                # Parsers and messages drop surrounding blanks: the bare value is secret too.
                self._secrets.add(text.strip())
            # A JSON value is also shown parsed (as JSON text of its parts) in places.
            parsed = as_json(text)
            if isinstance(parsed, dict | list):
                for part in _strings(parsed):
                    if len(part) >= 4:
                        self._secrets.add(part)

    def add_secrets(self, values: Iterable[Any], *, min_length: int = MIN_SECRET) -> None:
        """Remember values that must never be shown (protected props, write-only values).

        Values shorter than ``min_length`` are not masked by content: masking ``1`` or
        ``on`` would blank every occurrence in every message. (Write-only values are masked
        by position in plans whatever their length.)"""
        with self._lock:
            for value in values:
                self._add_secret(value, min_length)

    def secrets(self) -> frozenset[str]:
        """Text of every protected value seen so far (for the masker)."""
        with self._lock:
            return frozenset(self._secrets)

    # -- requests in flight ----------------------------------------------------------------

    def request_started(
        self,
        res: ResourceDef,
        operation: str,
        token: str,
        *,
        type_name: str | None = None,
        region: str | None = None,
    ) -> None:
        with self._lock:
            if token in self._in_flight:
                return
            self._in_flight[token] = InFlight(
                res.name, operation, token, type_name, region, self._clock()
            )
            tokens = list(self._in_flight)
        if self.on_in_flight is not None:
            self.on_in_flight(tokens)

    def request_finished(self, token: str) -> None:
        with self._lock:
            if self._in_flight.pop(token, None) is None:
                return
            tokens = list(self._in_flight)
        if self.on_in_flight is not None:
            self.on_in_flight(tokens)

    def in_flight(self) -> list[InFlight]:
        """Requests submitted and not seen to finish, oldest first."""
        with self._lock:
            return sorted(self._in_flight.values(), key=lambda r: r.started)


def idempotency_token(run_id: str, resource: str) -> str:
    """A UUIDv4-shaped token, unique per run and resource and stable within a run."""
    digest = hashlib.sha256(f"{run_id}|{resource}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
