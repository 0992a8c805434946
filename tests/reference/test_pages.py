"""Generated reference pages: content, determinism, the describe command, and a required
INSERT that is valid SQL for every registry type (the awscc docs' own is not)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner
from sqlglot import exp

from stackdeploy.cli import main
from stackdeploy.query.engine import QueryEngine
from stackdeploy.reference import model as ref_model
from stackdeploy.reference import render_type_page, type_page
from stackdeploy.sandbox import values
from stackdeploy.schema import desired
from stackdeploy.schema.naming import to_column
from stackdeploy.schema.registry import get_registry
from tests.reference.helpers import code_blocks, fill_sql, placeholders
from tests.reference.runner import required_values

REGION = "us-east-1"


def test_cluster_page_has_every_section_of_the_awscc_docs_page() -> None:
    page = type_page("awscc.sagemaker.clusters")
    assert page == type_page("AWS::SageMaker::Cluster")  # either name
    for heading in (
        "# clusters",
        "## Overview",
        "## Fields",
        "## Methods",
        "## `SELECT` examples",
        "## `INSERT` examples",
        "## `UPDATE` example",
        "## `DELETE` example",
        "## Manifest",
        "## Permissions",
    ):
        assert f"\n{heading}\n" in f"\n{page}", heading
    # Fields: flags, nested members with their schema path, descriptions.
    assert "| `cluster_arn` | `/ClusterArn` | string | identifier, read-only |" in page
    assert "| `cluster_name` | `/ClusterName` | string | identifier, create-only |" in page
    assert "`vpc_config.security_group_ids` | `/VpcConfig/SecurityGroupIds` | array |" in page
    assert "`restricted_instance_groups[].environment_config.f_sx_lustre_config" in page
    assert "The Amazon Resource Name (ARN) of the HyperPod Cluster." in page
    # Methods with their required params; permissions per operation from the handlers.
    assert "| `get_resource` | `clusters` | `SELECT` | `Identifier, region` |" in page
    assert "| `list_resources` | `clusters_list_only` | `SELECT` | `region` |" in page
    assert '=== "Delete"\n\n    ```text\n    sagemaker:DeleteCluster,' in page
    blocks = code_blocks(page)
    assert set(blocks) == {
        ref_model.TITLE_SELECT_GET,
        ref_model.TITLE_SELECT_LIST,
        ref_model.TITLE_INSERT_REQUIRED,
        ref_model.TITLE_INSERT_ALL,
        ref_model.TITLE_UPDATE,
        ref_model.TITLE_DELETE,
        ref_model.TITLE_DECLARATIVE,
        ref_model.TITLE_QUERY_MANIFEST,
        "resources/cluster.iql",
    }
    update = blocks[ref_model.TITLE_UPDATE][1]
    assert '{"op": "add", "path": "/NodeRecovery", "value": "<node_recovery>"}' in update
    assert "/ClusterName" not in update  # create-only: not patched in place
    iql = blocks["resources/cluster.iql"][1]
    for anchor in ("exists", "statecheck", "create", "update", "exports", "delete"):
        assert re.search(rf"^/\*\+ {anchor}\b", iql, re.MULTILINE), anchor


def test_required_insert_of_the_seed_type_is_valid_sql() -> None:
    # The awscc docs' page has "INSERT INTO ... ( , region ) SELECT '{{  }}', ..." here.
    sql = code_blocks(type_page("AWS::SageMaker::Cluster"))[ref_model.TITLE_INSERT_REQUIRED][1]
    tree = sqlglot.parse_one(sql, read="sqlite")
    assert isinstance(tree, exp.Insert)
    assert [c.name for c in tree.this.expressions] == ["region"]
    assert "{{" not in sql and ", ," not in sql and "(\n ," not in sql


def test_required_insert_is_valid_sql_for_every_registry_type() -> None:
    """Every type's required-properties INSERT parses, lists one value per column, and,
    filled with generated values, is an INSERT the engine accepts: its desired state
    validates against the schema (checked without calling Cloud Control)."""
    registry = get_registry(REGION)
    engine = QueryEngine(object(), region=REGION)  # preview_insert never calls the cloud
    values._RNG.seed(7)
    checked = skipped = 0
    problems = []
    for name in registry.type_names():
        schema = registry.get(name)
        ref = ref_model.reference_of(schema, REGION)
        if not ref.insert_examples:
            continue
        sql = code_blocks(render_type_page(ref))[ref_model.TITLE_INSERT_REQUIRED][1]
        tree = sqlglot.parse_one(sql.replace("<", "").replace(">", ""), read="sqlite")
        columns = [c.name for c in tree.this.expressions]
        row = tree.expression.expressions
        if len(columns) != len(row) or "" in columns or columns[-1] != "region":
            problems.append(f"{name}: {columns} / {len(row)} values")
            continue
        if set(placeholders(sql)) != {to_column(p) for p in ref.create_required}:
            problems.append(f"{name}: placeholders {placeholders(sql)}")
            continue
        state = required_values(schema)
        if state is None:
            skipped += 1  # the generator cannot make values for this type
            continue
        preview = engine.preview_insert(fill_sql(sql, {to_column(k): v for k, v in state.items()}))
        assert preview is not None
        violations = desired.validate(schema, preview.desired, mode="create")
        if violations:
            problems.append(f"{name}: {violations[0]}")
        checked += 1
    print(f"required INSERT checked for {checked} types ({skipped} without generated values)")
    assert not problems, "\n".join(problems[:20])
    assert checked >= 1800


def test_pages_are_deterministic_and_describe_all_writes_every_type(tmp_path: Path) -> None:
    runner = CliRunner()
    started = time.monotonic()
    result = runner.invoke(main, ["describe", "--all", "--out", str(tmp_path / "a")])
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    count = len(get_registry(REGION).type_names())
    assert f"wrote {count} reference pages" in result.stderr
    pages = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.md"))
    assert len(pages) == count + 1
    assert Path("sagemaker/clusters.md") in pages and Path("index.md") in pages
    assert elapsed < 60
    result = runner.invoke(main, ["describe", "--all", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    for page in pages:
        assert (tmp_path / "a" / page).read_bytes() == (tmp_path / "b" / page).read_bytes()
    index = (tmp_path / "a" / "index.md").read_text()
    assert (
        "| [`awscc.sagemaker.clusters`](sagemaker/clusters.md) | `AWS::SageMaker::Cluster` |"
        in index
    )


def test_describe_markdown_prints_the_page() -> None:
    result = CliRunner().invoke(main, ["describe", "AWS::EC2::Route", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert result.output == type_page("AWS::EC2::Route")
    # Compound identifier and the list handler's required ResourceModel property.
    assert "Identifier = '<route_table_id>|<cidr_block>'" in result.output
    assert "AND route_table_id = '<route_table_id>'" in result.output
    # --output is the same option (the other commands' name for it).
    as_json = CliRunner().invoke(main, ["describe", "AWS::EC2::Route", "--output", "json"])
    assert json.loads(as_json.output)["type_name"] == "AWS::EC2::Route"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["describe"], "missing TYPE"),
        (["describe", "--all"], "--all needs --out DIR"),
        (["describe", "AWS::S3::Bucket", "--all", "--out", "x"], "either TYPE or --all"),
        (["describe", "AWS::S3::Bucket", "--out", "x"], "--out is for --all"),
        (["describe", "AWS::S3::Buckett", "--format", "markdown"], "did you mean"),
    ],
)
def test_describe_usage_errors_are_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_descriptions_cannot_break_the_tables() -> None:
    # Pipes, angle brackets and relative links in AWS descriptions are neutralised.
    assert ref_model._clean("a | b <c> [x](y.html) [z](https://e.com)\n d") == (
        "a \\| b &lt;c&gt; x [z](https://e.com) d"
    )
