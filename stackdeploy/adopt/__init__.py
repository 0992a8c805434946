"""Adopt live AWS resources into a stack: the core of ``stack-deploy import``.

- :mod:`.discover` finds them (type + identifier, or a tag filter through the tagging API);
- :mod:`.props` turns a live model into props (no read-only, write-only, default values or
  stack tags; placeholders for what cannot be read back);
- :mod:`.refs` links adopted resources to each other (``{{ vpc.vpc_id }}``) and orders them;
- :mod:`.render` writes manifest entries and splices them into an existing manifest;
- :mod:`.iql` writes query files (the ``--style query-file`` output);
- :mod:`.service` runs it all: :func:`adopt`.

User documentation: docs/import.md.
"""

from stackdeploy.adopt.model import AdoptCloud, Adopted, LiveResource, Placeholder
from stackdeploy.adopt.service import (
    ExistingStack,
    ImportedResource,
    ImportRequest,
    ImportResult,
    adopt,
    read_stack,
)

__all__ = [
    "AdoptCloud",
    "Adopted",
    "ExistingStack",
    "ImportRequest",
    "ImportResult",
    "ImportedResource",
    "LiveResource",
    "Placeholder",
    "adopt",
    "read_stack",
]
