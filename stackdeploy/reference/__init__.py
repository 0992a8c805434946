"""Reference pages of resource types, generated from the registry schemas.

``stack-deploy describe TYPE --format markdown`` prints one page; ``describe --all --out DIR``
writes the page of every type of a region (``DIR/<service>/<resource>.md``) and an index.
The documentation site carries the pages of a curated set of common types
(:mod:`stackdeploy.reference.site`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stackdeploy.reference.markdown import render_type_page
from stackdeploy.reference.model import TypeReference, reference_of, type_reference
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.registry import DEFAULT_REGION, get_registry

__all__ = [
    "TypeReference",
    "page_path",
    "reference_of",
    "render_index",
    "render_type_page",
    "type_page",
    "type_reference",
    "write_pages",
]


def type_page(name: str, region: str = DEFAULT_REGION) -> str:
    """The Markdown reference page of ``name`` (``AWS::S3::Bucket`` or ``awscc.s3.buckets``)."""
    return render_type_page(type_reference(name, region))


def page_path(table: str) -> str:
    """``awscc.s3.buckets`` -> ``s3/buckets.md`` (relative to the output folder)."""
    _, service, resource = table.split(".")
    return f"{service}/{resource}.md"


def render_index(
    refs: Iterable[tuple[str, str]], *, title: str = "Resource types", intro: str = ""
) -> str:
    """An index page of ``(type name, awscc table)`` pairs, grouped by service."""
    by_service: dict[str, list[tuple[str, str]]] = {}
    for type_name, table in sorted(refs, key=lambda r: r[1]):
        by_service.setdefault(table.split(".")[1], []).append((type_name, table))
    lines = [f"# {title}", ""]
    if intro:
        lines += [intro, ""]
    for service in sorted(by_service):
        lines += [f"## {service}", "", "| Table | CloudFormation type |", "|---|---|"]
        for type_name, table in by_service[service]:
            lines.append(f"| [`{table}`]({page_path(table)}) | `{type_name}` |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _write_if_changed(path: Path, text: str) -> None:
    # Unchanged files keep their timestamps: a docs build or rsync sees no change.
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_pages(
    out_dir: str | os.PathLike[str],
    type_names: Iterable[str] | None = None,
    *,
    region: str = DEFAULT_REGION,
    index_title: str = "Resource types",
    index_intro: str = "",
    workers: int = 4,
) -> list[Path]:
    """Write the page of each type (every type of the region when None) and ``index.md``.

    Returns the paths written, index last. Output is deterministic: the same inputs give the
    same files.
    """
    registry = get_registry(region)
    names = sorted(set(type_names)) if type_names is not None else registry.type_names()
    out = Path(out_dir)
    schemas = [registry.get(name) for name in names]

    def one(schema: ResourceSchema) -> tuple[str, str, Path]:
        ref = reference_of(schema, region)
        path = out / page_path(ref.table)
        _write_if_changed(path, render_type_page(ref))
        return ref.type_name, ref.table, path

    # Rendering is pure Python (the GIL limits threads), but file writes overlap with it.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        written = list(pool.map(one, schemas))
    index = out / "index.md"
    refs = [(t, tb) for t, tb, _ in written]
    _write_if_changed(index, render_index(refs, title=index_title, intro=index_intro))
    return [p for _, _, p in written] + [index]
