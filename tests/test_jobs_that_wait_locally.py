"""Posts, waits with a timeout and timers on the local engine, in both execution strategies."""

from __future__ import annotations

import time
from typing import Any

import pytest

from routilux import Flow, Routine, WaitForPost
from routilux.errors import FlowValidationError, JobNotRunningError

STRATEGIES = ["sequential", "concurrent"]


class Keep(Routine):
    """Appends what it receives, with its tag, to the shared list ``seen``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.set_config(tag="keep")

    def go(self, **data: Any) -> None:
        self.get_execution_context().job_state.append_shared_data("seen", {"tag": self.get_config("tag"), **data})


class Bell(Routine):
    """Rings ``count`` times, ``delay_s`` apart, through durable timers."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("ring", ["n"])

    def go(self, delay_s: float = 0.1, count: int = 1) -> None:
        for n in range(count):
            self.emit_after(delay_s * (n + 1), "ring", n=n)


def keep(flow: Flow, rid: str) -> str:
    routine = Keep()
    routine.set_config(tag=rid)
    return flow.add_routine(routine, rid)


def approval(strategy: str, timeout_s: float) -> Flow:
    flow = Flow(f"approval-{strategy}", execution_strategy=strategy)
    wait = WaitForPost()
    wait.set_config(slot="decision", timeout_s=timeout_s)
    flow.add_routine(wait, "approve")
    flow.connect("approve", "received", keep(flow, "received"), "input")
    flow.connect("approve", "timed_out", keep(flow, "timed_out"), "input")
    return flow


def tags(job_state) -> list[str]:
    return [entry["tag"] for entry in job_state.shared_data.get("seen", [])]


def open_wait(flow: Flow, job_state) -> None:
    deadline = time.monotonic() + 5
    while not any(r.event_name == "wait" for r in job_state.execution_history):
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_timers_fire_after_their_delay_and_execute_returns_once_they_have(strategy):
    flow = Flow(f"bell-{strategy}", execution_strategy=strategy)
    flow.add_routine(Bell(), "bell")
    flow.connect("bell", "ring", keep(flow, "rang"), "input")
    started = time.monotonic()
    job_state = flow.execute("bell", {"delay_s": 0.1, "count": 3})
    assert time.monotonic() - started >= 0.3
    assert job_state.status == "completed"
    assert [e["n"] for e in job_state.shared_data["seen"]] == [0, 1, 2]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_post_closes_the_wait_once_and_a_retried_post_is_a_no_op(strategy):
    flow = approval(strategy, timeout_s=30)
    job_state = flow.start("approve", {"order": 1})
    open_wait(flow, job_state)
    assert job_state.status == "running"
    assert flow.post(job_state, "approve", "decision", {"ok": True}, post_id="a") == "posted"
    assert flow.post(job_state, "approve", "decision", {"ok": True}, post_id="a") == "duplicate"
    assert flow.wait(job_state, timeout=5)
    assert job_state.status == "completed"
    assert job_state.shared_data["seen"] == [{"tag": "received", "ok": True}]
    with pytest.raises(JobNotRunningError):
        flow.post(job_state, "approve", "decision", {})


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_wait_times_out_once_when_nothing_is_posted(strategy):
    flow = approval(strategy, timeout_s=0.1)
    job_state = flow.execute("approve", {"order": 2})
    assert job_state.status == "completed"
    assert job_state.shared_data["seen"] == [{"tag": "timed_out", "order": 2}]


def test_a_post_to_an_unknown_routine_or_slot_is_refused():
    flow = approval("sequential", timeout_s=30)
    job_state = flow.start("approve", {})
    with pytest.raises(FlowValidationError, match="no slot"):
        flow.post(job_state, "approve", "nope", {})
    with pytest.raises(FlowValidationError, match="no routine"):
        flow.post(job_state, "ghost", "decision", {})
    flow.cancel(job_state)
    assert job_state.status == "cancelled" and "seen" not in job_state.shared_data


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_posts_racing_timeouts_end_each_wait_exactly_once(strategy):
    flow = approval(strategy, timeout_s=0.05)
    answers = []
    for n in range(30):
        job_state = flow.start("approve", {"n": n})
        open_wait(flow, job_state)
        time.sleep(0.045 + (n % 5) * 0.003)
        try:
            answer = flow.post(job_state, "approve", "decision", {"n": n})
        except JobNotRunningError:
            answer = "ended"
        assert flow.wait(job_state, timeout=5)
        assert tags(job_state) == (["received"] if answer == "posted" else ["timed_out"]), answer
        answers.append(answer)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_paused_job_holds_a_post_and_an_overdue_timer_until_resume(strategy):
    flow = Flow(f"bell-pause-{strategy}", execution_strategy=strategy)
    flow.add_routine(Bell(), "bell")
    flow.connect("bell", "ring", keep(flow, "rang"), "input")
    job_state = flow.start("bell", {"delay_s": 0.1})
    time.sleep(0.02)
    flow.pause(job_state)
    time.sleep(0.2)
    assert "seen" not in job_state.shared_data
    flow.resume(job_state)
    assert job_state.shared_data["seen"] == [{"tag": "rang", "n": 0}]

    flow = approval(strategy, timeout_s=30)
    job_state = flow.start("approve", {})
    open_wait(flow, job_state)
    flow.pause(job_state)
    assert flow.post(job_state, "approve", "decision", {"held": 1}) == "posted"
    time.sleep(0.05)
    assert "seen" not in job_state.shared_data
    flow.resume(job_state)
    assert job_state.shared_data["seen"] == [{"tag": "received", "held": 1}]


def test_cancel_drops_pending_timers():
    flow = Flow("bell-cancel")
    flow.add_routine(Bell(), "bell")
    flow.connect("bell", "ring", keep(flow, "rang"), "input")
    job_state = flow.start("bell", {"delay_s": 0.1})
    time.sleep(0.02)
    flow.cancel(job_state)
    time.sleep(0.2)
    assert job_state.status == "cancelled" and "seen" not in job_state.shared_data
