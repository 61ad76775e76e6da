"""The local engine: runs executions in this process on threads, no services needed."""

from __future__ import annotations

from routilux.flow import set_engine_factory
from routilux.local.engine import LocalEngine
from routilux.local.subflows import register_flow

set_engine_factory(LocalEngine)

__all__ = ["LocalEngine", "register_flow"]
