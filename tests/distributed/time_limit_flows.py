"""Routines and flows of the time-limit, deadline and retention tests (workers import it as ``time_limit_flows``)."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine

import basic_flows

# In-process workers only: a handler of Hold blocks until the test sets it.
GATE = threading.Event()


class Hold(Routine):
    """Append-merge slot whose handler blocks on GATE (so later activations queue for the slot)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go, merge_strategy="append")

    def go(self, **_: Any) -> None:
        GATE.wait(30)


class Sleepy(Routine):
    """Sleeps ``sleep_s`` (config), then emits; ``stubborn`` swallows the soft limit and sleeps as long again."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("out", ["i"])
        self.set_config(sleep_s=1.0, stubborn=False)

    def go(self, i: int = 0, **_: Any) -> None:
        try:
            nap(self.get_config("sleep_s"))
        except BaseException:
            if not self.get_config("stubborn"):
                raise
            nap(self.get_config("sleep_s"))
        self.emit("out", i=i)


def nap(seconds: float) -> None:
    """Sleep in short slices, so an exception raised from another thread lands within 10 ms."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)


class Poison(Routine):
    """Freezes its process in C code holding the GIL (``mode`` "freeze"), or kills its process ("kill")."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("out", ["i"])
        self.set_config(mode="freeze")

    def go(self, i: int = 0, **_: Any) -> None:
        if self.get_config("mode") == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        # Minutes of modular exponentiation in one C call: no bytecode runs, no signal handler, no other thread.
        pow(3, (1 << 100_000_000) - 1, (1 << 4096) - 159)
        self.emit("out", i=i)


def hold_flow(flow_id: str = "hold") -> Flow:
    """source -> hold (append merge, blocks on GATE)."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(basic_flows.Source(), "source")
    flow.add_routine(Hold(), "hold")
    flow.connect("source", "out", "hold", "input")
    return flow


def sleepy_flow(flow_id: str = "sleepy", sleep_s: float = 1.0, strategy: str | None = None, stubborn: bool = False,
                soft_s: float | None = None, hard_s: float | None = None, timeout: float | None = 300.0) -> Flow:
    """source -> sleepy (with time limits and an error strategy) -> record."""
    flow = Flow(flow_id=flow_id, execution_timeout=timeout)
    flow.add_routine(basic_flows.Source(), "source")
    sleepy = Sleepy()
    sleepy.set_config(sleep_s=sleep_s, stubborn=stubborn)
    if soft_s is not None or hard_s is not None:
        sleepy.set_time_limits(soft_s=soft_s, hard_s=hard_s)
    if strategy is not None:
        sleepy.set_error_handler(ErrorHandler(strategy, max_retries=1, retry_delay=0.01))
    flow.add_routine(sleepy, "sleepy")
    flow.add_routine(basic_flows.Record(), "record")
    flow.connect("source", "out", "sleepy", "input")
    flow.connect("sleepy", "out", "record", "input")
    return flow


def poison_flow(mode: str, flow_id: str | None = None) -> Flow:
    """source -> poison (freeze or kill) -> record."""
    flow = Flow(flow_id=flow_id or f"poison-{mode}")
    flow.add_routine(basic_flows.Source(), "source")
    poison = Poison()
    poison.set_config(mode=mode)
    flow.add_routine(poison, "poison")
    flow.add_routine(basic_flows.Record(), "record")
    flow.connect("source", "out", "poison", "input")
    flow.connect("poison", "out", "record", "input")
    return flow
