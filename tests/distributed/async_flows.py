"""Routines with ``async def`` handlers and their flows (workers import it as ``async_flows``)."""

from __future__ import annotations

import asyncio
from typing import Any

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine
from routilux.errors import SoftTimeLimitExceeded

import basic_flows


class AsyncSource(Routine):
    """Emits ``n`` items (each {"i": k}) on ``out``, yielding to the loop between emits."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["i"])

    async def go(self, n: int = 3, **_: Any) -> None:
        for k in range(n):
            await asyncio.sleep(0)
            self.emit("out", i=k)


class AsyncDouble(Routine):
    """Awaits ``sleep_s`` (config), counts itself in shared data (a blind increment), emits twice its input."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("out", ["i"])
        self.set_config(sleep_s=0.0)

    async def go(self, i: int = 0, **_: Any) -> None:
        await asyncio.sleep(self.get_config("sleep_s"))
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.increment_shared_data("doubled")
        self.emit("out", i=i * 2)


class AsyncFlaky(Routine):
    """Reads and writes its attempt count in shared data around an await; fails its first attempt per item."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("out", ["i"])

    async def go(self, i: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        key = f"attempts-{i}"
        attempts = (ctx.job_state.get_shared_data(key) or 0) + 1
        await asyncio.sleep(0.01)
        ctx.job_state.update_shared_data(key, attempts)
        if attempts == 1:
            raise RuntimeError(f"transient failure of item {i}")
        self.emit("out", i=i)


class AsyncNap(Routine):
    """Awaits ``sleep_s``; past its soft limit it emits ``caught`` (``stubborn``: after awaiting as long again),
    unless ``catch`` is off."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("out", ["i", "caught"])
        self.set_config(sleep_s=1.0, stubborn=False, catch=True)

    async def go(self, i: int = 0, **_: Any) -> None:
        try:
            await asyncio.sleep(self.get_config("sleep_s"))
        except SoftTimeLimitExceeded:
            if not self.get_config("catch"):
                raise
            if self.get_config("stubborn"):
                await asyncio.sleep(self.get_config("sleep_s"))
            self.emit("out", i=i, caught=True)
            return
        self.emit("out", i=i, caught=False)


def async_flow(flow_id: str = "async", sleep_s: float = 0.0, expected: int = 3) -> Flow:
    """async source -> async double (parallel) -> async flaky (RETRY) -> total (sync aggregator) -> record."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(AsyncSource(), "source")
    double = AsyncDouble()
    double.set_config(sleep_s=sleep_s)
    flow.add_routine(double, "double")
    flaky = AsyncFlaky()
    flaky.set_error_handler(ErrorHandler(ErrorStrategy.RETRY, max_retries=2, retry_delay=0.02))
    flow.add_routine(flaky, "flaky")
    total = basic_flows.Total()
    total.set_config(expected=expected)
    flow.add_routine(total, "total")
    flow.add_routine(basic_flows.Record(), "record")
    flow.connect("source", "out", "double", "input")
    flow.connect("double", "out", "flaky", "input")
    flow.connect("flaky", "out", "total", "input")
    flow.connect("total", "done", "record", "input")
    return flow


def fan_out_flow(flow_id: str = "async-fanout", sleep_s: float = 1.0) -> Flow:
    """async source -> async double (one activation per item, each awaiting ``sleep_s``)."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(AsyncSource(), "source")
    double = AsyncDouble()
    double.set_config(sleep_s=sleep_s)
    flow.add_routine(double, "double")
    flow.connect("source", "out", "double", "input")
    return flow


def nap_flow(flow_id: str = "async-nap", sleep_s: float = 5.0, stubborn: bool = False, soft_s: float = 0.0,
             hard_s: float = 0.0, strategy: ErrorStrategy | None = None, catch: bool = True) -> Flow:
    """source -> async nap (with time limits) -> record."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(basic_flows.Source(), "source")
    nap = AsyncNap()
    nap.set_config(sleep_s=sleep_s, stubborn=stubborn, catch=catch)
    nap.set_time_limits(soft_s=soft_s or None, hard_s=hard_s or None)
    if strategy is not None:
        nap.set_error_handler(ErrorHandler(strategy, max_retries=1, retry_delay=0.02))
    flow.add_routine(nap, "nap")
    flow.add_routine(basic_flows.Record(), "record")
    flow.connect("source", "out", "nap", "input")
    flow.connect("nap", "out", "record", "input")
    return flow
