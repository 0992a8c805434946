"""Masking of secrets in plans and reports.

Two kinds of values are secret: the values of ``protected`` properties / exports (known as
strings, masked wherever they appear, even inside longer strings such as a connection URL),
and everything at a schema's write-only paths (passwords, keys), which are masked by position
in patches, changes and desired states whatever their value. Every renderer (text, JSON,
drift) passes its plan through a :class:`Masker` first, so no output path forgets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from stackdeploy.plan.diff import Change, pointer_tokens
from stackdeploy.plan.model import Orphan, Plan, ResourcePlan
from stackdeploy.schema.model import Path, Pattern, path_matches

MASK = "****"


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
    type on first use. A resource plan's own ``write_only_unverifiable`` paths are always
    masked as well.
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
            tuple(str(t) for t in pointer_tokens(p)) for p in resource.write_only_unverifiable
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
