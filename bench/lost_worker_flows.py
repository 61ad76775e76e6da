"""The flow bench/lost_worker_resends.py runs: a source fans out to slow-ish work, each result recorded once.

Workers import it by name (``--import lost_worker_flows``); it uses only the public API, so
the baseline tree runs it unchanged.
"""

from __future__ import annotations

import time
from typing import Any

from routilux import Flow, Routine


class Source(Routine):
    """Emits ``n`` items (each {"i": k}) on ``out``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["i"])

    def go(self, n: int = 4, **_: Any) -> None:
        for k in range(n):
            self.emit("out", i=k)


class Work(Routine):
    """Sleeps ``sleep_s`` (config), then passes its item on."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("out", ["i"])
        self.set_config(sleep_s=0.05)

    def go(self, i: int = 0, **_: Any) -> None:
        time.sleep(self.get_config("sleep_s"))
        self.emit("out", i=i)


class Sink(Routine):
    """Appends each item to the shared log (a job is exact when every item is there once)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, i: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.append_to_shared_log({"i": i})


def fan_flow(sleep_s: float = 0.05) -> Flow:
    """source -> work (one activation per item) -> sink."""
    flow = Flow(flow_id="lost-worker-bench")
    flow.add_routine(Source(), "source")
    work = Work()
    work.set_config(sleep_s=sleep_s)
    flow.add_routine(work, "work")
    flow.add_routine(Sink(), "sink")
    flow.connect("source", "out", "work", "input")
    flow.connect("work", "out", "sink", "input")
    return flow
