"""Executions of one Flow are independent: slot buffers, pauses, retry counts, routine states,
history and shared data belong to one execution and are never seen by another.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from routilux import ErrorHandler, Flow, Routine

from core_routines import Burst, Flaky, Gate, PauseOnce, Relay, Sink, Source, chain, received

pytestmark = pytest.mark.timeout(30)


class Gather(Routine):
    """Append-merges ``value``s and logs the whole buffer it sees each time."""

    barrier: threading.Barrier | None = None

    def __init__(self) -> None:
        """Define an append slot."""
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self.gather, merge_strategy="append")

    def gather(self, value: list[Any]) -> None:
        """Optionally meet the other execution at the barrier, then log the buffer."""
        if type(self).barrier is not None:
            type(self).barrier.wait()
        ctx = self.get_execution_context()
        ctx.job_state.append_to_shared_log({"seen": list(value), "buffer": dict(self.input_slot._data)})


def gather_flow(**flow_kwargs: Any) -> Flow:
    """burst -> gather (append)."""
    flow = Flow(**flow_kwargs)
    flow.add_routine(Burst(), "burst")
    flow.add_routine(Gather(), "gather")
    flow.connect("burst", "output", "gather", "input")
    return flow


def test_sequential_executions_do_not_share_append_slot_buffers() -> None:
    flow = gather_flow()
    runs = [flow.execute("burst", {"items": [n]}) for n in range(3)]
    assert [[e["seen"] for e in run.shared_log] for run in runs] == [[[0]], [[1]], [[2]]]
    assert flow.routines["gather"].input_slot._data == {}


def test_two_concurrent_executions_never_see_each_others_data() -> None:
    Gather.barrier = threading.Barrier(2, timeout=5)  # each delivery waits for the other execution's
    try:
        flow = gather_flow(execution_strategy="concurrent", max_workers=4)
        first = flow.start("burst", {"items": ["a1", "a2", "a3"]})
        second = flow.start("burst", {"items": ["b1", "b2", "b3"]})
        assert first.wait(10) and second.wait(10)
    finally:
        Gather.barrier = None
    assert (first.status, second.status) == ("completed", "completed")
    first_seen = [value for e in first.shared_log for value in e["seen"]]
    second_seen = [value for e in second.shared_log for value in e["seen"]]
    assert {v[0] for v in first_seen} == {"a"} and {v[0] for v in second_seen} == {"b"}
    assert sorted(first.shared_log[-1]["buffer"]["value"]) == ["a1", "a2", "a3"]
    assert sorted(second.shared_log[-1]["buffer"]["value"]) == ["b1", "b2", "b3"]
    assert first.slot_buffers != second.slot_buffers


def test_concurrent_executions_each_get_their_own_history_and_shared_data() -> None:
    barrier = threading.Barrier(2, timeout=5)

    class Stamp(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.stamp)
            self.define_event("output")

        def stamp(self, tag: str) -> None:
            barrier.wait()
            self.get_execution_context().job_state.update_shared_data("tag", tag)
            self.emit("output", tag=tag)

    flow = chain(("stamp", Stamp()), ("sink", Sink()), execution_strategy="concurrent")
    jobs = {tag: flow.start("stamp", {"tag": tag}) for tag in ("x", "y")}
    for job in jobs.values():
        assert job.wait(10)
    for tag, job in jobs.items():
        assert job.get_shared_data("tag") == tag
        assert received(job, "sink") == [{"tag": tag}]
        assert {r.data.get("tag") for r in job.execution_history} == {tag}


def test_retry_counts_belong_to_each_execution() -> None:
    flaky = Flaky()
    flaky.set_error_handler(ErrorHandler("retry", max_retries=1, retry_delay=0.001))
    flow = chain(("src", Source()), ("flaky", flaky), ("sink", Sink()))
    runs = [flow.execute("src", {"run": n}) for n in range(3)]
    assert [run.status for run in runs] == ["completed"] * 3
    assert [received(run, "sink") for run in runs] == [[{"run": n}] for n in range(3)]
    assert [len([r for r in run.execution_history if r.event_name == "retry"]) for run in runs] == [1, 1, 1]


def test_a_failed_routine_state_in_one_execution_is_not_in_another() -> None:
    class FailsOnOdd(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.check)

        def check(self, n: int) -> None:
            if n % 2:
                raise ValueError(f"{n} is odd")

    flow = chain(("src", Source()), ("check", FailsOnOdd()))
    flow.set_error_handler(ErrorHandler("continue"))
    odd, even = flow.execute("src", {"n": 1}), flow.execute("src", {"n": 2})
    assert odd.get_routine_state("check")["status"] == "error_continued"
    assert even.get_routine_state("check") is None
    assert "error_continued" not in [r.event_name for r in even.execution_history]


def test_pausing_one_execution_leaves_the_others_running_to_completion() -> None:
    class PauseIf(PauseOnce):
        def relay(self, **kwargs: Any) -> None:
            if kwargs.get("pause"):
                super().relay(**kwargs)
            else:
                self.emit("output", **kwargs)

    flow = chain(("src", Source()), ("maybe", PauseIf()), ("sink", Sink()))
    paused = flow.execute("src", {"pause": True})
    free = flow.execute("src", {"pause": False})
    assert (paused.status, free.status) == ("paused", "completed")
    assert received(free, "sink") == [{"pause": False}]
    assert received(paused, "sink") == []
    flow.resume(paused)
    assert received(paused, "sink") == [{"pause": True}]


def test_an_execution_started_while_another_is_paused_mid_handler_runs_freely() -> None:
    gate = Gate()

    class Holder(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.work)
            self.define_event("output")

        def work(self, hold: bool) -> None:
            if hold:
                gate.hold()
            self.emit("output", hold=hold)

    flow = chain(("holder", Holder()), ("sink", Sink()))
    held = flow.start("holder", {"hold": True})
    try:
        assert gate.entered.wait(5)
        free = flow.execute("holder", {"hold": False})
        assert free.status == "completed" and held.status == "running"
    finally:
        gate.released.set()
    assert held.wait(5) and held.status == "completed"
    assert received(held, "sink") == [{"hold": True}]


def test_the_flow_structure_carries_no_execution_state_after_running() -> None:
    flow = chain(("src", Source()), ("relay", Relay()), ("sink", Sink()))
    before = flow.serialize()
    job_state = flow.execute("src", {"secret": 1})
    assert job_state.status == "completed"
    after = flow.serialize()
    assert after == before
    assert "secret" not in repr(after)


def test_routine_instances_are_not_mutated_by_running_them() -> None:
    flow = gather_flow()
    routine = flow.routines["gather"]
    before = (dict(routine._config), dict(routine._stats), dict(routine.input_slot._data))
    job_state = flow.execute("burst", {"items": [1, 2]})
    assert job_state.status == "completed" and len(job_state.shared_log) == 2
    assert (dict(routine._config), dict(routine._stats), dict(routine.input_slot._data)) == before
