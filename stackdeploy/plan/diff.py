"""Schema-aware diff of a resource's desired state against its live state.

:func:`diff_resource` is a pure function: ``(schema, desired, live) -> ResourceDiff``. The
desired state is already in CloudFormation form (property names normalised, values coerced to
the schema's types); the live state is what Cloud Control's GetResource returned.

The rules (see docs/plan.md, "How the diff works"):

- **Desired is a partial description.** Only properties present in desired are compared, at
  every level of nested objects: a property absent from desired is not managed, so it is
  never removed, and properties only AWS sets (defaults, computed values) never show as
  drift. Exceptions: arrays are compared whole (the desired list is the list), and so are
  maps (objects whose schema has no fixed ``properties`` but ``patternProperties`` /
  ``additionalProperties``): when they differ the whole value is replaced.
- Read-only paths are never compared. Write-only paths are never compared either (GetResource
  never returns them): they are listed in ``write_only_unverifiable`` and, when the resource
  changes anyway, sent again with ``add`` ops so the update handler sees them.
- Order-insensitive arrays (``insertionOrder: false``) are compared as multisets; the tag
  property as a key -> value map (``aws:`` system tags on the live side ignored).
- ``3`` equals ``3.0``; ``"3"`` does not equal ``3``; ``True`` does not equal ``1``.
- A change at or under a create-only path forces a replacement, recorded in
  ``replace_reasons`` naming the property. A create-only property that desired sets but live
  lacks is not compared (some read handlers omit them): it is listed in
  ``create_only_unread`` instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stackdeploy.schema.model import Path, Pattern, ResourceSchema, format_path, path_matches

# Marks "no value here" (absent key), distinct from JSON null.
_MISSING: Any = object()
#: What a secret value is shown as (the same text as ``report.mask.MASK``).
HIDDEN = "****"
SYSTEM_TAG_PREFIX = "aws:"


@dataclass(frozen=True)
class Change:
    """One property-level difference. ``path`` is a JSON pointer (``/A/0/B``); ``op`` is the
    RFC 6902 op that fixes it (add, replace, remove); ``before`` is the live value (``None``
    when absent), ``after`` the desired one (``None`` for remove)."""

    path: str
    op: str
    before: Any
    after: Any
    # For an array or tag set replaced whole: what changed inside it, element by element (or
    # tag by tag), for display only; paths index the desired array (tags: ``/Tags/<key>``).
    details: tuple[Change, ...] = ()


@dataclass(frozen=True)
class ResourceDiff:
    """The result of :func:`diff_resource`."""

    patch: list[dict[str, Any]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    replace_reasons: list[str] = field(default_factory=list)
    write_only_unverifiable: list[str] = field(default_factory=list)
    # Create-only properties set in desired that GetResource did not return: not compared
    # (see _Differ.diff), listed so the plan can say so.
    create_only_unread: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when desired and live differ in something that can be compared."""
        return bool(self.changes)


