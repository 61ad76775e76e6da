"""Fixtures of the deploy tests (defined in dockerstack)."""

from dockerstack import docker_engine, project_image, stack  # noqa: F401
