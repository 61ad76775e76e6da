"""The public API of ``routilux``: what it exports and how its building blocks behave on their own.

Running behaviour (flows, executions) is in test_execution.py and its siblings;
this file pins the import surface and the parts usable without running a flow.
"""

from __future__ import annotations

import inspect
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import routilux
from routilux import (
    CallbackOutputHandler,
    Connection,
    ErrorHandler,
    ErrorStrategy,
    Event,
    ExecutionContext,
    ExecutionRecord,
    ExecutionTracker,
    Flow,
    JobState,
    NullOutputHandler,
    OutputHandler,
    QueueOutputHandler,
    Routine,
    RoutiluxError,
    Slot,
    register_serializable,
)
from routilux.errors import FlowError

REPO_ROOT = Path(__file__).resolve().parent.parent

PINNED_ALL = [
    "CallbackOutputHandler",
    "ConditionalRouter",
    "Connection",
    "DataFlattener",
    "DataTransformer",
    "DataValidator",
    "ErrorHandler",
    "ErrorStrategy",
    "Event",
    "ExecutionContext",
    "ExecutionRecord",
    "ExecutionTracker",
    "Flow",
    "JobState",
    "NullOutputHandler",
    "OutputHandler",
    "QueueOutputHandler",
    "ResultExtractor",
    "Routine",
    "RoutiluxError",
    "Slot",
    "SubFlow",
    "TextClipper",
    "TextRenderer",
    "TimeProvider",
    "WaitForPost",
    "__version__",
    "register_condition",
    "register_serializable",
]


class Plain(Routine):
    """A routine with one input slot and one output event, for stand-alone use."""

    def __init__(self) -> None:
        """Define ``input`` and ``output``."""
        super().__init__()
        self.seen: list[Any] = []
        self.input_slot = self.define_slot("input", handler=self.take)
        self.output_event = self.define_event("output", ["value"])

    def take(self, **kwargs: Any) -> None:
        """Keep what arrives (stand-alone use only: no execution, no JobState)."""
        self.seen.append(kwargs)


# --------------------------------------------------------------------------- import surface


def test_routilux_all_is_pinned_so_api_changes_are_deliberate() -> None:
    assert sorted(routilux.__all__) == sorted(PINNED_ALL)


def test_every_name_in_all_is_importable_from_routilux() -> None:
    missing = [name for name in routilux.__all__ if not hasattr(routilux, name)]
    assert missing == []


def test_the_version_is_the_upstream_version_users_know() -> None:
    assert routilux.__version__ == "0.10.0"


def test_the_submodule_paths_used_by_upstream_docs_still_import() -> None:
    from routilux.job_state import JobState as JobStateFromModule
    from routilux.routine import _current_job_state
    from routilux.slot import Slot as SlotFromModule

    assert JobStateFromModule is JobState
    assert SlotFromModule is Slot
    assert _current_job_state.get() is None