def values_equal(a: Any, b: Any) -> bool:
    """JSON equality with the diff's scalar rules: numbers by value, booleans only with
    booleans, no string/number coercion. Objects and arrays compare fully (ordered)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is not type(b):
        return False
    return bool(a == b)


def format_value(value: Any) -> str:
    """A short human form for reasons: strings single-quoted, the rest compact JSON."""
    if value is _MISSING:
        return "absent"
    if isinstance(value, str):
        return repr(value) if "'" not in value else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def display_path(path: Sequence[str | int]) -> str:
    """``("InstanceGroups", 0, "InstanceType")`` -> ``InstanceGroups[0].InstanceType``."""
    out = ""
    for token in path:
        if isinstance(token, int):
            out += f"[{token}]"
        else:
            out += ("." if out else "") + token
    return out


def pointer_tokens(pointer: str) -> Path:
    """Inverse of format_path, turning digit tokens into ints."""
    tokens: list[str | int] = []
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        tokens.append(int(token) if token.isdigit() else token)
    return tuple(tokens)


def display_pointer(pointer: str) -> str:
    """``/VersioningConfiguration/Status`` -> ``VersioningConfiguration.Status``."""
    return display_path(pointer_tokens(pointer))


class _Differ:
    """One diff run; holds the schema and collects results."""

    def __init__(self, schema: ResourceSchema, hidden: Sequence[Pattern] = ()) -> None:
        self.schema = schema
        # Paths whose values are secret: never quoted in a reason, live or desired.
        self.hidden = tuple(hidden)
        self.patch: list[dict[str, Any]] = []
        self.changes: list[Change] = []
        self.reasons: list[str] = []
        self.write_only: list[str] = []
        self.unread: list[str] = []
        self._map_cache: dict[Path, bool] = {}

    # ------------------------------------------------------------ schema facts
    def _generic(self, path: Path) -> Path:
        """Array indices -> 0, so schema lookups are cached per shape, not per element."""
        return tuple(0 if isinstance(t, int) else t for t in path)

    def is_map(self, path: Path) -> bool:
        """An object whose keys are data (patternProperties / additionalProperties schema)
        rather than fixed property names: compared whole."""
        key = self._generic(path)
        if key not in self._map_cache:
            node = self.schema.subschema(key) if key else None
            result = False
            if node is not None:
                branches = list(self.schema.branches(node))
                has_props = any(b.get("properties") for b in branches)
                has_map = any(
                    b.get("patternProperties") or isinstance(b.get("additionalProperties"), dict)
                    for b in branches
                )
                result = has_map and not has_props
            self._map_cache[key] = result
        return self._map_cache[key]

    def is_tags(self, path: Path) -> bool:
        return len(path) == 1 and path[0] == self.schema.tag_property

    def ordered(self, path: Path) -> bool:
        return self.schema.insertion_order(self._generic(path))

    def skipped(self, path: Path) -> bool:
        return self.schema.is_read_only(path) or self.schema.is_write_only(path)

    # -------------------------------------------------------------- coverage
    def covers(self, path: Path, desired: Any, live: Any) -> bool:
        """True when ``live`` satisfies ``desired`` under the diff rules (no change)."""
        if live is _MISSING:
            return False
        if self.is_tags(path):
            return tags_equal(desired, live)
        if isinstance(desired, Mapping):
            if not isinstance(live, Mapping):
                return False
            if self.is_map(path):
                return self._map_equal(path, desired, live)
            for key, value in desired.items():
                sub = (*path, key)
                if value is None or self.skipped(sub):
                    continue
                if live.get(key) is None and self.schema.is_create_only(sub):
                    continue  # not returned by the read handler: not compared (see diff)
                if not self.covers(sub, value, live.get(key, _MISSING)):
                    return False
            return True
        if isinstance(desired, list):
            if not isinstance(live, list):
                return False
            if len(desired) != len(live):
                return False
            if self.ordered(path):
                return all(
                    self.covers((*path, i), d, x)
                    for i, (d, x) in enumerate(zip(desired, live, strict=True))
                )
            return self._perfect_matching(path, desired, live)
        return values_equal(desired, live)

    def _map_equal(self, path: Path, desired: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
        live_keys = {k for k in live if not self.skipped((*path, k))}
        desired_keys = {k for k, v in desired.items() if v is not None}
        if not {k for k in desired_keys if not self.skipped((*path, k))} <= live_keys:
            return False
        if live_keys - desired_keys:
            return False
        return all(
            self.covers((*path, k), desired[k], live[k])
            for k in desired_keys
            if not self.skipped((*path, k))
        )

    def _perfect_matching(self, path: Path, desired: list[Any], live: list[Any]) -> bool:
        """Multiset comparison under ``covers``: every desired element matched with a distinct
        live element (bipartite matching, so a greedy early pick cannot cause a false diff)."""
        elem = (*path, 0)
        edges = [[j for j, x in enumerate(live) if self.covers(elem, d, x)] for d in desired]
        owner: dict[int, int] = {}

        def augment(i: int, seen: set[int]) -> bool:
            for j in edges[i]:
                if j in seen:
                    continue
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
            return False

        return all(augment(i, set()) for i in range(len(desired)))

    # ------------------------------------------------------------------ diff
    def diff(self, path: Path, desired: Any, live: Any) -> None:
        if isinstance(desired, Mapping) and isinstance(live, Mapping):
            if self.is_tags(path) or self.is_map(path):
                if not self.covers(path, desired, live):
                    self.emit(path, "replace", live, desired)
                return
            for key, value in desired.items():
                sub = (*path, key)
                if value is None or self.skipped(sub):
                    continue
                if (key not in live or live[key] is None) and self.schema.is_create_only(sub):
                    # Some read handlers do not return every create-only property. Treating
                    # the gap as a change would demand a replacement on every run (and
                    # --allow-replace would destroy the resource); if the property really
                    # is new, Cloud Control's update fails loudly instead.
                    self.unread.append(format_path(sub))
                elif key not in live or live[key] is None:
                    self.emit(sub, "add", _MISSING, value)
                else:
                    self.diff(sub, value, live[key])
            return
        if isinstance(desired, list) and isinstance(live, list):
            if not self.is_tags(path) and self.ordered(path) and len(desired) == len(live):
                for i, (d, x) in enumerate(zip(desired, live, strict=True)):
                    self.diff((*path, i), d, x)
                return
            if not self.covers(path, desired, live):
                self.emit(path, "replace", live, desired)
            if not self.is_tags(path) and self.schema.create_only_under((*path, 0)):
                self._note_unread_in_elements(path, desired, live)
            return
        if not self.covers(path, desired, live):
            self.emit(path, "replace", live, desired)

    def _note_unread_in_elements(self, path: Path, desired: list[Any], live: list[Any]) -> None:
        """An array compared whole skips the create-only members its live elements lack
        (``covers``), as diff() does for objects; list them too, or the plan would not say
        they went unchecked. Paths index the desired array, as the change details do."""
        for i, j in sorted(self._pair(path, desired, live)):
            sub = _Differ(self.schema, self.hidden)
            sub.diff((*path, i), desired[i], live[j])
            self.unread.extend(p for p in sub.unread if p not in self.unread)

    def emit(self, path: Path, op: str, before: Any, after: Any) -> None:
        pointer = format_path(path)
        details: tuple[Change, ...] = ()
        if op == "replace" and self.is_tags(path):
            details = _tag_details(pointer, after, before)
        elif op == "replace" and isinstance(after, list) and isinstance(before, list):
            details = self._element_details(path, after, before)
        self.changes.append(
            Change(pointer, op, None if before is _MISSING else before, after, details)
        )
        entry: dict[str, Any] = {"op": op, "path": pointer}
        if op != "remove":
            entry["value"] = after
        self.patch.append(entry)
        self.create_only_reasons(path, before, after)

    # ------------------------------------------------------- create-only
    def create_only_reasons(self, path: Path, before: Any, after: Any) -> None:
        """Record why a change at ``path`` forces a replacement, if it does."""
        schema = self.schema
        if schema.is_create_only(path):
            pattern = next(p for p in schema.create_only if path_matches(p, path))
            if self.covers(path, after, before):
                return
            if (
                isinstance(after, Mapping)
                and isinstance(before, Mapping)
                and not (self.is_map(path) or self.is_tags(path))
            ):
                # Reached from an array element paired with its live one: diff the object so
                # the reason names the changed path inside it, as it does at the top level
                # (diff() recurses into such objects, so this cannot come back here).
                inner = _Differ(schema, self.hidden)
                inner.diff(path, after, before)
                self.reasons.extend(r for r in inner.reasons if r not in self.reasons)
                return
            prop = display_path(path[: len(pattern)])
            where = "" if len(path) == len(pattern) else f"{display_path(path)}: "
            reason = (
                f"{prop} is create-only ({where}live "
                f"{format_value(self._comparable(before, path, live=True))}"
                f" → desired {format_value(self._comparable(after, path))})"
            )
            if reason not in self.reasons:
                self.reasons.append(reason)
            return
        if not schema.create_only_under(path):
            return
        if isinstance(after, Mapping):
            live = before if isinstance(before, Mapping) else {}
            for key, value in after.items():
                sub = (*path, key)
                if value is None or self.skipped(sub):
                    continue
                unread = isinstance(before, Mapping) and before.get(key) is None
                if unread and schema.is_create_only(sub):
                    continue  # as in diff(): not returned by the read handler, not compared
                self.create_only_reasons(sub, live.get(key, _MISSING), value)
        elif isinstance(after, list) and isinstance(before, list):
            for i, j in self._pair(path, after, before):
                self.create_only_reasons((*path, i), before[j], after[i])

    def _pair(self, path: Path, desired: list[Any], live: list[Any]) -> list[tuple[int, int]]:
        """Pair desired elements with the live elements they most likely are, so a changed
        create-only field inside an array element is reported. Exact matches pair first;
        the rest pair greedily by the number of equal top-level fields (at least one).
        Unpaired desired elements are new elements: adding one is not a replacement."""
        elem = (*path, 0)
        free_live = list(range(len(live)))
        pairs: list[tuple[int, int]] = []
        rest: list[int] = []
        for i, d in enumerate(desired):
            j = next((j for j in free_live if self.covers(elem, d, live[j])), None)
            if j is None:
                rest.append(i)
            else:
                free_live.remove(j)
                pairs.append((i, j))
        scored: list[tuple[int, int, int]] = []
        for i in rest:
            for j in free_live:
                scored.append((-_similarity(desired[i], live[j]), i, j))
        scored.sort()
        used_d: set[int] = set()
        used_l: set[int] = set()
        for negative, i, j in scored:
            if negative == 0 or i in used_d or j in used_l:
                continue
            used_d.add(i)
            used_l.add(j)
            pairs.append((i, j))
        return pairs

    def _element_details(
        self, path: Path, desired: list[Any], live: list[Any]
    ) -> tuple[Change, ...]:
        """Element-level view of a whole-array replacement: paired elements diffed, new
        desired elements as ``add``, unmatched live elements as ``remove``."""
        pairs = self._pair(path, desired, live)
        details: list[Change] = []
        for i, j in sorted(pairs):
            sub = _Differ(self.schema, self.hidden)
            sub.diff((*path, i), desired[i], live[j])
            details.extend(sub.changes)
        paired_d = {i for i, _ in pairs}
        paired_l = {j for _, j in pairs}
        for i, value in enumerate(desired):
            if i not in paired_d:
                details.append(Change(format_path((*path, i)), "add", None, value))
        for j, value in enumerate(live):
            if j not in paired_l:
                details.append(Change(format_path((*path, j)), "remove", value, None))
        return tuple(details)

    def _comparable(self, value: Any, path: Path | None = None, *, live: bool = False) -> Any:
        """The value without write-only parts, secret paths masked (for messages; they must
        never leak). A live value has no write-only parts."""
        if path is None or value is _MISSING:
            return value
        if any(path_matches(h, path) for h in self.hidden):
            return HIDDEN
        if isinstance(value, Mapping):
            return {
                k: self._comparable(v, (*path, k), live=live)
                for k, v in value.items()
                if live or not self.schema.is_write_only((*path, k))
            }
        if isinstance(value, list):
            return [self._comparable(v, (*path, i), live=live) for i, v in enumerate(value)]
        return value

    # ------------------------------------------------------------ write-only
    def collect_write_only(self, path: Path, desired: Any) -> None:
        """Concrete paths of write-only values in desired (they cannot be compared)."""
        if path and self.schema.is_write_only(path):
            self.write_only.append(format_path(path))
            return
        if isinstance(desired, Mapping):
            for key, value in desired.items():
                if value is not None:
                    self.collect_write_only((*path, key), value)
        elif isinstance(desired, list):
            for i, value in enumerate(desired):
                self.collect_write_only((*path, i), value)

    def write_only_ops(self, desired: Mapping[str, Any], live: Mapping[str, Any]) -> None:
        """Send write-only values again with an update (the handler cannot read them back),
        unless an op already carries them or their parent does not exist live."""
        covered = [p["path"] for p in self.patch]
        for pointer in self.write_only:
            if any(pointer == c or pointer.startswith(c + "/") for c in covered):
                continue
            tokens = pointer_tokens(pointer)
            parent: Any = live
            for token in tokens[:-1]:
                if isinstance(parent, Mapping) and isinstance(token, str):
                    parent = parent.get(token, _MISSING)
                elif isinstance(parent, list) and isinstance(token, int) and token < len(parent):
                    parent = parent[token]
                else:
                    parent = _MISSING
                    break
            last = tokens[-1]
            if isinstance(parent, Mapping) and isinstance(last, str):
                self.patch.append({"op": "add", "path": pointer, "value": _get(desired, tokens)})


def _get(document: Any, tokens: Path) -> Any:
    for token in tokens:
        document = document[token]
    return document


def _similarity(a: Any, b: Any) -> int:
    if not (isinstance(a, Mapping) and isinstance(b, Mapping)):
        return 0
    return sum(1 for k, v in a.items() if k in b and values_equal(v, b[k]))


def _tag_details(pointer: str, desired: Any, live: Any) -> tuple[Change, ...]:
    want = tag_map(desired)
    have = {k: v for k, v in tag_map(live).items() if not k.startswith(SYSTEM_TAG_PREFIX)}
    details: list[Change] = []
    for key in sorted(want.keys() | have.keys()):
        sub = pointer + "/" + key.replace("~", "~0").replace("/", "~1")
        if key not in have:
            details.append(Change(sub, "add", None, want[key]))
        elif key not in want:
            details.append(Change(sub, "remove", have[key], None))
        elif not values_equal(want[key], have[key]):
            details.append(Change(sub, "replace", have[key], want[key]))
    return tuple(details)


def tags_equal(desired: Any, live: Any) -> bool:
    """Compare tags (a list of ``{Key, Value}`` or a map) as key -> value maps. Tags AWS
    puts on by itself (``aws:`` prefix) are ignored on the live side: they cannot be set."""
    want = tag_map(desired)
    have = {k: v for k, v in tag_map(live).items() if not k.startswith(SYSTEM_TAG_PREFIX)}
    return want.keys() == have.keys() and all(values_equal(want[k], have[k]) for k in want)


def tag_map(tags: Any) -> dict[str, Any]:
    """Tags in either form -> ``{key: value}``."""
    if isinstance(tags, Mapping):
        return dict(tags)
    result: dict[str, Any] = {}
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, Mapping) and "Key" in tag:
                result[str(tag["Key"])] = tag.get("Value")
    return result


def diff_resource(
    schema: ResourceSchema,
    desired: Mapping[str, Any],
    live: Mapping[str, Any],
    *,
    hidden: Sequence[str] = (),
) -> ResourceDiff:
    """Compare ``desired`` (CloudFormation form, coerced) with ``live`` (GetResource).

    Returns the minimal RFC 6902 patch that turns live into a model satisfying desired, the
    property-level changes, the create-only reasons that force a replacement and the
    write-only paths that could not be compared. ``hidden`` are JSON pointers of secret
    properties: a reason never quotes their values (live or desired).
    """
    # As patterns: string tokens (an index matches its digits).
    differ = _Differ(schema, tuple(tuple(str(t) for t in pointer_tokens(p)) for p in hidden))
    differ.collect_write_only((), desired)
    differ.diff((), dict(desired), dict(live))
    if differ.patch:
        differ.write_only_ops(desired, live)
    return ResourceDiff(
        patch=differ.patch,
        changes=differ.changes,
        replace_reasons=differ.reasons,
        write_only_unverifiable=differ.write_only,
        create_only_unread=differ.unread,
    )


def in_sync(schema: ResourceSchema, desired: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """True when live satisfies desired (no comparable change)."""
    return _Differ(schema).covers((), dict(desired), dict(live))
