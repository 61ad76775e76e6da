"""The flow of bench/priorities.py: one routine that pauses ``ms`` milliseconds (workers import this module)."""

from __future__ import annotations

import time
from typing import Any

from routilux import Flow, Routine

ENTRY = "pause"


class Pause(Routine):
    """Sleeps ``ms`` milliseconds; the job ends with it."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)

    def go(self, ms: float = 0.0, **_: Any) -> None:
        """Pause."""
        time.sleep(ms / 1000)


def pause_flow(flow_id: str = ENTRY) -> Flow:
    """One ``Pause`` routine, the entry; submit with ``{"ms": N}``."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(Pause(), ENTRY)
    return flow
