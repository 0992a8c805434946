"""References between adopted resources, and the order they are written in (pure).

When resources are adopted together, a value of one that equals another's identifier or ARN
is written as a template reference to the other's export: a subnet's ``VpcId`` of
``vpc-0abc`` becomes ``{{ vpc.vpc_id }}`` when ``vpc-0abc`` is the adopted ``vpc``, and a
policy's ``Resource`` of ``arn:aws:s3:::shop-data/*`` becomes ``{{ bucket.arn }}/*``. The
rendered value is the same, so the stack still plans in sync, and the engine now knows the
order (it infers dependencies from those references).

What counts: a whole string equal to a single-part identifier or an ARN (at any depth, but
never in the tag property: a tag that happens to hold a name is data, not a dependency), or
a string starting with an ARN followed by ``/`` or ``:``. A reference that would close a
cycle keeps its literal value. :func:`dependency_order` sorts resources so every resource
comes after the ones it refers to (ties keep the input order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackdeploy.adopt.model import LiveResource
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.naming import to_column

# Shorter identifiers are too likely to equal unrelated values ("1", "yes", "default").
MIN_REFERENCE_LENGTH = 5


@dataclass(frozen=True)
class Target:
    """A value other resources may refer to: ``{{ resource.column }}``."""

    resource: str
    column: str
    value: str
    is_arn: bool

    @property
    def template(self) -> str:
        return "{{ " + f"{self.resource}.{self.column}" + " }}"


def arn_properties(schema: ResourceSchema, live: Mapping[str, Any]) -> list[str]:
    """Read-only properties of ``live`` holding the resource's own ARN (``Arn``,
    ``TopicArn``...)."""
    names = []
    for name, value in live.items():
        if (
            isinstance(value, str)
            and value.startswith("arn:")
            and name.lower().endswith("arn")
            and schema.is_read_only((name,))
        ):
            names.append(name)
    return names


def export_columns(live: LiveResource) -> tuple[str, ...]:
    """The columns an adopted resource exports: its identifier's, then its ARN's."""
    schema = live.schema
    columns = [to_column(p.split("/")[-1]) for p in schema.primary_identifier]
    for name in arn_properties(schema, live.properties):
        column = to_column(name)
        if column not in columns:
            columns.append(column)
    return tuple(columns)


def targets_of(name: str, live: LiveResource) -> list[Target]:
    """What other resources may refer to in ``live``: its identifier (single part) and ARNs."""
    schema = live.schema
    out: list[Target] = []
    if len(schema.primary_identifier) == 1:
        column = to_column(schema.primary_identifier[0].split("/")[-1])
        out.append(Target(name, column, live.identifier, live.identifier.startswith("arn:")))
    for prop in arn_properties(schema, live.properties):
        value = str(live.properties[prop])
        if all(t.value != value for t in out):
            out.append(Target(name, to_column(prop), value, True))
    return [t for t in out if len(t.value) >= MIN_REFERENCE_LENGTH]


def link(
    names: Sequence[str],
    lives: Sequence[LiveResource],
    props: Sequence[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[tuple[str, ...]]]:
    """Replace values that name another adopted resource by template references.

    Returns the new props and, per resource, the names it now depends on. Resources are
    visited in order; a reference that would make a cycle is not made.
    """
    targets: dict[str, list[Target]] = {}
    for name, live in zip(names, lives, strict=True):
        for target in targets_of(name, live):
            targets.setdefault(target.value, []).append(target)
    arns = sorted(
        {t.value for ts in targets.values() for t in ts if t.is_arn}, key=len, reverse=True
    )
    edges: dict[str, set[str]] = {n: set() for n in names}
    out_props: list[dict[str, Any]] = []
    for name, live, own in zip(names, lives, props, strict=True):
        linker = _Linker(name, targets, arns, edges)
        tag_property = live.schema.tag_property
        out_props.append(
            {k: v if k == tag_property else linker.substitute(v) for k, v in own.items()}
        )
    return out_props, [tuple(sorted(edges[n], key=names.index)) for n in names]


@dataclass
class _Linker:
    """Substitutes references into one resource's props, recording its edges."""

    owner: str
    targets: Mapping[str, list[Target]]
    arns: Sequence[str]
    edges: dict[str, set[str]]

    def substitute(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: self.substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v) for v in value]
        if not isinstance(value, str):
            return value
        for target in self.targets.get(value, []):
            if _accept(self.edges, self.owner, target.resource):
                return target.template
        for arn in self.arns:
            if len(value) > len(arn) and value.startswith(arn) and value[len(arn)] in "/:":
                for target in self.targets[arn]:
                    if _accept(self.edges, self.owner, target.resource):
                        return target.template + value[len(arn) :]
        return value


def _accept(edges: dict[str, set[str]], owner: str, target: str) -> bool:
    """Record ``owner -> target`` unless it is a self reference or closes a cycle."""
    if owner == target:
        return False
    if target in edges[owner]:
        return True
    if _reaches(edges, target, owner):
        return False
    edges[owner].add(target)
    return True


def _reaches(edges: Mapping[str, set[str]], start: str, goal: str) -> bool:
    todo, seen = [start], set()
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    return False


def dependency_order(names: Sequence[str], depends_on: Sequence[Sequence[str]]) -> list[int]:
    """Indices of ``names`` so that each comes after what it depends on (stable)."""
    deps = {n: set(d) for n, d in zip(names, depends_on, strict=True)}
    placed: list[int] = []
    done: set[str] = set()
    while len(placed) < len(names):
        for index, name in enumerate(names):
            if name not in done and deps[name] <= done:
                placed.append(index)
                done.add(name)
                break
        else:  # a cycle (link() never makes one): keep the remaining input order
            placed.extend(i for i, n in enumerate(names) if n not in done)
            break
    return placed
