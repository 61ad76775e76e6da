"""Flow and JobState to plain data and back: the wire format, round trips (also property-based),
how classes are found, and the typed errors for data that cannot be written or read.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState, Routine, register_serializable
from routilux.errors import (
    AmbiguousClassError,
    FormatVersionError,
    NotConstructibleError,
    SerializationError,
    UnknownRoutineClassError,
)
from routilux.job_state import FORMAT_VERSION, STATUSES

from core_routines import Burst, PauseOnce, Relay, Sink, Source, chain, received, visits

pytestmark = pytest.mark.timeout(60)


def json_round_trip(data: dict[str, Any]) -> dict[str, Any]:
    """What another process reads after ``json.dump`` / ``json.load``."""
    return json.loads(json.dumps(data))


def wiring(flow: Flow) -> list[tuple[Any, ...]]:
    """The connections of a flow as (source id, event, target id, slot, mapping)."""
    return [
        (c.source_routine_id, c.source_event.name, c.target_routine_id, c.target_slot.name, c.param_mapping)
        for c in flow.connections
    ]


class Tunable(Routine):
    """A relay with configuration, statistics and a custom serialized field."""

    def __init__(self) -> None:
        """Define ``input``/``output``, default config and the custom field."""
        super().__init__()
        self.define_slot("input", handler=self.relay)
        self.define_event("output", ["value"])
        self.set_config(factor=2, label="x")
        self.note = "default"
        self.scratch = "not serialized"
        self.add_serializable_fields(["note"])

    def relay(self, value: int) -> None:
        """Multiply and pass on."""
        self.emit("output", value=value * self.get_config("factor"), note=self.note)


# --------------------------------------------------------------------------- wire format


def test_flow_data_keeps_upstreams_keys_plus_a_format_version() -> None:
    flow = chain(("src", Source()), ("sink", Sink()), flow_id="wire")
    data = flow.serialize()
    assert data["_type"] == "Flow" and data["format_version"] == FORMAT_VERSION == 1
    assert {"flow_id", "_paused", "execution_strategy", "max_workers", "error_handler", "routines", "connections"} <= set(data)
    assert data["flow_id"] == "wire" and list(data["routines"]) == ["src", "sink"]
    assert data["execution_timeout"] == 300.0


def test_routine_data_keeps_upstreams_keys() -> None:
    routine = Tunable()
    routine.set_stat("runs", 2)
    flow = Flow()
    flow.add_routine(routine, "t")
    data = flow.serialize()["routines"]["t"]
    assert data["_type"] == "Tunable"
    assert data["_id"] == routine._id
    assert data["_config"] == {"factor": 2, "label": "x"}
    assert data["_stats"] == {"runs": 2}
    assert data["_error_handler"] is None
    assert list(data["_slots"]) == ["input"] and list(data["_events"]) == ["output"]
    assert data["note"] == "default" and "scratch" not in data


def test_connection_data_names_both_routines_event_slot_and_mapping() -> None:
    flow = Flow()
    flow.add_routine(Source(), "src")
    flow.add_routine(Sink(), "sink")
    flow.connect("src", "output", "sink", "input", {"a": "b"})
    assert flow.serialize()["connections"] == [
        {
            "_type": "Connection",
            "param_mapping": {"a": "b"},
            "_source_routine_id": "src",
            "_source_event_name": "output",
            "_target_routine_id": "sink",
            "_target_slot_name": "input",
        }
    ]


def test_job_state_data_keeps_upstreams_keys_and_typed_execution_records() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    data = flow.execute("src", {"v": 1}).serialize()
    upstream_keys = {
        "_type", "flow_id", "job_id", "status", "current_routine_id", "routine_states", "execution_history",
        "created_at", "updated_at", "pause_points", "pending_tasks", "deferred_events", "shared_data",
        "shared_log", "output_log",
    }
    assert upstream_keys <= set(data)
    assert data["_type"] == "JobState" and data["format_version"] == FORMAT_VERSION
    assert data["status"] == "completed"
    assert [r["_type"] for r in data["execution_history"]] == ["ExecutionRecord"] * 2
    assert data["execution_history"][0]["event_name"] == "start"
    datetime.fromisoformat(data["execution_history"][0]["timestamp"])
    assert json_round_trip(data) == data


def test_flow_serialize_leaves_out_the_execution_state_unless_asked() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    assert "job_state" not in flow.serialize(include_execution_state=True)  # nothing has run yet
    job_state = flow.execute("src")
    assert "job_state" not in flow.serialize()
    assert "job_state" not in flow.serialize(include_execution_state=False)
    assert flow.serialize(include_execution_state=True)["job_state"] == job_state.serialize()


# --------------------------------------------------------------------------- round trips


def test_flow_deserialize_works_on_the_class_and_on_an_instance() -> None:
    data = json_round_trip(chain(("src", Source()), ("sink", Sink()), flow_id="both").serialize())
    from_class = Flow.deserialize(data)
    assert isinstance(from_class, Flow) and from_class.flow_id == "both"
    instance = Flow()
    assert instance.deserialize(data) is None
    assert instance.flow_id == "both"
    assert from_class.serialize() == instance.serialize() == data


def test_a_round_trip_keeps_the_flow_settings_routines_in_order_and_their_handlers() -> None:
    flow = Flow(flow_id="keep", execution_strategy="concurrent", max_workers=3, execution_timeout=12.5)
    flow.set_error_handler(ErrorHandler("retry", max_retries=2, retry_delay=0.5, retryable_exceptions=(OSError,)))
    tunable = Tunable()
    tunable.set_config(factor=3)
    tunable.set_stat("runs", 7)
    tunable.note = "kept"
    tunable.scratch = "lost"
    tunable.set_as_critical(max_retries=4, retry_delay=0.25)
    for rid, routine in (("z-src", Source()), ("m-tune", tunable), ("a-sink", Sink())):
        flow.add_routine(routine, rid)
    flow.connect("z-src", "output", "m-tune", "input")
    flow.connect("m-tune", "output", "a-sink", "input", {"note": "comment"})

    restored = Flow.deserialize(json_round_trip(flow.serialize()))
    assert (restored.flow_id, restored.execution_strategy, restored.max_workers, restored.execution_timeout) == (
        "keep", "concurrent", 3, 12.5
    )
    assert restored.error_handler.retryable_exceptions == (OSError,)
    assert list(restored.routines) == ["z-src", "m-tune", "a-sink"]
    twin = restored.routines["m-tune"]
    assert type(twin) is Tunable and twin is not tunable and twin._id == tunable._id
    assert twin.config() == {"factor": 3, "label": "x"}
    assert twin.stats() == {"runs": 7}
    assert (twin.note, twin.scratch) == ("kept", "not serialized")
    handler = twin.get_error_handler()
    assert (handler.strategy, handler.max_retries, handler.retry_delay, handler.is_critical) == (
        ErrorStrategy.RETRY, 4, 0.25, True
    )
    assert wiring(restored) == wiring(flow)
    job_state = restored.execute("z-src", {"value": 5})
    assert received(job_state, "a-sink") == [{"value": 15, "comment": "kept"}]


def test_connections_survive_a_round_trip_between_exactly_the_same_routines_when_names_repeat() -> None:
    flow = chain(("src", Source()), ("r1", Relay()), ("r2", Relay()), ("r3", Relay()), ("sink", Sink()))
    restored = Flow.deserialize(json_round_trip(flow.serialize()))
    assert wiring(restored) == [
        ("src", "output", "r1", "input", {}),
        ("r1", "output", "r2", "input", {}),
        ("r2", "output", "r3", "input", {}),
        ("r3", "output", "sink", "input", {}),
    ]
    job_state = restored.execute("src", {"v": 1})
    assert visits(job_state) == ["r1", "r2", "r3", "sink"]


class LegacyFormatSource(Source):
    """A Source under a name no other test module uses (upstream data names classes by simple name only)."""


class LegacyFormatSink(Sink):
    """A Sink under a name no other test module uses."""


def test_upstream_data_without_format_version_class_keys_or_connection_ids_still_loads() -> None:
    data = json_round_trip(chain(("src", LegacyFormatSource()), ("sink", LegacyFormatSink())).serialize())
    del data["format_version"]
    for routine in data["routines"].values():
        del routine["_class"]
    for connection in data["connections"]:
        del connection["_source_routine_id"], connection["_target_routine_id"]
    restored = Flow.deserialize(data)
    assert wiring(restored) == [("src", "output", "sink", "input", {})]
    assert received(restored.execute("src", {"v": 2}), "sink") == [{"v": 2}]


def test_upstream_connection_data_with_repeated_names_is_refused_rather_than_miswired() -> None:
    data = json_round_trip(chain(("r1", Relay()), ("r2", Relay()), ("r3", Relay())).serialize())
    for connection in data["connections"]:
        del connection["_source_routine_id"], connection["_target_routine_id"]
    with pytest.raises(SerializationError, match="not unique"):
        Flow.deserialize(data)


def test_a_slot_defined_after_construction_is_rebuilt_with_its_handler_and_merge_strategy() -> None:
    class Extendable(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.noop)

        def noop(self) -> None:
            """Do nothing."""

        def gather(self, value: list[int]) -> None:
            self.get_execution_context().job_state.update_shared_data("gathered", value)

    extendable = Extendable()
    extendable.define_slot("extra", handler=extendable.gather, merge_strategy="append")
    flow = Flow()
    flow.add_routine(Burst(), "burst")
    flow.add_routine(extendable, "ext")
    flow.connect("burst", "output", "ext", "extra")

    restored = Flow.deserialize(json_round_trip(flow.serialize()))
    slot = restored.routines["ext"].get_slot("extra")
    assert slot.merge_strategy == "append"
    assert slot.handler.__self__ is restored.routines["ext"]
    assert restored.execute("burst", {"items": [1, 2]}).get_shared_data("gathered") == [1, 2]


def test_a_paused_job_state_round_trips_with_its_pending_work() -> None:
    flow = chain(("src", Source()), ("pause", PauseOnce()), ("sink", Sink()))
    job_state = flow.execute("src", {"v": 1})
    restored = JobState.from_dict(json_round_trip(job_state.serialize()))
    assert restored.serialize() == job_state.serialize()
    assert restored.status == "paused" and restored.pending_tasks == job_state.pending_tasks
    assert JobState().deserialize(job_state.serialize()).job_id == job_state.job_id


# --------------------------------------------------------------------------- finding classes


def test_a_routine_subclass_deserializes_with_no_decorator() -> None:
    class Undecorated(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.fire)

        def fire(self) -> None:
            self.get_execution_context().job_state.update_shared_data("ran", True)

    flow = Flow()
    flow.add_routine(Undecorated(), "u")
    restored = Flow.deserialize(json_round_trip(flow.serialize()))
    assert type(restored.routines["u"]) is Undecorated
    assert restored.execute("u").get_shared_data("ran") is True


def _define_versioned(version: int) -> type[Routine]:
    """Define (again) the same class, as re-running a notebook cell or tutorial step does."""

    class Versioned(Routine):
        VERSION = version

        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.fire)

        def fire(self) -> None:
            self.get_execution_context().job_state.update_shared_data("version", self.VERSION)

    return Versioned


def test_a_class_redefined_in_the_same_session_replaces_the_old_definition() -> None:
    old, new = _define_versioned(1), _define_versioned(2)
    flow = Flow()
    flow.add_routine(old(), "v")
    data = json_round_trip(flow.serialize())
    restored = Flow.deserialize(data)
    assert type(restored.routines["v"]) is new
    del data["routines"]["v"]["_class"]  # data naming only the simple name: still not ambiguous
    assert type(Flow.deserialize(data).routines["v"]) is new
    assert restored.execute("v").get_shared_data("version") == 2


def _define_twin_a() -> type[Routine]:
    """One of two different classes that share the simple name ``SameNameTwin``."""

    class SameNameTwin(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=lambda: None)
            self.set_config(side="a")

    return SameNameTwin


def _define_twin_b() -> type[Routine]:
    """The other ``SameNameTwin`` (a different module path, as from another package)."""

    class SameNameTwin(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=lambda: None)
            self.set_config(side="b")

    return SameNameTwin


def test_data_naming_only_a_simple_name_two_classes_share_is_an_error_naming_both() -> None:
    twin_a, twin_b = _define_twin_a(), _define_twin_b()
    flow = Flow()
    flow.add_routine(twin_a(), "t")
    data = json_round_trip(flow.serialize())
    assert type(Flow.deserialize(data).routines["t"]) is twin_a  # the full class key is exact
    del data["routines"]["t"]["_class"]
    with pytest.raises(AmbiguousClassError) as caught:
        Flow.deserialize(data)
    message = str(caught.value)
    assert "SameNameTwin" in message
    assert f"{twin_a.__module__}.{twin_a.__qualname__}" in message
    assert f"{twin_b.__module__}.{twin_b.__qualname__}" in message


def test_data_naming_a_class_key_this_process_lacks_is_ambiguous_not_guessed_between_twins() -> None:
    twin_a, _twin_b = _define_twin_a(), _define_twin_b()
    flow = Flow()
    flow.add_routine(twin_a(), "t")
    data = json_round_trip(flow.serialize())
    data["routines"]["t"]["_class"] = "some.other.module.SameNameTwin"
    with pytest.raises(AmbiguousClassError):
        Flow.deserialize(data)


def test_an_unknown_class_raises_unknown_routine_class_error_naming_it() -> None:
    data = json_round_trip(chain(("src", Source()), ("sink", Sink())).serialize())
    data["routines"]["sink"]["_type"] = "NeverDefinedRoutine"
    data["routines"]["sink"]["_class"] = "plugins.extra.NeverDefinedRoutine"
    with pytest.raises(UnknownRoutineClassError, match="plugins.extra.NeverDefinedRoutine") as caught:
        Flow.deserialize(data)
    assert caught.value.class_name == "plugins.extra.NeverDefinedRoutine"
    assert caught.value.module_hint == "plugins.extra"
    del data["routines"]["sink"]["_class"]
    with pytest.raises(UnknownRoutineClassError, match="NeverDefinedRoutine"):
        Flow.deserialize(data)


def test_a_class_whose_constructor_needs_arguments_fails_at_serialize_not_at_definition() -> None:
    @register_serializable
    class NeedsThreshold(Routine):
        def __init__(self, threshold: int) -> None:
            super().__init__()
            self.threshold = threshold
            self.define_slot("input")

    flow = Flow()
    flow.add_routine(NeedsThreshold(10), "bad")
    with pytest.raises(NotConstructibleError) as caught:
        flow.serialize()
    assert isinstance(caught.value, TypeError)
    message = str(caught.value)
    assert "NeedsThreshold" in message and "threshold" in message and "bad" in message


def test_a_constructor_argument_with_a_default_is_fine() -> None:
    class DefaultedThreshold(Routine):
        def __init__(self, threshold: int = 10) -> None:
            super().__init__()
            self.set_config(threshold=threshold)
            self.define_slot("trigger", handler=lambda: None)

    flow = Flow()
    flow.add_routine(DefaultedThreshold(3), "ok")
    assert Flow.deserialize(json_round_trip(flow.serialize())).routines["ok"].get_config("threshold") == 3


# --------------------------------------------------------------------------- data that cannot be written or read


@pytest.mark.parametrize(
    ("config", "path", "kind"),
    [
        ({"callback": lambda: 1}, "routines['r']._config['callback']", "function"),
        ({"opts": {"items": [1, {1, 2}]}}, "routines['r']._config['opts']['items'][1]", "set"),
        ({"when": datetime(2024, 1, 1)}, "routines['r']._config['when']", "datetime"),
    ],
)
def test_config_that_is_not_json_able_fails_at_serialize_naming_the_path(config: dict[str, Any], path: str, kind: str) -> None:
    routine = Relay()
    routine.set_config(**config)
    flow = Flow()
    flow.add_routine(routine, "r")
    with pytest.raises(SerializationError) as caught:
        flow.serialize()
    assert path in str(caught.value) and kind in str(caught.value)


def test_a_config_dict_with_a_non_string_key_fails_at_serialize() -> None:
    routine = Relay()
    routine.set_config(table={1: "one"})
    flow = Flow()
    flow.add_routine(routine, "r")
    with pytest.raises(SerializationError, match="non-string key 1"):
        flow.serialize()


def test_a_custom_field_that_is_not_json_able_fails_at_serialize_naming_it() -> None:
    routine = Tunable()
    routine.note = object()
    flow = Flow()
    flow.add_routine(routine, "t")
    with pytest.raises(SerializationError, match=r"routines\['t'\]\.note"):
        flow.serialize()


@pytest.mark.parametrize("loader", ["flow", "job_state"])
def test_data_from_a_newer_format_version_raises_format_version_error(loader: str) -> None:
    if loader == "flow":
        data = chain(("src", Source()), ("sink", Sink())).serialize()
        load = Flow.deserialize
    else:
        data = JobState("f").serialize()
        load = JobState.from_dict
    data["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(FormatVersionError, match="format version 2") as caught:
        load(data)
    assert isinstance(caught.value, ValueError)
    data["format_version"] = "1"
    with pytest.raises(FormatVersionError):
        load(data)


def test_data_of_the_wrong_type_raises_format_version_error() -> None:
    flow_data = chain(("src", Source()), ("sink", Sink())).serialize()
    job_data = JobState("f").serialize()
    with pytest.raises(FormatVersionError, match="expected serialized Flow, got 'JobState'"):
        Flow.deserialize(job_data)
    with pytest.raises(FormatVersionError, match="expected serialized JobState, got 'Flow'"):
        JobState.from_dict(flow_data)
    with pytest.raises(FormatVersionError):
        Flow.deserialize([flow_data])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- property-based round trips

json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
json_object = st.dictionaries(st.text(max_size=8), json_value, max_size=4)
names = st.text(min_size=1, max_size=8)

error_handlers = st.none() | st.builds(
    ErrorHandler,
    strategy=st.sampled_from(list(ErrorStrategy)),
    max_retries=st.integers(0, 10),
    retry_delay=st.floats(0, 60, allow_nan=False),
    retry_backoff=st.floats(1, 4, allow_nan=False),
    retryable_exceptions=st.sampled_from([None, (ValueError,), (ConnectionError, TimeoutError)]),
    is_critical=st.booleans(),
)

ROUTINE_CLASSES: dict[str, type[Routine]] = {"relay": Relay, "sink": Sink, "tunable": Tunable}
EMITTING = ("source", "relay", "tunable")  # kinds with an "output" event


@st.composite
def flows(draw: st.DrawFn) -> Flow:
    """A random chain / fan-out: a Source root, each later routine fed by an earlier emitting one."""
    strategy = draw(st.sampled_from(["sequential", "concurrent"]))
    flow = Flow(
        flow_id=draw(names),
        execution_strategy=strategy,
        max_workers=draw(st.integers(1, 16)),
        execution_timeout=draw(st.none() | st.floats(0.1, 1e4, allow_nan=False)),
    )
    flow.set_error_handler(draw(error_handlers))
    ids = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    kinds = ["source"] + draw(st.lists(st.sampled_from(sorted(ROUTINE_CLASSES)), min_size=len(ids) - 1, max_size=len(ids) - 1))
    for index, (rid, kind) in enumerate(zip(ids, kinds)):
        routine = Source() if kind == "source" else ROUTINE_CLASSES[kind]()
        routine.set_config(**draw(json_object))
        for key, value in draw(json_object).items():
            routine.set_stat(key, value)
        routine.set_error_handler(draw(error_handlers))
        if isinstance(routine, Tunable):
            routine.note = draw(json_value)
        flow.add_routine(routine, rid)
        if index:
            parents = [ids[i] for i in range(index) if kinds[i] in EMITTING]
            for parent in draw(st.lists(st.sampled_from(parents), min_size=1, max_size=2)):
                mapping = draw(st.none() | st.dictionaries(names, names, max_size=3))
                flow.connect(parent, "output", rid, "input", mapping)
    return flow


@settings(max_examples=40, deadline=None)
@given(flows())
def test_any_flow_survives_serialize_json_deserialize_serialize_unchanged(flow: Flow) -> None:
    data = flow.serialize()
    text = json.dumps(data)
    assert json.loads(text) == data
    restored = Flow.deserialize(json.loads(text))
    assert restored.serialize() == data
    assert list(restored.routines) == list(flow.routines)
    assert wiring(restored) == wiring(flow)


timestamps = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31))


@st.composite
def job_states(draw: st.DrawFn) -> JobState:
    """A JobState with random shared data, routine states, history, shared log, outputs and more."""
    job_state = JobState(draw(names))
    job_state._set_status(draw(st.sampled_from(STATUSES)))
    job_state.current_routine_id = draw(st.none() | names)
    for key, value in draw(json_object).items():
        job_state.update_shared_data(key, value)
    for rid, state in draw(st.dictionaries(names, json_object, max_size=4)).items():
        job_state.update_routine_state(rid, state)
    for rid, event, data, stamp in draw(st.lists(st.tuples(names, names, json_value, timestamps), max_size=6)):
        job_state.record_execution(rid, event, data)
        job_state.execution_history[-1].timestamp = stamp
    for entry in draw(st.lists(json_object, max_size=4)):
        job_state.append_to_shared_log(entry)
    for rid, event, data in draw(st.lists(st.tuples(names, names, json_object), max_size=3)):
        job_state.add_deferred_event(rid, event, data)
    for rid, kind, data in draw(st.lists(st.tuples(names, names, json_object), max_size=3)):
        job_state.send_output(rid, kind, data)
    job_state.metadata = draw(json_object)
    job_state.checkpoint = draw(json_value)
    job_state.error = draw(st.none() | st.text(max_size=20))
    job_state.created_at = draw(timestamps)
    job_state.updated_at = draw(timestamps)
    return job_state


@settings(max_examples=40, deadline=None)
@given(job_states())
def test_any_job_state_survives_serialize_json_from_dict_serialize_unchanged(job_state: JobState) -> None:
    data = job_state.serialize()
    text = json.dumps(data)
    assert json.loads(text) == data
    restored = JobState.from_dict(json.loads(text))
    assert restored.serialize() == data
    assert restored.execution_history == job_state.execution_history


def test_a_flow_serialized_with_its_execution_state_brings_the_execution_back():
    import json

    from routilux import Flow, Routine

    class Pauser(Routine):
        def __init__(self):
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("out", ["x"])

        def go(self, **_):
            ctx = self.get_execution_context()
            self.emit("out", x=1)
            ctx.flow.pause(ctx.job_state, reason="hold")

    class Sink(Routine):
        def __init__(self):
            super().__init__()
            self.define_slot("input", handler=self.go)

        def go(self, x=None, **_):
            self.get_execution_context().job_state.update_shared_data("x", x)

    flow = Flow(flow_id="with-state")
    flow.add_routine(Pauser(), "p")
    flow.add_routine(Sink(), "s")
    flow.connect("p", "out", "s", "input")
    paused = flow.execute("p")
    assert paused.status == "paused"

    restored = Flow.deserialize(json.loads(json.dumps(flow.serialize(include_execution_state=True))))
    job_state = restored.get_execution(paused.job_id)
    assert job_state is not None and job_state.status == "paused"
    restored.resume(job_state)
    assert job_state.status == "completed"
    assert job_state.shared_data == {"x": 1}
