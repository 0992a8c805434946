"""The one exception hierarchy of stack-deploy.

Every error a user can cause or meet derives from :class:`StackDeployError`. The CLI turns
these into a single line on stderr and an exit code in one place (``stackdeploy.cli``); with
``--debug`` the traceback is shown instead. Messages should say what went wrong, where (file
and line when known) and, through ``hint``, what to do next.
"""

from __future__ import annotations


class StackDeployError(Exception):
    """Base class: a failure reported to the user as one line, exit code ``exit_code``."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class UsageError(StackDeployError):
    """Bad command-line usage (exit code 2, like click's own usage errors)."""

    exit_code = 2


class LocatedError(StackDeployError):
    """An error tied to a place in a file: rendered as ``file:line: message``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        location = ""
        if file:
            location = f"{file}:{line}: " if line else f"{file}: "
        super().__init__(f"{location}{message}", hint=hint)
        self.bare_message = message


class ManifestError(LocatedError):
    """The stack manifest (or a file it includes) is invalid."""


class EnvFileError(LocatedError):
    """The env file (``--env-file``, default ``./.env``) cannot be read or parsed."""


class TemplateError(LocatedError):
    """A Jinja template failed to render (undefined variable, syntax error, bad filter).

    ``undefined`` is the dotted name of the undefined variable (``vpc.vpc_id``), when that
    is what failed.
    """

    undefined: str | None = None


class QueryError(LocatedError):
    """A query file or SQL statement is invalid or failed to run."""


class SchemaError(StackDeployError):
    """A resource schema could not be found or a desired state does not match it."""


class TypeNotFoundError(SchemaError):
    """An unknown resource type name (CloudFormation or awscc form)."""


class ValidationError(SchemaError):
    """A desired state violates its resource schema; ``violations`` lists each one."""

    def __init__(self, message: str, violations: list[str], *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.violations = violations


class CloudControlError(StackDeployError):
    """A Cloud Control call or request failed.

    ``error_code`` is Cloud Control's ErrorCode (async failures) or the exception name
    (sync failures), ``status_message`` its StatusMessage.
    """

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        status_message: str | None = None,
        request_token: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.error_code = error_code
        self.status_message = status_message
        self.request_token = request_token


class RequestTimeoutError(CloudControlError):
    """A Cloud Control request did not reach a final state within its time-out."""


class PlanError(StackDeployError):
    """The plan cannot be carried out safely (for example a replacement not allowed)."""


class StalePlanError(PlanError):
    """``build --plan FILE``: the manifest, the inputs or live resources changed since the
    saved plan was made, so it is refused (nothing was changed)."""


class DeployError(StackDeployError):
    """A resource failed during build, test or teardown."""


class AdoptError(StackDeployError):
    """``stack-deploy import`` cannot adopt a resource (absent, already managed, not findable
    again after adoption, or the stack folder cannot take it)."""


class DriftError(StackDeployError):
    """``test`` found resources that are absent or not in their desired state."""
