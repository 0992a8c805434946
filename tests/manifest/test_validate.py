"""Manifest validation: every problem reported as file:line, all at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stackdeploy.errors import ManifestError, UsageError
from stackdeploy.manifest import ManifestProblems

from .conftest import DATA, MakeStack, StackView

Load = Callable[..., StackView]

# Every line of this manifest that should be reported is marked with its expected message.
BROKEN = """\
name: broken
providers: [awscc]
globalz: []
globals:
  - name: g1
    value: one
  - name: g1
    value: again
  - value: nameless
  - name: novalue
resources:
  - name: a
    type: resorce
    props:
      - name: p1
        value: 1
        valu: 2
      - name: p1
        value: dup
      - name: both
        value: 1
        values: {dev: {value: 2}}
      - name: neither
      - name: envs
        values:
          prd:
            value: x
      - just-a-string
    exports:
      - 42
      - {col: alias, other: x}
  - name: a
    sql: SELECT 1
  - name: nofile
  - name: missing_file
    file: nowhere.iql
  - name: script_without_run
    type: script
  - name: run_on_resource
    file: shared.iql
    run: echo hi
  - name: sql_on_resource
    file: shared.iql
    sql: SELECT 1
  - name: bad_decl
    resource_type: awscc.s3.bucketz
  - name: deps
    file: shared.iql
    depends_on: [deps, ghost]
    skip_validation: "yes"
  - name: props_not_list
    file: shared.iql
    props: {name: x}
  - name: rv
    file: shared.iql
    return_vals:
      create: [Identifier]
      destroy: [Identifier]
