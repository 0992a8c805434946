"""Random manifests and query files never get past a clear message.

Hypothesis builds YAML structures around the manifest's keys (maps, lists and scalars
nested at random, keys one typo away from real ones, strings with Jinja fragments) and
query files (anchors, SQL fragments, raw bytes), then runs ``plan`` and ``build --dry-run``
on them against the embedded sandbox. Whatever the input: exit code 0, 1 or 2, no
traceback, no ``internal error``. Examples are derandomized and bounded so CI time stays
predictable (about 15 s).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from stackdeploy.cli import main

KEYS = [
    "name",
    "providers",
    "globals",
    "resources",
    "exports",
    "type",
    "file",
    "sql",
    "props",
    "value",
    "values",
    "merge",
    "if",
    "depends_on",
    "resource_type",
    "protected",
    "return_vals",
    "skip_validation",
    "dev",
]
TYPOS = ["propz", "Props", "resouces", "depends-on", "exportz", "valeu", "nmae", "typ"]
JINJA = [
    "{{ stack_name }}",
    "{{ stack_env }}",
    "{{ x }}",
    "{{ region | upper }}",
    "{{ ",
    " }}",
    "{% if true %}",
    "{% endif %}",
    "{{ q.arn }}",
    "{{ ''.__class__ }}",
    "{{ [1,2] | sql_list }}",
    "{# c #}",
    "{{ (((1))) }}",
    "file(x.json)",
    "../x",
    "/etc/passwd",
]
SCALAR_WORDS = [
    "awscc",
    "awscc.sqs.queues",
    "AWS::S3::Bucket",
    "awscc.s3.buckets",
    "resource",
    "query",
    "script",
    "command",
    "queue_name",
    "bucket_name",
    "us-east-1",
    "q",
    "b",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from(SCALAR_WORDS),
    st.lists(st.sampled_from(JINJA + SCALAR_WORDS), max_size=4).map("".join),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(KEYS), st.sampled_from(TYPOS), st.text(min_size=1, max_size=8))
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly the manifest's shape, with every part open to random replacement."""
    resource = st.fixed_dictionaries(
        {"name": st.one_of(st.sampled_from(["q", "b", "bucket"]), scalars)},
        optional={
            "resource_type": st.one_of(st.sampled_from(SCALAR_WORDS), scalars),
            "type": st.one_of(st.sampled_from(["resource", "query", "command"]), scalars),
            "props": st.one_of(
                st.lists(
                    st.fixed_dictionaries(
                        {"name": st.one_of(st.sampled_from(SCALAR_WORDS), scalars)},
                        optional={"value": values, "values": values, "merge": values},
                    ),
                    max_size=3,
                ),
                values,
            ),
            "exports": values,
            "if": st.one_of(st.sampled_from(["stack_env == 'dev'", "true", "x =="]), scalars),
            "depends_on": values,
            "file": st.one_of(st.sampled_from(["q.iql", "../q.iql", "/etc/hostname"]), scalars),
            draw(st.sampled_from(TYPOS)): values,
        },
    )
    manifest = draw(
        st.fixed_dictionaries(
            {
                "name": st.one_of(st.just("hypo"), scalars),
                "providers": st.one_of(st.just(["awscc"]), values),
                "resources": st.one_of(st.lists(resource, max_size=3), values),
            },
            optional={
                "globals": st.one_of(
                    st.lists(st.fixed_dictionaries({"name": scalars, "value": values}), max_size=3),
                    values,
                ),
                "exports": values,
                draw(keys.filter(lambda k: k not in ("name", "providers", "resources"))): values,
            },
        )
    )
    return manifest


ANCHORS = [
    "/*+ exists */",
    "/*+ create */",
    "/*+ statecheck, retries=2, retry_delay=0 */",
    "/*+ exports */",
    "/*+ delete */",
    "/*+ exists, retries=abc */",
    "/*+ createorupdate */",
    "/*+ troubleshoot:create */",
    "/*+ */",
    "/*+ exist",
]
SQL = [
    "SELECT COUNT(*) AS count FROM awscc.sqs.queues WHERE region = 'us-east-1' AND Identifier = '{{ queue_name }}'",
    "INSERT INTO awscc.sqs.queues (QueueName, region) SELECT '{{ queue_name }}', 'us-east-1'",
    "DELETE FROM awscc.sqs.queues WHERE Identifier = 'x' AND region = 'us-east-1'",
    "SELECT arn FROM awscc.sqs.queues WHERE region = 'us-east-1' AND Identifier = 'x'",
    "SELEC 1",
    "SELECT * FROM awscc.s3.bucketz",
    "{{ undefined }}",
    "'unterminated",
    ";",
    "(",
]
query_texts = st.lists(
    st.one_of(
        st.sampled_from(ANCHORS).map(str.encode),
        st.sampled_from(SQL).map(str.encode),
        st.binary(max_size=8),
    ),
    max_size=8,
).map(b"\n".join)


def _invoke(args: list[str]) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(main, args)
    exception = result.exception
    if isinstance(exception, SystemExit):
        exception = None
    return result.exit_code, result.stdout + result.stderr, exception


def _run_both(manifest_bytes: bytes, query: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stack = root / "stack"
        (stack / "resources").mkdir(parents=True)
        (stack / "stackql_manifest.yml").write_bytes(manifest_bytes)
        for name in ("q.iql", "b.iql", "bucket.iql"):
            (stack / "resources" / name).write_bytes(query)
        state = root / "sandbox.db"
        previous = Path.cwd()
        os.chdir(root)  # no stray ./.env, and nothing written outside the temp folder
        try:
            for command in (["plan"], ["build", "--dry-run"]):
                args = [*command, "stack", "dev", "--sandbox", "--sandbox-state", str(state)]
                code, output, exception = _invoke(args)
                event(f"{command[0]} exit {code}")
                assert exception is None, f"{args}: {exception!r}\n{output}"
                assert code in (0, 1, 2), f"{args}: exit {code}\n{output}"
                assert "Traceback" not in output, output
                assert "internal error" not in output, output
        finally:
            os.chdir(previous)


FAST = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FAST
@given(manifest=manifests(), query=query_texts)
def test_random_manifests_and_query_files(manifest: dict[str, Any], query: bytes) -> None:
    text = yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False)
    _run_both(text.encode("utf-8"), query)


@FAST
@given(
    chunks=st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "name: hypo\n",
                    "providers: [awscc]\n",
                    "resources:\n",
                    "  - name: q\n",
                    "    resource_type: awscc.sqs.queues\n",
                    "    props:\n",
                    "      - name: queue_name\n",
                    "        value: '{{ stack_name }}'\n",
                    "x: &a [1, 2]\n",
                    "y: [*a, *a]\n",
                    "z: *nothing\n",
                    "  - ",
                    ": ",
                    "[",
                    "{",
                    "\t",
                    "---\n",
                    "<<: *a\n",
                ]
            ).map(str.encode),
            st.binary(max_size=6),
        ),
        max_size=14,
    ),
    query=query_texts,
)
def test_random_manifest_text(chunks: list[bytes], query: bytes) -> None:
    _run_both(b"".join(chunks), query)
