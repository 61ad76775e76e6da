"""Routines and flows for jobs that wait: posts, waits with a timeout, durable timers.

Workers import this module by name (``--import waiting_flows``).
"""

from __future__ import annotations

from typing import Any

from routilux import Flow, Routine, WaitForPost


class Sink(Routine):
    """Appends what it receives, with its own tag, to the shared list ``seen``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.set_config(tag="sink")

    def go(self, **data: Any) -> None:
        self.get_execution_context().job_state.append_shared_data("seen", {"tag": self.get_config("tag"), **data})


class Alarm(Routine):
    """On trigger, sets ``count`` timers ``delay_s`` apart that each emit ``ring`` with their number."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("ring", ["n"])

    def go(self, delay_s: float = 0.5, count: int = 1, **_: Any) -> None:
        for n in range(count):
            self.emit_after(delay_s * (n + 1), "ring", n=n)


class Inbox(Routine):
    """Has a slot ``note`` that records posts to it; its trigger does nothing (the job ends at once unless posted)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.start)
        self.define_slot("note", handler=self.note)

    def start(self, wait_s: float = 0.0, **_: Any) -> None:
        if wait_s:
            self.wait_for_post("note", wait_s)

    def note(self, **data: Any) -> None:
        self.get_execution_context().job_state.append_shared_data("notes", data)


def sink(flow: Flow, rid: str, tag: str) -> str:
    """Add a Sink tagged ``tag`` as ``rid``."""
    s = Sink()
    s.set_config(tag=tag)
    flow.add_routine(s, rid)
    return rid


def alarm_flow(flow_id: str = "alarm") -> Flow:
    """alarm --ring--> rang (a Sink)."""
    flow = Flow(flow_id)
    flow.add_routine(Alarm(), "alarm")
    flow.connect("alarm", "ring", sink(flow, "rang", "rang"), "input")
    return flow


def approval_flow(flow_id: str = "approval", timeout_s: float = 5.0) -> Flow:
    """approve (WaitForPost, slot "decision") --received--> got, --timed_out--> late."""
    flow = Flow(flow_id)
    wait = WaitForPost()
    wait.set_config(slot="decision", timeout_s=timeout_s)
    flow.add_routine(wait, "approve")
    flow.connect("approve", "received", sink(flow, "got", "received"), "input")
    flow.connect("approve", "timed_out", sink(flow, "late", "timed_out"), "input")
    return flow


def inbox_flow(flow_id: str = "inbox") -> Flow:
    """One Inbox routine."""
    flow = Flow(flow_id)
    flow.add_routine(Inbox(), "inbox")
    return flow
