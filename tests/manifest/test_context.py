"""Rendering: variables, globals, props (value/values/merge), exports, this.*, if."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from stackdeploy.errors import DeployError, ManifestError, QueryError, TemplateError, UsageError
from stackdeploy.manifest import EVALUATED, UNKNOWN, merge_values

from .conftest import DATA, MakeStack, StackView

Load = Callable[..., StackView]
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def one_resource(globals_yaml: str = "", props_yaml: str = "", extra: str = "") -> str:
    """A manifest with one query resource (inline sql), so no query file is needed."""
    return (
        "name: st\nproviders: [awscc]\n"
        + (f"globals:\n{globals_yaml}" if globals_yaml else "")
        + "resources:\n  - name: r\n    type: query\n    sql: SELECT 1\n"
        + (f"    props:\n{props_yaml}" if props_yaml else "")
        + extra
    )


# ---------------------------------------------------------------------------- variables


def test_globals_render_in_order_with_env_vars_bare_and_under_vars(
    make_stack: MakeStack, load: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FROM_SHELL", "never")
    stack_dir = make_stack(
        one_resource(
            "  - name: region\n    value: '{{ AWS_REGION }}'\n"
            "  - name: same\n    value: '{{ vars.AWS_REGION }}'\n"
            "  - name: label\n    value: '{{ stack_name }}-{{ stack_env }}-{{ region }}'\n"
            "  - name: count\n    value: 3\n"
            "  - name: tags\n    value: [{Key: env, Value: '{{ stack_env }}'}]\n"
        )
    )
    (stack_dir / "my.env").write_text("AWS_REGION=us-west-2\nOTHER=x\n")
    stack = load(
        stack_dir, env_file=stack_dir / "my.env", env_overrides={"AWS_REGION": "eu-west-1"}
    )
    ctx = stack.global_context()
    assert ctx["region"] == "eu-west-1" and ctx["same"] == "eu-west-1"
    assert ctx["label"] == "st-dev-eu-west-1"
    assert ctx["count"] == 3  # scalars keep their type
    assert ctx["tags"] == [{"Key": "env", "Value": "dev"}]
    assert stack.region == "eu-west-1"
    # Env vars are for globals only as bare names, and visible everywhere under vars;
    # the process environment is never visible.
    assert "OTHER" not in ctx and "FROM_SHELL" not in ctx
    assert "OTHER" not in stack.resource_context("r")
    assert stack.resource_context("r")["vars"] == {"AWS_REGION": "eu-west-1", "OTHER": "x"}
    assert "FROM_SHELL" not in stack.resource_context("r")["vars"]


def test_env_vars_are_not_visible_to_props(make_stack: MakeStack, load: Load) -> None:
    stack_dir = make_stack(
        one_resource(props_yaml="      - name: p\n        value: '{{ SECRET }}'\n")
    )
    stack = load(stack_dir, env_overrides={"SECRET": "s"})
    with pytest.raises(TemplateError, match=r"stackql_manifest.yml:9: undefined variable 'SECRET'"):
        stack.render_props("r")


def test_process_environment_is_not_visible_to_globals(
    make_stack: MakeStack, load: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME_REGION", "us-east-2")
    stack_dir = make_stack(one_resource("  - name: region\n    value: '{{ HOME_REGION }}'\n"))
    with pytest.raises(TemplateError, match=r":5: undefined variable 'HOME_REGION'"):
        load(stack_dir)


def test_a_global_sees_only_earlier_globals(make_stack: MakeStack, load: Load) -> None:
    stack_dir = make_stack(
        one_resource("  - name: a\n    value: '{{ b }}'\n  - name: b\n    value: x\n")
    )
    with pytest.raises(TemplateError) as info:
        load(stack_dir)
    assert str(info.value).startswith(f"{stack_dir}/stackql_manifest.yml:5: undefined variable 'b'")


def test_a_global_rendering_empty_is_fatal(make_stack: MakeStack, load: Load) -> None:
    stack_dir = make_stack(
        one_resource(
            "  - name: ok\n    value: x\n  - name: region\n    value: '{{ AWS_REGION }}'\n"
        )
    )
    with pytest.raises(ManifestError) as info:
        load(stack_dir, env_overrides={"AWS_REGION": ""})
    assert str(info.value).startswith(
        f"{stack_dir}/stackql_manifest.yml:7: global 'region' rendered empty"
    )


def test_resource_scoped_globals_are_rendered_per_resource(load: Load) -> None:
    stack = load(DATA / "basic", env_overrides={"AWS_REGION": "us-east-1", "NET": "0"})
    assert "name_tag" not in stack.global_context()
    assert stack.resource_context("vpc")["name_tag"] == "basic-stack-dev-vpc"
    assert stack.resource_context("subnet")["name_tag"] == "basic-stack-dev-subnet"


def test_globals_using_a_scoped_global_are_scoped_too(make_stack: MakeStack, load: Load) -> None:
    stack_dir = make_stack(
        one_resource(
            "  - name: tok\n    value: 't-{{ idempotency_token }}'\n"
            "  - name: both\n    value: '{{ tok }}/{{ resource_name }}'\n"
            "  - name: plain\n    value: p\n"
        )
    )
    stack = load(stack_dir)
    ctx = stack.resource_context("r")
    assert ctx["both"] == f"t-{stack.token('r')}/r"
    assert set(stack.global_context()) >= {"plain"}
    assert "tok" not in stack.global_context() and "both" not in stack.global_context()


def test_idempotency_tokens_one_per_resource_per_run(load: Load) -> None:
    stack = load(DATA / "basic", env_overrides={"AWS_REGION": "us-east-1", "NET": "0"})
    tokens = {r.name: stack.token(r) for r in stack.resources}
    assert all(UUID4.match(t) for t in tokens.values())
    assert len(set(tokens.values())) == len(tokens)
    ctx = stack.resource_context("vpc")
    assert ctx["idempotency_token"] == tokens["vpc"]
    assert ctx["subnet.idempotency_token"] == tokens["subnet"]
    assert stack.resource_context("vpc")["idempotency_token"] == tokens["vpc"]  # stable
    again = load(DATA / "basic", env_overrides={"AWS_REGION": "us-east-1", "NET": "0"})
    assert again.token("vpc") != tokens["vpc"]  # a new run, new tokens


# ---------------------------------------------------------------------------- props


def test_props_value_values_types_and_order(load: Load) -> None:
    dev = load(DATA / "basic", env_overrides={"AWS_REGION": "us-east-1", "NET": "7"})
    dev.record_exports("vpc", {"vpc_id": "vpc-1", "vpc_cidr_block": "10.7.0.0/16"})
    props = dev.render_props("subnet")
    assert list(props) == ["vpc_id", "cidr_block", "map_public_ip", "count"]
    assert props == {
        "vpc_id": "vpc-1",
        "cidr_block": "10.7.1.0/24",
        "map_public_ip": True,
        "count": 3,
    }
    assert dev.render_props("vpc")["cidr_block"] == "10.7.0.0/16"
    prd = load(DATA / "basic", env="prd", env_overrides={"AWS_REGION": "us-east-1", "NET": "7"})
    assert prd.render_props("vpc")["cidr_block"] == "10.1.0.0/16"


def test_props_shadow_globals_and_see_earlier_props(make_stack: MakeStack, load: Load) -> None:
    stack_dir = make_stack(
        one_resource(
            "  - name: region\n    value: us-east-1\n",
            "      - name: region\n        value: eu-west-1\n"
            "      - name: where\n        value: 'in {{ region }}'\n"
            "      - name: nested\n        value:\n          a: ['{{ where }}', 1, true, null, {}]\n"
            '          json: \'{"k": "{{ region }}"}\'\n',
        )
    )
    stack = load(stack_dir)
    props = stack.render_props("r")
    assert props["where"] == "in eu-west-1"
    assert props["nested"] == {
        "a": ["in eu-west-1", 1, True, None, {}],
        # JSON text stays a string; the schema coercion decides later.
        "json": '{"k": "eu-west-1"}',
    }
    # The shadowing is local to the props: the global is unchanged.
    assert stack.resource_context("r")["region"] == "us-east-1"
    query = stack.render_query("r", "SELECT '{{ region }}', '{{ nested }}'")
    assert (
        query
        == 'SELECT \'eu-west-1\', \'{"a":["in eu-west-1",1,true,null,{}],"json":{"k":"eu-west-1"}}\''
    )


def test_undefined_variable_in_a_prop_names_file_line_and_variable(
    make_stack: MakeStack, load: Load
) -> None:
    stack_dir = make_stack(
        one_resource(
            "  - name: vpc_name\n    value: x\n",
            "      - name: ok\n        value: fine\n"
            "      - name: deep\n        value:\n          list:\n            - one\n"
            "            - '{{ vpc_nme }}'\n",
        )
    )
    stack = load(stack_dir)
    with pytest.raises(TemplateError) as info:
        stack.render_props("r")
    assert str(info.value) == (
        f"{stack_dir}/stackql_manifest.yml:17: undefined variable 'vpc_nme' "
        "(hint: did you mean 'vpc_name'?)"
    )
    assert info.value.line == 17


def test_values_for_the_current_env(make_stack: MakeStack, load: Load) -> None:
    stack_dir = make_stack(
        one_resource(
            props_yaml="      - name: size\n        values:\n"
            "          dev: {value: 1}\n          prd:\n            value: '{{ stack_env }}-big'\n"
        )
    )
    assert load(stack_dir).render_props("r") == {"size": 1}
    assert load(stack_dir, env="prd").render_props("r") == {"size": "prd-big"}
    with pytest.raises(
        ManifestError, match=r":9: prop 'size' of resource 'r' has no value for environment 'test'"
    ):
        load(stack_dir, env="test")


MERGE = """\
name: m
providers: [awscc]
globals:
  - name: global_tags
    value:
      - {Key: a, Value: "1"}
      - {Key: b, Value: "2"}
  - name: policy
    value: {x: 1, y: 1}
  - name: text_list
    value: '[{"Key": "c", "Value": "3"}]'
