"""Flows of the priority tests: a job is one routine that naps, then a second that records it ran."""

from __future__ import annotations

import time
from typing import Any

from routilux import Flow, Routine


class Nap(Routine):
    """Sleeps ``s`` seconds (an entry parameter), then emits ``out``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["s"])

    def go(self, s: float = 0.0, **_: Any) -> None:
        time.sleep(s)
        self.emit("out", s=s)


class Done(Routine):
    """Ends the job (a second activation, so the job's priority has to reach a child)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, **_: Any) -> None:
        pass


def nap_flow(flow_id: str = "nap") -> Flow:
    """nap -> done."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(Nap(), "nap")
    flow.add_routine(Done(), "done")
    flow.connect("nap", "out", "done", "input")
    return flow
