"""Reaching the distributed engine from a command: its package, its settings, a runtime."""

from __future__ import annotations

import argparse
from typing import Any

from routilux.cli.exits import UsageError


def settings_from(args: argparse.Namespace, **extra: Any) -> Any:
    """Settings from the environment, overridden by the options that were given."""
    overrides = {"redis_url": getattr(args, "redis_url", None), "key_prefix": getattr(args, "key_prefix", None),
                 "broker_url": getattr(args, "broker_url", None),
                 **extra}
    try:
        return distributed().Settings.from_env(**overrides)
    except ValueError as exc:  # e.g. ROUTILUX_LEASE_S=abc, or a visibility timeout below the lease
        raise UsageError(f"invalid settings: {exc}") from exc


def distributed() -> Any:
    """The ``routilux.distributed`` package, or a UsageError saying how to install it."""
    try:
        import routilux.distributed as package
    except ImportError as exc:
        raise UsageError(f"the distributed engine is not installed ({exc}); "
                         "install it with: pip install 'routilux[distributed]'") from exc
    return package


def runtime_from(args: argparse.Namespace) -> Any:
    """A DistributedRuntime for the command's options."""
    return distributed().DistributedRuntime(settings=settings_from(args))
