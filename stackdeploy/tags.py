"""The tags that tie a cloud resource to a stack, an environment and a manifest entry.

stack-deploy puts them on every taggable declarative resource it creates (the keys
stackql-deploy stacks use too) and finds resources again by them; ``import`` puts them on
resources it adopts. One definition, shared by the engine and adoption.
"""

from __future__ import annotations

TAG_STACK = "stackql:stack-name"
TAG_ENV = "stackql:stack-env"
TAG_RESOURCE = "stackql:resource-name"
STACK_TAG_KEYS: tuple[str, str, str] = (TAG_STACK, TAG_ENV, TAG_RESOURCE)


def stack_tags(stack: str, env: str, resource: str) -> dict[str, str]:
    """The three tags of ``resource`` in ``stack``/``env``."""
    return {TAG_STACK: stack, TAG_ENV: env, TAG_RESOURCE: resource}
