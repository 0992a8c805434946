"""The documentation site stays true: generated pages up to date, every command and every
filter documented, the navigation complete, no link out of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from stackdeploy import templating
from stackdeploy.cli import COMMANDS
from stackdeploy.reference import page_path, type_reference
from stackdeploy.reference.filters import filters_page
from stackdeploy.reference.site import CURATED_TYPES, TYPES_DIR, generated_files
from tests.conftest import REPO_ROOT

DOCS = REPO_ROOT / "docs"


def _nav_pages(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [p for item in node for p in _nav_pages(item)]
    if isinstance(node, dict):
        return [p for value in node.values() for p in _nav_pages(value)]
    return []


def _mkdocs() -> dict[str, object]:
    # mkdocs.yml may hold python tags in other projects; this one is plain YAML.
    return yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def test_generated_pages_are_up_to_date() -> None:
    stale = [
        str(path.relative_to(REPO_ROOT))
        for path, text in generated_files(DOCS).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, (
        f"generated docs are stale: {', '.join(stale)}; "
        "run python -m stackdeploy.reference.site docs"
    )


def test_nav_lists_every_page_and_only_existing_ones() -> None:
    nav = _nav_pages(_mkdocs()["nav"])
    assert len(nav) == len(set(nav))
    for page in nav:
        assert (DOCS / page).exists(), page
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages == set(nav), f"not in the nav: {pages - set(nav)}"
    for type_name in CURATED_TYPES:
        table = type_reference(type_name).table
        assert str(TYPES_DIR / page_path(table)) in nav, type_name
    # The slots other pages fill.
    assert "safety.md" in nav and "coming-from-stackql-deploy.md" in nav


def test_cli_reference_has_one_block_per_command() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    blocks = re.findall(
        r"^::: mkdocs-click\n    :module: (\S+)\n    :command: (\S+)\n    :prog_name: (.+)$",
        text,
        re.MULTILINE,
    )
    expected = {("stackdeploy.cli", "stack_deploy", "stack-deploy")} | {
        (module, attr, f"stack-deploy {name}") for name, (module, attr, _) in COMMANDS.items()
    }
    assert set(blocks) == expected
    assert len(blocks) == len(expected)


def test_filters_page_documents_every_registered_filter() -> None:
    page = filters_page()
    env = templating.make_environment()
    for name in templating.FILTERS:
        assert f"`{name}`" in page, name
    for name in templating.GLOBALS:
        assert f"### `{name}()`" in page, name
    for name in env.filters:
        assert f"`{name}`" in page, name
    # Docstrings are the descriptions: a change there changes the page.
    assert "Double every single quote, for pasting into a `'...'` SQL literal." in page


def test_docs_stay_inside_the_repository() -> None:
    for path in [*DOCS.rglob("*.md"), REPO_ROOT / "README.md"]:
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and "/work/" not in text, path
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            if re.match(r"[a-z]+:", target):
                continue
            assert (path.parent / target).resolve().is_relative_to(REPO_ROOT), (path, target)


def test_pages_link_only_to_pages_that_exist() -> None:
    # mkdocs build --strict in CI checks this too; here it fails fast, with the file named.
    for path in DOCS.rglob("*.md"):
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            assert (path.parent / target).exists(), (str(Path(path).relative_to(DOCS)), target)
