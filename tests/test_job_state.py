"""JobState and ExecutionRecord on their own: statuses, routine states, history, shared data and log,
deferred events, outputs, waiting, save and load.

How executions fill a JobState is in test_execution.py; serialization details are in test_serialization.py.
"""

from __future__ import annotations

import json
import queue
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from routilux import CallbackOutputHandler, ExecutionRecord, Flow, JobState, QueueOutputHandler, Routine
from routilux.errors import EncodeError, FlowError, FormatVersionError

from core_routines import Burst, Source


def test_a_new_job_state_is_pending_with_a_fresh_uuid_and_nothing_recorded() -> None:
    first, second = JobState("flow-1"), JobState("flow-1")
    assert first.job_id != second.job_id
    uuid.UUID(first.job_id)
    assert (first.flow_id, first.status, first.current_routine_id) == ("flow-1", "pending", None)
    assert first.routine_states == {} and first.execution_history == [] and first.pending_tasks == []
    assert first.deferred_events == [] and first.shared_data == {} and first.shared_log == [] and first.output_log == []
    assert first.pause_points == [] and first.metadata == {} and first.checkpoint is None and first.error is None
    assert isinstance(first.created_at, datetime) and isinstance(first.updated_at, datetime)
    assert first.output_handler is None


def test_update_routine_state_replaces_the_state_with_a_copy() -> None:
    job_state = JobState()
    state = {"a": 1}
    job_state.update_routine_state("r1", state)
    state["a"] = 99
    assert job_state.get_routine_state("r1") == {"a": 1}
    job_state.update_routine_state("r1", {"b": 2})
    assert job_state.get_routine_state("r1") == {"b": 2}
    assert job_state.get_routine_state("unknown") is None


def test_updating_state_moves_updated_at_forward() -> None:
    job_state = JobState()
    before = job_state.updated_at
    job_state.update_routine_state("r1", {"status": "running"})
    job_state.update_shared_data("k", 1)
    assert job_state.updated_at >= before


def test_history_is_kept_as_execution_records_and_filtered_by_routine() -> None:
    job_state = JobState()
    job_state.record_execution("a", "start", {"x": 1})
    job_state.record_execution("b", "output", {"y": 2})
    job_state.record_execution("a", "output")
    assert all(isinstance(r, ExecutionRecord) for r in job_state.execution_history)
    assert [(r.routine_id, r.event_name, r.data) for r in job_state.get_execution_history()] == [
        ("a", "start", {"x": 1}), ("b", "output", {"y": 2}), ("a", "output", {})
    ]
    assert [r.event_name for r in job_state.get_execution_history("a")] == ["start", "output"]


def test_get_execution_history_sorts_by_timestamp() -> None:
    job_state = JobState()
    now = datetime.now()
    job_state.execution_history = [
        ExecutionRecord("r", "late", {}, now + timedelta(seconds=1)),
        ExecutionRecord("r", "early", {}, now),
    ]
    assert [r.event_name for r in job_state.get_execution_history()] == ["early", "late"]


def test_shared_data_is_set_and_read_with_a_default() -> None:
    job_state = JobState()
    job_state.update_shared_data("count", 3)
    assert job_state.get_shared_data("count") == 3
    assert job_state.get_shared_data("missing") is None
    assert job_state.get_shared_data("missing", "dflt") == "dflt"
    assert job_state.shared_data == {"count": 3}


def test_shared_log_entries_are_dicts_stamped_with_a_timestamp_and_read_as_copies() -> None:
    job_state = JobState()
    entry = {"action": "a"}
    job_state.append_to_shared_log(entry)
    job_state.append_to_shared_log({"action": "b", "timestamp": "given"})
    assert "timestamp" not in entry
    log = job_state.get_shared_log()
    assert [e["action"] for e in log] == ["a", "b"]
    assert isinstance(log[0]["timestamp"], str) and log[1]["timestamp"] == "given"
    log.clear()
    assert len(job_state.get_shared_log()) == 2
    assert [e["action"] for e in job_state.get_shared_log(lambda e: e["action"] == "b")] == ["b"]


def test_shared_log_refuses_entries_that_are_not_dicts() -> None:
    with pytest.raises(ValueError):
        JobState().append_to_shared_log("not a dict")  # type: ignore[arg-type]


def test_deferred_events_are_kept_in_order_with_their_data() -> None:
    job_state = JobState()
    job_state.add_deferred_event("r1", "ask", {"question": "name?"})
    job_state.add_deferred_event("r2", "tell", {})
    assert [(d["routine_id"], d["event_name"], d["data"]) for d in job_state.deferred_events] == [
        ("r1", "ask", {"question": "name?"}), ("r2", "tell", {})
    ]
    assert all(isinstance(d["timestamp"], str) for d in job_state.deferred_events)


def test_send_output_logs_the_output_and_hands_it_to_the_output_handler() -> None:
    job_state = JobState()
    q: queue.Queue[dict[str, Any]] = queue.Queue()
    job_state.send_output("r0", "early", {"n": 0})
    job_state.set_output_handler(QueueOutputHandler(q))
    job_state.send_output("r1", "progress", {"n": 1})
    assert [(o["routine_id"], o["output_type"], o["data"]) for o in job_state.output_log] == [
        ("r0", "early", {"n": 0}), ("r1", "progress", {"n": 1})
    ]
    item = q.get_nowait()
    assert (item["job_id"], item["routine_id"], item["data"]) == (job_state.job_id, "r1", {"n": 1})
    assert q.empty()


