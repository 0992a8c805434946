"""The executor: runs a stack's plan against Cloud Control.

``runner.StackRunner`` walks the manifest's resources (one at a time, in manifest order, for
now), asks each resource's handler what it would do (a :class:`~stackdeploy.plan.model.
ResourcePlan`) and, unless this is a dry run, does it:

- ``queries.QueryResource``: stackql-deploy semantics over the resource's query file
  (exists, statecheck, create / createorupdate / update, exports, delete, command,
  callback, troubleshoot anchors), with the schema diff as an extra check.
- ``declarative.DeclarativeResource``: desired state from the props alone; generated
  Cloud Control calls; found again by identifier, tags or create-only properties.
- ``runner`` itself handles ``query``, ``command`` and ``script`` resources.

Keeping "what to do" (the plan) apart from "how to do it" lets ``plan`` and ``--dry-run``
share every line of discovery with ``build``.
"""
