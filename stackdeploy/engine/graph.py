"""The dependency graph of a stack: who needs whom, cycles, targets.

A resource depends on:

* every earlier resource that exports a name its templates use (``{{ vpc_id }}``): all of
  them, not only the last, so the value it sees never depends on which finished first;
* every resource whose name its templates use (``{{ vpc.vpc_id }}``, ``this.*`` rewritten,
  ``<res>.callback.*``, ``<res>.idempotency_token``);
* when it uses the unscoped ``callback`` outside its own callback anchors, the nearest
  earlier resource whose DML returns a row (``RETURNING``), whose callback it would see;
* everything listed in its ``depends_on``.

A cycle is refused before any call, naming it (``a -> b -> a``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stackdeploy.errors import ManifestError, UsageError
from stackdeploy.manifest.model import ResourceDef
from stackdeploy.manifest.stack import LoadedStack, referenced_names
from stackdeploy.manifest.validate import did_you_mean
from stackdeploy.templating import rewrite_this


@dataclass(frozen=True)
class Graph:
    """``deps[name]``: the resources ``name`` needs, in manifest order; ``order``: every
    resource in manifest order."""

    order: tuple[str, ...]
    deps: dict[str, tuple[str, ...]]

    def dependents(self) -> dict[str, tuple[str, ...]]:
        """``name`` -> the resources that need it (manifest order)."""
        out: dict[str, list[str]] = {name: [] for name in self.order}
        for name in self.order:
            for dep in self.deps[name]:
                out[dep].append(name)
        return {name: tuple(found) for name, found in out.items()}

    def closure(self, names: Iterable[str], *, reverse: bool = False) -> set[str]:
        """``names`` plus everything they need (``reverse``: everything that needs them)."""
        edges = self.dependents() if reverse else self.deps
        selected: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name not in selected:
                selected.add(name)
                todo.extend(edges.get(name, ()))
        return selected

    def select(
        self, targets: Sequence[str], *, reverse: bool = False, stack: str | None = None
    ) -> tuple[str, ...]:
        """The resources ``--target`` selects, in manifest order (all when none given)."""
        if not targets:
            return self.order
        unknown = [t for t in targets if t not in self.deps]
        if unknown:
            raise UsageError(
                f"--target {unknown[0]!r} is not a resource of "
                + (f"stack {stack!r}" if stack else "this stack"),
                hint=did_you_mean(unknown[0], self.order),
            )
        chosen = self.closure(targets, reverse=reverse)
        return tuple(name for name in self.order if name in chosen)


def _callback_outside(res: ResourceDef) -> bool:
    """True when ``res`` uses the unscoped ``callback`` where no DML of its own can have set
    it yet: in its props, ``if``, ``run`` or inline ``sql``."""
    texts: list[object] = [p.value for p in res.props]
    texts += [res.condition or "", res.run or "", res.sql or ""]
    for text in texts:
        if isinstance(text, str) and "this." in text:
            text = rewrite_this(text, res.name)
        if "callback" in referenced_names(text):
            return True
    return False


def _returns_rows(res: ResourceDef, stack: LoadedStack) -> bool:
    queries = stack.query_file(res)
    texts = [res.sql or ""]
    if queries is not None:
        texts += [
            a.body
            for a in queries
            if a.name in ("create", "update", "createorupdate", "command", "delete")
        ]
    return any("RETURNING" in t.upper() for t in texts)


def build_graph(stack: LoadedStack) -> Graph:
    """The graph of ``stack``; a cycle is a :class:`ManifestError` naming it."""
    resources = stack.resources
    names = [r.name for r in resources]
    index = {name: i for i, name in enumerate(names)}
    exporters: dict[str, list[str]] = {}
    for res in resources:
        for export in res.exports:
            exporters.setdefault(export.name, []).append(res.name)
    deps: dict[str, tuple[str, ...]] = {}
    for res in resources:
        found: list[str] = []
        refs = stack.references.get(res.name, frozenset())
        for ref in sorted(refs):
            for owner in exporters.get(ref, ()):
                if index[owner] < index[res.name] and owner not in found:
                    found.append(owner)
            if ref in index and ref != res.name and ref not in found:
                found.append(ref)
        if "callback" in refs and _callback_outside(res):
            for other in reversed(resources[: index[res.name]]):
                if _returns_rows(other, stack):
                    if other.name not in found:
                        found.append(other.name)
                    break
        for explicit in res.depends_on:
            if explicit not in found and explicit != res.name:
                found.append(explicit)
        deps[res.name] = tuple(sorted(found, key=lambda n: index.get(n, len(index))))
    graph = Graph(order=tuple(names), deps=deps)
    cycle = find_cycle(graph)
    if cycle:
        first = stack.manifest.resource(cycle[0])
        raise ManifestError(
            f"dependency cycle: {' -> '.join(cycle)}",
            file=stack.manifest.display_path,
            line=first.line,
            hint="a resource cannot need, directly or through others, a resource that needs "
            "it: remove one depends_on or template reference of the cycle",
        )
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """A cycle as ``[a, b, a]`` (a needs b needs a), or None. Deterministic (the first found
    walking in manifest order) and iterative, so a long chain cannot exhaust the stack."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph.order, white)
    for root in graph.order:
        if colour[root] != white:
            continue
        path: list[str] = [root]
        iters = [iter(graph.deps.get(root, ()))]
        colour[root] = grey
        while iters:
            dep = next(iters[-1], None)
            if dep is None:
                colour[path.pop()] = black
                iters.pop()
                continue
            state = colour.get(dep, black)
            if state == grey:
                return [*path[path.index(dep) :], dep]
            if state == white:
                colour[dep] = grey
                path.append(dep)
                iters.append(iter(graph.deps.get(dep, ())))
    return None
