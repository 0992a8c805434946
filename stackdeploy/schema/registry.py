"""Access to the CloudFormation registry schemas bundled with cfn-lint.

This is the only module that knows cfn-lint's data layout, so an upgrade that moves files
breaks in one place (and in ``tests/schema/test_registry.py``). The layout read here:

- ``cfnlint/data/schemas/providers/<region>.json`` (``us-east-1.json``; ``us_east_1.py`` in
  earlier 1.x releases) maps each type name to a hash;
- ``cfnlint/data/schemas/resources/<hash>.json`` is that type's schema.

cfn-lint itself is never imported (that costs ~0.4 s); its package directory is found with
``importlib.util.find_spec``. One type costs one file read, on first use.

Recent cfn-lint releases keep each schema's ``handlers`` section (permissions, time-outs, list
handler schema); earlier ones stripped it. ``handlers.json`` beside this module supplies it
for the types where it matters when the bundled schema lacks it; elsewhere
:mod:`stackdeploy.schema.model` falls back to documented defaults.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import logging
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from stackdeploy.errors import TypeNotFoundError
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.naming import awscc_service_name, awscc_table, legacy_awscc_resource_name

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
_PROVIDER_ENTRY = re.compile(r'"([A-Za-z0-9]+::[A-Za-z0-9:]+|Module)"\s*:\s*"([0-9a-f]+)"')


@lru_cache(maxsize=1)
def schemas_dir() -> Path:
    """The folder of cfn-lint's bundled schemas."""
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        raise TypeNotFoundError(
            "cfn-lint is not installed, so no resource schemas are available",
            hint="pip install 'cfn-lint>=1.20,<2'",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "schemas"


def _region_file_stem(region: str) -> str:
    return region.replace("-", "_")


@lru_cache(maxsize=64)
def provider_index(region: str = DEFAULT_REGION) -> dict[str, str]:
    """Type name -> schema file hash for one region (only AWS/Alexa types, no modules)."""
    providers = schemas_dir() / "providers"
    stem = _region_file_stem(region)
    # cfn-lint >= 1.5x: providers/us-east-1.json; earlier 1.x: providers/us_east_1.py.
    for candidate in (
        providers / f"{region}.json",
        providers / f"{stem}.json",
        providers / f"{stem}.py",
    ):
        if candidate.exists():
            text = candidate.read_text(encoding="utf-8")
            if candidate.suffix == ".json":
                data = json.loads(text)
                entries = data.get("types", data) if isinstance(data, dict) else {}
                return {k: v for k, v in entries.items() if "::" in k}
            return {k: v for k, v in _PROVIDER_ENTRY.findall(text) if "::" in k}
    known = sorted(
        p.stem.replace("_", "-")
        for p in [*providers.glob("*.py"), *providers.glob("*.json")]
        if not p.stem.startswith("__")
    )
    close = difflib.get_close_matches(region, known, n=3)
    raise TypeNotFoundError(
        f"unknown region {region!r}",
        hint=f"did you mean {', '.join(close)}?" if close else "use a region such as us-east-1",
    )


@lru_cache(maxsize=16)
def _handlers_supplement() -> dict[str, Any]:
    path = Path(__file__).with_name("handlers.json")
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data.get("types", {})


class Registry:
    """Resource schemas of one region, loaded lazily and cached; safe to share across threads."""

    def __init__(self, region: str = DEFAULT_REGION) -> None:
        self.region = region
        self._index = provider_index(region)
        self._cache: dict[str, ResourceSchema] = {}
        self._lock = threading.Lock()
        self._awscc: dict[str, str] | None = None
        self._legacy: dict[str, str] | None = None
        self._lower: dict[str, str] | None = None

    def type_names(self) -> list[str]:
        """Every type name in this region, sorted."""
        return sorted(self._index)

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._index

    def awscc_index(self) -> dict[str, str]:
        """awscc table name (``awscc.s3.buckets``) -> type name."""
        if self._awscc is None:
            self._awscc = {awscc_table(t): t for t in self._index}
        return self._awscc

    def legacy_index(self) -> dict[str, str]:
        """Split spellings an earlier stack-deploy used (``awscc.appsync.graph_ql_apis``) ->
        type name, for the types whose provider name differs (``graphql_apis``)."""
        if self._legacy is None:
            legacy: dict[str, str] = {}
            for type_name in self._index:
                old = legacy_awscc_resource_name(type_name)
                if old is not None:
                    legacy[f"awscc.{awscc_service_name(type_name)}.{old}"] = type_name
            self._legacy = legacy
        return self._legacy

    def resolve_type_name(self, name: str) -> str:
        """Accept ``AWS::S3::Bucket``, ``awscc.s3.buckets``, ``awscc.s3.buckets_list_only``,
        ``s3.buckets`` (any case for the CloudFormation form); return the type name."""
        text = name.strip()
        if text in self._index:
            return text
        if "::" in text:
            if self._lower is None:
                self._lower = {t.lower(): t for t in self._index}
            found = self._lower.get(text.lower())
            if found:
                return found
        else:
            table = text.lower()
            if table.endswith("_list_only"):
                table = table[: -len("_list_only")]
            if not table.startswith("awscc."):
                table = "awscc." + table
            found = self.awscc_index().get(table)
            if found:
                return found
            found = self.legacy_index().get(table)
            if found:
                _legacy_notice(table, awscc_table(found))
                return found
        raise self._not_found(text)

    def _not_found(self, name: str) -> TypeNotFoundError:
        pool = list(self._index) if "::" in name else list(self.awscc_index())
        close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
        if not close and "::" not in name:
            close = difflib.get_close_matches(name.lower(), pool, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else None
        return TypeNotFoundError(
            f"unknown resource type {name!r} in region {self.region}", hint=hint
        )

    def get(self, name: str) -> ResourceSchema:
        """The schema of a type, by CloudFormation or awscc name."""
        type_name = self.resolve_type_name(name)
        cached = self._cache.get(type_name)
        if cached is not None:
            return cached
        path = schemas_dir() / "resources" / f"{self._index[type_name]}.json"
        raw = json.loads(path.read_text(encoding="utf-8"))
        schema = ResourceSchema(
            raw, region=self.region, handlers=_handlers_supplement().get(type_name)
        )
        with self._lock:
            self._cache.setdefault(type_name, schema)
        return self._cache[type_name]


_noticed: set[str] = set()
_noticed_lock = threading.Lock()


def _legacy_notice(used: str, name: str) -> None:
    """One warning per process and spelling: the table works, under another name."""
    with _noticed_lock:
        if used in _noticed:
            return
        _noticed.add(used)
    log.warning("%s is spelt %s by stackql; use that name", used, name)


_registries: dict[str, Registry] = {}
_registries_lock = threading.Lock()


def get_registry(region: str = DEFAULT_REGION) -> Registry:
    """The shared registry of a region."""
    with _registries_lock:
        registry = _registries.get(region)
        if registry is None:
            registry = _registries[region] = Registry(region)
        return registry


def get_schema(name: str, region: str = DEFAULT_REGION) -> ResourceSchema:
    """Shortcut: the schema of ``name`` (``AWS::S3::Bucket`` or ``awscc.s3.buckets``)."""
    return get_registry(region).get(name)
