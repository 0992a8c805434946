"""The eight Cloud Control operations of the sandbox, driven by the resource schemas.

:class:`Handlers` takes a decoded JSON request and returns the JSON response, or raises
:class:`SandboxError` carrying the Cloud Control exception name (``ResourceNotFoundException``)
that the server turns into an HTTP 400 as AWS sends it. Nothing here is written per type: what
a property may be, what identifies a resource, what may change on update and what is never
returned all come from the type's CloudFormation schema.

Mutations are accepted synchronously (validation, patch application, create-only and
read-only checks happen before the call returns, as Cloud Control does) and finish
asynchronously: the outcome is decided when the request is accepted and applied by
:meth:`Store.settle` once the configured latency has passed.

ListResources answers, by default, only the primary identifier properties of each resource
(``list_mode="identifiers"``), as AWS does for many types, so a client that needs more must
call GetResource and tests see the cost of doing so; ``list_mode="full"`` returns whole models.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stackdeploy.errors import TypeNotFoundError
from stackdeploy.sandbox.faults import Faults
from stackdeploy.sandbox.store import FINAL_STATUSES, RequestRow, ResourceRow, Store
from stackdeploy.schema.model import Pattern, ResourceSchema, format_path

DEFAULT_ACCOUNT = "123456789012"
LIST_PAGE_SIZE = 25  # what real ListResources pages hold, whatever MaxResults says
REQUESTS_PAGE_SIZE = 20  # ListResourceRequests' documented default
RETRY_AFTER_CAP = 5.0  # never ask a client to wait longer than this between polls
PENDING_FRACTION = 0.2  # share of a request's latency spent PENDING before IN_PROGRESS
LIST_MODES = ("identifiers", "full")
# The schema handler each Cloud Control call needs (the names fault rules use).
HANDLER_OF = {
    "CreateResource": "CREATE",
    "GetResource": "READ",
    "UpdateResource": "UPDATE",
    "DeleteResource": "DELETE",
    "ListResources": "LIST",
}


class SandboxError(Exception):
    """A synchronous Cloud Control error: ``code`` is the exception shape name."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code if code.endswith("Exception") else code + "Exception"
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Context:
    """Who is calling: the account (from the access key or the credentials STS issued), the
    region (signature scope) and the caller's ARN and user id (what GetCallerIdentity says)."""

    account: str = DEFAULT_ACCOUNT
    region: str = "us-east-1"
    arn: str = ""
    user_id: str = ""

    @property
    def caller_arn(self) -> str:
        return self.arn or f"arn:aws:iam::{self.account}:user/sandbox"


@dataclass
class Latency:
    """How long mutations take: per type and operation, per type, per operation, default.

    Built from a number (the default for everything) or a mapping whose keys are ``default``,
    an operation (``CREATE``), a type (``AWS::S3::Bucket``) or both (``AWS::S3::Bucket:CREATE``).
    """

    default: float = 0.0
    overrides: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: float | Mapping[str, float] | Latency) -> Latency:
        if isinstance(value, Latency):
            return value
        if isinstance(value, Mapping):
            overrides = {str(k): float(v) for k, v in value.items()}
            default = overrides.pop("default", 0.0)
            return cls(default, overrides)
        return cls(float(value))

    def seconds(self, operation: str, type_name: str) -> float:
        for key in (f"{type_name}:{operation}", type_name, operation):
            if key in self.overrides:
                return max(0.0, self.overrides[key])
        return max(0.0, self.default)


# ---------------------------------------------------------------- model helpers
def values_at(model: Any, pattern: Sequence[str]) -> dict[tuple[str | int, ...], Any]:
    """Every concrete path matching ``pattern`` (``*`` = any index or key) with its value."""
    found: dict[tuple[str | int, ...], Any] = {}

    def walk(node: Any, rest: Sequence[str], path: tuple[str | int, ...]) -> None:
        if not rest:
            found[path] = node
            return
        head, tail = rest[0], rest[1:]
        if head == "*":
            if isinstance(node, list):
                for i, item in enumerate(node):
                    walk(item, tail, (*path, i))
            elif isinstance(node, dict):
                for key, item in node.items():
                    walk(item, tail, (*path, key))
        elif isinstance(node, dict) and head in node:
            walk(node[head], tail, (*path, head))
        elif isinstance(node, list) and head.isdigit() and int(head) < len(node):
            walk(node[int(head)], tail, (*path, int(head)))

    walk(model, list(pattern), ())
    return found