"""

EXPECTED = [
    (
        3,
        "unknown key 'globalz' in the manifest: did you mean 'globals'? "
        "(hint: a key this close to a known one is taken for a typo; rename it)",
    ),
    (7, "duplicate global 'g1' (first defined on line 5)"),
    (9, "a global has no 'name'"),
    (10, "global 'novalue' has no 'value'"),
    (12, "resource 'a' has no query file resources/a.iql"),
    (13, "resource 'a' has unknown type 'resorce' (hint: did you mean 'resource'?)"),
    (17, "unknown key 'valu' in a prop of resource 'a': did you mean 'value'?"),
    (18, "duplicate prop 'p1' in resource 'a' (first defined on line 15)"),
    (20, "prop 'both' of resource 'a' has both 'value' and 'values' (hint: keep one)"),
    (23, "prop 'neither' of resource 'a' has no 'value' or 'values'"),
    (
        25,
        "prop 'envs' of resource 'a' has no value for environment 'dev' (values has 'prd') "
        "(hint: add 'dev: {value: ...}' under values)",
    ),
    (28, "a prop of resource 'a' must be a mapping {name, value}, not a string"),
    (30, "an export of resource 'a' must be a column name or {column: alias}, not a number"),
    (31, "an export of resource 'a' must be a column name or {column: alias}, not a mapping"),
    (32, "duplicate resource name 'a' (first defined on line 12)"),
    (
        34,
        "resource 'nofile' has no query file resources/nofile.iql (hint: create it, give "
        "'file:', or declare the resource with 'resource_type:' (e.g. awscc.s3.buckets))",
    ),
    (36, "query file resources/nowhere.iql of resource 'missing_file' not found"),
    (37, "script resource 'script_without_run' has no 'run' command"),
    (
        41,
        "'run' is only used by script resources, not by 'resource' resource 'run_on_resource' "
        "(hint: add 'type: script')",
    ),
    (
        44,
        "'sql' is only used by query and command resources, not by 'resource' resource "
        "'sql_on_resource' (hint: put the queries in a file)",
    ),
    (
        46,
        "unknown resource type 'awscc.s3.bucketz' in region us-east-1 "
        "(hint: did you mean awscc.s3.buckets",
    ),
    (49, "resource 'deps' depends on itself"),
    (49, "depends_on names unknown resource 'ghost'"),
    (50, "skip_validation must be true or false, not a string"),
    (
        53,
        "props of resource 'props_not_list' must be a list of {name, value} mappings, "
        "not a mapping",
    ),
    (58, "return_vals key 'destroy' must be create, update or delete"),
]


def test_every_error_is_reported_with_its_line(make_stack: MakeStack, load: Load) -> None:
    stack = make_stack(BROKEN, {"resources/shared.iql": "/*+ create */\nSELECT 1\n"})
    with pytest.raises(ManifestProblems) as info:
        load(stack)
    manifest = str(stack / "stackql_manifest.yml")
    text = str(info.value)
    lines = text.splitlines()
    assert lines[0] == f"{manifest}: {len(EXPECTED)} problems in the manifest:"
    errors = [str(p) for p in info.value.problems]
    for line, message in EXPECTED:
        wanted = f"{manifest}:{line}: {message}"
        assert any(e.startswith(wanted) for e in errors), f"missing: {wanted}\n{text}"
    # Listed top to bottom, one per line, and nothing else.
    assert [p.line for p in info.value.problems] == sorted(p.line for p in info.value.problems)
    assert len(errors) == len(lines) - 1


def test_strict_turns_warnings_into_errors(make_stack: MakeStack, load: Load) -> None:
    stack = make_stack(GOOD, {"resources/r.iql": "/*+ create */\nSELECT 1\n"})
    with pytest.raises(ManifestProblems) as info:
        load(stack, strict=True)
    manifest = str(stack / "stackql_manifest.yml")
    assert [str(p) for p in info.value.problems] == [
        f"{manifest}:6: unknown key 'typo_key' in resource 'r' (ignored) "
        "(hint: did you mean 'type'?)",
        f"{manifest}:8: auth for provider 'github' of resource 'r' is ignored "
        "(stack-deploy manages AWS resources only)",
    ]


def test_close_unknown_keys_are_errors_far_ones_warnings(make_stack: MakeStack, load: Load) -> None:
    stack = make_stack(
        """\
        name: typos
        providers: [awscc]
        resoures:
          - name: q
            resource_type: awscc.sqs.queues
            propz:
              - name: queue_name
                value: x
            Exports: [arn]
            depends-on: []
            notes: free text stackql-deploy ignores
        """
    )
    with pytest.raises(ManifestProblems) as info:
        load(stack)
    manifest = str(stack / "stackql_manifest.yml")
    # The typo of 'resources' is the error; "the stack has no 'resources'" is not repeated.
    assert [str(p).split(" (hint:")[0] for p in info.value.problems] == [
        f"{manifest}:3: unknown key 'resoures' in the manifest: did you mean 'resources'?"
    ]
    fixed = (stack / "stackql_manifest.yml").read_text().replace("resoures", "resources")
    (stack / "stackql_manifest.yml").write_text(fixed)
    with pytest.raises(ManifestProblems) as info:
        load(stack)
    assert [str(p).split(" (hint:")[0] for p in info.value.problems] == [
        f"{manifest}:6: unknown key 'propz' in resource 'q': did you mean 'props'?",
        f"{manifest}:9: unknown key 'Exports' in resource 'q': did you mean 'exports'?",
        f"{manifest}:10: unknown key 'depends-on' in resource 'q': did you mean 'depends_on'?",
    ]
    for typo in ("propz", "Exports", "depends-on"):
        fixed = fixed.replace(
            typo, {"propz": "props", "Exports": "exports"}.get(typo, "depends_on")
        )
    (stack / "stackql_manifest.yml").write_text(fixed)
    loaded = load(stack)
    assert list(loaded.warnings) == [
        f"{manifest}:11: warning: unknown key 'notes' in resource 'q' (ignored)"
    ]
    assert loaded.manifest.resource("q").prop("queue_name") is not None


@pytest.mark.parametrize(
    ("key", "known", "expected"),
    [
        ("propz", ("props", "exports"), "props"),
        ("resouces", ("resources",), "resources"),
        ("exprots", ("exports",), "exports"),
        ("DEPENDS_ON", ("depends_on",), "depends_on"),
        ("fil", ("file",), "file"),
        ("iff", ("if",), "if"),
        ("notes", ("name", "props", "exports"), None),
        ("tags", ("type", "name"), None),
        ("typo_key", ("type",), None),
    ],
)
def test_typo_of(key: str, known: tuple[str, ...], expected: str | None) -> None:
    from stackdeploy.manifest.validate import typo_of

    assert typo_of(key, known) == expected


GOOD = """\
name: ok
providers: [awscc]
resources:
  - name: r
    file: r.iql
    typo_key: 1
    auth:
      github: {type: basic, username_var: U}
