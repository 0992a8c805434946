"""What tables and columns the query engine knows, for the shell's completion and listings.

Names come from the same places the engine resolves tables from (the resource schema registry,
the special tagging and cloud_control tables, the custom views), and columns from
:func:`~stackdeploy.query.tables.resolve_table`, so completion offers exactly what a query
may use. Results are cached per region; nothing here calls AWS.
"""

from __future__ import annotations

import fnmatch
from functools import lru_cache

from stackdeploy.errors import StackDeployError
from stackdeploy.query.tables import LIST_SUFFIX, SPECIAL_TABLES, VIEWS, resolve_table
from stackdeploy.schema.registry import get_registry

PROVIDER = "awscc"


@lru_cache(maxsize=8)
def table_names(region: str = "us-east-1") -> tuple[str, ...]:
    """Every table name, sorted: resource tables, their ``_list_only`` forms, the special
    tables and the views."""
    names: set[str] = set(SPECIAL_TABLES) | set(VIEWS)
    for table in get_registry(region).awscc_index():
        names.add(table)
        names.add(table + LIST_SUFFIX)
    return tuple(sorted(names))


@lru_cache(maxsize=8)
def services(region: str = "us-east-1") -> tuple[str, ...]:
    """The services (``s3``, ``ec2``...), sorted."""
    return tuple(sorted({name.split(".")[1] for name in table_names(region)}))


def matching_tables(pattern: str = "", region: str = "us-east-1") -> list[str]:
    """Tables matching a glob (``awscc.s3.*``, ``*bucket*``) or containing ``pattern``."""
    names = table_names(region)
    if not pattern:
        return list(names)
    lowered = pattern.lower()
    if any(ch in lowered for ch in "*?["):
        return [n for n in names if fnmatch.fnmatchcase(n, lowered)]
    return [n for n in names if lowered in n]


@lru_cache(maxsize=512)
def columns(table: str, region: str = "us-east-1") -> tuple[str, ...]:
    """The columns of ``table`` in the engine's order; () for a table the engine rejects."""
    try:
        return tuple(resolve_table(table, region=region).columns)
    except StackDeployError:
        return ()


def required_keys(table: str, region: str = "us-east-1") -> tuple[str, ...]:
    """The key columns a query of ``table`` must constrain (``region``, list keys...)."""
    spec = resolve_table(table, region=region)
    return tuple(spec.key_names.get(k, k) for k in spec.required)