def strip_paths(model: dict[str, Any], patterns: Sequence[Pattern]) -> dict[str, Any]:
    """A copy of ``model`` without the values at ``patterns`` (write-only properties)."""
    result = copy.deepcopy(model)
    for pattern in patterns:
        # Deepest paths first so removing a list item does not shift the later ones.
        for path in sorted(values_at(result, pattern), key=len, reverse=True):
            parent: Any = result
            for token in path[:-1]:
                parent = parent[token]
            last = path[-1]
            if isinstance(parent, dict):
                parent.pop(last, None)
            elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
                parent.pop(last)
    return result


def _pointer(pattern: Sequence[str | int]) -> str:
    return "/properties" + format_path(pattern)


def _changed(schema_patterns: Sequence[Pattern], old: Any, new: Any) -> list[str]:
    return [_pointer(p) for p in schema_patterns if values_at(old, p) != values_at(new, p)]


def _read_only_set(schema_patterns: Sequence[Pattern], old: Any, new: Any) -> list[str]:
    """Read-only patterns whose value a patch set or changed (a value it only removed, by
    replacing a parent, is computed again rather than refused)."""
    hits = []
    for pattern in schema_patterns:
        before = values_at(old, pattern)
        after = values_at(new, pattern)
        if any(path not in before or before[path] != value for path, value in after.items()):
            hits.append(_pointer(pattern))
    return hits


def _set_at(model: Any, path: Sequence[str | int], value: Any) -> None:
    node: Any = model
    for token in path[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and isinstance(token, int) and token < len(node):
            node = node[token]
        else:
            return
    last = path[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value


def _read_only_given(schema: ResourceSchema, state: Any, path: tuple[str | int, ...] = ()) -> list:
    """Paths of read-only properties present in a desired state."""
    hits: list[tuple[str | int, ...]] = []
    if isinstance(state, dict):
        for key, value in state.items():
            sub = (*path, key)
            if schema.is_read_only(sub):
                hits.append(sub)
            else:
                hits.extend(_read_only_given(schema, value, sub))
    elif isinstance(state, list):
        for i, value in enumerate(state):
            hits.extend(_read_only_given(schema, value, (*path, i)))
    return hits


def _identifier_properties(schema: ResourceSchema, model: dict[str, Any]) -> dict[str, Any]:
    """Only the primary identifier properties of a model (what ListResources answers for
    many types on AWS), nested ones kept at their place."""
    result: dict[str, Any] = {}
    for name in schema.primary_identifier:
        parts = name.split("/")
        value: Any = model
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            continue
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return result


def _encode_token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, sort_keys=True).encode()).decode()


def _decode_token(token: str, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError) as exc:
        raise SandboxError("InvalidRequest", f"Invalid NextToken for {kind}") from exc
    if not isinstance(data, dict) or data.get("k") != kind:
        raise SandboxError("InvalidRequest", f"Invalid NextToken for {kind}")
    return data