"""


def test_warnings_are_returned(make_stack: MakeStack, load: Load) -> None:
    stack = make_stack(GOOD, {"resources/r.iql": "/*+ create */\nSELECT 1\n"})
    loaded = load(stack)
    manifest = str(stack / "stackql_manifest.yml")
    assert list(loaded.warnings) == [
        f"{manifest}:6: warning: unknown key 'typo_key' in resource 'r' (ignored) (hint: did you mean 'type'?)",
        f"{manifest}:8: warning: auth for provider 'github' of resource 'r' is ignored "
        "(stack-deploy manages AWS resources only)",
    ]


def test_single_error_is_a_located_manifest_error(make_stack: MakeStack, load: Load) -> None:
    stack = make_stack("name: x\nproviders: [awscc]\nresources:\n  - name: r\n")
    with pytest.raises(ManifestError) as info:
        load(stack)
    assert info.value.file == str(stack / "stackql_manifest.yml")
    assert info.value.line == 4
    assert str(info.value).startswith(
        f"{stack}/stackql_manifest.yml:4: resource 'r' has no query file"
    )


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("providers: [awscc]\nresources: []\n", ":1: the stack has no 'name'"),
        (
            "name: x\nresources: []\n",
            ":1: the stack has no 'providers' (hint: add 'providers: [awscc]')",
        ),
        ("name: x\nproviders: []\nresources: []\n", ":2: providers is empty"),
        (
            "name: x\nproviders: [azure]\nresources: []\n",
            ":2: providers ['azure'] include neither awscc nor aws",
        ),
        ("name: x\nproviders: [awscc]\n", ":1: the stack has no 'resources'"),
        (
            "name: x\nproviders: [awscc]\nresources: {a: 1}\n",
            ":3: resources must be a list, not a mapping",
        ),
        ("name: [x]\nproviders: [awscc]\nresources: []\n", ":1: name must be a string, not a list"),
        ("- a\n- b\n", ":1: the manifest must be a mapping, not a list"),
        (
            "name: x\nname: y\nproviders: [awscc]\nresources: []\n",
            ":2: duplicate key 'name' (line 2); only the last one counts",
        ),
        (
            "name: x\nproviders: [awscc]\nglobals: {a: 1}\nresources: []\n",
            ":3: globals must be a list, not a mapping",
        ),
        (
            "name: x\nproviders: [awscc]\nglobals:\n  - name: g\n    value: null\nresources: []\n",
            ":5: global 'g' has an empty value",
        ),
        (
            "name: x\nproviders: [awscc]\nresources:\n  - name: q\n    type: query\n    sql: SELECT 1\n"
            "    if: ''\n",
            ":7: resource 'q' has an empty 'if'",
        ),
        (
            "name: x\nproviders: [awscc]\nresources:\n  - name: q\n    type: command\n"
            "    sql: SELECT 1\n    resource_type: AWS::S3::Bucket\n",
            ":7: 'resource_type' is not used by 'command' resources",
        ),
        (
            "name: x\nproviders: [awscc]\nglobals:\n  - name: region\n    value: mars-1\n"
            "resources:\n  - name: b\n    resource_type: AWS::S3::Bucket\n",
            ":5: unknown region 'mars-1'",
        ),
        (
            "name: x\nproviders: [awscc]\nresources:\n  - name: q\n    type: query\n    sql: SELECT 1\n"
            "    values: 3\n    props:\n      - name: p\n        values:\n          dev: 3\n",
            ":11: values.dev of prop 'p' must be a mapping {value: ...}",
        ),
    ],
)
def test_single_errors(make_stack: MakeStack, load: Load, manifest: str, message: str) -> None:
    stack = make_stack(manifest)
    with pytest.raises(ManifestError) as info:
        load(stack)
    assert f"stackql_manifest.yml{message}" in str(info.value)


def test_providers_aws_is_accepted_as_it_is(load: Load) -> None:
    # stackql-deploy 1.x stacks (and the generated awscc docs manifests) say `aws`: its Cloud
    # Control tables run here, so it is neither a warning nor, in strict mode, an error.
    stack = load(DATA / "seed", env_overrides={"AWS_REGION": "us-east-1"})
    assert stack.manifest.providers == ("aws",)
    assert not any("provider" in w for w in stack.warnings)
    strict = load(DATA / "seed", env_overrides={"AWS_REGION": "us-east-1"}, strict=True)
    assert strict.manifest.providers == ("aws",)


def test_version_pins_are_accepted(load: Load) -> None:
    stack = load(DATA / "includes")
    assert stack.manifest.providers == ("awscc::v26.03.00379",)
    assert not any("provider" in w for w in stack.warnings)


def test_names_nothing_defines_are_flagged_before_rendering(
    make_stack: MakeStack, load: Load
) -> None:
    # The includes fixture uses {{ service }} in an included file: located there.
    stack = load(DATA / "includes")
    assert list(stack.warnings) == [
        f"{DATA}/includes/resources/policies/assume.yml:5: warning: prop "
        "'assume_role_policy_document' of resource 'role' uses 'service', which is not a "
        "global, a resource export or an earlier prop"
    ]
    stack_dir = make_stack(
        """\
        name: n
        providers: [awscc]
        globals:
          - name: vpc_name
            value: v
        resources:
          - name: a
            type: query
            sql: |
              SELECT '{{ p1 }}', '{{ a.idempotency_token }}', '{{ uuid() }}'
            exports: [out]
            if: "{{ stack_env }} == dev and {{ ghost }}"
            props:
              - name: p1
                value: "{{ later }}-{{ vpc_nam }}"
              - name: later
                value: "{{ p1 }}{{ out }}{{ b.x }}{{ this.y }}{{ callback.z }}{{ maybe | default('') }}"
          - name: b
            type: command
            sql: SELECT 1
            if: ghosty == 'x' and stack_env == 'dev'
        """
    )
    manifest = f"{stack_dir}/stackql_manifest.yml"
    expected = [
        f"{manifest}:15: prop 'p1' of resource 'a' uses 'later', which is not a global, a "
        "resource export or an earlier prop",
        f"{manifest}:15: prop 'p1' of resource 'a' uses 'vpc_nam', which is not a global, a "
        "resource export or an earlier prop (hint: did you mean 'vpc_name'?)",
        f"{manifest}:17: prop 'later' of resource 'a' uses 'maybe', which is not a global, a "
        "resource export or an earlier prop",
        f"{manifest}:12: the 'if' of resource 'a' uses 'ghost', which is not a global, a "
        "resource export or an earlier prop",
        f"{manifest}:21: the 'if' of resource 'b' uses 'ghosty', which is not a global, a "
        "resource export or an earlier prop",
    ]
    loaded = load(stack_dir)
    assert list(loaded.warnings) == [
        e.replace(": prop", ": warning: prop").replace(": the", ": warning: the") for e in expected
    ]
    with pytest.raises(ManifestProblems) as info:
        load(stack_dir, strict=True)
    assert [str(p) for p in info.value.problems] == expected


def test_declarative_type_is_resolved_in_the_literal_region(
    make_stack: MakeStack, load: Load
) -> None:
    stack = make_stack(
        """\
        name: x
        providers: [awscc]
        globals:
          - name: region
            value: eu-west-1
        resources:
          - name: b
            resource_type: awscc.s3.buckets
          - name: q
            resource_type: aws::sqs::queue
        """
    )
    loaded = load(stack)
    assert [r.resource_type for r in loaded.resources] == ["AWS::S3::Bucket", "AWS::SQS::Queue"]
    assert all(r.declarative for r in loaded.resources)


def test_unknown_stack_export_warns(make_stack: MakeStack, load: Load) -> None:
    stack = make_stack(
        "name: x\nproviders: [awscc]\nresources:\n  - name: q\n    type: query\n"
        "    sql: SELECT 1 AS a\n    exports: [a]\nexports:\n  - a\n  - q.a\n  - stack_env\n  - bb\n"
    )
    loaded = load(stack)
    assert list(loaded.warnings) == [
        f"{stack}/stackql_manifest.yml:12: warning: stack export 'bb' is not a global or an "
        "export of any resource"
    ]


def test_stack_folder_and_env_errors(tmp_path: Path, load: Load) -> None:
    with pytest.raises(UsageError, match=r"stack directory .* not found"):
        load(tmp_path / "nope")
    with pytest.raises(ManifestError, match=r"no stackql_manifest\.yml in"):
        load(tmp_path)
    with pytest.raises(UsageError, match="STACK_ENV"):
        load(DATA / "basic", env="")


def test_model_of_the_basic_stack(load: Load) -> None:
    stack = load(DATA / "basic", env_overrides={"AWS_REGION": "us-east-1", "NET": "0"})
    m = stack.manifest
    assert m.name == "basic-stack" and m.version == 1
    assert [g.name for g in m.globals] == ["region", "cidr_prefix", "global_tags", "name_tag"]
    assert m.globals[0].description == "the region of every resource"
    assert m.exports == ("vpc_id", "bucket_arn", "region")
    vpc, subnet, bucket, lookup, hello, prd_only = m.resources
    assert vpc.type == "resource" and vpc.line == 21
    assert vpc.query_file == DATA / "basic" / "resources" / "vpc.iql"
    assert [(e.column, e.alias, e.name) for e in vpc.exports] == [
        ("vpc_id", None, "vpc_id"),
        ("vpc_cidr_block", "vpc_cidr", "vpc_cidr"),
    ]
    assert vpc.props[0].values == {"dev": "{{ cidr_prefix }}.0.0/16", "prd": "10.1.0.0/16"}
    assert vpc.props[1].merge == ("global_tags",)
    assert subnet.depends_on == ("vpc",)
    assert bucket.declarative and bucket.resource_type == "AWS::S3::Bucket"
    assert not vpc.declarative
    assert lookup.type == "query" and lookup.sql is not None and lookup.sql_line == 65
    assert hello.type == "script" and hello.run_line == 70
    assert prd_only.condition == "stack_env == 'prd'" and prd_only.condition_line == 75
    # Definitions are hashable (the executor keys graphs by them).
    assert len({*m.resources}) == 6
    assert m.resource("bucket") is bucket


def test_declarative_props_and_exports_must_be_properties(
    make_stack: MakeStack, load: Load
) -> None:
    stack = make_stack(
        """\
        name: d
        providers: [awscc]
        resources:
          - name: queue
            resource_type: AWS::SQS::Queue
            props:
              - name: queue_name
                value: q
              - name: VisibilityTimeout
                value: 30
              - name: visibility_timout
                value: 30
            exports:
              - queue_url
              - arn: queue_arn
              - {quue_name: qn}
              - region
        """
    )
    with pytest.raises(ManifestProblems) as info:
        load(stack)
    manifest = f"{stack}/stackql_manifest.yml"
    assert [str(p) for p in info.value.problems] == [
        f"{manifest}:11: prop 'visibility_timout' is not a property of AWS::SQS::Queue "
        "(hint: did you mean 'visibility_timeout'?)",
        f"{manifest}:16: export 'quue_name' is not a property of AWS::SQS::Queue "
        "(hint: did you mean 'queue_name'?)",
    ]