resources:
  - name: r
    type: query
    sql: SELECT 1
    props:
      - name: tags
        value:
          - {Key: b, Value: "2"}
          - {Key: z, Value: "{{ stack_env }}"}
        merge: [global_tags, text_list]
      - name: obj
        value: {y: 2, z: 2}
        merge: [policy]
      - name: adopted
        merge: [policy]
      - name: twice
        value: '["p"]'
        merge: [extra]
      - name: extra
        value: ["e"]
"""


def test_merge_lists_objects_and_adopt(make_stack: MakeStack, load: Load) -> None:
    # 'twice' merges 'extra', which is a later prop: unknown at that point.
    stack_dir = make_stack(MERGE.replace("        merge: [extra]\n", ""))
    props = load(stack_dir).render_props("r")
    assert props["tags"] == [
        {"Key": "b", "Value": "2"},
        {"Key": "z", "Value": "dev"},
        {"Key": "a", "Value": "1"},
        {"Key": "c", "Value": "3"},
    ]
    assert props["obj"] == {"y": 1, "z": 2, "x": 1}  # the merged item wins
    assert props["adopted"] == {"x": 1, "y": 1}


def test_merge_unknown_name_and_mismatch_are_fatal(make_stack: MakeStack, load: Load) -> None:
    stack_dir = make_stack(MERGE)
    with pytest.raises(ManifestError) as info:
        load(stack_dir).render_props("r")
    assert str(info.value).startswith(
        f"{stack_dir}/stackql_manifest.yml:29: prop 'twice' of resource 'r': merge names "
        "'extra', which is not a global, an export or an earlier prop"
    )
    stack_dir = make_stack(
        MERGE.replace(
            "merge: [policy]\n      - name: adopted", "merge: [global_tags]\n      - name: adopted"
        ),
        name="s2",
    )
    with pytest.raises(
        ManifestError,
        match=r":24: prop 'obj' of resource 'r': merge 'global_tags': cannot merge a list into an object",
    ):
        load(stack_dir).render_props("r")


def test_merge_values_semantics() -> None:
    assert merge_values([1, {"a": 1}], [{"a": 1}, 2, 1]) == [1, {"a": 1}, 2]
    assert merge_values({"a": 1, "b": 1}, {"b": 2}) == {"a": 1, "b": 2}
    assert merge_values(None, [1]) == [1]
    with pytest.raises(TypeError):
        merge_values("text", [1])


def test_merge_with_a_placeholder_export(make_stack: MakeStack, load: Load) -> None:
    stack_dir = make_stack(
        "name: m\nproviders: [awscc]\nresources:\n"
        "  - name: a\n    type: query\n    sql: SELECT 1\n    exports: [tags]\n"
        "  - name: b\n    type: query\n    sql: SELECT 1\n    props:\n"
        "      - name: t\n        value: [x]\n        merge: [tags]\n"
    )
    stack = load(stack_dir)
    stack.set_placeholder_exports("a", EVALUATED)
    assert stack.render_props("b") == {"t": EVALUATED}
    real = load(stack_dir)
    real.record_exports("a", {"tags": '["y", "x"]'})
    assert real.render_props("b") == {"t": ["x", "y"]}


# ---------------------------------------------------------------------------- includes


def test_included_values_are_rendered_with_their_own_lines(load: Load) -> None:
    stack = load(DATA / "includes")
    ctx = stack.global_context()
    assert ctx["base_policy"] == {"Version": "2012-10-17", "Statement": []}
    assert ctx["common_tags"] == [
        {"Key": "stack", "Value": "includes"},
        {"Key": "env", "Value": "dev"},
    ]
    with pytest.raises(TemplateError) as info:
        stack.render_props("role")
    assert (
        str(info.value)
        == f"{DATA}/includes/resources/policies/assume.yml:5: undefined variable 'service'"
    )


def test_included_prop_value_renders(load: Load, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "inc"
    shutil.copytree(DATA / "includes", copy)
    text = (copy / "stackql_manifest.yml").read_text()
    (copy / "stackql_manifest.yml").write_text(
        text.replace("globals:\n", "globals:\n  - name: service\n    value: ec2\n")
    )
    props = load(copy).render_props("role")
    assert props["assume_role_policy_document"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
            }
        ],
    }
    assert props["tags"] == [{"Key": "stack", "Value": "includes"}, {"Key": "env", "Value": "dev"}]


# ---------------------------------------------------------------------------- seed shape


def test_seed_manifest_shape_renders(load: Load) -> None:
    stack = load(DATA / "seed", env_overrides={"AWS_REGION": "us-east-1"})
    assert stack.global_context()["region"] == "us-east-1"
    props = stack.render_props("cluster")
    assert props["vpc_config"] == {"security_group_ids": ["sg-0123"], "subnets": ["subnet-0abc"]}
    group = props["instance_groups"][0]
    assert group["life_cycle_config"] == {
        "source_s3_uri": "s3://hyperpod-dev-lifecycle/scripts/",
        "on_create": "on_create.sh",
    }
    assert group["instance_storage_configs"] == [{}]
    assert group["override_vpc_config"] is None
    # Rendered numbers are text here; the schema coerces them (InstanceCount is an integer).
    assert group["instance_count"] == "2"
    query_text = (DATA / "seed" / "resources" / "cluster.iql").read_text()
    create = query_text.split("/*+ delete */")[0]
    rendered = stack.render_query("cluster", create, line=1)
    assert '\'[{"instance_group_name":"workers",' in rendered
    assert "'us-east-1';" in rendered


# ---------------------------------------------------------------------------- queries


def test_render_query_reports_query_file_and_line(load: Load) -> None:
    stack = load(DATA / "basic", env_overrides={"AWS_REGION": "us-east-1", "NET": "0"})
    body = "INSERT INTO awscc.ec2.subnets (VpcId)\nSELECT '{{ vpc_id }}'\n"
    with pytest.raises(TemplateError) as info:
        stack.render_query("subnet", body, line=2)
    # subnet's vpc_id prop needs vpc's export, not recorded yet: the prop's own line.
    assert str(info.value).startswith(
        f"{DATA}/basic/stackql_manifest.yml:42: undefined variable 'vpc.vpc_id'"
    )
    stack.record_exports("vpc", {"vpc_id": "vpc-9", "vpc_cidr_block": "10.0.0.0/16"})
    with pytest.raises(TemplateError) as info:
        stack.render_query("subnet", "SELECT 1\nFROM x WHERE a = '{{ nope }}'", line=10)
    assert str(info.value).startswith(
        f"{DATA}/basic/resources/subnet.iql:11: undefined variable 'nope'"
    )
    assert (
        stack.render_query("subnet", body, line=2)
        == "INSERT INTO awscc.ec2.subnets (VpcId)\nSELECT 'vpc-9'\n"
    )


def test_inline_sql_and_run(load: Load) -> None:
    stack = load(DATA / "basic", env_overrides={"AWS_REGION": "us-east-1", "NET": "0"})
    with pytest.raises(
        TemplateError, match=r"basic/stackql_manifest.yml:65: undefined variable 'vpc_id'"
    ):
        stack.render_sql("lookup")
    stack.record_exports("vpc", {"vpc_id": "vpc-9", "vpc_cidr_block": "10.0.0.0/16"})
    assert stack.render_sql("lookup") == "SELECT 'vpc-9' as vpc_id_copy\n"
    assert stack.render_run("hello") == 'echo \'{"greeting":"hello dev"}\''


# ---------------------------------------------------------------------------- exports


def _exports_stack(make_stack: MakeStack, load: Load) -> StackView:
    stack_dir = make_stack(
        "name: e\nproviders: [awscc]\nresources:\n"
        "  - name: one\n    type: query\n    sql: SELECT 1\n"
        "    exports:\n      - id\n      - arn: one_arn\n      - {name: shared}\n"
        "  - name: two\n    type: query\n    sql: SELECT 1\n"
        "    exports:\n      - id\n      - shared\n"
        "exports: [id, one_arn, shared]\n"
    )
    return load(stack_dir)


def test_exports_plain_aliased_mixed(make_stack: MakeStack, load: Load) -> None:
    stack = _exports_stack(make_stack, load)
    stored = stack.record_exports("one", {"id": "i-1", "arn": "arn:1", "name": "n1", "extra": "x"})
    assert stored == {"id": "i-1", "one_arn": "arn:1", "shared": "n1"}
    ctx = stack.resource_context("two")
    # Mixed forms: nothing dropped (quirk 5).
    assert ctx["id"] == "i-1" and ctx["one_arn"] == "arn:1" and ctx["shared"] == "n1"
    assert ctx["one.id"] == "i-1" and ctx["one.one_arn"] == "arn:1" and ctx["one.shared"] == "n1"
    assert "arn" not in ctx and "extra" not in ctx
    assert stack.render_query("two", "{{ one.one_arn }} {{ one_arn }}") == "arn:1 arn:1"


def test_exports_resolve_by_manifest_order_not_by_timing(make_stack: MakeStack, load: Load) -> None:
    stack = _exports_stack(make_stack, load)
    stack.record_exports("two", {"id": "i-2", "shared": "n2"})
    # two ran first, but 'one' comes before 'two' in the manifest: one sees no 'id' of two.
    assert "id" not in stack.resource_context("one")
    stack.record_exports("one", {"id": "i-1", "arn": "a", "name": "n1"})
    assert stack.resource_context("one")["id"] == "i-1"
    ctx = stack.global_context()
    assert ctx["id"] == "i-2" and ctx["shared"] == "n2"  # <n>: the last exporter in the manifest
    assert ctx["one.id"] == "i-1" and ctx["two.id"] == "i-2"
    stack.record_exports("one", {"id": "i-3", "arn": "b", "name": "n3"})
    ctx = stack.global_context()
    assert ctx["id"] == "i-2"  # still two's: it comes later in the manifest
    assert ctx["one.id"] == "i-3"  # <res>.<n>: the resource's latest exports
    assert stack.stack_exports() == {
        "stack_name": "e",
        "stack_env": "dev",
        "id": "i-2",
        "one_arn": "b",
        "shared": "n2",
    }


def test_exports_errors_and_nulls(make_stack: MakeStack, load: Load) -> None:
    stack = _exports_stack(make_stack, load)
    with pytest.raises(QueryError) as info:
        stack.record_exports("two", {"id": "i"}, line=4)
    assert str(info.value).startswith(
        f"{stack.manifest.display_path}:4: exports of resource 'two': column(s) shared missing "
        "from the result (it has id)"
    )
    stack.record_exports("two", {"id": None, "shared": "s"})
    assert stack.global_context()["id"] is None
    assert stack.render_query("two", "[{{ id }}]") == "[]"


def test_placeholders_do_not_count_as_first_writer(make_stack: MakeStack, load: Load) -> None:
    stack = _exports_stack(make_stack, load)
    stack.set_placeholder_exports("one", UNKNOWN)
    assert stack.global_context()["one.id"] == "<unknown>"
    stack.record_exports("one", {"id": "i-1", "arn": "a", "name": "n"})
    assert stack.global_context()["one.id"] == "i-1"
    stack.set_placeholder_exports("two", EVALUATED)
    assert stack.global_context()["id"] == EVALUATED  # known only after two is applied
    with pytest.raises(ValueError):
        stack.set_placeholder_exports("one", "<nope>")


def test_stack_exports_parse_json_and_require_values(make_stack: MakeStack, load: Load) -> None:
    stack = _exports_stack(make_stack, load)
    with pytest.raises(
        ManifestError, match=r"stackql_manifest.yml:17: stack export 'id' has no value"
    ):
        stack.stack_exports()
    stack.record_exports("one", {"id": '{"a": [1]}', "arn": "[1, 2]", "name": "5"})
    assert stack.stack_exports()["id"] == {"a": [1]}
    assert stack.stack_exports()["one_arn"] == [1, 2]
    assert stack.stack_exports()["shared"] == "5"


# ---------------------------------------------------------------------------- this.*


def test_this_is_local_to_the_resource(make_stack: MakeStack, load: Load) -> None:
    stack_dir = make_stack(
        "name: t\nproviders: [awscc]\nresources:\n"
        "  - name: my-vpc\n    type: query\n    sql: SELECT 1\n"
        "    props:\n      - name: ident\n        value: 'id={{ this.vpc_id }}'\n"
        "  - name: other\n    type: query\n    sql: SELECT 1\n"
    )
    stack = load(stack_dir)
    stack.capture_this("my-vpc", {"vpc_id": "vpc-7"})
    assert stack.render_props("my-vpc") == {"ident": "id=vpc-7"}
    assert (
        stack.render_query("my-vpc", "'{{ this.vpc_id }}' 'this.vpc_id'") == "'vpc-7' 'this.vpc_id'"
    )
    with pytest.raises(TemplateError, match="undefined variable"):
        stack.render_query("other", "{{ this.vpc_id }}")
    assert "my-vpc.vpc_id" not in stack.global_context()  # never exported


def test_return_vals_and_callback(make_stack: MakeStack, load: Load) -> None:
    stack_dir = make_stack(
        "name: t\nproviders: [awscc]\nresources:\n"
        "  - name: r\n    file: r.iql\n"
        "    return_vals:\n      create: [Identifier, {RequestToken: token}]\n",
        {"resources/r.iql": "/*+ create */\nSELECT 1\n"},
    )
    stack = load(stack_dir)
    row = {"Identifier": "id-1", "RequestToken": "tok", "ResourceModel": '{"BucketName": "b"}'}
    assert stack.apply_return_vals("r", "create", row) == {"Identifier": "id-1", "token": "tok"}
    assert stack.render_query("r", "{{ this.Identifier }}/{{ this.token }}") == "id-1/tok"
    assert stack.apply_return_vals("r", "update", row) == {}
    with pytest.raises(DeployError, match=r"return_vals\.create field 'Identifier' is missing"):
        stack.apply_return_vals("r", "create", {"RequestToken": "t"})
    with pytest.raises(DeployError, match="is empty in the RETURNING row"):
        stack.apply_return_vals("r", "create", {"Identifier": "", "RequestToken": "t"})
    stack.record_callback("r", row)
    assert (
        stack.render_query(
            "r", "{{ callback.ResourceModel.BucketName }} {{ r.callback.Identifier }}"
        )
        == "b id-1"
    )


# ---------------------------------------------------------------------------- secrets


def test_secret_values_from_protected_exports_and_props(make_stack: MakeStack, load: Load) -> None:
    stack_dir = make_stack(
        "name: s\nproviders: [awscc]\nresources:\n"
        "  - name: db\n    type: query\n    sql: SELECT 1\n"
        "    props:\n      - name: password\n        value: 'pw-{{ stack_env }}'\n"
        "      - name: user\n        value: admin\n"
        "    exports:\n      - secret_arn: arn\n      - endpoint\n"
        "    protected: [password, secret_arn]\n"
    )
    stack = load(stack_dir)
    assert stack.secret_values() == set()
    stack.render_props("db")
    stack.record_exports("db", {"secret_arn": "arn:secret", "endpoint": "db.local"})
    assert stack.secret_values() == {"pw-dev", "arn:secret"}


# ---------------------------------------------------------------------------- if


@pytest.mark.parametrize(
    ("condition", "env", "holds"),
    [
        ("stack_env == 'prd'", "prd", True),
        ("stack_env == 'prd'", "dev", False),
        ("\"'{{ stack_env }}' == 'prd'\"", "prd", True),
        ("\"'{{ stack_env }}' != 'prd'\"", "prd", False),
        ('"{{ stack_env }} == dev"', "dev", True),
        ('"{{ stack_env }} in [dev,test]"', "test", True),
        ("stack_env in ['dev', 'test']", "prd", False),
        ("true", "dev", True),
        ("false", "dev", False),
        ("resource_name == 'r' and feature == 'on'", "dev", True),
        ("this.state == 'on'", "dev", True),
    ],
)
def test_if_forms(make_stack: MakeStack, load: Load, condition: str, env: str, holds: bool) -> None:
    stack_dir = make_stack(
        one_resource("  - name: feature\n    value: 'on'\n", extra=f"    if: {condition}\n")
    )
    stack = load(stack_dir, env=env)
    stack.capture_this("r", {"state": "on"})
    assert stack.condition_holds("r") is holds


def test_if_sees_exports_not_props_and_never_evals(make_stack: MakeStack, load: Load) -> None:
    stack_dir = make_stack(
        "name: c\nproviders: [awscc]\nresources:\n"
        "  - name: a\n    type: query\n    sql: SELECT 1\n    exports: [enabled]\n"
        "  - name: b\n    type: query\n    sql: SELECT 1\n    if: enabled == 'yes'\n"
        "    props:\n      - name: p\n        value: '{{ missing_export }}'\n"
        "  - name: c\n    type: query\n    sql: SELECT 1\n    if: \"__import__('os').system('true')\"\n"
        "  - name: d\n    type: query\n    sql: SELECT 1\n    if: typo == 1\n"
    )
    stack = load(stack_dir)
    assert stack.condition_holds("a") is True
    stack.record_exports("a", {"enabled": "no"})
    assert stack.condition_holds("b") is False  # props (which cannot render) are not needed
    with pytest.raises(TemplateError):
        stack.condition_holds("c")
    with pytest.raises(TemplateError) as info:
        stack.condition_holds("d")
    assert str(info.value).startswith(
        f"{stack_dir}/stackql_manifest.yml:22: condition 'typo == 1': undefined variable 'typo'"
    )


def test_load_accepts_the_manifest_file_and_names_query_files(load: Load) -> None:
    stack = load(
        DATA / "basic" / "stackql_manifest.yml", env_overrides={"AWS_REGION": "x", "NET": "1"}
    )
    assert stack.name == "basic-stack"
    assert stack.query_display("vpc") == f"{DATA}/basic/resources/vpc.iql"
    assert stack.query_display("lookup") == f"{DATA}/basic/stackql_manifest.yml"
    with pytest.raises(UsageError, match=r"no resource 'vcp'.*did you mean 'vpc'"):
        stack.render_props("vcp")


def test_teardown_gives_aliased_exports_their_column_names(
    make_stack: MakeStack, load: Load
) -> None:
    stack = _exports_stack(make_stack, load)
    stack.record_exports("one", {"id": "i-1", "arn": "arn:1", "name": "n1"})
    assert "arn" not in stack.resource_context("one")
    stack.alias_columns_for_teardown("one")  # docs/engine.md, teardown: col = ctx[alias]
    ctx = stack.resource_context("one")
    assert ctx["arn"] == "arn:1" and ctx["name"] == "n1"
    assert stack.render_query("one", "{{ arn }}") == "arn:1"
