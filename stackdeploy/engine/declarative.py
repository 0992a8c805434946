"""Declarative resources: ``resource_type:`` plus props, no query file.

The props (snake_case or CloudFormation names, any depth) are the desired state, prepared
and validated against the type's schema before any call. The resource is found again:

1. by its primary identifier when the props give it (``BucketName``, ``QueueName``...);
2. otherwise, for taggable types, by the tags stack-deploy adds on create
   (``stackql:stack-name``, ``stackql:stack-env``, ``stackql:resource-name``, the keys
   stackql-deploy stacks use), so a re-run never creates a duplicate, and a resource whose
   name changed is recognised (a create-only change: a replacement) rather than orphaned;
3. otherwise by matching the create-only properties the props give (for example an
   AWS::EC2::Route by its route table and destination), listed with the list handler's
   required properties.

Where none of these applies the plan refuses, before anything changes, and says why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from stackdeploy.engine.context import RunContext
from stackdeploy.engine.live import export_row, resolve_export_columns
from stackdeploy.errors import DeployError, ManifestError, PlanError
from stackdeploy.manifest.model import ResourceDef
from stackdeploy.plan.diff import values_equal
from stackdeploy.plan.model import ResourcePlan, plan_resource
from stackdeploy.schema import desired as desired_state
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.registry import get_schema

log = logging.getLogger("stackdeploy.engine")

TAG_STACK = "stackql:stack-name"
TAG_ENV = "stackql:stack-env"
TAG_RESOURCE = "stackql:resource-name"


def tags_of(schema: ResourceSchema, props: Mapping[str, Any]) -> dict[str, str]:
    """A resource's tags as a map, whether the schema keeps a list or a map."""
    if schema.tag_property is None:
        return {}
    value = props.get(schema.tag_property)
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        out = {}
        for item in value:
            if isinstance(item, Mapping) and "Key" in item:
                out[str(item["Key"])] = str(item.get("Value", ""))
        return out
    return {}


def with_tags(
    schema: ResourceSchema, state: dict[str, Any], tags: dict[str, str]
) -> dict[str, Any]:
    """``state`` plus ``tags`` (existing keys the user set are kept)."""
    prop = schema.tag_property
    assert prop is not None
    current = state.get(prop)
    out = dict(state)
    if schema.tags_are_map:
        merged = dict(current) if isinstance(current, Mapping) else {}
        for key, value in tags.items():
            merged.setdefault(key, value)
        out[prop] = merged
    else:
        items = list(current) if isinstance(current, list) else []
        present = {i.get("Key") for i in items if isinstance(i, Mapping)}
        items += [{"Key": k, "Value": v} for k, v in tags.items() if k not in present]
        out[prop] = items
    return out


