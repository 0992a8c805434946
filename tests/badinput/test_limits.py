"""Resource bounds on hostile manifests: an alias bomb is refused in well under 1 s and
100 MB, measured in a child process so the numbers are the loader's own.

The child imports stack-deploy first, then times ``Stack.load`` (wall clock) under
``tracemalloc`` (peak of Python allocations during the load) and reports the process's
peak RSS (``VmHWM``, imports included). Run with ``-s`` to see the numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .corpus import REPO_ROOT, _alias_bomb, _merge_bomb

CHILD = r"""
import json, resource, sys, time, tracemalloc
from stackdeploy.errors import ManifestError
from stackdeploy.manifest import load_stack
from stackdeploy.manifest.loader import parse_yaml

parse_yaml("warm: [up]", file="warm-up.yml")  # first-use costs are not the bomb's
tracemalloc.start()
start = time.perf_counter()
try:
    load_stack(sys.argv[1], "dev", cwd=sys.argv[1])
    outcome = "loaded"
except ManifestError as exc:
    outcome = str(exc)
elapsed = time.perf_counter() - start
_, peak = tracemalloc.get_traced_memory()
# VmHWM is the peak RSS of this program since exec; ru_maxrss would also count the memory
# of the (forked) test runner before the exec.
try:
    status = open("/proc/self/status").read()
    rss_kib = int(status.split("VmHWM:")[1].split()[0])
except (OSError, IndexError):
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"elapsed": elapsed, "peak": peak, "rss": rss_kib * 1024, "outcome": outcome}))
"""

HEADER = "name: bombs\nproviders: [awscc]\nresources: []\n"
MB = 1024 * 1024


def _measure(stack: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(stack)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(
    ("name", "document", "line"),  # line: where the expansion first passes the budget
    [
        # 10**9 strings from 9 lines: the classic "billion laughs".
        ("billion-laughs", _alias_bomb(levels=9, width=10), 10),
        # The same, 10**18 under a key stack-deploy ignores (it is still parsed).
        ("under-ignored-key", _alias_bomb(levels=18, width=10, under="x-notes"), 10),
        # Merge keys doubling a mapping 40 times (2**40 entries once flattened).
        ("merge-keys", _merge_bomb(levels=40), 20),
    ],
)
def test_alias_bombs_are_refused_quickly_and_small(
    tmp_path: Path, name: str, document: str, line: int
) -> None:
    stack = tmp_path / name
    stack.mkdir()
    (stack / "stackql_manifest.yml").write_text(HEADER + document)
    numbers = _measure(stack)
    print(
        f"\n{name}: refused in {numbers['elapsed']:.3f} s, "
        f"peak traced {int(numbers['peak']) / MB:.1f} MB, peak RSS {int(numbers['rss']) / MB:.1f} MB"
    )
    assert numbers["outcome"] == (
        f"{stack}/stackql_manifest.yml:{line}: aliases expand this node to more than "
        "100,000 values (an alias bomb?) (hint: repeat less through anchors and aliases (*name))"
    )
    assert float(numbers["elapsed"]) < 1.0  # type: ignore[arg-type]
    assert int(numbers["peak"]) < 100 * MB  # type: ignore[call-overload]
    assert int(numbers["rss"]) < 100 * MB  # type: ignore[call-overload]


def test_aliases_within_the_budget_still_load(tmp_path: Path) -> None:
    """Ordinary use of anchors (shared tags repeated by many resources) is not refused."""
    tags = "tags: &tags [{Key: team, Value: a}, {Key: cost, Value: b}]\n"
    resources = "".join(
        f"  - name: q{i}\n    resource_type: awscc.sqs.queues\n"
        f"    props:\n      - name: tags\n        value: *tags\n"
        for i in range(200)
    )
    stack = tmp_path / "shared-tags"
    stack.mkdir()
    (stack / "stackql_manifest.yml").write_text(
        "name: tags\nproviders: [awscc]\nx-shared:\n  " + tags + "resources:\n" + resources
    )
    numbers = _measure(stack)
    assert numbers["outcome"] == "loaded"


def test_nesting_at_the_limit_loads_and_one_more_level_is_refused(tmp_path: Path) -> None:
    from stackdeploy.errors import ManifestError
    from stackdeploy.manifest.loader import MAX_DEPTH, parse_yaml

    # The root mapping is one level, so MAX_DEPTH - 1 nested lists fit.
    ok = parse_yaml("x: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1), file="m.yml")
    assert ok.data is not None
    with pytest.raises(ManifestError, match=f"nested more than {MAX_DEPTH} levels"):
        parse_yaml("x: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH, file="m.yml")
