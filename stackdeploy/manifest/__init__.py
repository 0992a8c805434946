"""The stack manifest: loading (with line numbers), validation, variables and rendering.

Entry point: :func:`load_stack` (:mod:`stackdeploy.manifest.stack`), which returns an
immutable :class:`LoadedStack` (the validated :class:`Manifest`, the variables, the
rendered globals, each resource's parsed query file and the names its templates use).
Rendering is done by the pure functions of :mod:`stackdeploy.manifest.render`. See
docs/manifest.md (the format) and docs/dev/interfaces.md (this API).
"""

from __future__ import annotations

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
from stackdeploy.manifest.stack import (
    EVALUATED,
    PLACEHOLDERS,
    UNKNOWN,
    LoadedStack,
    is_placeholder,
    load_stack,
    merge_values,
)
from stackdeploy.manifest.validate import ManifestProblems, Problem

__all__ = [
    "EVALUATED",
    "MANIFEST_FILE",
    "PLACEHOLDERS",
    "RESOURCE_KINDS",
    "UNKNOWN",
    "ExportDef",
    "GlobalDef",
    "LoadedStack",
    "Manifest",
    "ManifestProblems",
    "Problem",
    "PropDef",
    "ResourceDef",
    "ReturnVal",
    "is_placeholder",
    "load_env_vars",
    "load_stack",
    "merge_values",
    "parse_env_overrides",
]
