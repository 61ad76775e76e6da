"""Routines of bench/asyncio_pool.py (its workers import this module as ``bench.asyncio_flows``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from routilux import Flow, Routine


class Fan(Routine):
    """Emits ``n`` items on ``out``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["i"])

    def go(self, n: int = 1, **_: Any) -> None:
        for k in range(n):
            self.emit("out", i=k)


class AwaitSleep(Routine):
    """``await asyncio.sleep(sleep_s)``: an I/O-bound coroutine handler."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.set_config(sleep_s=1.0)

    async def go(self, **_: Any) -> None:
        await asyncio.sleep(self.get_config("sleep_s"))


class BlockSleep(Routine):
    """``time.sleep(sleep_s)``: the same wait in a sync handler (the threads pool's baseline)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.set_config(sleep_s=1.0)

    def go(self, **_: Any) -> None:
        time.sleep(self.get_config("sleep_s"))


def fan_flow(coroutine: bool, sleep_s: float = 1.0) -> Flow:
    """fan -> sleeper: one job, one sleeping activation per item."""
    flow = Flow(flow_id=f"bench-fan-{'async' if coroutine else 'sync'}-{sleep_s}")
    flow.add_routine(Fan(), "fan")
    sleeper = AwaitSleep() if coroutine else BlockSleep()
    sleeper.set_config(sleep_s=sleep_s)
    flow.add_routine(sleeper, "sleep")
    flow.connect("fan", "out", "sleep", "input")
    return flow
