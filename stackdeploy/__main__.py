"""Allows ``python -m stackdeploy``."""

from stackdeploy.cli import main

main()
