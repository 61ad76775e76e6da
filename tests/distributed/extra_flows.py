"""A routine class only some test workers import (to test a worker that lacks a class)."""

from __future__ import annotations

from typing import Any

from routilux import Flow, Routine

import basic_flows


class Extra(Routine):
    """Passes its input on, tagged."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("out", ["i"])

    def go(self, i: int = 0, **_: Any) -> None:
        self.emit("out", i=i + 1000)


def extra_flow(flow_id: str = "extra") -> Flow:
    """source -> extra -> record."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(basic_flows.Source(), "source")
    flow.add_routine(Extra(), "extra")
    flow.add_routine(basic_flows.Record(), "record")
    flow.connect("source", "out", "extra", "input")
    flow.connect("extra", "out", "record", "input")
    return flow
