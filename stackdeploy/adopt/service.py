"""Adopt live resources into a stack folder: the one entry point of ``stack-deploy import``.

:func:`adopt` runs the steps in an order that changes nothing until everything is known to
work: find the live resources, name them, turn their live models into props, link them to
each other, check each can be found again by the engine, generate the manifest text and the
query files (failing on a name or file already taken), and only then, after ``confirm``, add
the stack tags to the live resources and write the files.

Why tags: a declarative resource is found again by its identifier when its props hold it
(a bucket's name), otherwise by the stack tags the engine adds on create
(``stackql:stack-name``, ``stackql:stack-env``, ``stackql:resource-name``); and the engine
adds those tags to every taggable resource's desired state, so a live resource without them
would plan as an update. Tagging the live resource at adoption makes the stack plan in sync
and lets it be found whatever AWS named it. Types that cannot be tagged are found by their
identifier or their create-only props; where neither is possible adoption refuses.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stackdeploy.adopt import discover, iql, refs, render
from stackdeploy.adopt.model import (
    STACK_TAG_KEYS,
    TAG_ENV,
    TAG_RESOURCE,
    TAG_STACK,
    AdoptCloud,
    Adopted,
    LiveResource,
    Style,
    stack_tags,
)
from stackdeploy.adopt.props import add_placeholders, clean_live
from stackdeploy.errors import AdoptError, StackDeployError, UsageError
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.registry import get_schema

log = logging.getLogger("stackdeploy.adopt")

MANIFEST_FILE = "stackql_manifest.yml"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ImportRequest:
    """What to adopt and how.

    Exactly one of ``resources`` (``(type, identifier)`` pairs; the type as a CloudFormation
    or awscc name) and ``tag_filters`` (``{key: [values]}``, an empty list matching any value;
    ``types`` restricts them) is given. ``name`` names the resource when there is one.
    ``tag``: add the stack tags to the live resources (see the module docstring).
    """

    stack_dir: Path
    env: str
    region: str
    style: Style = "declarative"
    resources: tuple[tuple[str, str], ...] = ()
    tag_filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    types: tuple[str, ...] = ()
    name: str | None = None
    tag: bool = True
    dry_run: bool = False


@dataclass(frozen=True)
class ExistingStack:
    """The parts of an existing stack adoption needs."""

    manifest_path: Path
    text: str
    name: str
    resource_names: frozenset[str]
    has_region_global: bool
    region: str | None = None
    # (type name, identifier) -> resource name, for declarative resources whose props give
    # their identifier (so the same resource is not declared twice).
    declared: Mapping[tuple[str, str], str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportedResource:
    """One adopted resource, for the report."""

    name: str
    type_name: str
    identifier: str
    found_by: str
    tags_added: tuple[str, ...] = ()
    placeholders: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    query_file: str | None = None


@dataclass(frozen=True)
class ImportResult:
    """What :func:`adopt` did (or, with ``dry_run``, would do)."""

    stack_name: str
    manifest_path: Path
    new_stack: bool
    style: Style
    resources: tuple[ImportedResource, ...]
    files: Mapping[Path, str]
    warnings: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    dry_run: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack_name,
            "manifest": str(self.manifest_path),
            "new_stack": self.new_stack,
            "style": self.style,
            "dry_run": self.dry_run,
            "resources": [
                {
                    "name": r.name,
                    "type": r.type_name,
                    "identifier": r.identifier,
                    "found_by": r.found_by,
                    "tags_added": list(r.tags_added),
                    "placeholders": list(r.placeholders),
                    "depends_on": list(r.depends_on),
                    "query_file": r.query_file,
                }
                for r in self.resources
            ],
            "files": sorted(str(p) for p in self.files),
            "warnings": list(self.warnings),
            "skipped": list(self.skipped),
        }


Confirm = Callable[[str], bool]


# --------------------------------------------------------------------------- the stack
def read_stack(
    stack_dir: Path,
    env: str,
    *,
    env_file: str | None = None,
    env_overrides: Mapping[str, str] | None = None,
) -> ExistingStack | None:
    """The existing stack in ``stack_dir``, or None when it has no manifest yet."""
    manifest = stack_dir / MANIFEST_FILE
    if stack_dir.is_file() or not manifest.is_file():
        if stack_dir.is_file():
            raise UsageError(f"{stack_dir} is a file", hint="STACK_DIR is a folder")
        return None
    from stackdeploy.engine.state import RunState
    from stackdeploy.manifest.render import render_props
    from stackdeploy.manifest.stack import load_stack
    from stackdeploy.schema import desired

    stack = load_stack(stack_dir, env, env_file=env_file, env_overrides=env_overrides)
    state = RunState(stack)
    declared: dict[tuple[str, str], str] = {}
    for res in stack.resources:
        if not res.declarative or res.resource_type is None:
            continue
        try:
            schema = get_schema(res.resource_type)
            props = desired.prepare(schema, render_props(stack, res, state.context(res)))
        except StackDeployError:  # props that need other resources' exports: not comparable
            continue
        identifier = schema.identifier_of(props)
        if identifier is not None:
            declared[(schema.type_name, identifier)] = res.name
    return ExistingStack(
        manifest_path=manifest,
        text=manifest.read_text(encoding="utf-8"),
        name=stack.name,
        resource_names=frozenset(r.name for r in stack.resources),
        has_region_global=any(g.name == "region" for g in stack.manifest.globals),
        region=stack.region,
        declared=declared,
    )


def new_stack_name(stack_dir: Path) -> str:
    name = stack_dir.resolve().name
    if not name.replace("-", "").replace("_", "").isalnum():
        raise UsageError(
            f"stack name {name!r} (the folder's name) may hold only letters, digits, '-' and '_'"
        )
    return name


# --------------------------------------------------------------------------- naming
def type_word(schema: ResourceSchema) -> str:
    """``AWS::EC2::SecurityGroup`` -> ``security_group``."""
    last = schema.type_name.split("::")[-1]
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", last)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text).lower()


def _slug(text: str) -> str | None:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:48].rstrip("_")
    if not slug:
        return None
    return slug if slug[0].isalpha() else None


def default_name(live: LiveResource) -> str:
    """The resource name a live resource gets: its ``Name`` tag, else its type."""
    tags = live.tags()
    from_tag = _slug(tags.get("Name", ""))
    return from_tag or type_word(live.schema)


# --------------------------------------------------------------------------- the work
@dataclass
class _Work:
    """Mutable state of one adoption run (never leaves this module)."""

    request: ImportRequest
    stack_name: str
    existing: ExistingStack | None
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def single(self) -> bool:
        return bool(self.request.resources)


def adopt(
    request: ImportRequest,
    cloud: AdoptCloud,
    *,
    existing: ExistingStack | None,
    confirm: Confirm,
) -> ImportResult:
    """Adopt the resources ``request`` names into its stack folder (see module docstring)."""
    _check_request(request)
    stack_name = existing.name if existing is not None else new_stack_name(request.stack_dir)
    work = _Work(request, stack_name, existing)
    lives = _discover(work, cloud)
    named = _name_all(work, lives)
    manifest_path = (
        existing.manifest_path if existing is not None else request.stack_dir / MANIFEST_FILE
    )
    if not named:  # every resource found is in the stack already (a re-run): nothing to do
        return ImportResult(
            stack_name=stack_name,
            manifest_path=manifest_path,
            new_stack=existing is None,
            style=request.style,
            resources=(),
            files={},
            warnings=tuple(work.warnings),
            skipped=tuple(work.skipped),
            dry_run=request.dry_run,
        )
    adopted = _build(work, named)
    if not adopted:
        raise AdoptError(
            "nothing can be adopted: " + "; ".join(work.skipped),
            hint="see docs/import.md, 'Tags: how the stack finds its resources again'",
        )
    finders = {a.name: _finder(work, a, arn=a.live.arn) for a in adopted}
    # Everything is generated once before anything changes: a clash fails here.
    _generate(work, adopted, finders)
    changes = [a for a in adopted if a.tags_to_set]
    if changes and not request.dry_run:
        if not confirm(_describe_tagging(stack_name, request.env, changes)):
            raise AdoptError(
                "not confirmed: nothing was tagged or written",
                hint="answer y, or pass --yes (or --no-tag to adopt without tagging)",
            )
        adopted = _tag_all(work, cloud, adopted)
    if request.style == "query-file":
        finders = {a.name: _finder(work, a, arn=_arn(work, cloud, a)) for a in adopted}
    files = _generate(work, adopted, finders)
    if not request.dry_run:
        _write(files)
    return ImportResult(
        stack_name=stack_name,
        manifest_path=manifest_path,
        new_stack=existing is None,
        style=request.style,
        resources=tuple(_report(work, a, finders[a.name]) for a in adopted),
        files=files,
        warnings=tuple(work.warnings),
        skipped=tuple(work.skipped),
        dry_run=request.dry_run,
    )


def _check_request(request: ImportRequest) -> None:
    if bool(request.resources) == bool(request.tag_filters):
        raise UsageError(
            "give either TYPE IDENTIFIER pairs or --tag filters",
            hint="stack-deploy import STACK_DIR STACK_ENV AWS::S3::Bucket my-bucket, "
            "or ... --tag app=shop",
        )
    if request.types and not request.tag_filters:
        raise UsageError("--type restricts a --tag search; give the type before the identifier")
    if request.name is not None:
        if len(request.resources) != 1:
            raise UsageError("--name names one resource: give exactly one TYPE IDENTIFIER")
        if not _NAME.match(request.name):
            raise UsageError(
                f"resource name {request.name!r} must be letters, digits and '_' "
                "(not starting with a digit)",
                hint="templates refer to it as {{ name.column }}",
            )


def _discover(work: _Work, cloud: AdoptCloud) -> list[LiveResource]:
    request = work.request
    if request.resources:
        out = []
        for type_name, identifier in request.resources:
            schema = get_schema(type_name, request.region)
            out.append(discover.read_resource(cloud, schema, identifier, request.region))
        return out
    schemas = [get_schema(t, request.region) for t in request.types]
    lives, skipped = discover.find_tagged(cloud, request.region, request.tag_filters, schemas)
    work.skipped += skipped
    if not lives:
        shown = ", ".join(f"{k}={'|'.join(v) or '*'}" for k, v in request.tag_filters.items())
        raise AdoptError(
            f"no resource in {request.region} carries the tags {shown}"
            + (f" among {', '.join(s.type_name for s in schemas)}" if schemas else ""),
            hint="check the tags and --region",
        )
    return lives


def _refuse_or_skip(work: _Work, message: str, hint: str) -> None:
    if work.single:
        raise AdoptError(message, hint=hint)
    work.skipped.append(message)


def _name_all(work: _Work, lives: Sequence[LiveResource]) -> list[tuple[str, LiveResource]]:
    existing = work.existing
    taken = set(existing.resource_names) if existing is not None else set()
    request = work.request
    out: list[tuple[str, LiveResource]] = []
    for live in lives:
        where = f"{live.type_name} {live.identifier!r}"
        declared = existing.declared.get((live.type_name, live.identifier)) if existing else None
        if declared is not None:
            _refuse_or_skip(
                work,
                f"{where} is already in the stack as {declared!r}",
                "nothing to import; remove that resource from the manifest to adopt it anew",
            )
            continue
        tags = live.tags()
        owner, owner_env = tags.get(TAG_STACK), tags.get(TAG_ENV)
        if owner is not None and (owner != work.stack_name or owner_env not in (None, request.env)):
            _refuse_or_skip(
                work,
                f"{where} belongs to stack {owner!r} (env {owner_env!r}) by its "
                f"{TAG_STACK} tags; adopting it into {work.stack_name!r} ({request.env}) would "
                "let two stacks manage it",
                "import it into that stack, or remove its stackql:* tags first",
            )
            continue
        tagged_name = tags.get(TAG_RESOURCE) if owner == work.stack_name else None
        if tagged_name is not None and tagged_name in taken:
            _refuse_or_skip(
                work,
                f"{where} is already in the stack as {tagged_name!r} (its stack tags say so)",
                "nothing to import",
            )
            continue
        if request.name is not None:
            name = request.name
        elif tagged_name is not None and _NAME.match(tagged_name):
            name = tagged_name
        else:
            name = default_name(live)
        if name in taken:
            if work.single:
                line = _line_of(existing, name) if existing else None
                raise AdoptError(
                    f"stack {work.stack_name!r} already has a resource named {name!r}"
                    + (f" ({existing.manifest_path}:{line})" if existing and line else ""),
                    hint="choose another name with --name",
                )
            base, n = name, 2
            while f"{base}_{n}" in taken:
                n += 1
            name = f"{base}_{n}"
        taken.add(name)
        out.append((name, live))
    return out


def _line_of(existing: ExistingStack, name: str) -> int | None:
    pattern = re.compile(r"^\s*-\s*name:\s*['\"]?" + re.escape(name) + r"['\"]?\s*$")
    for index, line in enumerate(existing.text.splitlines(), start=1):
        if pattern.match(line):
            return index
    return None


def _build(work: _Work, named: Sequence[tuple[str, LiveResource]]) -> list[Adopted]:
    request = work.request
    kept: list[tuple[str, LiveResource]] = []
    cleaned = []
    placeholders = []
    for name, live in named:
        # Live text that looks like a template is kept literal before templates go in.
        live_props = render.literal_text(clean_live(live.schema, live.properties))
        props, holes = add_placeholders(live.schema, live_props, name)
        try:  # refuse (or, by tag, skip) what the stack could not find again
            _finder(work, Adopted(name=name, live=live, props=props), arn=live.arn)
        except AdoptError as exc:
            if work.single:
                raise
            work.skipped.append(str(exc))
            continue
        kept.append((name, live))
        cleaned.append(props)
        placeholders.append(holes)
        if holes:
            listed = ", ".join(f"{h.pointer[1:]} ({h.template})" for h in holes)
            work.warnings.append(
                f"{name}: {listed} cannot be read back from AWS: replace the placeholder in "
                "the manifest with the value before planning (a secret: a global that reads "
                "an env var, see docs/import.md)"
            )
    names = [n for n, _ in kept]
    linked, deps = refs.link(names, [live for _, live in kept], cleaned)
    adopted = []
    for index in refs.dependency_order(names, deps):
        name, live = kept[index]
        tags_to_set: dict[str, str] = {}
        if live.schema.taggable and request.tag:
            current = live.tags()
            wanted = stack_tags(work.stack_name, request.env, name)
            tags_to_set = {k: v for k, v in wanted.items() if current.get(k) != v}
        adopted.append(
            Adopted(
                name=name,
                live=live,
                props=linked[index],
                placeholders=placeholders[index],
                exports=refs.export_columns(live),
                depends_on=deps[index],
                tags_to_set=tags_to_set,
            )
        )
    for item in adopted:
        _validate(work, item)
    return adopted


def _validate(work: _Work, adopted: Adopted) -> None:
    """Warn when the generated props would not pass the engine's validation."""
    from stackdeploy.schema.desired import validate

    holes = [p.pointer for p in adopted.placeholders]
    problems = [
        str(v)
        for v in validate(adopted.schema, adopted.props, mode="create")
        if not any(v.path == h or v.path.startswith(h + "/") for h in holes) and "{{" not in str(v)
    ]
    if problems:
        work.warnings.append(
            f"{adopted.name}: the props read from {adopted.live.identifier!r} do not validate "
            f"against {adopted.schema.type_name}'s schema: {'; '.join(problems[:5])} "
            "(edit them before planning)"
        )


