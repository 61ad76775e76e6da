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


class KeepSecret(Routine):
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
    flow.add_routine(KeepSecret(), "keep")
    flow.connect("witness", "out", "keep", "input")
    return flow


def runs(path: str) -> list[str]:
    """The lines Witness wrote to ``path`` (none if it never ran)."""
    return open(path, encoding="utf-8").read().splitlines() if os.path.exists(path) else []


class Feed(Routine):
    """Entry routine: emits its ``data`` parameter on ``out``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["data"])

    def go(self, data: Any = None, **_: Any) -> None:
        self.emit("out", data=data)


class Sink(Routine):
    """Appends the route and data it receives to the shared log."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, **kwargs: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.append_to_shared_log({"route": kwargs.get("route"), "data": kwargs.get("data")})


def router_flow(condition: str, flow_id: str = "router") -> Flow:
    """feed -> ConditionalRouter (one route "hit" with ``condition``, default "miss") -> sink."""
    from routilux import ConditionalRouter

    flow = Flow(flow_id=flow_id)
    router = ConditionalRouter()
    router.set_config(routes=[("hit", condition)], default_route="miss")
    flow.add_routine(Feed(), "feed")
    flow.add_routine(router, "router")
    flow.add_routine(Sink(), "sink")
    flow.connect("feed", "out", "router", "input")
    flow.connect("router", "hit", "sink", "input")
    flow.connect("router", "miss", "sink", "input")
    return flow


class Writer(Routine):
    """Writes a string of ``size`` characters to shared data, or nests a list ``depth`` levels deep."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)

    def go(self, size: int = 0, depth: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        value: Any = "x" * size
        for _ in range(depth):
            value = [value]
        ctx.job_state.update_shared_data("value", value)


def writer_flow() -> Flow:
    flow = Flow(flow_id="writer")
    flow.add_routine(Writer(), "writer")
    return flow
