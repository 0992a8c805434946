"""Fixtures for manifest tests: write a small stack into a temporary folder, load it, and
look at what its resources would render through the real rendering functions and a run
state (:class:`StackView`)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from stackdeploy.engine.state import RunState
from stackdeploy.manifest import LoadedStack, load_stack
from stackdeploy.manifest.model import ResourceDef
from stackdeploy.manifest.render import (
    condition_holds,
    render_props,
    render_text,
    return_values,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "manifests"

MakeStack = Callable[..., Path]


def flat(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested context with dotted keys added (``{"a": {"b": 1}}`` also gives ``a.b``)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        out[name] = value
        if isinstance(value, Mapping) and key != "vars":
            out.update(flat(value, f"{name}."))
    return out


class StackView:
    """A loaded stack plus one run state: what each resource sees, through the engine's own
    rendering (contexts hold every name, not only those a resource's templates use)."""

    def __init__(self, stack: LoadedStack) -> None:
        self.stack = stack
        self.state = RunState(stack)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stack, name)

    def _res(self, res: ResourceDef | str) -> ResourceDef:
        return res if isinstance(res, ResourceDef) else self.stack.resource(res)

    def _names(self) -> set[str]:
        names = {"callback"} | set(self.stack.globals)
        for res in self.stack.resources:
            names.add(res.name)
            names.update(e.name for e in res.exports)
        return names

    def token(self, res: ResourceDef | str) -> str:
        return self.state.tokens[self._res(res).name]

    def nested_context(self, res: ResourceDef | str) -> dict[str, Any]:
        return self.state.context(self._res(res), self._names())

    def resource_context(self, res: ResourceDef | str) -> dict[str, Any]:
        return flat(self.nested_context(res))

    def global_context(self) -> dict[str, Any]:
        """Globals and every export, as the last resource in manifest order sees them."""
        last = self.stack.resources[-1]
        saved, self.state.whole_manifest = self.state.whole_manifest, True
        try:
            ctx = self.state.context(last, self._names())
        finally:
            self.state.whole_manifest = saved
        for key in (
            "resource_name",
            "idempotency_token",
            *(g.name for g in self.stack.scoped_globals),
        ):
            ctx.pop(key, None)
        return flat(ctx)

    def render_props(self, res: ResourceDef | str) -> dict[str, Any]:
        res = self._res(res)
        values = render_props(self.stack, res, self.nested_context(res))
        self.state.add_secrets(v for k, v in values.items() if k in res.protected)
        return values

    def query_context(self, res: ResourceDef | str) -> dict[str, Any]:
        ctx = self.nested_context(res)
        ctx.update(self.render_props(res))
        return ctx

    def render_query(self, res: ResourceDef | str, text: str, *, line: int = 1) -> str:
        res = self._res(res)
        ctx = self.query_context(res)
        return render_text(
            self.stack, res, text, ctx, file=self.stack.query_display(res), line=line
        )

    def render_sql(self, res: ResourceDef | str) -> str:
        res = self._res(res)
        assert res.sql is not None
        return render_text(
            self.stack,
            res,
            res.sql,
            self.query_context(res),
            file=self.stack.manifest.display_path,
            line=res.sql_line or res.line,
        )

    def render_run(self, res: ResourceDef | str) -> str:
        res = self._res(res)
        assert res.run is not None
        return render_text(
            self.stack,
            res,
            res.run,
            self.query_context(res),
            file=self.stack.manifest.display_path,
            line=res.run_line or res.line,
        )

    def condition_holds(self, res: ResourceDef | str) -> bool:
        res = self._res(res)
        return condition_holds(self.stack, res, self.nested_context(res))

    def record_exports(
        self, res: ResourceDef | str, row: Mapping[str, Any], *, line: int | None = None
    ) -> dict[str, Any]:
        res = self._res(res)
        return self.state.record_exports(res, row, file=self.stack.query_display(res), line=line)

    def set_placeholder_exports(self, res: ResourceDef | str, placeholder: str) -> None:
        self.state.set_placeholders(self._res(res), placeholder)

    def capture_this(self, res: ResourceDef | str, row: Mapping[str, Any]) -> None:
        self.state.capture_this(self._res(res), row)

    def apply_return_vals(
        self, res: ResourceDef | str, op: str, row: Mapping[str, Any]
    ) -> dict[str, Any]:
        res = self._res(res)
        captured = return_values(res, op, row)
        if captured:
            self.state.capture_this(res, captured)
        return captured

    def record_callback(self, res: ResourceDef | str, row: Mapping[str, Any]) -> None:
        self.state.record_callback(self._res(res), row)

    def alias_columns_for_teardown(self, res: ResourceDef | str) -> None:
        self.state.add_alias_columns(self._res(res))

    def secret_values(self) -> set[str]:
        return set(self.state.secrets())

    def stack_exports(self) -> dict[str, Any]:
        return self.state.stack_exports()

    def query_display(self, res: ResourceDef | str) -> str:
        return self.stack.query_display(self._res(res))


@pytest.fixture
def make_stack(tmp_path: Path) -> MakeStack:
    """``make_stack(manifest_yaml, files={"resources/x.iql": "..."})`` -> the stack folder.

    The manifest text is dedented, so tests can indent it naturally; its first line is line 1.
    """

    def make(manifest: str, files: dict[str, str] | None = None, name: str = "stack") -> Path:
        stack = tmp_path / name
        (stack / "resources").mkdir(parents=True, exist_ok=True)
        (stack / "stackql_manifest.yml").write_text(textwrap.dedent(manifest).lstrip("\n"))
        for rel, text in (files or {}).items():
            target = stack / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text).lstrip("\n"))
        return stack

    return make


@pytest.fixture
def load(tmp_path: Path) -> Callable[..., StackView]:
    """``load(stack_dir, env="dev", **kw)``: load_stack with the CWD pinned to an empty
    folder, so a developer's own ./.env can never leak into a test."""
    empty = tmp_path / "cwd"
    empty.mkdir(exist_ok=True)

    def do(stack_dir: Path | str, env: str = "dev", **kwargs: object) -> StackView:
        kwargs.setdefault("cwd", empty)
        return StackView(load_stack(stack_dir, env, **kwargs))  # type: ignore[arg-type]

    return do
