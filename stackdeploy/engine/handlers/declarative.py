"""Declarative resources: ``resource_type:`` plus props, no query file.

The props (snake_case or CloudFormation names, any depth) are the desired state, prepared
and validated against the type's schema before any call. The resource is found again:

1. by its primary identifier when the props give it (``BucketName``, ``QueueName``...);
2. otherwise, for taggable types, by the tags stack-deploy adds on create
   (``stackql:stack-name``, ``stackql:stack-env``, ``stackql:resource-name``, the keys
   stackql-deploy stacks use), through one tagging query for the whole stack
   (:class:`~stackdeploy.engine.discovery.StackTags`); a resource whose name changed is
   recognised (a create-only change: a replacement) rather than orphaned;
3. otherwise by matching the create-only properties the props give (an AWS::EC2::Route by
   its route table and destination), listing the type once per run.

Where none of these applies the plan refuses, before anything changes, and says why.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any

from stackdeploy.engine.context import Run, Step
from stackdeploy.engine.discovery import (
    TAG_ENV,
    TAG_RESOURCE,
    TAG_STACK,
    identifier_from_arn,
    match_arn,
    tags_of,
)
from stackdeploy.engine.handlers.base import BaseHandler, PlanBasis, Verb, write_only_values
from stackdeploy.engine.live import export_row, resolve_export_columns, without_read_only
from stackdeploy.engine.state import MIN_WRITE_ONLY_SECRET
from stackdeploy.engine.statements import delete_sql, insert_sql, update_sql
from stackdeploy.errors import CloudControlError, DeployError, ManifestError, PlanError
from stackdeploy.manifest.model import ResourceDef
from stackdeploy.manifest.stack import UNKNOWN, has_placeholder, placeholder_at
from stackdeploy.plan.diff import values_equal
from stackdeploy.plan.model import ResourcePlan, plan_resource
from stackdeploy.schema import desired as desired_state
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.schema.registry import get_schema

log = logging.getLogger("stackdeploy.engine")


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
        elif has_placeholder(value):
            removed.append(path)
        else:
            out[key] = value
    return out, removed


class Duplicates(DeployError):
    """Several live resources answer to one manifest entry (``matches``: identifiers)."""

    def __init__(self, message: str, *, matches: list[str], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.matches = matches


class DeclarativeHandler(BaseHandler):
    """A resource managed from its props and schema alone."""

    kind = "declarative"

    def __init__(self, run: Run, res: ResourceDef) -> None:
        super().__init__(run, res)
        assert res.resource_type is not None
        self._region: str | None = None
        self.schema = get_schema(res.resource_type, run.region)
        self.identifier: str | None = None
        self.live: dict[str, Any] | None = None
        self.how_found: str | None = None
        self.desired: dict[str, Any] | None = None
        # (what finding it depended on, identifier found or None): see find().
        self._found: tuple[str, str | None] | None = None
        # Teardown: identifiers of every copy when several resources answer to this entry.
        self.duplicates: list[str] = []

    @property
    def region(self) -> str:
        """The resource's own ``region``, else the run's (rendered on first use)."""
        if self._region is None:
            self._region = self.run.region_for(self.res)
        return self._region

    # -- desired state ------------------------------------------------------------------------

    def desired_state(self, *, validate: bool = True) -> dict[str, Any]:
        state = desired_state.prepare(self.schema, self.props())
        if self.schema.taggable:
            # Tagged even when the props name the resource: a rename is then recognised as
            # the same resource (a replacement), not a new one beside an orphan.
            state = with_tags(self.schema, state, self.stack_tags())
        self.state.add_secrets(
            write_only_values(self.schema, state), min_length=MIN_WRITE_ONLY_SECRET
        )
        if validate:
            # A value known only after an earlier resource is applied is not judged yet.
            found = [
                v
                for v in desired_state.validate(self.schema, state, mode="create")
                if not placeholder_at(state, v.path)
            ]
            if found:
                violations = [str(v) for v in found]
                shown = "; ".join(violations[:5])
                more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
                raise ManifestError(
                    self.run.mask(
                        f"resource {self.res.name!r} ({self.schema.type_name}): {shown}{more}"
                    ),
                    file=self.stack.manifest.display_path,
                    line=self._line_of(found[0].path),
                    hint=f"stack-deploy describe {self.schema.awscc_name} lists its properties",
                )
        self.desired = state
        return state

    def _line_of(self, pointer: str) -> int:
        """The manifest line of the prop a schema violation is about (the resource's line
        when the violation is about no prop, e.g. a missing required property)."""
        from stackdeploy.schema.model import match_name

        first = next((t for t in pointer.split("/") if t), "")
        for prop in self.res.props:
            if match_name(prop.name, [first]) is not None:
                return prop.line
        return self.res.line

    def protected_properties(self) -> tuple[str, ...]:
        """The schema properties the resource's protected props set."""
        from stackdeploy.schema.model import match_name

        out = []
        for name in self.res.protected:
            found = match_name(name, list(self.schema.properties))
            if found is not None and self.res.prop(name) is not None:
                out.append(found)
        return tuple(out)

    def stack_tags(self) -> dict[str, str]:
        return {TAG_STACK: self.stack.name, TAG_ENV: self.stack.env, TAG_RESOURCE: self.res.name}

    # -- finding ------------------------------------------------------------------------------

    def _ours(self, props: Mapping[str, Any]) -> bool:
        tags = tags_of(self.schema, props)
        return all(tags.get(k) == v for k, v in self.stack_tags().items())

    def _get(self, step: Step, identifier: str) -> dict[str, Any] | None:
        try:
            return step.cloud.get_resource(self.schema.type_name, identifier, region=self.region)
        except CloudControlError as exc:
            # A guessed identifier of the wrong shape: not this resource.
            if exc.error_code in ("InvalidRequestException", "ValidationException"):
                return None
            raise

    def _listed(self, step: Step, desired: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The type's resources (listed once per run), full models read where the listing
        gave only identifiers, as needed by ``want`` properties."""
        model = None
        if self.schema.list_required:
            model = {k: desired[k] for k in self.schema.list_required if k in desired}
            if len(model) != len(self.schema.list_required):
                raise PlanError(
                    f"resource {self.res.name!r}: listing {self.schema.type_name} needs "
                    f"{', '.join(self.schema.list_required)} in its props"
                )
        return list(
            step.cloud.list_resources(
                self.schema.type_name, region=self.region, resource_model=model
            )
        )

    def _full(
        self, step: Step, identifier: str, props: dict[str, Any], want: list[str]
    ) -> dict[str, Any]:
        if all(k in props for k in want):
            return props
        return self._get(step, identifier) or {}

    def _find_key(self, desired: Mapping[str, Any]) -> str | None:
        """What finding the resource depends on in ``desired``, or None while part of it is
        known only after apply."""
        parts: dict[str, Any] = {
            "identifier": self.schema.identifier_of(desired),
            "list": {k: desired.get(k) for k in self.schema.list_required},
        }
        if not self.schema.taggable:
            parts["create_only"] = {
                p: desired[p]
                for p in self.schema.properties
                if self.schema.is_create_only((p,)) and p in desired
            }
        if has_placeholder(parts):
            return None
        return json.dumps(parts, sort_keys=True, default=str)

    def find(
        self, step: Step, desired: Mapping[str, Any]
    ) -> tuple[str | None, dict[str, Any] | None]:
        """(identifier, live properties) of the deployed resource, (None, None) if absent.

        Planned again during apply (something it needs was applied first), the resource is
        the one the last planning pass found when nothing finding it depends on changed
        (the run holds the stack's lock, and nothing else in it creates this resource): it
        is read again by identifier, not searched for again (searching for an identifier AWS
        chose lists the type and reads what is listed). Planning always searches."""
        key = self._find_key(desired)
        applying = step.res is not None
        if applying and key is not None and self._found is not None and self._found[0] == key:
            identifier = self._found[1]
            if identifier is None:
                return None, None
            live = self._get(step, identifier)
            return (identifier, live) if live is not None else (None, None)
        found = self._search(step, desired)
        if key is not None:
            self._found = (key, found[0])
        return found

    def _search(
        self, step: Step, desired: Mapping[str, Any]
    ) -> tuple[str | None, dict[str, Any] | None]:
        identifier = self.schema.identifier_of(desired)
        type_name = self.schema.type_name
        if identifier is not None and not has_placeholder(identifier):
            live = self._get(step, identifier)
            self.how_found = "by identifier"
            if live is not None:
                return identifier, live
            if not self.schema.taggable:
                return None, None
            arns = self.run.tags_for(self.res).arns(self.region, self.res.name)
            if not arns:
                # Nothing carries this resource's tags: not renamed, simply absent.
                return None, None
            matches = self._resolve(step, arns, desired)
        elif self.schema.taggable:
            self.how_found = "by stack tags"
            arns = self.run.tags_for(self.res).arns(self.region, self.res.name)
            matches = self._resolve(step, arns, desired) if arns else []
            if not matches:
                # Not in the tag index (or no tagging API): confirm by listing the type, so
                # a type the tagging API does not cover can never be created twice.
                tag = self.schema.tag_property or ""
                matches = [
                    (ident, full)
                    for ident, props in self._listed(step, desired)
                    if self._ours(full := self._full(step, ident, props, [tag]))
                ]
        else:
            keys = [
                p
                for p in self.schema.properties
                if self.schema.is_create_only((p,)) and p in desired
            ]
            if not keys:
                raise PlanError(
                    f"resource {self.res.name!r} ({type_name}): AWS chooses its identifier, "
                    "the type cannot be tagged and no create-only property is set, so it "
                    "could not be found again after a create",
                    hint="use a query file with an exists query for this resource",
                )
            self.how_found = f"by {', '.join(keys)}"
            matches = [
                (ident, full)
                for ident, props in self._listed(step, desired)
                if all(
                    values_equal((full := self._full(step, ident, props, keys)).get(k), desired[k])
                    for k in keys
                )
            ]
        if len(matches) > 1:
            raise Duplicates(
                f"resource {self.res.name!r}: {len(matches)} {type_name} resources answer to it "
                f"({self.how_found}, duplicates): {', '.join(m[0] for m in matches)}",
                matches=[m[0] for m in matches],
                hint="stack-deploy teardown deletes every one of them; or delete the extra ones "
                f'(stack-deploy query "DELETE FROM {self.schema.awscc_name} WHERE Identifier '
                f"= '...' AND region = '{self.region}'\") and build again",
            )
        if not matches:
            return None, None
        identifier = matches[0][0]
        # A listing may hold only some properties: the diff needs the whole model (the read
        # is usually cached already).
        live = self._get(step, identifier)
        return (identifier, live) if live is not None else (None, None)

    def _resolve(
        self, step: Step, arns: list[str], desired: Mapping[str, Any]
    ) -> list[tuple[str, dict[str, Any]]]:
        """The resources behind tagged ARNs: the identifier read off each ARN and confirmed by
        GetResource (one read); where that fails, matched in the type's listing."""
        found: dict[str, dict[str, Any]] = {}
        for arn in arns:
            guess = identifier_from_arn(self.schema, arn)
            live = self._get(step, guess) if guess else None
            if guess and live is not None and self._ours(live):
                found[guess] = live
                continue
            listed = [ident for ident, _ in self._listed(step, desired)]
            for ident in match_arn(listed, arn):
                live = self._get(step, ident)
                if live is not None and self._ours(live):
                    found[ident] = live
        return list(found.items())

    # -- planning and applying ----------------------------------------------------------------

    def plan(self, step: Step, verb: Verb) -> ResourcePlan:
        if not self.condition():
            return self.skip("if: false", type_name=self.schema.type_name)
        desired = self.desired_state()
        self.identifier, self.live = self.find(step, desired)
        notes = list(self.unknown_notes())
        secret_paths = self.secret_paths(desired, self.protected_properties())
        if self.live is not None:
            desired, unknown = strip_placeholders(desired)
            if unknown:
                notes.append(f"known only after apply: {', '.join(unknown)}")
            if self.how_found and self.how_found != "by identifier":
                notes.append(f"found {self.how_found}")
        plan = plan_resource(
            self.schema,
            name=self.res.name,
            desired=desired,
            live=self.live,
            identifier=self.identifier,
            depends_on=self.depends_on,
            allow_replace=self.run.options.allow_replace or self.res.replace or verb == "test",
            notes=notes,
            mask=self.run.mask,
            secret_paths=secret_paths,
        )
        if plan.action in ("create", "replace"):
            self.evaluated()
        else:
            self.record_exports()
        if plan.changed:
            plan = dataclasses.replace(plan, dml=self._planned_dml(plan, desired))
        return plan

    def _planned_dml(self, plan: ResourcePlan, desired: dict[str, Any]) -> tuple[str, ...]:
        """The awscc statements equivalent to the calls ``apply`` would make."""
        out: list[str] = []
        if plan.action == "replace" and self.identifier is not None:
            out.append(delete_sql(self.schema, self.identifier, self.region))
        if plan.action in ("create", "replace"):
            out.append(insert_sql(self.schema, self.desired or desired, self.region))
        if plan.action == "update" and self.identifier is not None:
            out.append(update_sql(self.schema, self.identifier, plan.patch, self.region))
        return tuple(out)

    def apply(self, plan: ResourcePlan, step: Step, *, replan: bool) -> ResourcePlan:
        if replan:
            plan = self.plan(step, "build")
        if plan.action in ("noop", "skip"):
            return plan
        cloud = step.cloud
        type_name = self.schema.type_name
        desired = self.desired if self.desired is not None else self.desired_state()
        if plan.action == "replace":
            assert self.identifier is not None
            cloud.delete_resource(
                type_name,
                self.identifier,
                region=self.region,
                timeout_minutes=self.schema.timeout_minutes("delete"),
            )
        event = None
        if plan.action in ("create", "replace"):
            event = cloud.create_resource(
                type_name,
                desired,
                region=self.region,
                timeout_minutes=self.schema.timeout_minutes("create"),
            )
            self.identifier = event.identifier or self.schema.identifier_of(
                event.resource_model or {}
            )
            self.created = True
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
        if self.res.exports:
            self.live = cloud.get_resource(type_name, self.identifier, region=self.region)
            if self.live is None:
                raise DeployError(
                    f"resource {self.res.name!r}: {type_name} {self.identifier!r} is not "
                    f"readable after {plan.action}"
                )
            self.record_exports()
        return plan

    def planned_from(self) -> PlanBasis:
        live = None
        if self.live is not None:
            live = {
                "identifier": self.identifier,
                "properties": without_read_only(self.schema, self.live),
            }
        deferred = tuple(strip_placeholders(self.desired)[1]) if self.desired else ()
        return PlanBasis(exists=self.live is not None, live=live, deferred=deferred)

    def record_exports(self) -> None:
        if not self.res.exports:
            return
        if self.live is None or self.identifier is None:
            raise DeployError(f"resource {self.res.name!r} has no live state to export from")
        row = export_row(self.schema, self.live, self.identifier)
        resolve_export_columns(self.schema, row, [e.column for e in self.res.exports])
        self.state.record_exports(self.res, row, file=self.stack.manifest.display_path)

    def rollback(self, plan: ResourcePlan, step: Step) -> None:
        if not self.created or self.identifier is None:
            return
        step.cloud.delete_resource(
            self.schema.type_name,
            self.identifier,
            region=self.region,
            timeout_minutes=self.schema.timeout_minutes("delete"),
        )

    # -- teardown -------------------------------------------------------------------------

    def collect(self, step: Step) -> None:
        """Find the resource and record its exports (``<unknown>`` when absent)."""
        # Teardown reads the desired state only to find the resource: props may hold
        # <unknown> placeholders there, so it is not validated.
        desired = self.desired_state(validate=False)
        try:
            self.identifier, self.live = self.find(step, desired)
        except Duplicates as exc:
            # Teardown deletes every copy; exports come from the first.
            self.duplicates = list(exc.matches)
            self.identifier = self.duplicates[0]
            self.live = self._get(step, self.identifier)
        if self.live is None:
            self.state.set_placeholders(self.res, UNKNOWN)
        else:
            self.record_exports()

    def plan_delete(self, step: Step) -> ResourcePlan:
        if not self.condition():
            return self.skip("if: false", type_name=self.schema.type_name)
        present = self.live is not None
        copies = len(self.duplicates)
        return ResourcePlan(
            name=self.res.name,
            type=self.schema.type_name,
            action="delete" if present else "skip",
            identifier=self.identifier if present else None,
            reason=(f"{copies} copies (duplicates): all are deleted" if copies > 1 else None)
            if present
            else "absent",
            depends_on=self.depends_on,
            dml=tuple(
                delete_sql(self.schema, identifier, self.region)
                for identifier in (self.duplicates or [self.identifier])
            )
            if present and self.identifier is not None
            else (),
        )

    def delete(self, plan: ResourcePlan, step: Step) -> None:
        assert self.identifier is not None
        for identifier in self.duplicates or [self.identifier]:
            step.cloud.delete_resource(
                self.schema.type_name,
                identifier,
                region=self.region,
                timeout_minutes=self.schema.timeout_minutes("delete"),
            )
