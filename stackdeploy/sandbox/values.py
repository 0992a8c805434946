"""Plausible values for the sandbox: identifiers, ARNs, read-only properties, minimal states.

The sandbox stores, for every resource it creates, the model AWS would return: the desired
state plus the primary identifier and the read-only properties, in their real formats. This
module produces those values from the resource schema alone (no per-type handlers).
"""

from __future__ import annotations

import copy
import random
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from stackdeploy.schema.model import ResourceSchema

_rng = random.Random()


def _hex(n: int) -> str:
    return "".join(_rng.choice("0123456789abcdef") for _ in range(n))


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()


def _service(type_name: str) -> str:
    return type_name.split("::")[1].lower()


def tagging_resource_type(type_name: str) -> str:
    """The Resource Groups Tagging API resource type of ``type_name`` (``ec2:vpc``)."""
    parts = type_name.split("::")
    return f"{parts[1].lower()}:{_kebab(parts[-1])}"


def resource_arn(
    schema: ResourceSchema, model: dict[str, Any], *, region: str, account_id: str
) -> str | None:
    """The resource's ARN: its Arn-like property when it has one, else built from the id."""
    for name in ("Arn", f"{schema.type_name.split('::')[-1]}Arn"):
        value = model.get(name)
        if isinstance(value, str) and value.startswith("arn:"):
            return value
    ident = schema.identifier_of(model)
    if ident is None:
        return None
    if ident.startswith("arn:"):
        return ident
    res = _kebab(schema.type_name.split("::")[-1])
    return f"arn:aws:{_service(schema.type_name)}:{region}:{account_id}:{res}/{ident}"


def _generate_id(schema: ResourceSchema, name: str) -> str:
    return f"{_kebab(schema.type_name.split('::')[-1])}-0{_hex(17)}"


def complete_model(
    schema: ResourceSchema, desired: dict[str, Any], *, region: str, account_id: str
) -> dict[str, Any]:
    """The model the sandbox stores after a create: desired + identifier + read-only values."""
    model = copy.deepcopy(desired)
    for path in schema.read_only:
        if len(path) != 1 or path[0] in model:
            continue
        name = path[0]
        types = schema.types_at(path)
        if name.endswith("Arn") or name == "Arn":
            model[name] = None  # filled after the identifier is known
        elif "integer" in types or "number" in types:
            model[name] = 1
        elif types <= {"string"}:
            model[name] = _generate_id(schema, name)
    for name in schema.primary_identifier:
        if model.get(name) is None:
            model[name] = _generate_id(schema, name)
    for name, value in list(model.items()):
        if value is None:
            res = _kebab(schema.type_name.split("::")[-1])
            model[name] = (
                f"arn:aws:{_service(schema.type_name)}:{region}:{account_id}:{res}/"
                f"{uuid.UUID(int=_rng.getrandbits(128))}"
            )
    _ = datetime.now(UTC)
    return model


def minimal_desired_state(schema: ResourceSchema) -> dict[str, Any] | None:
    """A minimal valid desired state (required properties only); None when none can be made."""
    state: dict[str, Any] = {}
    for name in schema.required:
        types = schema.types_at((name,))
        if "string" in types:
            state[name] = "example"
        elif "integer" in types:
            state[name] = 1
        elif "boolean" in types:
            state[name] = True
        else:
            return None
    return state
