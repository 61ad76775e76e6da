"""Behaviours code written against upstream Routilux 0.10.0 relies on, through the public API.

Each test pins one upstream behaviour Routilux matches (where it keeps a deliberate
difference instead, the README's "Differences from upstream 0.10.0" says so).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from routilux import (
    Connection,
    ErrorHandler,
    ErrorStrategy,
    ExecutionTracker,
    Flow,
    JobState,
    Routine,
    Slot,
)
from routilux.errors import FlowError, SerializationError, UnknownRoutineClassError
from core_routines import Burst, Relay, Sink, Source, chain, received


# --------------------------------------------------------------------------- instance deserialize


def test_error_handler_deserialize_fills_an_existing_handler_from_its_data() -> None:
    data = ErrorHandler(ErrorStrategy.RETRY, max_retries=5, retry_delay=0.5, retry_backoff=3.0, is_critical=True).serialize()
    data["retry_count"] = 2
    handler = ErrorHandler()
    assert handler.deserialize(data) is handler
    assert handler.strategy is ErrorStrategy.RETRY
    assert (handler.max_retries, handler.retry_delay, handler.retry_backoff) == (5, 0.5, 3.0)
    assert handler.is_critical is True and handler.retry_count == 2


def test_error_handler_deserialize_of_upstream_data_without_exception_names_retries_every_exception() -> None:
    handler = ErrorHandler().deserialize({"_type": "ErrorHandler", "strategy": "retry", "max_retries": 1})
    assert handler.is_retryable(KeyError("x"))


def test_slot_deserialize_fills_an_existing_slot_and_binds_a_method_handler_by_name() -> None:
    routine = Sink()
    data = routine.input_slot.serialize()
    data["merge_strategy"] = "append"
    slot = Slot(routine=routine)
    assert slot.deserialize(data) is slot
    assert (slot.name, slot.merge_strategy) == ("input", "append")
    assert slot.handler == routine.collect


def test_slot_deserialize_without_a_routine_restores_name_and_strategy_only() -> None:
    slot = Slot().deserialize({"_type": "Slot", "name": "input", "handler": {"_type": "callable", "callable_type": "method", "name": "collect"}})
    assert slot.name == "input" and slot.handler is None and slot.routine is None


def test_connection_deserialize_fills_an_existing_connection_from_its_data() -> None:
    flow = chain(("a", Source()), ("b", Sink()))
    flow.connections.clear()
    original = flow.connect("a", "output", "b", "input", {"x": "y"})
    connection = Connection()
    assert connection.deserialize(original.serialize()) is connection
    assert connection.param_mapping == {"x": "y"}
    assert (connection.source_routine_id, connection.target_routine_id) == ("a", "b")
    assert connection.serialize() == original.serialize()


def test_execution_tracker_deserialize_fills_an_existing_tracker_from_its_data() -> None:
    job = chain(("src", Source()), ("sink", Sink())).execute("src", {"v": 1})
    data = job.execution_tracker.serialize()
    tracker = ExecutionTracker()
    assert tracker.deserialize(data) is tracker
    assert tracker.flow_id == job.flow_id
    assert set(tracker.routine_executions) == {"src", "sink"}
    assert tracker.event_flow == data["event_flow"] and len(tracker.event_flow) == 1


# --------------------------------------------------------------------------- flows as data


def test_a_flow_holding_a_plain_routine_round_trips() -> None:
    flow = Flow(flow_id="plain")
    plain = Routine()
    plain.define_slot("input")
    plain.set_config(note="kept")
    flow.add_routine(plain, "p")
    restored = Flow.deserialize(flow.serialize())
    assert type(restored.routines["p"]) is Routine
    assert restored.routines["p"].get_config("note") == "kept"
    assert restored.routines["p"].get_slot("input") is not None


def test_deserialize_on_a_flow_that_has_routines_replaces_its_contents() -> None:
    data = chain(("src", Source()), ("sink", Sink()), flow=Flow(flow_id="data")).serialize()
    flow = chain(("src", Source()), ("other", Sink()))
    flow.deserialize(data)
    assert flow.flow_id == "data"
    assert sorted(flow.routines) == ["sink", "src"]
    assert [(c.source_routine_id, c.target_routine_id) for c in flow.connections] == [("src", "sink")]
    assert received(flow.execute("src", {"v": 1}), "sink") == [{"v": 1}]


def test_deserialize_into_a_flow_leaves_its_old_routines_wired_where_another_flow_uses_them() -> None:
    source, sink = Source(), Sink()
    first = chain(("src", source), ("sink", sink))
    second = chain(("src", source), ("sink", sink))
    second.deserialize(chain(("a", Source()), ("b", Sink())).serialize())
    assert received(first.execute("src", {"v": 1}), "sink") == [{"v": 1}]


def test_a_connection_naming_a_routine_the_data_lacks_is_a_serialization_error_naming_it() -> None:
    data = chain(("src", Source()), ("sink", Sink())).serialize()
    data["connections"][0]["_target_routine_id"] = "nowhere"
    with pytest.raises(SerializationError, match=r"connections\[0\].*'nowhere'"):
        Flow.deserialize(data)


def test_a_connection_without_its_event_name_is_a_serialization_error() -> None:
    data = chain(("src", Source()), ("sink", Sink())).serialize()
    del data["connections"][0]["_source_event_name"]
    with pytest.raises(SerializationError, match="has no event None"):
        Flow.deserialize(data)


def test_a_type_changed_in_the_data_names_that_class_and_an_unknown_one_is_not_found_in_registry() -> None:
    data = chain(("src", Source()), ("sink", Sink())).serialize()
    data["routines"]["sink"]["_type"] = "Relay"
    assert type(Flow.deserialize(data).routines["sink"]) is Relay
    data["routines"]["sink"]["_type"] = "NoSuchRoutineClass"
    with pytest.raises(UnknownRoutineClassError, match="NoSuchRoutineClass.*class not found in registry"):
        Flow.deserialize(data)


def test_register_serializable_also_imports_from_routilux_job_state() -> None:
    from routilux.job_state import register_serializable

    assert register_serializable(Sink) is Sink


# --------------------------------------------------------------------------- the flow's latest execution


def test_assigning_flow_job_state_makes_it_the_latest_execution() -> None:
    flow = Flow(flow_id="f")
    loaded = JobState.from_dict(JobState("f").serialize())
    flow.job_state = loaded
    assert flow.job_state is loaded
    assert flow.get_execution(loaded.job_id) is loaded
    assert flow.serialize(include_execution_state=True)["job_state"]["job_id"] == loaded.job_id
    flow.job_state = None
    assert flow.job_state is None and "job_state" not in flow.serialize(include_execution_state=True)


# --------------------------------------------------------------------------- per-execution settings


class Meeting(Routine):
    """Each activation waits at a barrier for ``parties`` activations running at once."""

    barrier: threading.Barrier | None = None

    def __init__(self) -> None:
        """Define the ``input`` slot."""
        super().__init__()
        self.define_slot("input", handler=self.meet)

    def meet(self, value: Any = None, **kwargs: Any) -> None:
        """Wait for the others; record whether they all came."""
        assert Meeting.barrier is not None
        try:
            Meeting.barrier.wait()
            met = True
        except threading.BrokenBarrierError:
            met = False
        self.get_execution_context().job_state.append_to_shared_log({"met": met})


def test_execute_strategy_and_max_workers_apply_to_that_execution_only() -> None:
    flow = chain(("src", Burst()), ("meet", Meeting()))
    flow.connections.clear()
    flow.connect("src", "output", "meet", "input")
    Meeting.barrier = threading.Barrier(3, timeout=5)
    job = flow.execute("src", {"items": [1, 2, 3]}, execution_strategy="concurrent", max_workers=3)
    assert [e["met"] for e in job.shared_log] == [True, True, True]
    assert (flow.execution_strategy, flow.max_workers) == ("sequential", 1)
    Meeting.barrier = threading.Barrier(2, timeout=0.2)
    later = flow.execute("src", {"items": [1]})  # sequential again: no second party can arrive
    assert [e["met"] for e in later.shared_log] == [False]


def test_an_execution_may_ask_for_more_workers_than_the_flows_thread_pool_has() -> None:
    flow = chain(("src", Burst()), ("meet", Meeting()), execution_strategy="concurrent", max_workers=2)
    flow.connections.clear()
    flow.connect("src", "output", "meet", "input")
    Meeting.barrier = threading.Barrier(1)
    assert flow.execute("src", {"items": [0]}).status == "completed"  # the engine's pool exists now
    Meeting.barrier = threading.Barrier(12, timeout=5)
    job = flow.execute("src", {"items": list(range(12))}, max_workers=12)
    assert [e["met"] for e in job.shared_log] == [True] * 12


def test_execute_refuses_an_unknown_strategy_override() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    with pytest.raises(FlowError, match="Invalid execution strategy"):
        flow.execute("src", execution_strategy="parallel")


# --------------------------------------------------------------------------- waiting, pause and resume


def test_wait_returns_at_once_for_a_job_already_in_a_terminal_status_even_one_assigned_directly() -> None:
    flow = Flow()
    for status in ("completed", "failed", "cancelled"):
        job = JobState(flow.flow_id)
        job.status = status
        assert job.wait(timeout=0) is True
        assert JobState.wait_for_completion(flow, job, timeout=0) is True
    running = JobState(flow.flow_id)
    running.status = "running"
    assert running.wait(timeout=0) is False


def test_flow_wait_for_completion_warns_that_it_is_deprecated() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    job = flow.execute("src")
    with pytest.warns(DeprecationWarning, match="job_state.wait"):
        assert flow.wait_for_completion(timeout=1, job_state=job) is True


def test_ownership_errors_say_the_job_belongs_to_another_flow_and_does_not_match() -> None:
    job = chain(("src", Source()), ("sink", Sink())).execute("src")
    with pytest.raises(FlowError, match="belongs to flow .* does not match"):
        JobState.wait_for_completion(Flow(), job, timeout=0)


# --------------------------------------------------------------------------- live wiring


def test_an_event_connected_directly_to_a_slot_delivers_during_an_execution() -> None:
    flow = Flow()
    source, sink = Source(), Sink()
    flow.add_routine(source, "src")
    flow.add_routine(sink, "sink")
    source.output_event.connect(sink.input_slot)
    assert received(flow.execute("src", {"v": 1}), "sink") == [{"v": 1}]


def test_connection_disconnect_stops_deliveries_and_drops_it_from_the_serialized_flow() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    assert received(flow.execute("src", {"v": 1}), "sink") == [{"v": 1}]
    flow.connections[0].disconnect()
    assert received(flow.execute("src", {"v": 2}), "sink") == []
    assert flow.serialize()["connections"] == []


def test_one_routine_added_under_two_ids_delivers_only_along_the_connections_of_the_emitting_id() -> None:
    flow = Flow()
    shared = Relay()
    flow.add_routine(Source(), "src")
    flow.add_routine(shared, "first")
    flow.add_routine(shared, "second")
    flow.add_routine(Sink(), "sink")
    flow.connect("src", "output", "first", "input")
    flow.connect("second", "output", "sink", "input")
    job = flow.execute("src", {"v": 1})
    assert received(job, "first") == [{"v": 1}]
    assert received(job, "sink") == []


def test_current_flow_is_the_running_flow_inside_a_handler_and_none_outside() -> None:
    seen: list[Any] = []

    class Peek(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=lambda **_: seen.append(self._current_flow))

    flow = Flow()
    peek = Peek()
    flow.add_routine(peek, "peek")
    flow.execute("peek")
    assert seen == [flow]
    assert peek._current_flow is None
    with pytest.raises(AttributeError):
        peek._current_flow = flow  # type: ignore[misc]


# --------------------------------------------------------------------------- execution tracker


def test_event_flow_records_one_entry_per_emit_with_its_targets() -> None:
    flow = chain(("src", Burst()), ("sink", Sink()))
    flow.connections.clear()
    flow.connect("src", "output", "sink", "input")
    job = flow.execute("src", {"items": [1, 2]})
    entries = job.execution_tracker.event_flow
    assert [(e["source_routine_id"], e["event_name"], e["target_routine_id"], e["data"]) for e in entries] == [
        ("src", "output", "sink", {"value": 1}),
        ("src", "output", "sink", {"value": 2}),
    ]
    assert job.execution_tracker.get_flow_performance()["total_events"] == 2


def test_each_execution_has_its_own_tracker_and_the_flow_shows_the_latest() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    first = flow.execute("src", {"v": 1})
    second = flow.execute("src", {"v": 2})
    assert first.execution_tracker is not second.execution_tracker
    assert flow.execution_tracker is second.execution_tracker
    assert [e["data"] for e in first.execution_tracker.event_flow] == [{"v": 1}]
    assert [e["data"] for e in second.execution_tracker.event_flow] == [{"v": 2}]


# --------------------------------------------------------------------------- slots used on their own


@pytest.mark.parametrize(
    ("strategy", "before", "new", "expected"),
    [
        ("append", {"key": [1, 2]}, {"key": 3}, {"key": [1, 2, 3]}),
        ("append", {"key": "string"}, {"key": "new"}, {"key": ["string", "new"]}),
        ("no-such-strategy", {"a": 1}, {"b": 2}, {"b": 2}),
        (lambda old, new: {**old, **new, "merged": True}, {"a": 1}, {"b": 2}, {"a": 1, "b": 2, "merged": True}),
    ],
)
def test_merge_data_merges_into_the_slot_buffer_and_returns_what_the_handler_gets(
    strategy: Any, before: dict[str, Any], new: dict[str, Any], expected: dict[str, Any]
) -> None:
    slot = Slot(name="s", merge_strategy=strategy)
    slot._data = before
    assert slot._merge_data(new) == expected


def test_find_connection_returns_the_live_connection_between_an_event_and_a_slot() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    event, slot = flow.routines["src"].get_event("output"), flow.routines["sink"].get_slot("input")
    assert flow._find_connection(event, slot) is flow.connections[0]
    flow.connections[0].disconnect()
    assert flow._find_connection(event, slot) is None
