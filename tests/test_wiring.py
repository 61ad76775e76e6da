"""Routes follow the wiring as it is now: a flow works out where an event goes once per change, never stale."""

from __future__ import annotations

from typing import Any

from routilux import ExecutionTracker, Flow, Routine
from core_routines import Relay, Sink, Source, chain, received


def test_a_connection_made_after_an_execution_delivers_in_the_next_one():
    flow = chain(("src", Source()), ("a", Sink()))
    flow.execute("src", {"v": 1})
    flow.add_routine(Sink(), "b")
    flow.connect("src", "output", "b", "input")
    job = flow.execute("src", {"v": 2})
    assert received(job, "a") == [{"v": 2}] and received(job, "b") == [{"v": 2}]


def test_a_connection_disconnected_after_an_execution_delivers_nothing_in_the_next_one():
    flow = chain(("src", Source()), ("a", Sink()))
    flow.execute("src", {"v": 1})
    flow.connections[0].disconnect()
    assert received(flow.execute("src", {"v": 2})) == []


def test_a_connection_remapped_after_an_execution_maps_the_next_one():
    flow = chain(("src", Source()), ("a", Sink()))
    flow.execute("src", {"v": 1})
    flow.connections[0].param_mapping = {"v": "w"}
    assert received(flow.execute("src", {"v": 2}), "a") == [{"w": 2}]


def test_a_slot_linked_to_the_event_list_by_hand_receives_from_the_next_emit():
    flow = chain(("src", Source()), ("a", Sink()))
    late = Sink()
    flow.add_routine(late, "late")
    flow.execute("src", {"v": 1})
    flow.routines["src"].get_event("output").connected_slots.append(late.get_slot("input"))
    assert received(flow.execute("src", {"v": 2}), "late") == [{"v": 2}]


class _LinksThenEmits(Routine):
    """Links its output to a slot from inside its handler, then emits twice."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.fire)
        self.define_event("output")
        self.target: Any = None

    def fire(self, **kwargs: Any) -> None:
        self.emit("output", n=1)
        self.get_event("output").connect(self.target)
        self.emit("output", n=2)


def test_an_event_linked_inside_a_handler_delivers_the_emits_after_the_link():
    flow = Flow()
    source, sink = _LinksThenEmits(), Relay()
    flow.add_routine(source, "src")
    flow.add_routine(sink, "relay")
    source.target = sink.get_slot("input")
    assert received(flow.execute("src"), "relay") == [{"n": 2}]


def test_the_tracker_keeps_failed_steps_and_emits_in_order_with_fresh_target_lists():
    tracker = ExecutionTracker("f")
    tracker.record_step("a", 100.0, 0.5, "completed")
    tracker.record_step("b", 101.0, 0.25, "failed", "boom")
    targets = ("b", "c")
    tracker.record_emit("a", "out", targets, {"x": 1}, 100.2)
    runs = tracker.routine_executions
    assert [(r["status"], r["error"], r["execution_time"]) for r in runs["a"] + runs["b"]] == [
        ("completed", None, 0.5), ("failed", "boom", 0.25)]
    entry = tracker.event_flow[0]
    assert entry["target_routine_ids"] == ["b", "c"] and entry["target_routine_id"] is None
    entry["target_routine_ids"].append("d")
    assert targets == ("b", "c")
    tracker.record_step("a", 102.0, 0.1, "completed")
    assert len(tracker.routine_executions["a"]) == 2
