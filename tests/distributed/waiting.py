"""Helpers shared by the distributed tests."""

from __future__ import annotations

import time
from typing import Any


def wait_until(predicate: Any, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it is truthy (test helper for process-level events)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def workers_up(runtime: Any, count: int) -> bool:
    """True once ``count`` workers have written their liveness records."""
    return len(runtime.workers()) >= count