def _finder(work: _Work, adopted: Adopted, *, arn: str | None) -> iql.Finder:
    """How the engine (and the exists query) will find the resource again; refuses a
    resource that could not be found."""
    schema = adopted.schema
    request = work.request
    if _identifier_in_props(schema, adopted.props):
        return iql.Finder("identifier")
    tagged = schema.taggable and (request.tag or _has_stack_tags(work, adopted))
    if tagged:
        return _tag_finder(adopted, arn)
    keys = tuple(p for p in adopted.props if schema.is_create_only((p,)))
    if not schema.taggable and keys:
        return iql.Finder("create_only", keys=keys)
    why = (
        "it would be found again only by the stack tags, and --no-tag is set"
        if schema.taggable
        else "AWS chooses its identifier, the type cannot be tagged and it has no "
        "create-only property to be found by"
    )
    raise AdoptError(
        f"{adopted.name} ({schema.type_name} {adopted.live.identifier!r}) cannot be adopted: {why}",
        hint="drop --no-tag" if schema.taggable else "manage it with a hand-written query file",
    )


def _has_stack_tags(work: _Work, adopted: Adopted) -> bool:
    tags = adopted.live.tags()
    wanted = stack_tags(work.stack_name, work.request.env, adopted.name)
    return all(tags.get(k) == v for k, v in wanted.items())


