"""Stack exports after build and test: a table on stdout (masked), one info line per export
(masked), an ``exports`` key in ``--output json`` (masked, beside the plan contract's keys),
and ``./.stackql-deploy-exports`` as stackql-deploy 2.x writes it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from stackdeploy.engine.runner import elapsed_text
from tests.compat.conftest import Cli
from tests.engine.conftest import STACKS

BUCKET = STACKS / "bucket"
ARN = "arn:aws:s3:::tbucket-dev-data"


def test_build_and_test_print_the_exports_table_masked(cli: Cli, tmp_path: Path) -> None:
    built = cli("build", str(BUCKET), "dev", "--log-level", "info")
    out = built.stdout
    assert out.startswith("Build of tbucket (dev) complete")
    assert "stack exports:" in out
    row = re.search(r"^\| STACKQL_DEPLOY__tbucket__dev__bucket_name +\| (\S+) +\|$", out, re.M)
    assert row and row.group(1) == "tbucket-dev-data"
    assert re.search(r"^\| STACKQL_DEPLOY__tbucket__dev__bucket_arn +\| \*\*\*\* +\|$", out, re.M)
    for name in ("stack_name", "stack_env", "elapsed_time"):
        assert f"STACKQL_DEPLOY__tbucket__dev__{name} " in out
    # The protected ARN is nowhere in what was printed; the info lines name every export.
    assert ARN not in out + built.stderr
    assert "stack export bucket_name = tbucket-dev-data" in built.stderr
    assert "stack export bucket_arn = ****" in built.stderr
    # ...but the file for `source` holds the real value, readable by its owner only.
    env_file = tmp_path / ".stackql-deploy-exports"
    assert f"export STACKQL_DEPLOY__tbucket__dev__bucket_arn='{ARN}'" in env_file.read_text()
    assert env_file.stat().st_mode & 0o777 == 0o600

    tested = cli("test", str(BUCKET), "dev")
    assert "stack exports:" in tested.stdout and ARN not in tested.stdout


def test_json_output_has_the_exports_beside_the_plan(cli: Cli) -> None:
    built = json.loads(cli("build", str(BUCKET), "dev", "--output", "json").stdout)
    assert {"stack", "resources", "summary", "orphans", "exports"} == set(built)
    exports = built["exports"]
    assert exports["bucket_name"] == "tbucket-dev-data"
    assert exports["bucket_arn"] == "****"
    assert exports["stack_name"] == "tbucket" and exports["stack_env"] == "dev"
    assert re.fullmatch(r"\d+\.\d\d(s|ms|µs|ns)", exports["elapsed_time"])

    tested = json.loads(cli("test", str(BUCKET), "dev", "--output", "json").stdout)
    assert tested["exports"]["bucket_arn"] == "****"
    assert tested["summary"]["create"] == 0
    # A dry run and a plan keep the plan contract alone.
    dry = json.loads(cli("build", str(BUCKET), "dev", "--dry-run", "--output", "json").stdout)
    assert set(dry) == {"stack", "resources", "summary", "orphans"}


def test_no_table_and_no_file_without_manifest_exports(cli: Cli, tmp_path: Path) -> None:
    stack = tmp_path / "noexp"
    stack.mkdir()
    text = (BUCKET / "stackql_manifest.yml").read_text()
    (stack / "stackql_manifest.yml").write_text(text.split("\nexports:")[0] + "\n")
    (stack / "resources").mkdir()
    (stack / "resources" / "bucket.iql").write_text((BUCKET / "resources/bucket.iql").read_text())
    built = cli("build", str(stack), "dev")
    assert "stack exports" not in built.stdout
    assert not (tmp_path / ".stackql-deploy-exports").exists()


def test_elapsed_time_as_stackql_deploy_2_writes_it() -> None:
    assert elapsed_text(49.2249) == "49.22s"
    assert elapsed_text(1.0) == "1.00s"
    assert elapsed_text(0.3124) == "312.40ms"
    assert elapsed_text(0.000015) == "15.00µs"
    assert elapsed_text(0.0000008) == "800.00ns"
