"""The flow bench/console_latency.py runs: a ticker that commits one step every ``gap_s``.

Workers import this module by name (``bench.console_flows``) so the class is registered.
"""

from __future__ import annotations

import time
from typing import Any

from routilux import Flow, Routine

ENTRY = "ticker"


class Ticker(Routine):
    """Sleeps ``gap_s``, then emits ``k + 1`` to itself until ``k`` reaches ``n``: one commit per tick."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.tick)
        self.define_slot("input", handler=self.tick)
        self.define_event("out", ["k", "n", "gap_s"])

    def tick(self, k: int = 0, n: int = 20, gap_s: float = 0.1, **_: Any) -> None:
        """One tick."""
        time.sleep(gap_s)
        if k < n:
            self.emit("out", k=k + 1, n=n, gap_s=gap_s)


def ticker_flow() -> Flow:
    """``ticker`` connected to itself."""
    flow = Flow(flow_id="ticker")
    flow.add_routine(Ticker(), ENTRY)
    flow.connect(ENTRY, "out", ENTRY, "input")
    return flow
