"""The executor: plans a whole stack, then applies it over the dependency graph.

- :mod:`.runner`: one loop per verb (plan, build, test, teardown) over the graph;
- :mod:`.handlers`: one handler per kind of resource, behind one protocol;
- :mod:`.graph`: dependencies from template references and ``depends_on``, cycles, targets;
- :mod:`.scheduler`: bounded-parallel execution of a graph, failure policies, cancellation;
- :mod:`.state`: the run state (exports, ``this.*``, callbacks, secrets, requests in flight);
- :mod:`.context`: what a run shares (:class:`Run`) and one handler call's view (``Step``);
- :mod:`.discovery`: finding resources again in O(1) calls each (tag index, read caches);
- :mod:`.lock`: the stack lock in the account, and resuming a run that died;
- :mod:`.events`: what the run reports as it goes (consumed by the CLI's progress views);
- :mod:`.orphans`, :mod:`.saved`: orphans and ``--prune``; saved plans (``plan --out``).

The engine talks to Cloud Control only through
:class:`~stackdeploy.cloud.protocol.CloudControlAPI` and never renders output itself.
"""

from stackdeploy.engine.context import Run, RunOptions
from stackdeploy.engine.events import EventSink, ListSink, RunEvent
from stackdeploy.engine.runner import Interrupted, PlanErrors, Runner, RunResult
from stackdeploy.engine.scheduler import Cancel
from stackdeploy.engine.state import RunState

__all__ = [
    "Cancel",
    "EventSink",
    "Interrupted",
    "ListSink",
    "PlanErrors",
    "Run",
    "RunEvent",
    "RunOptions",
    "RunResult",
    "RunState",
    "Runner",
]
