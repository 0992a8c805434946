"""The stack manifest: loading (with line numbers), validation, variables and rendering.

Entry point: :meth:`Stack.load` (``stackdeploy.manifest.context``), which returns a
:class:`Stack` holding the validated :class:`Manifest` and rendering contexts, props,
queries and conditions for each resource. See docs/manifest.md (the format) and
docs/dev/interfaces.md (this API).
"""

from __future__ import annotations

from stackdeploy.manifest.context import (
    EVALUATED,
    PLACEHOLDERS,
    UNKNOWN,
    ExportsStore,
    Stack,
    is_placeholder,
    merge_values,
)
from stackdeploy.manifest.envfile import load_env_vars, parse_env_overrides
from stackdeploy.manifest.model import (
    MANIFEST_FILE,
    RESOURCE_KINDS,
    ExportDef,
    GlobalDef,
    Manifest,
    PropDef,
    ResourceDef,
    ReturnVal,
)
from stackdeploy.manifest.validate import ManifestProblems, Problem

__all__ = [
    "EVALUATED",
    "MANIFEST_FILE",
    "PLACEHOLDERS",
    "RESOURCE_KINDS",
    "UNKNOWN",
    "ExportDef",
    "ExportsStore",
    "GlobalDef",
    "Manifest",
    "ManifestProblems",
    "Problem",
    "PropDef",
    "ResourceDef",
    "ReturnVal",
    "Stack",
    "is_placeholder",
    "load_env_vars",
    "merge_values",
    "parse_env_overrides",
]
