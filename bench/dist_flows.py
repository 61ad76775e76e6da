"""Routilux flows of the distributed benchmark (bench/compare_distributed.py).

Workers import this module by name (``bench.dist_flows``) so the routine
classes are registered; the driver builds the flows with the factories below.

* :func:`sequential_flow`: one ``Countdown`` routine connected to itself. Its
  ``trigger`` slot (the job's entry) and its ``input`` slot run the same
  handler: given ``n``, it emits ``n - 1`` on ``out`` while ``n > 1``. A job
  submitted with ``{"n": N}`` is N slot invocations, one after the other,
  exactly like the raw Celery ``step`` chain (``step(N)`` ... ``step(1)``).
* :func:`fanout_flow`: a ``Burst`` source whose trigger emits ``n`` times to a
  no-op ``Noop`` sink: 1 + n slot invocations, the n sink ones in parallel,
  like the raw Celery ``fanout(n)`` task and its n ``noop`` tasks.
"""

from __future__ import annotations

from typing import Any

from routilux import Flow, Routine

SEQUENTIAL_ENTRY = "step"
FANOUT_ENTRY = "source"


class Countdown(Routine):
    """Emits ``n - 1`` on ``out`` while ``n > 1``; the job ends when it stops emitting."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.step)
        self.define_slot("input", handler=self.step)
        self.define_event("out", ["n"])

    def step(self, n: int = 1, **_: Any) -> None:
        """One step of the countdown."""
        if n > 1:
            self.emit("out", n=n - 1)


class Burst(Routine):
    """On ``trigger``, emits ``n`` items ({"i": k}) on ``out``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["i"])

    def go(self, n: int = 1, **_: Any) -> None:
        """Emit ``n`` items."""
        for k in range(n):
            self.emit("out", i=k)


class Noop(Routine):
    """Receives an item and does nothing with it."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, **_: Any) -> None:
        """Do nothing."""


def sequential_flow(flow_id: str = "bench-sequential") -> Flow:
    """The countdown flow: ``step.out`` -> ``step.input``; submit at ``step`` with ``{"n": N}``."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(Countdown(), SEQUENTIAL_ENTRY)
    flow.connect(SEQUENTIAL_ENTRY, "out", SEQUENTIAL_ENTRY, "input")
    return flow


def fanout_flow(flow_id: str = "bench-fanout") -> Flow:
    """The fan-out flow: ``source.out`` -> ``sink.input``; submit at ``source`` with ``{"n": N}``."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(Burst(), FANOUT_ENTRY)
    flow.add_routine(Noop(), "sink")
    flow.connect(FANOUT_ENTRY, "out", "sink", "input")
    return flow
