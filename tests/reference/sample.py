"""The deterministic sample of registry types whose reference pages are run in tests.

Every 15th type in name order (so every part of the alphabet, and with it most services), plus
the curated types of the documentation site. The sample is checked to hold types with compound
identifiers, list handlers that need a ResourceModel and types without an update handler.
"""

from __future__ import annotations

from stackdeploy.reference.site import CURATED_TYPES
from stackdeploy.schema.registry import get_registry

REGION = "us-east-1"
STRIDE = 15


def sample_types() -> list[str]:
    names = get_registry(REGION).type_names()
    chosen = set(names[::STRIDE]) | set(CURATED_TYPES)
    return sorted(chosen)


def query_file_sample() -> list[str]:
    """A smaller sample for the query-file snippets (each is a stack build): the curated
    types, which are the ones a reader copies first."""
    return sorted(CURATED_TYPES)
