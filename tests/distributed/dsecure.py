"""Routines for the security tests: a handler whose every run leaves a trace outside the JobState."""

from __future__ import annotations

import os
from typing import Any

from routilux import Flow, Routine


class Witness(Routine):
    """Appends "job activation" to the file named by its ``path`` config on every run, then emits."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["i"])
        self.set_config(path="")

    def go(self, n: int = 1, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        with open(self.get_config("path"), "a", encoding="utf-8") as trace:
            trace.write(f"{ctx.job_state.job_id} {os.getpid()}\n")
        for k in range(n):
            self.emit("out", i=k)


class Keep(Routine):
    """Stores what it receives in shared data under its ``i``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, i: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.update_shared_data(f"got{i}", i)


def witness_flow(path: str, flow_id: str = "witness") -> Flow:
    """witness (leaves a trace, emits n items) -> keep."""
    flow = Flow(flow_id=flow_id)
    witness = Witness()
    witness.set_config(path=str(path))
    flow.add_routine(witness, "witness")
    flow.add_routine(Keep(), "keep")
    flow.connect("witness", "out", "keep", "input")
    return flow


def runs(path: str) -> list[str]:
    """The lines Witness wrote to ``path`` (none if it never ran)."""
    return open(path, encoding="utf-8").read().splitlines() if os.path.exists(path) else []
