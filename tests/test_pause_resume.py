"""Pause never loses work: what is pending or deferred at a pause is kept in the JobState, and
``flow.resume(job_state)`` runs it, in this process or in a fresh one after save()/load().
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from routilux import ErrorHandler, Flow, JobState, Routine
from routilux.errors import FlowError

from core_routines import Burst, Gate, PauseOnce, Relay, Sink, Source, chain, events, received, visits, wait_until

pytestmark = pytest.mark.timeout(60)

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent


def pausing_flow(defer: bool = False, **flow_kwargs: Any) -> Flow:
    """src -> pause (pauses on its first run) -> a -> sink."""
    pauser = PauseOnce()
    if defer:
        pauser.set_config(defer=True)
    return chain(("src", Source()), ("pause", pauser), ("a", Relay()), ("sink", Sink()), **flow_kwargs)


# --------------------------------------------------------------------------- pausing from a handler


def test_a_handler_can_pause_its_execution_and_execute_returns_paused() -> None:
    job_state = pausing_flow().execute("src", {"v": 1})
    assert job_state.status == "paused"
    assert visits(job_state) == ["pause"]  # the handler finished; the rest waits


def test_the_work_left_at_a_pause_waits_in_pending_tasks() -> None:
    job_state = pausing_flow().execute("src", {"v": 1})
    (task,) = job_state.pending_tasks
    assert (task["slot_routine_id"], task["slot_name"], task["data"]) == ("a", "input", {"v": 1})
    assert (task["connection_source_routine_id"], task["connection_source_event_name"]) == ("pause", "output")
    json.dumps(job_state.pending_tasks)  # plain data, ready to be saved


def test_a_pause_records_its_reason_and_checkpoint() -> None:
    job_state = pausing_flow().execute("src")
    (point,) = job_state.pause_points
    assert point["reason"] == "paused by a handler"
    assert point["checkpoint"] == {"at": "pause"}
    assert job_state.checkpoint == {"at": "pause"}


def test_resume_runs_the_pending_work_and_returns_when_the_execution_has_ended_again() -> None:
    flow = pausing_flow()
    job_state = flow.execute("src", {"v": 1})
    resumed = flow.resume(job_state)
    assert resumed is job_state
    assert job_state.status == "completed"
    assert job_state.pending_tasks == []
    assert visits(job_state) == ["pause", "a", "sink"]
    assert received(job_state, "sink") == [{"v": 1}]


def test_resume_without_waiting_returns_while_the_resumed_work_runs() -> None:
    gate = Gate()

    class Held(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=lambda **kw: gate.hold())

    flow = chain(("src", Source()), ("pause", PauseOnce()), ("held", Held()))
    job_state = flow.execute("src")
    try:
        assert flow.resume(job_state, wait=False) is job_state
        assert gate.entered.wait(5)
        assert job_state.status == "running"
    finally:
        gate.released.set()
    assert job_state.wait(5) and job_state.status == "completed"


def test_resume_with_a_timeout_fails_resumed_work_that_overruns() -> None:
    release = threading.Event()

    class Stuck(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=lambda **kw: release.wait(10))

    flow = chain(("src", Source()), ("pause", PauseOnce()), ("stuck", Stuck()))
    job_state = flow.execute("src")
    try:
        flow.resume(job_state, timeout=0.1)
        assert job_state.status == "failed" and "timeout" in job_state.error
        assert job_state.execution_history[-1].event_name == "timeout"
    finally:
        release.set()


def test_an_execution_can_pause_again_after_a_resume() -> None:
    flow = chain(("src", Source()), ("p1", PauseOnce()), ("p2", PauseOnce()), ("sink", Sink()))
    job_state = flow.execute("src", {"v": 1})
    assert (job_state.status, visits(job_state)) == ("paused", ["p1"])
    flow.resume(job_state)
    assert (job_state.status, visits(job_state)) == ("paused", ["p1", "p2"])
    flow.resume(job_state)
    assert (job_state.status, visits(job_state)) == ("completed", ["p1", "p2", "sink"])
    assert len(job_state.pause_points) == 2


def test_a_pause_in_one_branch_holds_the_emits_of_every_branch() -> None:
    flow = Flow()
    flow.add_routine(Burst(), "burst")
    flow.add_routine(PauseOnce(), "pause")
    flow.add_routine(Sink(), "sink")
    flow.connect("burst", "output", "pause", "input")
    flow.connect("pause", "output", "sink", "input")
    job_state = flow.execute("burst", {"items": [1, 2, 3]})
    assert job_state.status == "paused"
    assert sorted(t["data"]["value"] for t in job_state.pending_tasks if t["slot_routine_id"] == "pause") == [2, 3]
    flow.resume(job_state)
    assert job_state.status == "completed"
    assert [p["value"] for p in received(job_state, "sink")] == [1, 2, 3]


# --------------------------------------------------------------------------- deferred events


def test_deferred_events_are_kept_at_a_pause_and_emitted_on_resume() -> None:
    flow = pausing_flow(defer=True)
    job_state = flow.execute("src", {"v": 1})
    assert [(d["routine_id"], d["event_name"], d["data"]) for d in job_state.deferred_events] == [
        ("pause", "output", {"deferred": True})
    ]
    flow.resume(job_state)
    assert job_state.status == "completed"
    assert job_state.deferred_events == []
    assert received(job_state, "sink") == [{"v": 1}, {"deferred": True}]
    assert events(job_state, "pause") == [("pause", "output"), ("pause", "output")]


def test_deferred_events_are_emitted_in_the_order_they_were_kept() -> None:
    class Asker(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.ask)
            self.define_event("question", ["n"])

        def ask(self) -> None:
            for n in range(3):
                self.emit_deferred_event("question", n=n)
            ctx = self.get_execution_context()
            ctx.flow.pause(ctx.job_state, reason="waiting for the user")

    flow = Flow()
    flow.add_routine(Asker(), "asker")
    flow.add_routine(Sink(), "sink")
    flow.connect("asker", "question", "sink", "input")
    job_state = flow.execute("asker")
    assert job_state.status == "paused" and received(job_state) == []
    flow.resume(job_state)
    assert received(job_state, "sink") == [{"n": 0}, {"n": 1}, {"n": 2}]


# --------------------------------------------------------------------------- pausing from outside


def test_a_pause_from_outside_lets_the_running_handler_finish_and_keeps_its_emits() -> None:
    gate = Gate()

    class Slow(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.work)
            self.define_event("output")

        def work(self, **kwargs: Any) -> None:
            gate.hold()
            self.emit("output", **kwargs)

    flow = chain(("src", Source()), ("slow", Slow()), ("sink", Sink()))
    job_state = flow.start("src", {"v": 1})
    assert gate.entered.wait(5)
    pauser = threading.Thread(target=flow.pause, args=(job_state,), kwargs={"reason": "operator"})
    pauser.start()
    try:
        assert wait_until(lambda: job_state.status == "paused")
    finally:
        gate.released.set()
    pauser.join(5)
    assert not pauser.is_alive()  # pause() returned once the running handler finished
    assert job_state.status == "paused"
    assert [t["slot_routine_id"] for t in job_state.pending_tasks] == ["sink"]
    flow.resume(job_state)
    assert job_state.status == "completed"
    assert received(job_state, "sink") == [{"v": 1}]


def test_a_pause_holds_a_waiting_retry_and_resume_runs_it() -> None:
    class FailFirst(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.work)

        def work(self, **kwargs: Any) -> None:
            ctx = self.get_execution_context()
            if not ctx.job_state.get_shared_data("failed_once"):
                ctx.job_state.update_shared_data("failed_once", True)
                ctx.flow.pause(ctx.job_state, reason="hold the retry")
                raise ConnectionError("transient")
            ctx.job_state.append_to_shared_log({"routine": ctx.routine_id, "payload": kwargs})

    flow = chain(("src", Source()), ("worker", FailFirst()))
    flow.set_error_handler(ErrorHandler("retry", max_retries=2, retry_delay=0.001))
    job_state = flow.execute("src", {"v": 1})
    assert job_state.status == "paused"
    (task,) = job_state.pending_tasks
    assert (task["slot_routine_id"], task["retry_count"]) == ("worker", 1)
    flow.resume(job_state)
    assert job_state.status == "completed"
    assert received(job_state, "worker") == [{"v": 1}]


def test_pausing_a_paused_execution_changes_nothing() -> None:
    flow = pausing_flow()
    job_state = flow.execute("src")
    flow.pause(job_state, reason="again")
    assert job_state.status == "paused" and len(job_state.pause_points) == 1


def test_pausing_an_ended_execution_leaves_it_ended_and_returns_it_unchanged() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    job_state = flow.execute("src")
    history = len(job_state.execution_history)
    assert flow.pause(job_state, reason="too late") is job_state
    assert job_state.status == "completed"
    assert job_state.pause_points == []
    assert len(job_state.execution_history) == history


def test_resuming_an_ended_execution_returns_it_unchanged() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    job_state = flow.execute("src")
    history = len(job_state.execution_history)
    assert flow.resume(job_state) is job_state
    assert job_state.status == "completed"
    assert len(job_state.execution_history) == history


def test_a_job_of_another_flow_cannot_be_paused_resumed_or_cancelled_here() -> None:
    job_state = pausing_flow().execute("src")
    other = pausing_flow()
    for action in (other.pause, other.resume, other.cancel):
        with pytest.raises(FlowError, match="belongs to flow .* does not match"):
            action(job_state)


def test_cancelling_a_paused_execution_drops_its_pending_work() -> None:
    flow = pausing_flow(defer=True)
    job_state = flow.execute("src")
    flow.cancel(job_state, reason="not needed")
    assert job_state.status == "cancelled"
    assert job_state.pending_tasks == []
    assert flow.resume(job_state) is job_state
    assert job_state.status == "cancelled"
    assert visits(job_state) == ["pause"]


def test_an_aggregation_paused_midway_keeps_its_slot_buffer() -> None:
    class Gather(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.gather, merge_strategy="append")

        def gather(self, value: list[int]) -> None:
            ctx = self.get_execution_context()
            if len(value) == 2 and not ctx.job_state.get_shared_data("paused"):
                ctx.job_state.update_shared_data("paused", True)
                ctx.flow.pause(ctx.job_state)
            if len(value) == 4:
                ctx.job_state.append_to_shared_log({"all": value})

    flow = Flow()
    flow.add_routine(Burst(), "burst")
    flow.add_routine(Gather(), "gather")
    flow.connect("burst", "output", "gather", "input")
    job_state = flow.execute("burst", {"items": [1, 2, 3, 4]})
    assert job_state.status == "paused"
    assert job_state.slot_buffers["gather"]["input"] == {"value": [1, 2]}
    restored = JobState.from_dict(json.loads(json.dumps(job_state.serialize())))
    Flow.deserialize(flow.serialize()).resume(restored)
    assert [e["all"] for e in restored.shared_log] == [[1, 2, 3, 4]]


def test_resuming_on_a_flow_that_lacks_a_pending_tasks_routine_fails_the_job_naming_it() -> None:
    flow = pausing_flow()
    job_state = flow.execute("src", {"v": 1})
    data = flow.serialize()
    del data["routines"]["a"]
    data["connections"] = [c for c in data["connections"] if "a" not in (c["_source_routine_id"], c["_target_routine_id"])]
    restored = JobState.from_dict(job_state.serialize())
    Flow.deserialize(data).resume(restored)
    assert restored.status == "failed"
    assert "has no routine for activation a.input" in restored.error


# --------------------------------------------------------------------------- save, load, resume elsewhere


def test_a_paused_job_saved_and_loaded_resumes_on_a_deserialized_flow(tmp_path: Path) -> None:
    flow = pausing_flow(defer=True, flow_id="resumable")
    job_state = flow.execute("src", {"v": 1})
    job_state.save(tmp_path / "state.json")
    restored_flow = Flow.deserialize(json.loads(json.dumps(flow.serialize())))
    loaded = JobState.load(tmp_path / "state.json")
    assert loaded.status == "paused" and loaded.job_id == job_state.job_id
    restored_flow.resume(loaded)
    assert loaded.status == "completed"
    assert received(loaded, "sink") == [{"v": 1}, {"deferred": True}]
    assert job_state.status == "paused"  # the original object is untouched


FRESH_PROCESS_RESUME = """
import json, sys
from routilux import Flow, JobState
import core_routines  # the same routine classes the saving process used