def _identifier_in_props(schema: ResourceSchema, props: Mapping[str, Any]) -> bool:
    return bool(schema.primary_identifier) and all(
        p in props and not schema.is_read_only((p,)) for p in schema.primary_identifier
    )


def _tag_finder(adopted: Adopted, arn: str | None) -> iql.Finder:
    schema = adopted.schema
    identifier = adopted.live.identifier
    parts = discover.parse_arn(arn) if arn else None
    if parts is None or len(schema.primary_identifier) != 1 or schema.list_required:
        return iql.Finder("table_tags")
    if arn == identifier:
        return iql.Finder("tagging", arn_to_id="arn", type_filter=parts.type_filter)
    if parts.last == identifier and not parts.resource.endswith(":*"):
        relation = "slash" if parts.resource.endswith("/" + identifier) else "colon"
        if relation == "colon" and not parts.resource.endswith(":" + identifier):
            relation = ""
        if relation:
            return iql.Finder("tagging", arn_to_id=relation, type_filter=parts.type_filter)
    for prop in refs.arn_properties(schema, adopted.live.properties):
        if adopted.live.properties.get(prop) == arn:
            from stackdeploy.schema.naming import to_column

            return iql.Finder(
                "tagging", arn_to_id=f"column:{to_column(prop)}", type_filter=parts.type_filter
            )
    return iql.Finder("table_tags")


