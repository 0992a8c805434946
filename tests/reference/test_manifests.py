"""The manifest snippets of generated reference pages deploy to the sandbox.

Declarative snippet (every type of the sample): filled with valid values; the resources of
all snippets form one stack, built with ``python -m stackdeploy build ... --sandbox
--sandbox-state TMP``, then planned (nothing left to do) and torn down. Query-file snippet (the curated types): the manifest and the page's
``resources/<name>.iql``, built as ``python -m stackdeploy build STACK dev --sandbox
--sandbox-state TMP`` in a subprocess; then plan (nothing to do) and teardown.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from stackdeploy.cli import main
from stackdeploy.reference import model as ref_model
from stackdeploy.reference import render_type_page
from stackdeploy.sandbox import values
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.naming import to_column
from stackdeploy.schema.registry import get_registry
from tests.conftest import REPO_ROOT
from tests.reference.helpers import code_blocks, fill_yaml, placeholders
from tests.reference.runner import full_values, required_values
from tests.reference.sample import REGION, query_file_sample, sample_types


def _values(schema: ResourceSchema) -> dict[str, Any]:
    required = required_values(schema)
    assert required is not None, schema.type_name
    full = full_values(schema, required)
    return {to_column(p): full.get(p) for p in schema.properties}


def _stack(tmp: Path, schema: ResourceSchema, *, query_file: bool) -> Path:
    ref = ref_model.reference_of(schema, REGION)
    blocks = code_blocks(render_type_page(ref))
    title = ref_model.TITLE_QUERY_MANIFEST if query_file else ref_model.TITLE_DECLARATIVE
    manifest = blocks[title][1]
    filled = _values(schema)
    folder = tmp / schema.type_name.replace("::", "-")
    folder.mkdir()
    (folder / "stackql_manifest.yml").write_text(
        fill_yaml(manifest, {name: filled[name] for name in placeholders(manifest)})
    )
    if query_file:
        iql = ref_model.TITLE_QUERY_FILE.format(name=ref.singular)
        (folder / "resources").mkdir()
        (folder / "resources" / f"{ref.singular}.iql").write_text(blocks[iql][1] + "\n")
    return folder


_REFUSED = ("could not be found again", "use a query file", "does not support LIST")


def _resource_block(manifest: str) -> list[str]:
    """The lines of a snippet's one resource (under ``resources:``)."""
    lines = manifest.splitlines()
    return lines[lines.index("resources:") + 1 :]


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_declarative_snippets_of_the_sample_build(tmp_path: Path) -> None:
    """All trackable types of the sample in one stack: each resource is its page's snippet
    (only the resource's name gets a number, names repeat across services); build, then a
    plan with nothing to do, then teardown. Types whose page says the declarative style
    cannot find them again are built alone and must be refused with that reason."""
    values._RNG.seed(99)
    random.seed(99)
    registry = get_registry(REGION)
    state = str(tmp_path / "sandbox.db")
    sandbox = ["--sandbox", "--sandbox-state", state]
    resources: list[str] = []
    names: dict[str, str] = {}
    refused: dict[str, str] = {}
    for index, type_name in enumerate(sample_types()):
        schema = registry.get(type_name)
        ref = ref_model.reference_of(schema, REGION)
        folder = _stack(tmp_path, schema, query_file=False)
        manifest = (folder / "stackql_manifest.yml").read_text()
        if "query file" in ref.declarative_note:
            result = _invoke("build", str(folder), "dev", *sandbox)
            message = result.stderr.strip()
            assert result.exit_code == 1 and any(r in message for r in _REFUSED), (
                type_name,
                message,
            )
            refused[type_name] = message
            continue
        block = _resource_block(manifest)
        unique = f"{ref.singular}_{index}"
        block[0] = block[0].replace(f"- name: {ref.singular}", f"- name: {unique}")
        names[unique] = type_name
        resources += block
    head = manifest.splitlines()[: manifest.splitlines().index("resources:") + 1]
    stack = tmp_path / "sample-stack"
    stack.mkdir()
    (stack / "stackql_manifest.yml").write_text("\n".join([*head, *resources]) + "\n")

    build = _run(["build", str(stack), "dev", *sandbox, "--on-failure", "ignore"], tmp_path)
    assert build.returncode == 0, build.stderr[-3000:]
    plan = _invoke("plan", str(stack), "dev", *sandbox, "--output", "json")
    assert plan.exit_code == 0, plan.stderr[-3000:]
    actions = {r["name"]: r["action"] for r in json.loads(plan.stdout)["resources"]}
    changed = {names[n]: a for n, a in actions.items() if a != "noop"}
    assert not changed, f"plan after build is not empty: {changed}"
    teardown = _invoke("teardown", str(stack), "dev", *sandbox)
    assert teardown.exit_code == 0, teardown.stderr[-3000:]
    print(
        f"declarative snippets: {len(names)} of {len(sample_types())} built, planned clean "
        f"and torn down; {len(refused)} refused as their page says"
    )
    assert len(names) >= 0.9 * len(sample_types())


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "stackdeploy", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_query_file_snippets_build_with_the_cli(tmp_path: Path) -> None:
    values._RNG.seed(5)
    random.seed(5)
    registry = get_registry(REGION)
    stacks = [
        (name, _stack(tmp_path, registry.get(name), query_file=True))
        for name in query_file_sample()
    ]

    def build(item: tuple[str, Path]) -> tuple[str, Path, str]:
        name, folder = item
        args = ["build", str(folder), "dev", "--sandbox", "--sandbox-state", str(folder / "sb.db")]
        done = _run(args, tmp_path)
        return name, folder, "" if done.returncode == 0 else f"build: {done.stderr.strip()}"

    # The builds run as real subprocesses (two at a time); plan and teardown in-process.
    with ThreadPoolExecutor(max_workers=2) as pool:
        built = list(pool.map(build, stacks))
    results: dict[str, list[str]] = {}
    for name, folder, error in built:
        results[name] = [error] if error else []
        if error:
            continue
        sandbox = ["--sandbox", "--sandbox-state", str(folder / "sb.db")]
        plan = _invoke("plan", str(folder), "dev", *sandbox, "--detailed-exitcode")
        if plan.exit_code != 0:
            results[name].append(f"plan (exit {plan.exit_code}): {plan.stdout}{plan.stderr}")
        teardown = _invoke("teardown", str(folder), "dev", *sandbox)
        if teardown.exit_code != 0:
            results[name].append(f"teardown: {teardown.stderr.strip()}")
    report = "\n".join(f"{n}: {p}" for n, p in results.items() if p)
    print(f"query-file snippets: {sum(not p for p in results.values())} of {len(stacks)} built")
    assert len(stacks) >= 15
    assert not report, report