def _json_param(params: Mapping[str, Any], name: str, *, kind: type = dict) -> Any:
    text = params.get(name)
    if not isinstance(text, str):
        raise SandboxError("InvalidRequest", f"{name} must be a JSON string")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise SandboxError("InvalidRequest", f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(value, kind):
        expected = "object" if kind is dict else "array"
        raise SandboxError("InvalidRequest", f"{name} must be a JSON {expected}")
    return value


def _required(params: Mapping[str, Any], *names: str) -> None:
    for name in names:
        if params.get(name) in (None, ""):
            # Cloud Control answers a missing member with a ValidationException.
            raise SandboxError(
                "ValidationException",
                f"1 validation error detected: Value null at '{name[0].lower()}{name[1:]}' "
                "failed to satisfy constraint: Member must not be null",
            )


def _model_validation_message(messages: Sequence[str]) -> str:
    return "Model validation failed (" + "\n".join(messages) + ")"


def _violations(schema: ResourceSchema, state: dict[str, Any], mode: str) -> list[str]:
    """Schema violations in AWS's ``#/Path: message`` form."""
    from stackdeploy.schema import desired

    messages = [f"#{v.path}: {v.message}" for v in desired.validate(schema, state, mode=mode)]
    if mode == "create":
        for path in _read_only_given(schema, state):
            text = f"#{format_path(path)}: read-only property cannot be set"
            if not any(m.startswith(f"#{format_path(path)}:") for m in messages):
                messages.append(text)
    return messages


# -------------------------------------------------------------------- handlers
class Handlers:
    """Cloud Control operations over a :class:`Store`, with latency and faults."""

    OPERATIONS = (
        "CreateResource",
        "GetResource",
        "UpdateResource",
        "DeleteResource",
        "ListResources",
        "GetResourceRequestStatus",
        "ListResourceRequests",
        "CancelResourceRequest",
    )

    def __init__(
        self,
        store: Store,
        *,
        latency: float | Mapping[str, float] | Latency = 0.0,
        faults: Faults | None = None,
        list_mode: str = "identifiers",
    ) -> None:
        if list_mode not in LIST_MODES:
            raise ValueError(f"list_mode must be one of {', '.join(LIST_MODES)}: {list_mode!r}")
        self.store = store
        self.latency = Latency.parse(latency)
        self.faults = faults if faults is not None else Faults()
        self.list_mode = list_mode

    # ---------------------------------------------------------- dispatching
    def handle(self, operation: str, params: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
        method = getattr(self, "op_" + operation, None) if operation in self.OPERATIONS else None
        if method is None:
            raise SandboxError("UnknownOperationException", f"Unknown operation {operation}")
        if self.faults.sync_throttle():
            raise SandboxError("Throttling", "Rate exceeded")
        type_name = params.get("TypeName")
        failure = self.faults.sync_failure(
            HANDLER_OF.get(operation, operation), type_name if isinstance(type_name, str) else ""
        )
        if failure is not None:
            code, message = failure
            if message is None:
                message = (
                    f"User: {ctx.caller_arn} is not authorized to perform: "
                    f"cloudformation:{operation}"
                    + (f" on resource: {type_name}" if isinstance(type_name, str) else "")
                    + f" (injected fault {code})"
                )
            raise SandboxError(code, message)
        self.store.settle()
        result: dict[str, Any] = method(params, ctx)
        return result

    # ------------------------------------------------------------- helpers
    def schema(self, type_name: Any, ctx: Context, operation: str) -> ResourceSchema:
        """The schema of ``type_name`` in the caller's region; TypeNotFound / UnsupportedAction."""
        from stackdeploy.schema.registry import get_registry

        if not isinstance(type_name, str) or not type_name:
            _required({}, "TypeName")
        try:
            registry = get_registry(ctx.region)
        except TypeNotFoundError:
            registry = get_registry("us-east-1")  # an unknown region: use the main catalogue
        if type_name not in registry:
            raise SandboxError("TypeNotFound", f"The type '{type_name}' cannot be found.")
        schema = registry.get(type_name)
        if not schema.has_handler(operation):
            raise SandboxError(
                "UnsupportedAction",
                f"Resource type {type_name} does not support {operation.upper()} action",
            )
        return schema

    def _identifier(self, schema: ResourceSchema, identifier: Any, ctx: Context) -> str:
        """The canonical identifier (``a|b``) for a string or a JSON object of identifiers."""
        if not isinstance(identifier, str) or not identifier:
            _required({}, "Identifier")
        text = identifier.strip()
        if not text.startswith("{"):
            return identifier
        try:
            given = json.loads(text)
        except ValueError:
            return identifier
        if not isinstance(given, dict):
            return identifier
        canonical = schema.identifier_of(given)
        if canonical is not None and set(given) <= set(schema.primary_identifier):
            return canonical
        # An additional identifier (an ARN, a name): find the resource holding those values.
        for row in self.store.list_resources(ctx.account, ctx.region, schema.type_name):
            if all(str(row.properties.get(k)) == str(v) for k, v in given.items()):
                return row.identifier
        return canonical or identifier

    def _not_found(self, schema: ResourceSchema, identifier: str) -> SandboxError:
        return SandboxError(
            "ResourceNotFound",
            f"Resource of type '{schema.type_name}' with identifier '{identifier}' was not found.",
        )

    def _visible(self, schema: ResourceSchema, model: dict[str, Any]) -> dict[str, Any]:
        """What a read returns: the model without its write-only properties."""
        # Copy only when there is something to remove: most models hold no write-only value,
        # and the deep copy was most of a full ListResources page's cost.
        if any(p[0] in model and values_at(model, p) for p in schema.write_only):
            return strip_paths(model, schema.write_only)
        return model

    def _idempotent(
        self, params: Mapping[str, Any], ctx: Context, fingerprint: str, now: float
    ) -> RequestRow | None:
        """The original request for a reused ClientToken, or None for a new token."""
        client_token = params.get("ClientToken")
        if not client_token:
            return None
        previous = self.store.find_client_token(ctx.account, ctx.region, client_token, now)
        if previous is None:
            return None
        if previous.fingerprint != fingerprint:
            raise SandboxError(
                "ClientTokenConflict",
                f"The ClientToken {client_token} was already used for a different request "
                f"({previous.operation} {previous.type_name} {previous.identifier}).",
            )
        return previous

    @staticmethod
    def _fingerprint(*parts: Any) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def _submit(
        self,
        *,
        ctx: Context,
        schema: ResourceSchema,
        operation: str,
        identifier: str,
        params: Mapping[str, Any],
        fingerprint: str,
        model: dict[str, Any] | None,
        failure: tuple[str, str] | None,
        must_exist: bool,
        now: float,
    ) -> dict[str, Any]:
        """Record an accepted mutation and return its first ProgressEvent."""
        type_name = schema.type_name
        with self.store.atomic():
            # Requests that have ended take effect first, inside the transaction: a create
            # that ended a moment ago must make this one AlreadyExists, not a second copy.
            self.store.settle(now)
            # Again inside the write transaction: two identical requests racing (a client
            # retrying after a lost answer) must not both be recorded.
            previous = self._idempotent(params, ctx, fingerprint, now)
            if previous is not None:
                return {"ProgressEvent": self.progress_event(previous, now)}
            busy = self.store.in_flight(ctx.account, ctx.region, type_name, identifier, now)
            if busy is not None:
                raise SandboxError(
                    "ConcurrentOperation",
                    f"Another {busy.operation} request ({busy.token}) is in progress for "
                    f"resource of type '{type_name}' with identifier '{identifier}'.",
                )
            exists = self.store.resource_exists(ctx.account, ctx.region, type_name, identifier)
            if failure is None and must_exist and not exists:
                failure = ("NotFound", self._not_found(schema, identifier).message)
            if failure is None and not must_exist and exists:
                failure = (
                    "AlreadyExists",
                    f"Resource of type '{type_name}' with identifier '{identifier}' already "
                    "exists.",
                )
            if failure is None:
                failure = self.faults.async_failure(operation, type_name)
            latency = self.latency.seconds(operation, type_name)
            stuck = failure is None and self.faults.is_stuck(operation, type_name)
            if failure is None and not stuck and self.faults.stale_rules:
                key = (ctx.account, ctx.region, type_name, identifier)
                before = self.store.get_resource(*key)
                self.faults.mutation_applied(key, operation, before, now + latency)
            request = RequestRow(
                token=str(uuid.uuid4()),
                account=ctx.account,
                region=ctx.region,
                type_name=type_name,
                identifier=identifier,
                operation=operation,
                client_token=params.get("ClientToken") or None,
                fingerprint=fingerprint,
                created_at=now,
                pending_until=now + latency * PENDING_FRACTION,
                end_at=None if stuck else now + latency,
                final_status="FAILED" if failure else "SUCCESS",
                error_code=failure[0] if failure else None,
                status_message=failure[1] if failure else None,
                model=json.dumps(model) if model is not None else None,
                event_model=(
                    json.dumps(self._visible(schema, model))
                    if model is not None and failure is None
                    else None
                ),
            )
            self.store.insert_request(request)
        # With no latency the effect is due at once: apply it before answering.
        self.store.settle()
        return {"ProgressEvent": self.progress_event(request, now, initial=True)}

    def progress_event(
        self, request: RequestRow, now: float, *, initial: bool = False
    ) -> dict[str, Any]:
        """The ProgressEvent of a request as seen at ``now``."""
        status = request.status_at(now)
        if initial and status in FINAL_STATUSES and request.canceled_at is None:
            # Cloud Control never answers a mutation with its outcome: the client polls.
            status = "IN_PROGRESS"
        event: dict[str, Any] = {
            "TypeName": request.type_name,
            "RequestToken": request.token,
            "Operation": request.operation,
            "OperationStatus": status,
            "EventTime": request.created_at,
        }
        if request.identifier:
            event["Identifier"] = request.identifier
        if status in ("PENDING", "IN_PROGRESS"):
            target = request.pending_until if status == "PENDING" else request.end_at
            if target is None or target - now > RETRY_AFTER_CAP:
                target = now + RETRY_AFTER_CAP
            event["RetryAfter"] = max(target, now)
        elif status == "CANCEL_COMPLETE":
            event["EventTime"] = request.canceled_at
            event["StatusMessage"] = "Request cancelled"
        else:
            event["EventTime"] = request.end_at
            if status == "SUCCESS" and request.event_model is not None:
                event["ResourceModel"] = request.event_model
            if status == "FAILED":
                event["ErrorCode"] = request.error_code or "InternalFailure"
                event["StatusMessage"] = request.status_message or ""
        return event

    # ---------------------------------------------------------- operations
    def op_CreateResource(self, params: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
        _required(params, "TypeName", "DesiredState")
        schema = self.schema(params["TypeName"], ctx, "create")
        desired_state = _json_param(params, "DesiredState")
        now = self.store.clock()
        fingerprint = self._fingerprint("CREATE", schema.type_name, desired_state)
        previous = self._idempotent(params, ctx, fingerprint, now)
        if previous is not None:
            return {"ProgressEvent": self.progress_event(previous, now)}
        messages = _violations(schema, desired_state, "create")
        if messages:
            raise SandboxError("InvalidRequest", _model_validation_message(messages))
        from stackdeploy.sandbox import values

        model = values.complete_model(
            schema, desired_state, region=ctx.region, account_id=ctx.account
        )
        identifier = schema.identifier_of(model)
        if identifier is None:
            raise SandboxError(
                "HandlerInternalFailure",
                f"The sandbox could not assign a primary identifier to {schema.type_name}",
            )
        return self._submit(
            ctx=ctx,
            schema=schema,
            operation="CREATE",
            identifier=identifier,
            params=params,
            fingerprint=fingerprint,
            model=model,
            failure=None,
            must_exist=False,
            now=now,
        )

    def op_GetResource(self, params: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
        _required(params, "TypeName", "Identifier")
        schema = self.schema(params["TypeName"], ctx, "read")
        identifier = self._identifier(schema, params["Identifier"], ctx)
        key = (ctx.account, ctx.region, schema.type_name, identifier)
        stale, model = self.faults.stale_read(key, self.store.clock())
        if not stale:
            model = self.store.get_resource(*key)
        if model is None:
            raise self._not_found(schema, identifier)
        return {
            "TypeName": schema.type_name,
            "ResourceDescription": {
                "Identifier": identifier,
                "Properties": json.dumps(self._visible(schema, model)),
            },
        }

    def op_UpdateResource(self, params: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
        import jsonpatch
        import jsonpointer

        _required(params, "TypeName", "Identifier", "PatchDocument")
        schema = self.schema(params["TypeName"], ctx, "update")
        identifier = self._identifier(schema, params["Identifier"], ctx)
        ops = _json_param(params, "PatchDocument", kind=list)
        now = self.store.clock()
        fingerprint = self._fingerprint("UPDATE", schema.type_name, identifier, ops)
        previous = self._idempotent(params, ctx, fingerprint, now)
        if previous is not None:
            return {"ProgressEvent": self.progress_event(previous, now)}
        current = self.store.get_resource(ctx.account, ctx.region, schema.type_name, identifier)
        if current is None:
            raise self._not_found(schema, identifier)
        normalised = []
        for op in ops:
            if not isinstance(op, dict) or not isinstance(op.get("path"), str):
                raise SandboxError("InvalidRequest", f"Invalid patch operation: {op!r}")
            fixed = dict(op)
            for key in ("path", "from"):
                if isinstance(fixed.get(key), str) and not fixed[key].startswith("/"):
                    fixed[key] = "/" + fixed[key]  # AWS's own examples omit the slash
            normalised.append(fixed)
        try:
            updated = jsonpatch.JsonPatch(normalised).apply(copy.deepcopy(current))
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise SandboxError("InvalidRequest", f"Invalid patch: {exc}") from exc
        if not isinstance(updated, dict):
            raise SandboxError("InvalidRequest", "Invalid patch: the result is not an object")
        id_patterns = [tuple(name.split("/")) for name in schema.primary_identifier]
        create_only = _changed([*schema.create_only, *id_patterns], current, updated)
        if create_only:
            raise SandboxError(
                "NotUpdatable",
                "Invalid patch update: createOnlyProperties "
                f"[{', '.join(dict.fromkeys(create_only))}] cannot be updated",
            )
        read_only = _read_only_set(schema.read_only, current, updated)
        if read_only:
            raise SandboxError(
                "InvalidRequest",
                f"Invalid patch update: readOnlyProperties [{', '.join(read_only)}] "
                "cannot be updated",
            )
        # Read-only values are the sandbox's own (checked unchanged above): validate the rest.
        messages = _violations(schema, strip_paths(updated, schema.read_only), "update")
        if messages:
            raise SandboxError("InvalidRequest", _model_validation_message(messages))
        updated = self._refill_read_only(schema, current, updated, ctx)
        return self._submit(
            ctx=ctx,
            schema=schema,
            operation="UPDATE",
            identifier=identifier,
            params=params,
            fingerprint=fingerprint,
            model=updated,
            failure=None,
            must_exist=True,
            now=now,
        )

    @staticmethod
    def _refill_read_only(
        schema: ResourceSchema, current: dict[str, Any], updated: dict[str, Any], ctx: Context
    ) -> dict[str, Any]:
        """Read-only values a patch dropped (by replacing their parent, as a patch of a whole
        ``InstanceGroups`` array does) are computed again, as AWS's handler would; top-level
        ones (ARNs, ids, timestamps) keep their current values."""
        from stackdeploy.sandbox import values

        if not schema.read_only:
            return updated
        refilled = values.complete_model(
            schema,
            strip_paths(updated, schema.read_only),
            region=ctx.region,
            account_id=ctx.account,
        )
        for pattern in schema.read_only:
            for path, value in values_at(updated, pattern).items():
                _set_at(refilled, path, value)
            if len(pattern) == 1 and pattern[0] in current and pattern[0] not in updated:
                refilled[pattern[0]] = current[pattern[0]]
        return refilled

    def op_DeleteResource(self, params: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
        _required(params, "TypeName", "Identifier")
        schema = self.schema(params["TypeName"], ctx, "delete")
        identifier = self._identifier(schema, params["Identifier"], ctx)
        now = self.store.clock()
        fingerprint = self._fingerprint("DELETE", schema.type_name, identifier)
        previous = self._idempotent(params, ctx, fingerprint, now)
        if previous is not None:
            return {"ProgressEvent": self.progress_event(previous, now)}
        return self._submit(
            ctx=ctx,
            schema=schema,
            operation="DELETE",
            identifier=identifier,
            params=params,
            fingerprint=fingerprint,
            model=None,
            failure=None,
            must_exist=True,
            now=now,
        )

    def op_ListResources(self, params: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
        _required(params, "TypeName")
        schema = self.schema(params["TypeName"], ctx, "list")
        model: dict[str, Any] = {}
        if params.get("ResourceModel"):
            model = _json_param(params, "ResourceModel")
        missing = [name for name in schema.list_required if model.get(name) in (None, "")]
        if missing:
            details = "\n".join(f"#: required key [{name}] not found" for name in missing)
            raise SandboxError(
                "InvalidRequest",
                f"Missing or invalid ResourceModel property in {schema.type_name} list handler "
                f"request input.Required property: ({details})",
            )
        handler_schema = (schema.handlers.get("list") or {}).get("handlerSchema") or {}
        filter_keys = set(schema.list_required) | set(handler_schema.get("properties") or {})
        filters = {k: v for k, v in model.items() if k in filter_keys}
        after = None
        if params.get("NextToken"):
            token = _decode_token(params["NextToken"], "list")
            if token.get("t") != schema.type_name:
                raise SandboxError("InvalidRequest", "NextToken belongs to another type")
            after = token.get("a")
        limit = LIST_PAGE_SIZE
        max_results = params.get("MaxResults")
        if isinstance(max_results, int) and 0 < max_results < limit:
            limit = max_results
        rows = [
            row
            for row in self.store.list_resources(
                ctx.account, ctx.region, schema.type_name, after=after
            )
            if all(row.properties.get(k) == v for k, v in filters.items())
        ]
        rows = self._stale_listing(rows, schema.type_name, ctx, filters, after)
        page = rows[:limit]
        describe = self._visible if self.list_mode == "full" else _identifier_properties
        result: dict[str, Any] = {
            "TypeName": schema.type_name,
            "ResourceDescriptions": [
                {
                    "Identifier": row.identifier,
                    "Properties": json.dumps(describe(schema, row.properties)),
                }
                for row in page
            ],
        }
        if len(rows) > limit:
            result["NextToken"] = _encode_token(
                {"k": "list", "t": schema.type_name, "a": page[-1].identifier}
            )
        return result

    def _stale_listing(
        self,
        rows: list[ResourceRow],
        type_name: str,
        ctx: Context,
        filters: Mapping[str, Any],
        after: str | None,
    ) -> list[ResourceRow]:
        """A listing as a stale read sees it: resources a ``stale`` fault still hides (just
        created) left out, those it still shows (just deleted, or as they were before an
        update) put back."""
        keys = self.faults.stale_keys(ctx.account, ctx.region, type_name)
        if not keys:
            return rows
        now = self.store.clock()
        by_id = {row.identifier: row for row in rows}
        for key in keys:
            stale, before = self.faults.stale_read(key, now)
            if not stale:
                continue
            by_id.pop(key[3], None)
            if after is not None and key[3] <= after:
                continue  # listed on an earlier page
            if before is not None and all(before.get(k) == v for k, v in filters.items()):
                by_id[key[3]] = ResourceRow(*key, before, now, now)
        return [by_id[i] for i in sorted(by_id)]

    def _request(self, params: Mapping[str, Any], ctx: Context) -> RequestRow:
        _required(params, "RequestToken")
        request = self.store.get_request(params["RequestToken"])
        if request is None or (request.account, request.region) != (ctx.account, ctx.region):
            raise SandboxError(
                "RequestTokenNotFound",
                f"Request with token {params['RequestToken']} was not found.",
            )
        return request

    def op_GetResourceRequestStatus(
        self, params: Mapping[str, Any], ctx: Context
    ) -> dict[str, Any]:
        request = self._request(params, ctx)
        return {
            "ProgressEvent": self.progress_event(request, self.store.clock()),
            "HooksProgressEvent": [],
        }

    def op_CancelResourceRequest(self, params: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
        request = self._request(params, ctx)
        with self.store.atomic():
            now = self.store.clock()
            status = request.status_at(now)
            if status not in ("PENDING", "IN_PROGRESS"):
                raise SandboxError(
                    "ConcurrentModification",
                    f"Request {request.token} is {status}: only PENDING or IN_PROGRESS "
                    "requests can be cancelled.",
                )
            self.store.cancel_request(request.token, now)
            request.canceled_at = now
        return {"ProgressEvent": self.progress_event(request, now)}

    def op_ListResourceRequests(self, params: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
        now = self.store.clock()
        wanted = params.get("ResourceRequestStatusFilter") or {}
        operations = set(wanted.get("Operations") or [])
        statuses = set(wanted.get("OperationStatuses") or [])
        events = []
        for request in self.store.list_requests(ctx.account, ctx.region):
            if operations and request.operation not in operations:
                continue
            event = self.progress_event(request, now)
            if statuses and event["OperationStatus"] not in statuses:
                continue
            events.append(event)
        offset = 0
        if params.get("NextToken"):
            offset = int(_decode_token(params["NextToken"], "requests").get("o", 0))
        limit = REQUESTS_PAGE_SIZE
        max_results = params.get("MaxResults")
        if isinstance(max_results, int) and max_results > 0:
            limit = min(max_results, 100)
        result: dict[str, Any] = {"ResourceRequestStatusSummaries": events[offset : offset + limit]}
        if offset + limit < len(events):
            result["NextToken"] = _encode_token({"k": "requests", "o": offset + limit})
        return result
