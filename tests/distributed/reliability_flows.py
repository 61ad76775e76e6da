"""Routines and flows of the reliability scenarios (workers import this module: ``--import reliability_flows``).

``Work`` notes every run on its host's disk (``effects.log`` in the worker's
working directory: a side effect outside the JobState, so a test sees that a
handler ran twice) and records its effect in the JobState once per commit.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from routilux import Flow, Routine

import basic_flows

EFFECTS = "effects.log"


def note(job_id: str, i: int, what: str) -> None:
    """Append one line to this host's effects log."""
    with open(EFFECTS, "a", encoding="utf-8") as log:
        log.write(f"{job_id} {i} {os.getpid()} {what}\n")


class Work(Routine):
    """Does item ``i``: notes the run on its host's disk, sleeps ``sleep_s``, records the effect, passes ``i`` on."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("out", ["i"])
        self.set_config(sleep_s=0.1)

    def go(self, i: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        note(ctx.job_state.job_id, i, "start")
        time.sleep(self.get_config("sleep_s"))
        ctx.job_state.append_to_shared_log({"i": i, "host": Path.cwd().name, "pid": os.getpid()})
        note(ctx.job_state.job_id, i, "end")
        self.emit("out", i=i)


def work_flow(flow_id: str = "work", sleep_s: float = 0.1) -> Flow:
    """source -> work (parallel, one activation per item) -> record."""
    flow = Flow(flow_id=flow_id, execution_strategy="concurrent", max_workers=4)
    flow.add_routine(basic_flows.Source(), "source")
    work = Work()
    work.set_config(sleep_s=sleep_s)
    flow.add_routine(work, "work")
    flow.add_routine(basic_flows.Record(), "record")
    flow.connect("source", "out", "work", "input")
    flow.connect("work", "out", "record", "input")
    return flow


def effects(folder: Path) -> list[tuple[str, int, int, str]]:
    """The lines of a host's effects log: (job_id, i, pid, "start" | "end")."""
    path = folder / EFFECTS
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        job, i, pid, what = line.split()
        rows.append((job, int(i), int(pid), what))
    return rows
