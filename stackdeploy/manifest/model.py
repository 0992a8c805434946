"""The validated manifest as immutable dataclasses.

These are what the rest of stack-deploy sees of ``stackql_manifest.yml``: names resolved,
defaults applied, one form per concept (an export is always ``ExportDef(column, alias)``).
Values stay raw (unrendered); :mod:`stackdeploy.manifest.render` renders them.

Collections are tuples so a definition cannot be changed by accident once loaded. Fields
holding arbitrary YAML values (dicts) are left out of hashing, so definitions can still be
used as dict keys and in sets (hashing by name, type, line...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from stackdeploy.manifest.loader import NodePath, Positions
from stackdeploy.query.iql import QueryFile

ResourceKind = Literal["resource", "query", "script", "command", "multi"]
RESOURCE_KINDS: tuple[str, ...] = ("resource", "query", "script", "command", "multi")

MANIFEST_FILE = "stackql_manifest.yml"


@dataclass(frozen=True)
class GlobalDef:
    """One ``globals`` entry. ``value`` is the raw YAML value (``file()`` resolved);
    ``protected`` (``protected: true``) masks its rendered value in every output."""

    name: str
    value: Any = field(hash=False, compare=True)
    description: str | None
    line: int
    path: NodePath = field(hash=False, compare=False, repr=False)
    #: ``protected: true`` (stackql-deploy 2.1): the rendered value is masked everywhere.
    protected: bool = False


@dataclass(frozen=True)
class PropDef:
    """One ``props`` entry: ``value``, or ``values`` per environment, and ``merge`` names.

    ``values`` is ``{env: raw value}`` (the ``{value: ...}`` wrapper removed). ``path`` is
    the node path of the value for the current env (used to locate render errors).
    """

    name: str
    value: Any = field(hash=False)
    values: dict[str, Any] | None = field(hash=False)
    merge: tuple[str, ...]
    line: int
    path: NodePath = field(hash=False, compare=False, repr=False)
    description: str | None = None
    #: ``protected: true`` (stackql-deploy 2.1): the rendered value is masked everywhere.
    protected: bool = False


@dataclass(frozen=True)
class ExportDef:
    """An export: the query ``column`` and the variable name it is stored as."""

    column: str
    alias: str | None = None

    @property
    def name(self) -> str:
        """The variable name: the alias when given, else the column."""
        return self.alias or self.column


@dataclass(frozen=True)
class ReturnVal:
    """``return_vals`` item: copy RETURNING ``field`` to ``this.<target>``."""

    field: str
    target: str


@dataclass(frozen=True)
class AwsAuth:
    """stackql-deploy 1.x's ``auth`` for AWS: the *names* of the variables that hold the
    access key id, the secret access key and (a stack-deploy addition) a session token."""

    key_id_var: str
    secret_var: str
    token_var: str | None = None


#: Keys saying where and as whom a resource's calls go (docs/manifest.md, "Accounts and
#: regions"): the templates of :class:`ResourceAccess`.
ACCESS_KEYS = ("region", "role_arn", "role_session_name", "external_id", "profile")


@dataclass(frozen=True)
class ResourceAccess:
    """Where and as whom a resource's AWS calls go, beyond the run's defaults: its own
    ``region``, a ``role_arn`` to assume (with ``role_session_name``, ``external_id``), a
    ``profile``, or 1.x ``auth`` credentials. Strings are templates, rendered at run time."""

    region: str | None = None
    role_arn: str | None = None
    role_session_name: str | None = None
    external_id: str | None = None
    profile: str | None = None
    auth: AwsAuth | None = None

    @property
    def default(self) -> bool:
        """True when the resource uses the run's region and credentials."""
        return self == ResourceAccess()

    def templates(self) -> dict[str, str]:
        """The keys set, as ``{key: template}`` (the auth variable names are not templates)."""
        return {k: v for k in ACCESS_KEYS if (v := getattr(self, k)) is not None}


@dataclass(frozen=True)
class ResourceDef:
    """One ``resources`` entry.

    ``file`` is the query file as written (``file:``) or None; ``query_file`` is the path
    actually used (``resources/<file>`` or the default ``resources/<name>.iql``) when it
    exists, and ``queries`` that file as read and parsed at load
    (:func:`~stackdeploy.query.iql.read_query_file`; None without a query file, or when
    inline ``sql`` wins over it). ``resource_type`` is the CloudFormation type name (``AWS::S3::Bucket``) resolved
    from the manifest's awscc or CloudFormation spelling; a resource is *declarative* when
    it has a ``resource_type`` and neither a query file nor inline ``sql``.
    """

    name: str
    type: ResourceKind
    file: str | None
    sql: str | None
    run: str | None
    props: tuple[PropDef, ...]
    exports: tuple[ExportDef, ...]
    protected: tuple[str, ...]
    return_vals: dict[str, tuple[ReturnVal, ...]] = field(hash=False)
    condition: str | None
    skip_validation: bool
    depends_on: tuple[str, ...]
    resource_type: str | None
    replace: bool
    line: int
    auth: dict[str, Any] | None = field(hash=False)
    query_file: Path | None = None
    queries: QueryFile | None = field(default=None, hash=False, compare=False, repr=False)
    description: str | None = None
    sql_line: int | None = None
    run_line: int | None = None
    condition_line: int | None = None
    path: NodePath = field(default=(), hash=False, compare=False, repr=False)
    access: ResourceAccess = field(default_factory=lambda: ResourceAccess())
    #: ``skip_on_delete: true`` (stackql-deploy 2.2): teardown keeps the resource.
    skip_on_delete: bool = False

    @property
    def declarative(self) -> bool:
        """True when the resource is managed from its props and schema alone."""
        return self.resource_type is not None and self.query_file is None and self.sql is None

    @property
    def export_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.exports)

    def prop(self, name: str) -> PropDef | None:
        for prop in self.props:
            if prop.name == name:
                return prop
        return None


@dataclass(frozen=True)
class Manifest:
    """A loaded, validated ``stackql_manifest.yml``.

    ``path`` is the manifest file; ``stack_dir`` its folder; ``raw`` the parsed YAML (after
    ``file()`` includes); ``positions`` the line table used to locate render errors.
    """

    path: Path
    name: str
    providers: tuple[str, ...]
    globals: tuple[GlobalDef, ...]
    resources: tuple[ResourceDef, ...]
    exports: tuple[str, ...]
    version: Any = field(hash=False)
    description: str | None
    raw: dict[str, Any] = field(hash=False, compare=False, repr=False)
    positions: Positions = field(hash=False, compare=False, repr=False)
    exports_line: int | None = None

    @property
    def stack_dir(self) -> Path:
        return self.path.parent

    @property
    def display_path(self) -> str:
        """The manifest path as shown in messages."""
        return self.positions.default_file or str(self.path)

    def resource(self, name: str) -> ResourceDef:
        """The resource called ``name`` (KeyError if there is none)."""
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise KeyError(name)
