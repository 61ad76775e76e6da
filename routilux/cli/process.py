"""What a command sets up in its own process: logging, once, and the operator's ``--import`` modules."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any, Sequence

from routilux.cli.exits import UsageError

LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"


def import_modules(names: Sequence[str]) -> list[Any]:
    """Import operator-given modules by name (the only place Routilux imports by name).

    Raises:
        UsageError: a module cannot be imported (names it and why).
    """
    # ``python -m`` puts the working directory on sys.path but a console
    # script does not; do the same so both entry points find the same modules.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except Exception as exc:  # a broken module is a configuration error, not a crash
            raise UsageError(f"cannot import module {name!r} given with --import: {type(exc).__name__}: {exc}") from exc
    return modules


def configure_logging(level: str) -> None:
    """Configure logging once, for this process and the pool it forks."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise UsageError(f"unknown log level {level!r}")
    logging.basicConfig(level=numeric, format=LOG_FORMAT)
