"""Routilux flows of the waiting benchmark (bench/waiting_jobs.py). Workers import ``bench.waiting_flows``.

* :func:`timer_flow`: ``Arm`` sets ``count`` durable timers of ``delay_s`` each; every ``ring`` reaches
  ``Stamp``, which keeps how late it ran (ms past the time the timer was due) in the job's shared data.
* :func:`retry_flow`: the baseline. ``Fan`` emits ``count`` items to ``Flaky``, whose first attempt raises
  and whose error handler retries it after ``delay_s``; the retry keeps how late it ran, the same way.
* :func:`wait_flow`: one ``WaitForPost`` (slot ``decision``) with a long timeout: a job that waits.
* :func:`loop_flow`: ``Loop`` emits to itself until ``k`` reaches ``n``, keeping ``k`` in the shared data:
  a job with a long history (one log entry per step).
"""

from __future__ import annotations

import time
from typing import Any

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine, WaitForPost
from routilux.context import current_step


class Arm(Routine):
    """Sets ``count`` timers that each emit ``ring`` with the time (Unix s) they are due."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("ring", ["k", "due"])

    def go(self, count: int = 10, delay_s: float = 1.5, **_: Any) -> None:
        for k in range(count):
            self.emit_after(delay_s, "ring", k=k, due=time.time() + delay_s)


class Stamp(Routine):
    """Keeps ``late:<k>``: ms between ``due`` and now."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, k: int = 0, due: float = 0.0, **_: Any) -> None:
        self.get_execution_context().job_state.update_shared_data(f"late:{k}", (time.time() - due) * 1000)


class Fan(Routine):
    """Emits ``count`` items."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("item", ["k"])

    def go(self, count: int = 10, **_: Any) -> None:
        for k in range(count):
            self.emit("item", k=k)


class Flaky(Routine):
    """Raises on its first attempt; the retry keeps ``late:<k>``: ms past the time it was due."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, k: int = 0, **_: Any) -> None:
        act = current_step.get().activation
        if not act.attempt:
            raise RuntimeError("first attempt fails")
        self.get_execution_context().job_state.update_shared_data(f"late:{k}", (time.time() - act.not_before) * 1000)


class Loop(Routine):
    """Keeps ``k`` in the shared data and emits ``k + 1`` to itself until it reaches ``n``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_slot("input", handler=self.go)
        self.define_event("next", ["k", "n"])

    def go(self, k: int = 0, n: int = 100, **_: Any) -> None:
        self.get_execution_context().job_state.update_shared_data("k", k)
        if k < n:
            self.emit("next", k=k + 1, n=n)


def timer_flow(delay_s: float) -> Flow:
    """arm --ring--> stamp."""
    flow = Flow("bench-timers")
    flow.add_routine(Arm(), "arm")
    flow.add_routine(Stamp(), "stamp")
    flow.connect("arm", "ring", "stamp", "input")
    return flow


def retry_flow(delay_s: float) -> Flow:
    """fan --item--> flaky (retried once after ``delay_s``)."""
    flow = Flow("bench-retries")
    flow.add_routine(Fan(), "fan")
    flaky = Flaky()
    flaky.set_error_handler(ErrorHandler(ErrorStrategy.RETRY, max_retries=1, retry_delay=delay_s, retry_backoff=1.0))
    flow.add_routine(flaky, "flaky")
    flow.connect("fan", "item", "flaky", "input")
    return flow


def wait_flow() -> Flow:
    """One WaitForPost that waits an hour for a post to ``decision``."""
    flow = Flow("bench-waits", execution_timeout=None)  # it waits longer than the default deadline
    wait = WaitForPost()
    wait.set_config(slot="decision", timeout_s=3600)
    flow.add_routine(wait, "approve")
    return flow


def loop_flow() -> Flow:
    """loop --next--> loop, ``n`` steps after the first."""
    flow = Flow("bench-loop", execution_timeout=None)
    flow.add_routine(Loop(), "loop")
    flow.connect("loop", "next", "loop", "input")
    return flow
