"""Parent and child flows for the sub-flow tests (workers import this module by name)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from routilux import Flow, Routine, SubFlow


class Square(Routine):
    """Child entry: stores ``x * x`` as shared data ``y``, sends it as output; fails if ``x`` is negative."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.set_config(sleep_s=0.0)

    def go(self, x: int = 0, **_: Any) -> None:
        if self.get_config("sleep_s"):
            time.sleep(self.get_config("sleep_s"))
        if x < 0:
            raise ValueError(f"cannot square a negative number here: {x}")
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.update_shared_data("y", x * x)
        self.send_output("square", y=x * x)


class Collect(Routine):
    """Parent end: keeps what the SubFlow reported in shared data ``done`` or ``failed`` (a list)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("ok", handler=self.ok)
        self.define_slot("bad", handler=self.bad)

    def _keep(self, key: str, data: dict[str, Any]) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.update_shared_data(key, (ctx.job_state.get_shared_data(key) or []) + [data])

    def ok(self, **data: Any) -> None:
        self._keep("done", data)

    def bad(self, **data: Any) -> None:
        self._keep("failed", data)


class SubFlowThenDie(SubFlow):
    """A SubFlow whose worker dies right after its first start of a child (marker file: ``marker`` config)."""

    def _start(self, **params: Any) -> None:
        super()._start(**params)
        marker = Path(self.get_config("marker"))
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)


def child_flow(sleep_s: float = 0.0, flow_id: str = "square-child") -> Flow:
    """The child: one Square routine, entry ``calc``."""
    flow = Flow(flow_id=flow_id)
    square = Square()
    square.set_config(sleep_s=sleep_s)
    flow.add_routine(square, "calc")
    return flow


def parent_flow(child: str, result: str = "output", flow_id: str = "square-parent",
                sub: SubFlow | None = None) -> Flow:
    """The parent: SubFlow ``sub`` (entry) running ``child`` at ``calc``, reporting to Collect ``collect``."""
    flow = Flow(flow_id=flow_id)
    sub = sub or SubFlow()
    sub.set_config(flow=child, entry="calc", result=result)
    flow.add_routine(sub, "sub")
    flow.add_routine(Collect(), "collect")
    flow.connect("sub", "done", "collect", "ok")
    flow.connect("sub", "failed", "collect", "bad")
    return flow
