"""Small flows for the CLI tests: a source, a routine that can be held by a gate, and a sink.

Gates are threading events, so they only reach handlers run by in-process
workers (``start_workers``); subprocess workers just import the classes.
Keep this module free of pytest imports: worker subprocesses import it.
"""

from __future__ import annotations

import threading
from typing import Any

from routilux import Flow, Routine

# Gate name -> (entered, release): a held handler sets ``entered`` and waits for ``release``.
GATES: dict[str, tuple[threading.Event, threading.Event]] = {}
_lock = threading.Lock()


def gate(name: str) -> tuple[threading.Event, threading.Event]:
    """Return the (entered, release) events of a named gate, creating them once."""
    with _lock:
        return GATES.setdefault(name, (threading.Event(), threading.Event()))


class Start(Routine):
    """Entry routine: forwards its entry params on ``output``."""

    def __init__(self) -> None:
        """Define the ``trigger`` slot and the ``output`` event."""
        super().__init__()
        self.define_slot("trigger", handler=self.fire)
        self.define_event("output")

    def fire(self, **params: Any) -> None:
        """Forward the entry params."""
        self.emit("output", **params)


class Held(Routine):
    """Relays its input; with a ``gate`` in the payload, waits for that gate first."""

    def __init__(self) -> None:
        """Define the ``input`` slot and the ``output`` event."""
        super().__init__()
        self.define_slot("input", handler=self.relay)
        self.define_event("output")

    def relay(self, **payload: Any) -> None:
        """Wait at the gate (at most 10 s), then pass the payload on."""
        if payload.get("gate"):
            entered, release = gate(payload["gate"])
            entered.set()
            release.wait(10)
        self.emit("output", **payload)


class Finish(Routine):
    """Stores what it received in the job's shared data under ``finished``."""

    def __init__(self) -> None:
        """Define the ``input`` slot."""
        super().__init__()
        self.define_slot("input", handler=self.finish)

    def finish(self, **payload: Any) -> None:
        """Record the payload."""
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.update_shared_data("finished", dict(payload))


def make_flow(flow_id: str = "cli-chain") -> Flow:
    """start -> held -> finish."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(Start(), "start")
    flow.add_routine(Held(), "held")
    flow.add_routine(Finish(), "finish")
    flow.connect("start", "output", "held", "input")
    flow.connect("held", "output", "finish", "input")
    return flow