def _arn(work: _Work, cloud: AdoptCloud, adopted: Adopted) -> str | None:
    """The tagging API's ARN of an adopted resource (query files find it by that)."""
    if adopted.live.arn:
        return adopted.live.arn
    if not adopted.schema.taggable:
        return None
    wanted = stack_tags(work.stack_name, work.request.env, adopted.name)
    tags = adopted.live.tags()
    if not all(tags.get(k) == v for k, v in wanted.items()):
        # A dry run: the stack tags are not there yet; the resource's own tags may do.
        wanted = {k: v for k, v in tags.items() if k not in STACK_TAG_KEYS}
    return discover.arn_via_tags(cloud, adopted.live, work.request.region, wanted)


def _describe_tagging(stack: str, env: str, changes: Sequence[Adopted]) -> str:
    lines = [
        f"stack-deploy finds these resources again by their stack tags; it will tag "
        f"{len(changes)} live resource(s) for stack {stack!r} ({env}):"
    ]
    for a in changes:
        tags = ", ".join(f"{k}={v}" for k, v in a.tags_to_set.items())
        lines.append(f"  {a.live.type_name} {a.live.identifier}: {tags}")
    lines.append("Tag them and write the stack?")
    return "\n".join(lines)


def tag_patch(
    schema: ResourceSchema, live: Mapping[str, Any], tags: Mapping[str, str]
) -> list[dict[str, Any]]:
    """RFC 6902 operations that set ``tags`` on a resource and leave its other tags alone
    (``aws:`` system tags are never sent back)."""
    prop = schema.tag_property
    assert prop is not None
    current = live.get(prop)
    if schema.tags_are_map:
        if not isinstance(current, Mapping):
            return [{"op": "add", "path": f"/{prop}", "value": dict(tags)}]
        return [
            {"op": "add", "path": f"/{prop}/{_pointer(k)}", "value": v} for k, v in tags.items()
        ]
    if not isinstance(current, list) or not current:
        return [
            {
                "op": "add",
                "path": f"/{prop}",
                "value": [{"Key": k, "Value": v} for k, v in tags.items()],
            }
        ]
    ops: list[dict[str, Any]] = []
    remaining = dict(tags)
    for index, item in enumerate(current):
        if isinstance(item, Mapping) and item.get("Key") in remaining:
            key = str(item["Key"])
            ops.append(
                {"op": "replace", "path": f"/{prop}/{index}/Value", "value": remaining.pop(key)}
            )
    ops += [
        {"op": "add", "path": f"/{prop}/-", "value": {"Key": k, "Value": v}}
        for k, v in remaining.items()
    ]
    return ops


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


