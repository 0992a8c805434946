"""The package layers, checked on the source: which package may import which.

``engine`` runs stacks and never renders or parses command lines, nor starts the sandbox (the
CLI does); ``cloud`` is the Cloud Control client and knows nothing above it, nor the sandbox;
``query`` (awscc SQL) stands below the engine and the front ends; ``manifest`` loads stacks
and may use ``query``'s query-file parser, but not the engine that runs them.

Every import counts, those inside functions and under ``TYPE_CHECKING`` included: a lazy
import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "stackdeploy"

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "engine": ("report", "cli", "sandbox"),
    "cloud": ("sandbox", "engine", "report", "cli"),
    "query": ("engine", "cli", "report"),
    "manifest": ("engine",),
}


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path`` (or in ``source``, read as
    if it were that file)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    # A module's relative imports resolve against its package: the name up to its last
    # part (``__init__`` stands for the package itself).
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source or path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against this module's package
                base = package.split(".")[: -node.level]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # ``from stackdeploy import cli`` imports a package too.
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for line, module in imported_modules(path):
            for other in forbidden:
                target = f"stackdeploy.{other}"
                if module == target or module.startswith(target + "."):
                    bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer: str) -> None:
    assert (PACKAGE / layer).is_dir()
    assert violations(layer, FORBIDDEN[layer]) == []


def test_the_checker_sees_every_kind_of_import() -> None:
    # The check itself can fail: plain, from, relative and lazy imports are all seen.
    source = (
        "import stackdeploy.report.mask\n"
        "from ...cli import options\n"
        "from . import base\n"
        "def f():\n    from stackdeploy import sandbox\n"
    )
    as_file = PACKAGE / "engine" / "handlers" / "__init__.py"
    names = {name for _, name in imported_modules(as_file, source)}
    assert {
        "stackdeploy.report.mask",
        "stackdeploy.cli.options",
        "stackdeploy.engine.handlers.base",
        "stackdeploy.sandbox",
    } <= names
