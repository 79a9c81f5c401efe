"""Pulumi entry point (``main: stacks/`` in Pulumi.yaml): validate config, build, export."""

from stacks.program import run

run()
