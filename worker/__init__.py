"""The worker daemon: ``python -m worker --redis-url URL --import MODULE [...]``.

A thin entry point over :mod:`routilux.cli.worker` (``routilux worker`` takes the
same options): it parses, configures logging, imports the ``--import`` modules,
and calls :mod:`routilux.distributed.worker.boot`, which runs a real Celery
worker until SIGTERM (a warm shutdown). ``--check`` is the health probe.
"""

from __future__ import annotations

import argparse
from typing import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m worker`` parser (the options of ``routilux worker``)."""
    from routilux.cli.worker import add_worker_arguments

    parser = argparse.ArgumentParser(prog="python -m worker", description="Run a Routilux worker daemon.")
    add_worker_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the worker daemon (or the health probe); returns the exit code."""
    from routilux.cli.exits import run
    from routilux.cli.worker import cmd_worker

    return run(cmd_worker, build_parser().parse_args(argv))
