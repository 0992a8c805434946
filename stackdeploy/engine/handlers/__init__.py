"""One handler class per kind of resource, behind one protocol (:mod:`.base`).

:func:`handler_for` is the only place that looks at a resource's kind; the runner works
with :class:`~stackdeploy.engine.handlers.base.ResourceHandler` alone.
"""

from __future__ import annotations

from stackdeploy.engine.context import Run
from stackdeploy.engine.handlers.base import BaseHandler, ResourceHandler, Verb
from stackdeploy.engine.handlers.declarative import DeclarativeHandler
from stackdeploy.engine.handlers.queryfile import MultiHandler, QueryFileHandler
from stackdeploy.engine.handlers.simple import CommandHandler, QueryHandler, ScriptHandler
from stackdeploy.manifest.model import ResourceDef

__all__ = [
    "BaseHandler",
    "CommandHandler",
    "DeclarativeHandler",
    "MultiHandler",
    "QueryFileHandler",
    "QueryHandler",
    "ResourceHandler",
    "ScriptHandler",
    "Verb",
    "handler_for",
]


def handler_for(run: Run, res: ResourceDef) -> ResourceHandler:
    """The handler of ``res`` for this run."""
    if res.type == "script":
        return ScriptHandler(run, res)
    if res.type == "command":
        return CommandHandler(run, res)
    if res.type == "query":
        return QueryHandler(run, res)
    if res.declarative:
        return DeclarativeHandler(run, res)
    if res.type == "multi":
        return MultiHandler(run, res)
    return QueryFileHandler(run, res)