def test_a_failing_output_handler_warns_but_the_output_is_still_logged() -> None:
    def broken(*args: Any) -> None:
        raise OSError("sink down")

    job_state = JobState()
    job_state.set_output_handler(CallbackOutputHandler(broken))
    with pytest.warns(RuntimeWarning, match="sink down"):
        job_state.send_output("r1", "progress", {"n": 1})
    assert len(job_state.output_log) == 1


def test_wait_for_completion_returns_true_for_an_ended_job_and_false_on_timeout() -> None:
    flow = Flow()
    flow.add_routine(Source(), "src")
    job_state = flow.execute("src")
    assert JobState.wait_for_completion(flow, job_state, timeout=1.0) is True
    assert JobState.wait_for_completion(flow, JobState(flow.flow_id), timeout=0.01) is False


def test_wait_for_completion_accepts_upstreams_polling_arguments_and_ignores_them() -> None:
    flow = Flow()
    flow.add_routine(Source(), "src")
    job_state = flow.execute("src")
    progress: list[Any] = []
    assert JobState.wait_for_completion(
        flow=flow, job_state=job_state, timeout=1.0, check_interval=0.05, progress_callback=progress.append
    )
    assert progress == []


def test_wait_for_completion_refuses_a_job_of_another_flow() -> None:
    flow = Flow()
    with pytest.raises(FlowError):
        JobState.wait_for_completion(flow, JobState("other-flow"), timeout=0.01)


def test_save_writes_json_creating_folders_and_load_reads_it_back(tmp_path: Path) -> None:
    job_state = JobState("f1")
    job_state.update_shared_data("k", [1, 2])
    job_state.record_execution("r1", "output", {"x": "ü"})
    path = tmp_path / "deep" / "er" / "state.json"
    job_state.save(path)
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["_type"] == "JobState" and on_disk["job_id"] == job_state.job_id
    loaded = JobState.load(path)
    assert loaded.serialize() == job_state.serialize()
    assert loaded.execution_history == job_state.execution_history


def test_load_of_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        JobState.load(tmp_path / "absent.json")


@pytest.mark.parametrize("content", ['{"_type": "Flow"}', "[1, 2]", "not json at all"])
def test_load_of_a_file_without_a_job_state_raises_format_version_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FormatVersionError, match="Invalid JobState file format"):
        JobState.load(path)


def test_save_of_state_that_is_not_json_raises_encode_error_naming_the_job(tmp_path: Path) -> None:
    job_state = JobState()
    job_state.update_shared_data("handle", object())
    with pytest.raises(EncodeError, match=job_state.job_id):
        job_state.save(tmp_path / "state.json")


def test_execution_records_compare_by_content_and_serialize_with_an_iso_timestamp() -> None:
    stamp = datetime(2024, 1, 2, 3, 4, 5, 678901)
    record = ExecutionRecord("r1", "output", {"x": 1}, stamp)
    data = record.serialize()
    assert data == {"_type": "ExecutionRecord", "routine_id": "r1", "event_name": "output",
                    "data": {"x": 1}, "timestamp": "2024-01-02T03:04:05.678901"}
    assert ExecutionRecord().deserialize(data) == record
    assert ExecutionRecord("r1", "output", {"x": 2}, stamp) != record


@pytest.fixture
def fine_grained_threads() -> Any:
    """Switch threads far more often than usual, so races show up in a short test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("fine_grained_threads")
def test_a_running_job_state_can_be_serialized_and_saved_at_any_moment(tmp_path: Path) -> None:
    class Writer(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.write)

        def write(self, value: int) -> None:
            job_state = self.get_execution_context().job_state
            for i in range(20):
                job_state.update_shared_data(f"k{value}-{i}", i)
                job_state.update_routine_state(f"r{value}-{i}", {"i": i})
                job_state.set_slot_buffer(f"b{value}-{i}", "s", {"i": i})

    flow = Flow(execution_strategy="concurrent", max_workers=4)
    flow.add_routine(Burst(), "burst")
    flow.add_routine(Writer(), "writer")
    flow.connect("burst", "output", "writer", "input")
    job_state = flow.start("burst", {"items": list(range(100))})
    snapshots = 0
    while not job_state.wait(0):  # snapshots taken while handlers write
        job_state.serialize()
        snapshots += 1
        if snapshots % 50 == 1:
            job_state.save(tmp_path / "checkpoint.json")
    assert job_state.status == "completed"
    assert len(job_state.routine_states) == 2001 and snapshots >= 1
    assert JobState.load(tmp_path / "checkpoint.json").job_id == job_state.job_id


def test_a_job_state_nobody_holds_is_freed_at_once_without_the_cyclic_garbage_collector():
    import gc
    import weakref

    job = JobState("flow")
    job.update_shared_data("n", 1)
    job.update_routine_state("r", {"status": "completed"})
    gone = weakref.ref(job)
    shared = job.shared_data
    gc.disable()
    try:
        del job
        assert gone() is None
    finally:
        gc.enable()
    assert shared.owner is None and dict(shared) == {"n": 1}


def test_a_record_made_with_a_unix_time_reads_as_that_local_datetime_and_equals_its_datetime_twin():
    at = datetime(2026, 12, 6, 3, 4, 5, 123456)
    lazy = ExecutionRecord("r", "output", {"v": 1}, at.timestamp())
    assert lazy.timestamp == at and lazy.serialize()["timestamp"] == at.isoformat()
    assert lazy == ExecutionRecord("r", "output", {"v": 1}, at)
    assert isinstance(ExecutionRecord("r", "output").timestamp, datetime)
