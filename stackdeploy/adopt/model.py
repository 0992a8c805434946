"""Typed values passed between the adoption steps, and the Cloud Control surface they use.

Adoption reads live resources (:class:`LiveResource`), turns each into a manifest resource
(:class:`Adopted`: a name, props, placeholders, exports, dependencies, the stack tags it
still needs) and writes the stack folder. Only :mod:`stackdeploy.adopt.discover` and
:mod:`stackdeploy.adopt.service` talk to Cloud Control, through the :class:`AdoptCloud`
protocol, which :class:`stackdeploy.cloud.CloudControl` satisfies (tests may pass any object
that does).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from stackdeploy.cloud.events import ProgressEvent
from stackdeploy.schema.model import ResourceSchema
from stackdeploy.tags import STACK_TAG_KEYS, TAG_ENV, TAG_RESOURCE, TAG_STACK

__all__ = ["STACK_TAG_KEYS", "TAG_ENV", "TAG_RESOURCE", "TAG_STACK"]
# Tags AWS sets itself: never written into a manifest (they cannot be set).
SYSTEM_TAG_PREFIX = "aws:"

Style = Literal["declarative", "query-file"]
STYLES: tuple[str, ...] = ("declarative", "query-file")


class AdoptCloud(Protocol):
    """The Cloud Control calls adoption makes (a subset of ``CloudControl``)."""

    def get_resource(
        self, type_name: str, identifier: str, region: str | None = None
    ) -> dict[str, Any] | None: ...

    def list_resources(
        self,
        type_name: str,
        region: str | None = None,
        resource_model: Mapping[str, Any] | str | None = None,
        max_results: int | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]: ...

    def tagged_resources(
        self,
        region: str | None = None,
        tag_filters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        resource_type_filters: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]: ...

    def update_resource(
        self,
        type_name: str,
        identifier: str,
        patch_ops: Sequence[Mapping[str, Any]] | str,
        region: str | None = None,
        client_token: str | None = None,
        timeout_minutes: float | None = None,
    ) -> ProgressEvent: ...


@dataclass(frozen=True)
class LiveResource:
    """One resource as Cloud Control's GetResource returned it.

    ``arn`` is the resource's ARN when known (from the tagging API or an ARN property); it
    is what the tagging API answers for the resource, so query files can find it by tag.
    """

    schema: ResourceSchema
    identifier: str
    properties: Mapping[str, Any]
    arn: str | None = None

    @property
    def type_name(self) -> str:
        return self.schema.type_name

    def tags(self) -> dict[str, str]:
        """The resource's tags as a map (list or map form in the schema)."""
        return tag_map(self.properties.get(self.schema.tag_property or ""))


@dataclass(frozen=True)
class Placeholder:
    """A value adoption cannot read back (write-only, or required but not returned): the
    manifest gets ``{{ VARIABLE }}`` at ``pointer`` and the user must give it."""

    pointer: str
    variable: str
    write_only: bool

    @property
    def template(self) -> str:
        return "{{ " + self.variable + " }}"


@dataclass(frozen=True)
class Adopted:
    """A live resource turned into a manifest resource.

    ``props`` are in CloudFormation names (top level and nested), cleaned of read-only,
    write-only, default and stack-tag values; string values may be templates
    (``{{ vpc.vpc_id }}`` references to other adopted resources, placeholders).
    ``exports`` are awscc column names the resource exports (its identifier, its ARN);
    ``depends_on`` the adopted resources its props refer to; ``tags_to_set`` the stack tags
    the live resource still lacks (empty when it has them, or is not taggable).
    """

    name: str
    live: LiveResource
    props: dict[str, Any]
    placeholders: tuple[Placeholder, ...] = ()
    exports: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    tags_to_set: Mapping[str, str] = field(default_factory=dict)

    @property
    def schema(self) -> ResourceSchema:
        return self.live.schema


def tag_map(value: Any) -> dict[str, str]:
    """Tags in either schema form (``[{Key, Value}]`` or ``{key: value}``) as a map."""
    if isinstance(value, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    out: dict[str, str] = {}
    if isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping) and "Key" in item:
                v = item.get("Value")
                out[str(item["Key"])] = "" if v is None else str(v)
    return out


def stack_tags(stack: str, env: str, resource: str) -> dict[str, str]:
    """The three stack tags of one resource, in their fixed order."""
    return {TAG_STACK: stack, TAG_ENV: env, TAG_RESOURCE: resource}