# Tag updates are independent requests that each wait for their end: run a few at once
# (the client's shared rate limiter still paces the calls).
TAGGING_PARALLELISM = 8


def _tag_all(work: _Work, cloud: AdoptCloud, adopted: Sequence[Adopted]) -> list[Adopted]:
    todo = [a for a in adopted if a.tags_to_set]
    workers = max(1, min(TAGGING_PARALLELISM, len(todo)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="adopt-tag") as pool:
        done = dict(
            zip((a.name for a in todo), pool.map(lambda a: _tag(work, cloud, a), todo), strict=True)
        )
    return [done.get(a.name, a) for a in adopted]


def _tag(work: _Work, cloud: AdoptCloud, adopted: Adopted) -> Adopted:
    live = adopted.live
    schema = live.schema
    region = work.request.region
    ops = tag_patch(schema, live.properties, adopted.tags_to_set)
    log.info("tagging %s %s: %s", live.type_name, live.identifier, ops)
    cloud.update_resource(
        schema.type_name,
        live.identifier,
        ops,
        region=region,
        timeout_minutes=schema.timeout_minutes("update"),
    )
    after = cloud.get_resource(schema.type_name, live.identifier, region=region)
    if after is None:
        raise AdoptError(f"{live.type_name} {live.identifier!r} disappeared while being tagged")
    fresh = replace(live, properties=after)
    missing = {k: v for k, v in adopted.tags_to_set.items() if fresh.tags().get(k) != v}
    if missing:
        raise AdoptError(
            f"{live.type_name} {live.identifier!r}: the update did not set the tags "
            f"{', '.join(missing)}; nothing was written",
        )
    return replace(adopted, live=fresh)


# --------------------------------------------------------------------------- generation
def _comment(adopted: Adopted, request: ImportRequest) -> str:
    line = f"{adopted.name}: adopted from {adopted.live.type_name} {adopted.live.identifier}"
    if request.style == "query-file":
        line += f" (queries in resources/{adopted.name}.iql)"
    return line


def _generate(
    work: _Work, adopted: Sequence[Adopted], finders: Mapping[str, iql.Finder]
) -> dict[Path, str]:
    request = work.request
    existing = work.existing
    query_style = request.style == "query-file"
    files: dict[Path, str] = {}
    entries: list[str] = []
    for item in adopted:
        options = render.EntryOptions(
            declarative=not query_style,
            tag_templates=iql.TAG_TEMPLATES if query_style and _tags_in_props(work, item) else None,
            comment=_comment(item, request),
        )
        entries.append(render.resource_entry(item, options))
        if query_style:
            path = request.stack_dir / "resources" / f"{item.name}.iql"
            if path.exists():
                raise AdoptError(
                    f"{path} already exists",
                    hint="choose another name with --name, or remove the file",
                )
            props = render.prop_values(item, options)
            files[path] = iql.query_file(item, finders[item.name], props)
    if existing is None:
        origin = _origin(request)
        text = render.new_manifest(
            name=work.stack_name,
            region=request.region,
            entries=entries,
            origin=origin,
            env=request.env,
        )
        path = request.stack_dir / MANIFEST_FILE
    else:
        text = existing.text
        path = existing.manifest_path
        if query_style and not existing.has_region_global:
            text = render.splice_global(text, "region", request.region, file=str(path))
            work.warnings.append(
                f"added a 'region' global ({request.region}) to {path}: the query files use it"
            )
        text = render.splice_resources(text, entries, file=str(path))
    files[path] = text
    return files


def _tags_in_props(work: _Work, adopted: Adopted) -> bool:
    """Query files write the stack tags into the tags prop when the resource has them."""
    return adopted.schema.taggable and (work.request.tag or _has_stack_tags(work, adopted))


def _origin(request: ImportRequest) -> str:
    if request.tag_filters:
        shown = ", ".join(f"{k}={'|'.join(v) or '*'}" for k, v in request.tag_filters.items())
        return f"the resources tagged {shown} in {request.region}"
    return ", ".join(f"{t} {i}" for t, i in request.resources) + f" in {request.region}"


def _write(files: Mapping[Path, str]) -> None:
    """Write every file, each atomically (temp file + rename)."""
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def _report(work: _Work, adopted: Adopted, finder: iql.Finder) -> ImportedResource:
    how = {
        "identifier": "identifier",
        "tagging": "stack tags",
        "table_tags": "stack tags",
        "create_only": "create-only props",
    }[finder.kind]
    path = None
    if work.request.style == "query-file":
        path = str(work.request.stack_dir / "resources" / f"{adopted.name}.iql")
    return ImportedResource(
        name=adopted.name,
        type_name=adopted.live.type_name,
        identifier=adopted.live.identifier,
        found_by=how,
        tags_added=tuple(f"{k}={v}" for k, v in adopted.tags_to_set.items()),
        placeholders=tuple(p.variable for p in adopted.placeholders),
        depends_on=adopted.depends_on,
        query_file=path,
    )


__all__ = [
    "MANIFEST_FILE",
    "ExistingStack",
    "ImportRequest",
    "ImportResult",
    "ImportedResource",
    "adopt",
    "read_stack",
    "tag_patch",
]