def _has_placeholder(value: Any) -> bool:
    from stackdeploy.manifest.context import PLACEHOLDERS

    if isinstance(value, str):
        return any(p in value for p in PLACEHOLDERS)
    if isinstance(value, Mapping):
        return any(_has_placeholder(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_placeholder(v) for v in value)
    return False


def _placeholder_at(state: Any, pointer: str) -> bool:
    """True when the value at JSON ``pointer`` is text holding a placeholder."""
    node = state
    for token in [t for t in pointer.split("/") if t]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return isinstance(node, str) and _has_placeholder(node)


def strip_placeholders(
    state: Mapping[str, Any], prefix: str = ""
) -> tuple[dict[str, Any], list[str]]:
    """``state`` without the values holding ``<evaluated>`` / ``<unknown>``, and the paths
    of what was left out (objects are descended into; a list is left out whole)."""
    out: dict[str, Any] = {}
    removed: list[str] = []
    for key, value in state.items():
        path = f"{prefix}/{key}"
        if isinstance(value, Mapping):
            inner, gone = strip_placeholders(value, path)
            removed += gone
            if inner or not gone:
                out[key] = inner
        elif _has_placeholder(value):
            removed.append(path)
        else:
            out[key] = value
    return out, removed


class DeclarativeResource:
    """A resource managed from its props and schema alone."""

    def __init__(self, run: RunContext, res: ResourceDef) -> None:
        assert res.resource_type is not None
        self.run = run
        self.res = res
        self.stack = run.stack
        self.region = run.region
        self.schema = get_schema(res.resource_type, self.region)
        self.identifier: str | None = None
        self.live: dict[str, Any] | None = None
        self._looked_up = False  # find() ran for this run: absent is known too
        self.how_found: str | None = None
        self._desired: dict[str, Any] | None = None
        # Teardown reads the desired state only to find the resource: props may hold
        # <unknown> placeholders there, so it is not validated.
        self.validate = True

    # -- desired state ------------------------------------------------------------------------

    def desired(self) -> dict[str, Any]:
        if self._desired is not None:
            return self._desired
        state = desired_state.prepare(self.schema, self.stack.render_props(self.res))
        if self.schema.taggable:
            # Tagged even when the props name the resource: a rename is then recognised as
            # the same resource (a replacement), not a new one beside an orphan.
            state = with_tags(self.schema, state, self.stack_tags())
        if self.validate:
            # A value a dry run cannot know yet (<evaluated>) is not judged; the rest is.
            violations = [
                str(v)
                for v in desired_state.validate(self.schema, state, mode="create")
                if not _placeholder_at(state, v.path)
            ]
            if violations:
                shown = "; ".join(violations[:5])
                more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
                raise ManifestError(
                    f"resource {self.res.name!r} ({self.schema.type_name}): {shown}{more}",
                    file=self.stack.manifest.display_path,
                    line=self.res.line,
                    hint=f"stack-deploy describe {self.schema.awscc_name} lists its properties",
                )
        self._desired = state
        return state

    def stack_tags(self) -> dict[str, str]:
        return {
            TAG_STACK: self.stack.name,
            TAG_ENV: self.stack.env,
            TAG_RESOURCE: self.res.name,
        }

    # -- finding ------------------------------------------------------------------------------

    def find(self) -> tuple[str | None, dict[str, Any] | None]:
        """(identifier, live properties) of the deployed resource, (None, None) if absent."""
        self._looked_up = True
        desired = self.desired()
        cloud = self.run.cloud
        identifier = self.schema.identifier_of(desired)
        if identifier is not None:
            live = cloud.get_resource(self.schema.type_name, identifier, region=self.region)
            self.how_found = "by identifier"
            if live is not None:
                return identifier, live
            if not self.schema.taggable:
                return None, None
        if self.schema.taggable:
            wanted = self.stack_tags()
            matches = [
                (ident, props)
                for ident, props in self._listed(desired)
                if all(tags_of(self.schema, props).get(k) == v for k, v in wanted.items())
            ]
            self.how_found = "by stack tags"
        else:
            keys = [
                p
                for p in self.schema.properties
                if self.schema.is_create_only((p,)) and p in desired
            ]
            if not keys:
                raise PlanError(
                    f"resource {self.res.name!r} ({self.schema.type_name}): AWS chooses its "
                    "identifier, the type cannot be tagged and no create-only property is "
                    "set, so it could not be found again after a create",
                    hint="use a query file with an exists query for this resource",
                )
            matches = [
                (ident, props)
                for ident, props in self._listed(desired)
                if all(values_equal(props.get(k), desired[k]) for k in keys)
            ]
            self.how_found = f"by {', '.join(keys)}"
        if len(matches) > 1:
            raise DeployError(
                f"resource {self.res.name!r}: {len(matches)} {self.schema.type_name} resources "
                f"match it ({self.how_found}): {', '.join(m[0] for m in matches)}",
                hint="delete the duplicates or give the resource's identifier in its props",
            )
        if not matches:
            return None, None
        identifier = matches[0][0]
        live = cloud.get_resource(self.schema.type_name, identifier, region=self.region)
        return (identifier, live) if live is not None else (None, None)

    def _listed(self, desired: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        model = None
        if self.schema.list_required:
            model = {k: desired[k] for k in self.schema.list_required if k in desired}
            if len(model) != len(self.schema.list_required):
                raise PlanError(
                    f"resource {self.res.name!r}: listing {self.schema.type_name} needs "
                    f"{', '.join(self.schema.list_required)} in its props"
                )
        out = []
        for identifier, props in self.run.cloud.list_resources(
            self.schema.type_name, region=self.region, resource_model=model
        ):
            if not props or (self.schema.taggable and self.schema.tag_property not in props):
                props = (
                    self.run.cloud.get_resource(
                        self.schema.type_name, identifier, region=self.region
                    )
                    or {}
                )
            out.append((identifier, props))
        return out

    # -- planning and applying ----------------------------------------------------------------

    def plan(self, *, depends_on: tuple[str, ...] = ()) -> ResourcePlan:
        desired = self.desired()
        self.identifier, self.live = self.find()
        notes = []
        if self.live is not None:
            # Values that depend on what a dry run has not created yet cannot be compared.
            desired, unknown = strip_placeholders(desired)
            if unknown:
                notes.append(f"known only after apply: {', '.join(unknown)}")
        if self.live is not None and self.how_found and self.how_found != "by identifier":
            notes.append(f"found {self.how_found}")
        from stackdeploy.report.mask import Masker

        return plan_resource(
            self.schema,
            name=self.res.name,
            desired=desired,
            live=self.live,
            identifier=self.identifier,
            depends_on=depends_on,
            allow_replace=self.run.options.allow_replace or self.res.replace,
            notes=notes,
            mask=Masker(protected_values=self.stack.secret_values()).text,
        )

    def apply(self, plan: ResourcePlan) -> None:
        cloud = self.run.cloud
        type_name = self.schema.type_name
        if plan.action in ("noop", "skip"):
            return
        if plan.action == "replace":
            assert self.identifier is not None
            cloud.delete_resource(
                type_name,
                self.identifier,
                region=self.region,
                timeout_minutes=self.schema.timeout_minutes("delete"),
            )
        if plan.action in ("create", "replace"):
            event = cloud.create_resource(
                type_name,
                self.desired(),
                region=self.region,
                timeout_minutes=self.schema.timeout_minutes("create"),
            )
            self.identifier = event.identifier
        elif plan.action == "update":
            assert self.identifier is not None
            cloud.update_resource(
                type_name,
                self.identifier,
                list(plan.patch),
                region=self.region,
                timeout_minutes=self.schema.timeout_minutes("update"),
            )
        if self.identifier is None:
            raise DeployError(f"resource {self.res.name!r}: Cloud Control returned no identifier")
        self.live = cloud.get_resource(type_name, self.identifier, region=self.region)
        if self.live is None:
            raise DeployError(
                f"resource {self.res.name!r}: {type_name} {self.identifier!r} is not readable "
                f"after {plan.action}"
            )

    def record_exports(self) -> None:
        if not self.res.exports:
            return
        if self.live is None or self.identifier is None:
            raise DeployError(f"resource {self.res.name!r} has no live state to export from")
        row = export_row(self.schema, self.live, self.identifier)
        resolve_export_columns(self.schema, row, [e.column for e in self.res.exports])
        self.stack.record_exports(self.res, row, file=self.stack.manifest.display_path)

    def collect_exports_for_teardown(self) -> bool:
        """Teardown phase A: find the resource and record its exports (``<unknown>`` when
        it is absent). Returns whether it was found."""
        from stackdeploy.manifest.context import UNKNOWN

        self.validate = False
        self.identifier, self.live = self.find()
        if self.live is None:
            self.stack.set_placeholder_exports(self.res, UNKNOWN)
            return False
        self.record_exports()
        return True

    def plan_delete(self, *, depends_on: tuple[str, ...] = ()) -> ResourcePlan:
        self.validate = False
        if not self._looked_up:
            self.identifier, self.live = self.find()
        present = self.live is not None
        return ResourcePlan(
            name=self.res.name,
            type=self.schema.type_name,
            action="delete" if present else "skip",
            identifier=self.identifier if present else None,
            reason=None if present else "absent",
            depends_on=depends_on,
        )

    def delete(self) -> None:
        assert self.identifier is not None
        self.run.cloud.delete_resource(
            self.schema.type_name,
            self.identifier,
            region=self.region,
            timeout_minutes=self.schema.timeout_minutes("delete"),
        )