def test_importing_routilux_loads_no_celery_kombu_or_redis_module() -> None:
    code = (
        "import sys, json, routilux\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('celery', 'kombu', 'redis'))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_the_distributed_names_the_readme_documents_import_from_where_it_says() -> None:
    from routilux.distributed import DistributedRuntime, Settings, create_app, hooks
    from routilux.distributed.events import JobEvent
    from routilux.distributed.operations.events import JobEvent as DefinedJobEvent

    assert JobEvent is DefinedJobEvent
    assert callable(create_app) and callable(Settings.from_env) and hasattr(hooks, "ExecutorHooks")
    for method in ("publish", "submit", "wait", "get_job", "pause", "resume", "cancel", "jobs", "events"):
        assert callable(getattr(DistributedRuntime, method)), method


def test_every_routilux_error_is_a_routilux_error_and_the_documented_builtin() -> None:
    from routilux import errors

    assert issubclass(errors.FlowError, ValueError)
    assert issubclass(errors.FlowValidationError, errors.FlowError)
    assert issubclass(errors.SerializationError, ValueError)
    assert issubclass(errors.FormatVersionError, ValueError)
    assert issubclass(errors.NotConstructibleError, TypeError)
    for name in ("FlowError", "FlowValidationError", "SerializationError", "FormatVersionError",
                 "UnknownRoutineClassError", "AmbiguousClassError", "NotConstructibleError", "ExecutionTimeout"):
        assert issubclass(getattr(errors, name), RoutiluxError), name


# --------------------------------------------------------------------------- Routine


def test_define_slot_and_define_event_return_parts_owned_by_the_routine() -> None:
    routine = Plain()
    assert isinstance(routine.input_slot, Slot) and routine.input_slot.routine is routine
    assert isinstance(routine.output_event, Event) and routine.output_event.routine is routine
    assert routine.get_slot("input") is routine.input_slot
    assert routine.get_event("output") is routine.output_event
    assert routine.output_event.output_params == ["value"]


def test_get_slot_and_get_event_return_none_for_unknown_names() -> None:
    routine = Plain()
    assert routine.get_slot("nope") is None
    assert routine.get_event("nope") is None


def test_defining_a_slot_or_an_event_twice_raises_value_error() -> None:
    routine = Plain()
    with pytest.raises(ValueError, match="Slot 'input' already exists"):
        routine.define_slot("input")
    with pytest.raises(ValueError, match="Event 'output' already exists"):
        routine.define_event("output")


def test_emitting_an_undefined_event_raises_value_error() -> None:
    with pytest.raises(ValueError, match="Event 'missing' does not exist"):
        Plain().emit("missing", value=1)


def test_emit_outside_a_flow_delivers_directly_to_connected_slots() -> None:
    source, target = Plain(), Plain()
    source.output_event.connect(target.input_slot)
    source.emit("output", value=7)
    assert target.seen == [{"value": 7}]


def test_emit_with_no_connected_slot_outside_a_flow_does_nothing() -> None:
    routine = Plain()
    routine.emit("output", value=1)
    assert routine.seen == []


def test_routine_ids_default_to_the_object_address_and_show_in_repr() -> None:
    routine = Plain()
    assert routine._id == hex(id(routine))
    assert repr(routine) == f"Plain[{routine._id}]"


def test_config_is_set_read_with_defaults_and_returned_as_a_copy() -> None:
    routine = Plain()
    routine.set_config(threshold=10, enabled=True)
    routine.set_config(threshold=11)
    assert routine.get_config("threshold") == 11
    assert routine.get_config("missing") is None
    assert routine.get_config("missing", default=5) == 5
    copy = routine.config()
    copy["enabled"] = False
    assert routine.config() == {"threshold": 11, "enabled": True}
    assert routine._config == {"threshold": 11, "enabled": True}


def test_stats_can_be_set_read_incremented_and_reset() -> None:
    routine = Plain()
    routine.set_stat("name", "x")
    assert routine.increment_stat("calls") == 1
    assert routine.increment_stat("calls", 2) == 3
    assert routine.increment_stat("seconds", 0.5) == 0.5
    assert routine.get_stat("calls") == 3
    assert routine.get_stat("missing", default=-1) == -1
    snapshot = routine.stats()
    snapshot["calls"] = 100
    assert routine.stats() == {"name": "x", "calls": 3, "seconds": 0.5}
    routine.reset_stats(["calls"])
    assert routine.stats() == {"name": "x", "seconds": 0.5}
    routine.reset_stats()
    assert routine.stats() == {}


def test_increment_stat_loses_no_increment_when_threads_race() -> None:
    routine = Plain()
    start = threading.Barrier(8)

    def bump() -> None:
        start.wait(timeout=10)
        for _ in range(2000):
            routine.increment_stat("n")

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert routine.get_stat("n") == 16000


def test_stats_are_serialized_in_underscore_stats() -> None:
    routine = Plain()
    routine.set_stat("processed", 4)
    assert routine.serialize()["_stats"] == {"processed": 4}


def test_extract_input_data_prefers_data_then_a_sole_kwarg_then_all_kwargs() -> None:
    routine = Plain()
    assert routine._extract_input_data("direct", other="ignored") == "direct"
    assert routine._extract_input_data(data=3) == 3
    assert routine._extract_input_data(text="only") == "only"
    assert routine._extract_input_data(a=1, b=2) == {"a": 1, "b": 2}
    assert routine._extract_input_data() == {}


def test_set_as_optional_continues_by_default_or_uses_the_given_strategy() -> None:
    routine = Plain()
    routine.set_as_optional()
    handler = routine.get_error_handler()
    assert handler is not None and handler.strategy is ErrorStrategy.CONTINUE and not handler.is_critical
    routine.set_as_optional(ErrorStrategy.SKIP)
    assert routine.get_error_handler().strategy is ErrorStrategy.SKIP


def test_set_as_critical_retries_and_marks_the_routine_critical() -> None:
    routine = Plain()
    routine.set_as_critical(max_retries=5, retry_delay=0.25, retry_backoff=3.0)
    handler = routine.get_error_handler()
    assert handler is not None
    assert (handler.strategy, handler.max_retries, handler.retry_delay, handler.retry_backoff, handler.is_critical) == (
        ErrorStrategy.RETRY, 5, 0.25, 3.0, True
    )


def test_set_error_handler_replaces_and_clears_the_routine_handler() -> None:
    routine = Plain()
    handler = ErrorHandler(strategy="skip")
    routine.set_error_handler(handler)
    assert routine.get_error_handler() is handler
    routine.set_error_handler(None)
    assert routine.get_error_handler() is None


def test_execution_only_calls_say_they_need_an_execution_when_called_outside_one() -> None:
    routine = Plain()
    assert routine.get_execution_context() is None
    with pytest.raises(RuntimeError, match="send_output"):
        routine.send_output("progress", done=1)
    with pytest.raises(RuntimeError, match="emit_deferred_event"):
        routine.emit_deferred_event("output", value=1)


def test_add_serializable_fields_adds_each_field_once_and_never_the_base_fields() -> None:
    routine = Plain()
    routine.custom = "value"
    routine.add_serializable_fields(["custom", "custom", "_config"])
    data = routine.serialize()
    assert data["custom"] == "value"
    assert data["_serializable_fields"] == ["custom"]


def test_execution_context_is_a_named_tuple_of_flow_job_state_and_routine_id() -> None:
    flow, job_state = Flow(), JobState()
    ctx = ExecutionContext(flow, job_state, "r1")
    got_flow, got_state, rid = ctx
    assert (got_flow, got_state, rid) == (flow, job_state, "r1")
    assert ctx._fields == ("flow", "job_state", "routine_id")


# --------------------------------------------------------------------------- Slot, Event, Connection


def test_a_slot_can_be_built_on_its_own_with_upstreams_constructor() -> None:
    got: list[Any] = []
    slot = Slot("input", None, lambda data: got.append(data), "append")
    slot.receive({"x": 1})
    slot.receive({"x": 2})
    assert (slot.name, slot.routine, slot.merge_strategy) == ("input", None, "append")
    assert got == [{"x": [1]}, {"x": [1, 2]}]


def test_override_merge_hands_the_handler_only_the_new_data() -> None:
    got: list[Any] = []
    slot = Slot("in", handler=lambda **kw: got.append(kw))
    slot.receive({"a": 1})
    slot.receive({"b": 2})
    assert got == [{"a": 1}, {"b": 2}]
    assert slot._data == {"b": 2}


def test_append_merge_accumulates_lists_and_hands_over_the_keys_just_received() -> None:
    got: list[Any] = []
    slot = Slot("in", handler=lambda **kw: got.append(kw), merge_strategy="append")
    slot.receive({"a": 1})
    slot.receive({"a": 2, "b": "x"})
    slot.receive({"b": "y"})
    assert got == [{"a": [1]}, {"a": [1, 2], "b": ["x"]}, {"b": ["x", "y"]}]
    assert slot._data == {"a": [1, 2], "b": ["x", "y"]}


def test_a_callable_merge_strategy_gets_the_old_and_new_data_and_its_result_is_kept() -> None:
    def add(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        return {"total": old.get("total", 0) + new["n"]}

    got: list[Any] = []
    slot = Slot("in", handler=lambda total: got.append(total), merge_strategy=add)
    for n in (1, 2, 3):
        slot.receive({"n": n})
    assert got == [1, 3, 6]
    assert slot._data == {"total": 6}


def test_slot_data_can_be_reset_by_assignment() -> None:
    slot = Slot("in", merge_strategy="append")
    slot.receive({"a": 1})
    slot._data = {}
    slot.receive({"a": 2})
    assert slot._data == {"a": [2]}


def test_handlers_get_data_the_way_their_signature_asks() -> None:
    got: list[Any] = []
    cases = [
        (lambda **kw: got.append(("kwargs", kw)), ("kwargs", {"text": "t", "n": 1})),
        (lambda data: got.append(("data", data)), ("data", {"text": "t", "n": 1})),
        (lambda text: got.append(("single", text)), ("single", "t")),
        (lambda text, n: got.append(("multi", text, n)), ("multi", "t", 1)),
        (lambda: got.append(("none",)), ("none",)),
    ]
    for handler, _expected in cases:
        Slot("in", handler=handler).receive({"text": "t", "n": 1})
    assert got == [expected for _handler, expected in cases]


def test_a_single_parameter_handler_gets_the_whole_dict_when_its_key_is_missing() -> None:
    got: list[Any] = []
    Slot("in", handler=lambda value: got.append(value)).receive({"other": 1})
    assert got == [{"other": 1}]


def test_handler_errors_are_logged_not_raised_when_a_slot_receives_directly(caplog: pytest.LogCaptureFixture) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("broken handler")

    Slot("in", handler=broken).receive({"a": 1})
    assert "broken handler" in caplog.text
    with pytest.raises(RuntimeError, match="broken handler"):
        Slot("in", handler=broken).call_handler({"a": 1}, propagate_exceptions=True)


def test_slot_and_event_connect_both_ways_idempotently_and_disconnect_safely() -> None:
    source, target = Plain(), Plain()
    event, slot = source.output_event, target.input_slot
    event.connect(slot)
    slot.connect(event)
    assert event.connected_slots == [slot] and slot.connected_events == [event]
    event.disconnect(slot)
    slot.disconnect(event)
    assert event.connected_slots == [] and slot.connected_events == []


def test_event_emit_outside_a_flow_goes_through_its_routine() -> None:
    source, target = Plain(), Plain()
    source.output_event.connect(target.input_slot)
    source.output_event.emit(value=3)
    assert target.seen == [{"value": 3}]


def test_slot_and_event_serialize_by_name() -> None:
    routine = Plain()
    assert routine.output_event.serialize() == {"_type": "Event", "name": "output", "output_params": ["value"]}
    slot_data = routine.input_slot.serialize()
    assert slot_data["_type"] == "Slot" and slot_data["name"] == "input" and slot_data["merge_strategy"] == "override"
    assert slot_data["handler"] == {"_type": "callable", "callable_type": "method", "name": "take"}


def test_a_connection_links_its_event_and_slot_and_can_unlink_them() -> None:
    source, target = Plain(), Plain()
    connection = Connection(source.output_event, target.input_slot)
    assert source.output_event.connected_slots == [target.input_slot]
    connection.disconnect()
    assert source.output_event.connected_slots == []


def test_param_mapping_renames_mapped_keys_drops_the_source_key_and_passes_the_rest_through() -> None:
    connection = Connection(param_mapping={"x": "y", "absent": "z"})
    assert connection.map({"x": 6, "keep": True}) == {"y": 6, "keep": True}


def test_a_mapped_value_wins_over_a_passed_through_key_of_the_same_name() -> None:
    connection = Connection(param_mapping={"x": "y"})
    assert connection.map({"x": 1, "y": 2}) == {"y": 1}


def test_connection_activate_delivers_mapped_data_to_the_target_slot() -> None:
    source, target = Plain(), Plain()
    Connection(source.output_event, target.input_slot, {"value": "amount"}).activate({"value": 5, "unit": "kg"})
    assert target.seen == [{"amount": 5, "unit": "kg"}]


# --------------------------------------------------------------------------- ErrorHandler


def test_error_strategy_values_are_upstreams_strings() -> None:
    assert [s.value for s in ErrorStrategy] == ["stop", "continue", "retry", "skip"]
    assert ErrorHandler(strategy="retry").strategy is ErrorStrategy.RETRY


def test_error_handler_rejects_an_unknown_strategy() -> None:
    with pytest.raises(ValueError):
        ErrorHandler(strategy="explode")


def test_error_handler_defaults_match_upstream() -> None:
    handler = ErrorHandler()
    assert (handler.strategy, handler.max_retries, handler.retry_delay, handler.retry_backoff, handler.is_critical) == (
        ErrorStrategy.STOP, 3, 1.0, 2.0, False
    )
    assert handler.retryable_exceptions == (Exception,)


def test_retry_delays_grow_by_the_backoff_factor() -> None:
    handler = ErrorHandler(strategy="retry", retry_delay=0.5, retry_backoff=2.0)
    assert [handler.retry_delay_for(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_retry_decisions_retry_until_max_retries_then_stop_if_critical_or_give_up_if_not() -> None:
    error = ValueError("x")
    critical = ErrorHandler(strategy="retry", max_retries=2, retry_delay=0.1, is_critical=True)
    assert [critical.decide(error, n).action for n in (1, 2, 3)] == ["retry", "retry", "stop"]
    lenient = ErrorHandler(strategy="retry", max_retries=2)
    assert lenient.decide(error, 3).action == "give_up"


def test_retry_stops_at_once_for_exceptions_it_was_not_told_to_retry() -> None:
    handler = ErrorHandler(strategy="retry", retryable_exceptions=(ConnectionError,))
    assert handler.decide(ConnectionError(), 1).action == "retry"
    assert handler.decide(KeyError("k"), 1).action == "stop"


def test_error_handler_round_trips_through_plain_data_with_its_retryable_exceptions() -> None:
    handler = ErrorHandler(
        strategy=ErrorStrategy.RETRY, max_retries=4, retry_delay=0.2, retry_backoff=1.5,
        retryable_exceptions=(ConnectionError, TimeoutError), is_critical=True,
    )
    data = handler.serialize()
    assert data["_type"] == "ErrorHandler" and data["strategy"] == "retry"
    restored = ErrorHandler.from_dict(data)
    assert restored.serialize() == data
    assert restored.retryable_exceptions == (ConnectionError, TimeoutError)


# --------------------------------------------------------------------------- ExecutionTracker


def test_execution_tracker_times_routine_runs_and_reports_performance() -> None:
    tracker = ExecutionTracker("f1")
    tracker.record_routine_end("never-started")
    assert tracker.get_routine_performance("never-started") is None
    tracker.record_routine_start("r1", {"x": 1})
    tracker.record_routine_end("r1", result="ok")
    tracker.record_routine_start("r1")
    tracker.record_routine_end("r1", status="failed", error="boom")
    tracker.record_event("r1", "output", "r2", {"x": 1})
    perf = tracker.get_routine_performance("r1")
    assert perf is not None
    assert (perf["total_executions"], perf["completed"], perf["failed"], perf["success_rate"]) == (2, 1, 1, 0.5)
    assert perf["min_execution_time"] <= perf["avg_execution_time"] <= perf["max_execution_time"]
    assert tracker.get_flow_performance()["total_routines"] == 1
    assert tracker.get_flow_performance()["total_events"] == 1
    assert tracker.event_flow[0]["target_routine_id"] == "r2"


def test_execution_tracker_serializes_to_plain_data() -> None:
    tracker = ExecutionTracker("f1")
    tracker.record_event("a", "out")
    data = tracker.serialize()
    assert data["_type"] == "ExecutionTracker" and data["flow_id"] == "f1" and len(data["event_flow"]) == 1


# --------------------------------------------------------------------------- output handlers


def test_output_handler_is_abstract() -> None:
    assert inspect.isabstract(OutputHandler)
    with pytest.raises(TypeError):
        OutputHandler()  # type: ignore[abstract]


def test_queue_output_handler_puts_one_dict_per_output() -> None:
    q: queue.Queue[dict[str, Any]] = queue.Queue()
    QueueOutputHandler(q).handle("job", "r1", "progress", {"done": 1})
    item = q.get_nowait()
    assert {k: item[k] for k in ("job_id", "routine_id", "output_type", "data")} == {
        "job_id": "job", "routine_id": "r1", "output_type": "progress", "data": {"done": 1}
    }
    assert isinstance(item["timestamp"], str)


def test_callback_output_handler_calls_back_with_every_field() -> None:
    calls: list[tuple[Any, ...]] = []
    CallbackOutputHandler(lambda *args: calls.append(args)).handle("job", "r1", "log", {"m": "x"}, None)
    assert calls == [("job", "r1", "log", {"m": "x"}, None)]


def test_null_output_handler_accepts_and_discards_outputs() -> None:
    assert NullOutputHandler().handle("job", "r1", "log", {"m": "x"}) is None


# --------------------------------------------------------------------------- register_serializable


def test_register_serializable_returns_the_class_with_or_without_parentheses() -> None:
    @register_serializable
    class Bare:
        pass

    @register_serializable()
    class Called:
        pass

    assert Bare.__name__ == "Bare" and Called.__name__ == "Called"


def test_record_and_flow_basics_are_usable_without_running_anything() -> None:
    record = ExecutionRecord("r1", "output", {"x": 1})
    assert (record.routine_id, record.event_name, record.data) == ("r1", "output", {"x": 1})
    flow = Flow(flow_id="f")
    assert (flow.flow_id, flow.routines, flow.connections, flow.job_state) == ("f", {}, [], None)
    with pytest.raises(FlowError):
        flow.connect("a", "output", "b", "input")
