"""The query engine: stackql-style ``awscc`` SQL run against Cloud Control.

* :mod:`stackdeploy.query.iql` splits query files into anchored blocks.
* :mod:`stackdeploy.query.functions` adds the dialect's SQL functions to SQLite.
* :mod:`stackdeploy.query.engine` parses and runs statements (``QueryEngine``).

Submodules are imported where they are used, so that importing one does not pull in the
others (the CLI loads commands lazily).
"""
