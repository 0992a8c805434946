"""Masking of secrets in plans and reports.

Secrets are masked two ways. By value: the values of ``protected`` props, exports and
globals (known as strings, masked wherever they appear, even inside longer strings such as a
connection URL). By position: everything at a schema's write-only paths (passwords, keys)
and at a plan's ``secret_paths`` (the properties protected values feed) is masked in patches,
changes and desired states whatever it is; that is what hides the *old* live value of a
rotated secret, which no mask by value can know. Every renderer (text, JSON, drift) passes
its plan through a :class:`Masker` first, so no output path forgets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar

from stackdeploy.errors import CloudControlError, LocatedError, StackDeployError
from stackdeploy.plan.diff import HIDDEN, Change, pointer_tokens
from stackdeploy.plan.model import Orphan, Plan, ResourcePlan
from stackdeploy.schema.model import Path, Pattern, path_matches

MASK = HIDDEN

E = TypeVar("E", bound=StackDeployError)


def mask_value(value: Any, protected: Iterable[str]) -> Any:
    """``value`` with every occurrence of a protected string replaced by ``****``, in strings
    and mapping keys at any depth. Empty protected values are ignored (they would match
    everywhere)."""
    secrets = _ordered_secrets(protected)
    if not secrets:
        return value
    return _mask_strings(value, secrets)


def _ordered_secrets(protected: Iterable[Any]) -> tuple[str, ...]:
    # Longest first, so a secret containing another is masked whole.
    found = {str(v) for v in protected if v is not None and str(v) != ""}
    return tuple(sorted(found, key=lambda s: (-len(s), s)))


def _mask_text(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _mask_strings(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return _mask_text(value, secrets)
    if isinstance(value, Mapping):
        return {
            _mask_text(str(k), secrets) if isinstance(k, str) else k: _mask_strings(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask_strings(v, secrets) for v in value]
    return value


def _registry_write_only(type_name: str) -> Sequence[Pattern]:
    """Write-only patterns from the bundled schema; none for non-AWS resource kinds."""
    if "::" not in type_name and not type_name.startswith("awscc."):
        return ()
    from stackdeploy.errors import StackDeployError
    from stackdeploy.schema.registry import get_schema

    try:
        return get_schema(type_name).write_only
    except StackDeployError:
        return ()


class Masker:
    """Masks protected values (by content) and write-only paths (by position).

    ``write_only_paths`` maps a resource type name to its write-only patterns (tuples, ``*``
    for any index). When it is None the patterns are read from the bundled schema of each
    type on first use. A resource plan's own ``write_only_unverifiable`` and
    ``secret_paths`` are always masked as well.
    """

    def __init__(
        self,
        protected_values: Iterable[Any] = (),
        write_only_paths: Mapping[str, Iterable[Pattern]] | None = None,
        *,
        lookup: Callable[[str], Sequence[Pattern]] | None = None,
        source: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        # ``source`` is read on every use: a run learns secrets as it goes (protected props
        # rendered, protected exports recorded), and a masker built before must see them.
        self._fixed = _ordered_secrets(protected_values)
        self._source = source
        self._seen: frozenset[str] | None = None
        self._ordered: tuple[str, ...] = self._fixed
        self._given = (
            None
            if write_only_paths is None
            else {k: tuple(tuple(p) for p in v) for k, v in write_only_paths.items()}
        )
        self._lookup = lookup or _registry_write_only
        self._cache: dict[str, tuple[Pattern, ...]] = {}

    @property
    def secrets(self) -> tuple[str, ...]:
        """The protected strings, longest first."""
        if self._source is None:
            return self._fixed
        current = frozenset(self._source())
        if current != self._seen:
            self._seen = current
            self._ordered = _ordered_secrets([*self._fixed, *current])
        return self._ordered

    def __call__(self, text: str) -> str:
        return self.text(text)

    # ----------------------------------------------------------- primitives
    def text(self, text: str) -> str:
        """A string with every protected value replaced by ``****``."""
        secrets = self.secrets
        return _mask_text(text, secrets) if secrets else text

    def strings(self, value: Any) -> Any:
        """Any JSON value with protected values masked in all its strings."""
        secrets = self.secrets
        return _mask_strings(value, secrets) if secrets else value

    def patterns(self, type_name: str) -> tuple[Pattern, ...]:
        if self._given is not None:
            return self._given.get(type_name, ())
        if type_name not in self._cache:
            self._cache[type_name] = tuple(self._lookup(type_name))
        return self._cache[type_name]

    def value_at(
        self,
        value: Any,
        path: Path,
        patterns: Sequence[Pattern],
    ) -> Any:
        """``value`` (found at ``path``) with whatever lies at a write-only pattern masked."""
        if value is None:
            return value
        if any(path_matches(p, path) for p in patterns):
            return MASK
        if isinstance(value, Mapping):
            return {k: self.value_at(v, (*path, k), patterns) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value_at(v, (*path, i), patterns) for i, v in enumerate(value)]
        return self.strings(value)

    # -------------------------------------------------------------- plans
    def _resource_patterns(self, resource: ResourcePlan) -> tuple[Pattern, ...]:
        own = tuple(
            tuple(str(t) for t in pointer_tokens(p))
            for p in (*resource.write_only_unverifiable, *resource.secret_paths)
        )
        return self.patterns(resource.type) + own

    def patch(self, ops: Iterable[Mapping[str, Any]], patterns: Sequence[Pattern]) -> list[Any]:
        masked = []
        for op in ops:
            entry = dict(op)
            if "value" in entry:
                entry["value"] = self.value_at(
                    entry["value"], pointer_tokens(str(entry["path"])), patterns
                )
            masked.append(self.strings(entry))
        return masked

    def change(self, change: Change, patterns: Sequence[Pattern]) -> Change:
        path = pointer_tokens(change.path)
        return Change(
            path=self.text(change.path),
            op=change.op,
            before=self.value_at(change.before, path, patterns),
            after=self.value_at(change.after, path, patterns),
            details=tuple(self.change(d, patterns) for d in change.details),
        )

    def resource(self, resource: ResourcePlan) -> ResourcePlan:
        """A copy of ``resource`` safe to show."""
        patterns = self._resource_patterns(resource)
        return replace(
            resource,
            identifier=self.text(resource.identifier) if resource.identifier else None,
            patch=tuple(self.patch(resource.patch, patterns)),
            replace_reasons=tuple(self.text(r) for r in resource.replace_reasons),
            changes=tuple(self.change(c, patterns) for c in resource.changes),
            reason=self.text(resource.reason) if resource.reason else resource.reason,
            desired=(
                self.value_at(dict(resource.desired), (), patterns)
                if resource.desired is not None
                else None
            ),
            notes=tuple(self.text(n) for n in resource.notes),
            dml=tuple(self.text(d) for d in resource.dml),
        )

    def orphan(self, orphan: Orphan) -> Orphan:
        """A copy of ``orphan`` safe to show (its identifier or ARN may hold a secret)."""
        return replace(
            orphan,
            identifier=self.text(orphan.identifier) if orphan.identifier else None,
            arn=self.text(orphan.arn),
            reason=self.text(orphan.reason) if orphan.reason else None,
        )

    def plan(self, plan: Plan) -> Plan:
        """A copy of ``plan`` with every secret masked."""
        return replace(
            plan,
            resources=tuple(self.resource(r) for r in plan.resources),
            orphans=tuple(self.orphan(o) for o in plan.orphans),
        )

    # ------------------------------------------------------------- errors
    def error(self, exc: E) -> E:
        """``exc`` with its message and hint masked, in place (so it can be re-raised with its
        traceback): an error may quote a rendered query, a schema violation or a value Cloud
        Control echoed, and the CLI prints it as it is. Errors it carries (``errors``, as
        :class:`~stackdeploy.engine.runner.PlanErrors` does) are masked too."""
        exc.message = self.text(exc.message)
        exc.args = (exc.message, *exc.args[1:])
        if exc.hint:
            exc.hint = self.text(exc.hint)
        if isinstance(exc, LocatedError):
            exc.bare_message = self.text(exc.bare_message)
        if isinstance(exc, CloudControlError) and exc.status_message:
            exc.status_message = self.text(exc.status_message)
        for item in getattr(exc, "errors", None) or ():
            inner = item[1] if isinstance(item, tuple) else item
            if isinstance(inner, StackDeployError) and inner is not exc:
                self.error(inner)
        return exc


class MaskingFilter(logging.Filter):
    """A logging filter that masks each record's message (and traceback) with ``mask``."""

    def __init__(self, mask: Callable[[str], str]) -> None:
        super().__init__()
        self.mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.mask(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


@contextmanager
def masked_logs(mask: Callable[[str], str]) -> Iterator[None]:
    """While the block runs, every log record that reaches a handler of stack-deploy's logger,
    of the root logger or Python's last-resort handler (which prints other libraries'
    warnings when nothing is configured) is masked first: defence in depth under the masking
    each message already gets where it is made."""
    found = logging.getLogger("stackdeploy").handlers + logging.getLogger().handlers
    if logging.lastResort is not None:
        found.append(logging.lastResort)
    handlers = list(dict.fromkeys(found))
    masking = MaskingFilter(mask)
    for handler in handlers:
        handler.addFilter(masking)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(masking)