flow = Flow.deserialize(json.load(open("flow.json")))
job_state = JobState.load("state.json")
before = job_state.status
flow.resume(job_state)
print(json.dumps({
    "before": before,
    "status": job_state.status,
    "job_id": job_state.job_id,
    "received": core_routines.received(job_state, "sink"),
    "visits": core_routines.visits(job_state),
    "pending": job_state.pending_tasks,
    "deferred": job_state.deferred_events,
}))
"""


def test_a_paused_job_resumes_in_a_fresh_process_with_a_deserialized_flow(tmp_path: Path) -> None:
    flow = pausing_flow(defer=True, flow_id="cross-process")
    job_state = flow.execute("src", {"v": 1})
    assert job_state.status == "paused"
    (tmp_path / "flow.json").write_text(json.dumps(flow.serialize()), encoding="utf-8")
    job_state.save(tmp_path / "state.json")
    (tmp_path / "resume.py").write_text(FRESH_PROCESS_RESUME, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(TESTS_DIR)])}
    done = subprocess.run(
        [sys.executable, "resume.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {
        "before": "paused",
        "status": "completed",
        "job_id": job_state.job_id,
        "received": [{"v": 1}, {"deferred": True}],
        "visits": ["pause", "a", "a", "sink", "sink"],  # breadth-first: held task, then the deferred event
        "pending": [],
        "deferred": [],
    }
