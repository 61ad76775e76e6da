"""Routines and flows of the concurrency tests, for both engines (workers import ``concurrency_flows``).

Handlers that must show how often they ran append one line per attempt to the
file named by their ``trace`` config: a refused attempt leaves nothing in the
JobState, by design, so the trace lives outside it.
"""

from __future__ import annotations

import time
from typing import Any

from basic_flows import Source
from routilux import Flow, Routine


def trace(routine: Routine, line: str) -> None:
    """Append ``line`` to the routine's trace file, if it has one (one write: atomic with O_APPEND)."""
    path = routine.get_config("trace")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def traced(path: str) -> list[str]:
    """The lines of a trace file."""
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


class Counter(Routine):
    """Read-modify-write of shared data "n", as users write it (no helper)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.set_config(trace="", sleep_s=0.0)

    def go(self, i: int = 0, **_: Any) -> None:
        job_state = self.get_execution_context().job_state
        n = job_state.shared_data.get("n", 0)
        if self.get_config("sleep_s"):
            time.sleep(self.get_config("sleep_s"))
        job_state.update_shared_data("n", n + 1)
        trace(self, f"{i} {n}")


class StateCounter(Routine):
    """Read-modify-write of its own routine state: ``count`` and the items it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, i: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        state = ctx.job_state.get_routine_state(ctx.routine_id) or {}
        state["count"] = state.get("count", 0) + 1
        state["seen"] = [*state.get("seen", []), i]
        ctx.job_state.update_routine_state(ctx.routine_id, state)


class ListAppender(Routine):
    """Read-modify-write of a shared list, changed in place: read "items", append, write it back."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, i: int = 0, **_: Any) -> None:
        job_state = self.get_execution_context().job_state
        items = job_state.shared_data.get("items", [])
        items.append(i)
        job_state.update_shared_data("items", items)


class Blind(Routine):
    """Only the atomic helpers: increments "hits" by 1 and "total" by i, appends i to "items"."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.set_config(trace="")

    def go(self, i: int = 0, **_: Any) -> None:
        job_state = self.get_execution_context().job_state
        job_state.increment_shared_data("hits")
        job_state.increment_shared_data("total", by=i)
        job_state.append_shared_data("items", i)
        trace(self, str(i))


class Reader(Routine):
    """Reads "x", waits ``sleep_s``, then emits what it read and stores it plus one in "y"."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("out", ["seen"])
        self.set_config(trace="", sleep_s=1.0)

    def go(self, **_: Any) -> None:
        job_state = self.get_execution_context().job_state
        seen = job_state.shared_data.get("x", 0)
        trace(self, f"seen {seen}")
        time.sleep(self.get_config("sleep_s"))
        job_state.update_shared_data("y", seen + 1)
        self.emit("out", seen=seen)


class Writer(Routine):
    """Waits ``sleep_s``, then sets "x" to 1 (blindly)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.set_config(sleep_s=0.3)

    def go(self, **_: Any) -> None:
        time.sleep(self.get_config("sleep_s"))
        self.get_execution_context().job_state.update_shared_data("x", 1)


class Seed(Routine):
    """Stores a string under "hits", then starts the fan with 2 items."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["n"])

    def go(self, **_: Any) -> None:
        self.get_execution_context().job_state.update_shared_data("hits", "many")
        self.emit("out", n=2)


class Sink(Routine):
    """Appends what it receives to the shared log."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, **data: Any) -> None:
        self.get_execution_context().job_state.append_to_shared_log({"got": data})


def fan_flow(flow_id: str, worker: Routine, max_workers: int = 8) -> Flow:
    """fan -> worker ("input"), concurrent."""
    flow = Flow(flow_id=flow_id, execution_strategy="concurrent", max_workers=max_workers)
    flow.add_routine(Source(), "fan")
    flow.add_routine(worker, "worker")
    flow.connect("fan", "out", "worker", "input")
    return flow


def counter_flow(flow_id: str = "counter", trace_path: str = "", sleep_s: float = 0.0) -> Flow:
    """fan -> counter: n parallel read-modify-writes of shared data "n"."""
    counter = Counter()
    counter.set_config(trace=trace_path, sleep_s=sleep_s)
    return fan_flow(flow_id, counter)


def state_counter_flow(flow_id: str = "state-counter") -> Flow:
    """fan -> state counter: n parallel read-modify-writes of one routine state."""
    return fan_flow(flow_id, StateCounter())


def list_flow(flow_id: str = "list-rmw") -> Flow:
    """fan -> list appender: n parallel in-place appends to one shared list, each written back."""
    return fan_flow(flow_id, ListAppender())


def blind_flow(flow_id: str = "blind", trace_path: str = "") -> Flow:
    """fan -> blind: n parallel increments and appends."""
    blind = Blind()
    blind.set_config(trace=trace_path)
    return fan_flow(flow_id, blind)


def stale_read_flow(flow_id: str = "stale-read", trace_path: str = "", reader_sleep_s: float = 1.0,
                    writer_sleep_s: float = 0.3) -> Flow:
    """fan -> (reader, writer) in parallel; reader -> sink. The writer changes "x" while the reader holds it."""
    flow = Flow(flow_id=flow_id, execution_strategy="concurrent", max_workers=4)
    flow.add_routine(Source(), "fan")
    reader = Reader()
    reader.set_config(trace=trace_path, sleep_s=reader_sleep_s)
    writer = Writer()
    writer.set_config(sleep_s=writer_sleep_s)
    flow.add_routine(reader, "reader")
    flow.add_routine(writer, "writer")
    flow.add_routine(Sink(), "sink")
    flow.connect("fan", "out", "reader", "input")
    flow.connect("fan", "out", "writer", "input")
    flow.connect("reader", "out", "sink", "input")
    return flow


def wrong_type_flow(flow_id: str = "wrong-type") -> Flow:
    """seed (stores a string in "hits") -> fan -> blind (increments "hits")."""
    flow = blind_flow(flow_id)
    flow.add_routine(Seed(), "seed")
    flow.connect("seed", "out", "fan", "trigger")
    return flow
