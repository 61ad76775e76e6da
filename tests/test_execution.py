"""Running flows on the local engine: execute/start, data delivery, strategies, timeouts,
cancel, the executions index and bad input.

Error strategies are in test_error_strategies.py, pause/resume in test_pause_resume.py and
isolation between executions in test_isolation.py.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest

from routilux import (
    CallbackOutputHandler,
    Connection,
    ErrorHandler,
    ExecutionContext,
    Flow,
    JobState,
    QueueOutputHandler,
    Routine,
)
from routilux.errors import FlowError, FlowValidationError

from core_routines import Burst, Flaky, Gate, PauseOnce, Relay, Sink, Source, chain, events, received, visits, wait_until

pytestmark = pytest.mark.timeout(30)


class Blocker(Routine):
    """Entry routine that holds in its trigger until its gate is released, then emits ``output``."""

    gate = Gate()

    def __init__(self) -> None:
        """Define ``trigger`` and ``output``."""
        super().__init__()
        self.define_slot("trigger", handler=self.fire)
        self.define_event("output")

    def fire(self, **kwargs: Any) -> None:
        """Hold, then emit the entry params."""
        type(self).gate.hold()
        self.emit("output", **kwargs)


@pytest.fixture
def gate() -> Gate:
    """A fresh gate for Blocker, released when the test ends so no thread is left hanging."""
    Blocker.gate = Gate()
    yield Blocker.gate
    Blocker.gate.released.set()


# --------------------------------------------------------------------------- execute and start


def test_execute_returns_when_the_execution_has_ended() -> None:
    flow = chain(("src", Source()), ("a", Relay()), ("b", Relay()), ("sink", Sink()))
    job_state = flow.execute("src", entry_params={"n": 1})
    assert job_state.status == "completed"
    assert visits(job_state) == ["a", "b", "sink"]
    assert received(job_state, "sink") == [{"n": 1}]
    assert job_state.wait(timeout=0) is True


def test_execute_returns_a_new_job_state_of_this_flow_marked_running_from_the_entry() -> None:
    flow = chain(("src", Source()), ("sink", Sink()), flow_id="f-1")
    job_state = flow.execute("src")
    assert isinstance(job_state, JobState)
    assert (job_state.flow_id, job_state.current_routine_id) == ("f-1", "src")
    assert events(job_state)[0] == ("src", "start")


def test_the_entry_trigger_receives_the_entry_params() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    job_state = flow.execute("src", {"text": "hi", "n": 2})
    assert received(job_state, "sink") == [{"text": "hi", "n": 2}]
    assert job_state.execution_history[0].data == {"text": "hi", "n": 2}


def test_start_returns_at_once_while_the_execution_runs(gate: Gate) -> None:
    flow = chain(("src", Blocker()), ("sink", Sink()))
    job_state = flow.start("src", {"n": 1})
    assert gate.entered.wait(5)
    assert job_state.status == "running"
    assert received(job_state) == []
    gate.released.set()
    assert job_state.wait(timeout=5)
    assert job_state.status == "completed"
    assert received(job_state, "sink") == [{"n": 1}]


def test_flow_wait_and_wait_for_completion_block_until_started_executions_end(gate: Gate) -> None:
    flow = chain(("src", Blocker()), ("sink", Sink()))
    job_state = flow.start("src")
    assert gate.entered.wait(5)
    assert flow.wait(job_state, timeout=0.01) is False
    gate.released.set()
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert flow.wait_for_completion(timeout=5) is True
    assert JobState.wait_for_completion(flow, job_state, timeout=5) is True
    assert job_state.status == "completed"


def test_the_entry_routine_is_marked_completed_keeping_what_its_handler_wrote() -> None:
    class Annotating(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.fire)

        def fire(self) -> None:
            ctx = self.get_execution_context()
            ctx.job_state.update_routine_state(ctx.routine_id, {"note": "written by handler"})

    flow = Flow()
    flow.add_routine(Annotating(), "entry")
    job_state = flow.execute("entry")
    assert job_state.get_routine_state("entry") == {"note": "written by handler", "status": "completed"}


# --------------------------------------------------------------------------- delivering data


def test_every_emitted_event_is_recorded_in_the_history_under_the_flow_routine_id() -> None:
    flow = chain(("src", Source()), ("a", Relay()), ("sink", Sink()))
    job_state = flow.execute("src", {"x": 1})
    assert events(job_state) == [("src", "start"), ("src", "output"), ("a", "output")]
    assert [r.data for r in job_state.execution_history] == [{"x": 1}] * 3
    stamps = [r.timestamp for r in job_state.execution_history]
    assert stamps == sorted(stamps)


def test_an_emit_with_no_connection_is_still_recorded_in_the_history() -> None:
    flow = Flow()
    flow.add_routine(Source(), "lonely")
    job_state = flow.execute("lonely", {"v": 1})
    assert job_state.status == "completed"
    assert events(job_state) == [("lonely", "start"), ("lonely", "output")]


def test_a_handler_that_mutates_its_data_does_not_rewrite_the_recorded_history() -> None:
    class Mutator(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.mutate)

        def mutate(self, data: dict[str, Any]) -> None:
            data.clear()
            data["mutated"] = True

    flow = chain(("src", Source()), ("m", Mutator()))
    job_state = flow.execute("src", {"v": 1})
    assert [r.data for r in job_state.execution_history] == [{"v": 1}, {"v": 1}]


def test_a_fan_out_delivers_to_every_connected_slot() -> None:
    flow = Flow()
    flow.add_routine(Source(), "src")
    for rid in ("s1", "s2", "s3"):
        flow.add_routine(Sink(), rid)
        flow.connect("src", "output", rid, "input")
    job_state = flow.execute("src", {"v": 1})
    assert sorted(visits(job_state)) == ["s1", "s2", "s3"]
    assert received(job_state) == [{"v": 1}] * 3


def test_a_fan_in_slot_receives_from_every_connected_event() -> None:
    flow = Flow()
    flow.add_routine(Source(), "src")
    flow.add_routine(Relay(), "left")
    flow.add_routine(Relay(), "right")
    flow.add_routine(Sink(), "sink")
    for side in ("left", "right"):
        flow.connect("src", "output", side, "input")
        flow.connect(side, "output", "sink", "input")
    job_state = flow.execute("src", {"v": 1})
    assert received(job_state, "sink") == [{"v": 1}, {"v": 1}]


def test_param_mapping_renames_mapped_keys_and_passes_the_rest_through() -> None:
    flow = Flow()
    flow.add_routine(Source(), "src")
    flow.add_routine(Sink(), "sink")
    connection = flow.connect("src", "output", "sink", "input", param_mapping={"value": "amount"})
    job_state = flow.execute("src", {"value": 5, "unit": "kg"})
    assert received(job_state, "sink") == [{"amount": 5, "unit": "kg"}]
    assert isinstance(connection, Connection) and connection.param_mapping == {"value": "amount"}


def test_each_connection_of_a_fan_out_applies_its_own_mapping() -> None:
    flow = Flow()
    flow.add_routine(Source(), "src")
    flow.add_routine(Sink(), "plain")
    flow.add_routine(Sink(), "mapped")
    flow.connect("src", "output", "plain", "input")
    flow.connect("src", "output", "mapped", "input", {"v": "w"})
    job_state = flow.execute("src", {"v": 1})
    assert received(job_state, "plain") == [{"v": 1}]
    assert received(job_state, "mapped") == [{"w": 1}]


def test_connecting_the_same_event_and_slot_again_delivers_once_with_the_last_mapping() -> None:
    flow = Flow()
    flow.add_routine(Source(), "src")
    flow.add_routine(Sink(), "sink")
    flow.connect("src", "output", "sink", "input", {"v": "first"})
    flow.connect("src", "output", "sink", "input", {"v": "second"})
    job_state = flow.execute("src", {"v": 1})
    assert received(job_state, "sink") == [{"second": 1}]


def test_a_routine_may_emit_to_itself_until_it_decides_to_stop() -> None:
    class Countdown(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.tick)
            self.define_slot("again", handler=self.tick)
            self.define_event("next", ["n"])

        def tick(self, n: int) -> None:
            ctx = self.get_execution_context()
            ctx.job_state.append_to_shared_log({"n": n})
            if n > 0:
                self.emit("next", n=n - 1)

    flow = Flow()
    flow.add_routine(Countdown(), "c")
    flow.connect("c", "next", "c", "again")
    job_state = flow.execute("c", {"n": 3})
    assert [e["n"] for e in job_state.shared_log] == [3, 2, 1, 0]


def test_the_same_routine_instance_added_under_two_ids_emits_under_the_running_id() -> None:
    relay = Relay()
    flow = Flow()
    flow.add_routine(Source(), "src")
    flow.add_routine(relay, "first")
    flow.add_routine(relay, "second")
    flow.add_routine(Sink(), "sink")
    flow.connect("src", "output", "first", "input")
    flow.connect("first", "output", "second", "input")
    flow.connect("second", "output", "sink", "input")
    job_state = flow.execute("src", {"v": 1})
    assert visits(job_state) == ["first", "second", "sink"]


def test_a_handler_sees_its_execution_context() -> None:
    seen: list[ExecutionContext] = []

    class Looker(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=lambda **kw: seen.append(self.get_execution_context()))

    flow = Flow()
    flow.add_routine(Looker(), "looker")
    job_state = flow.execute("looker")
    assert len(seen) == 1
    flow_seen, job_seen, rid = seen[0]
    assert (flow_seen, job_seen, rid) == (flow, job_state, "looker")


def test_handlers_can_reach_the_job_state_through_upstreams_context_variable() -> None:
    from routilux.routine import _current_job_state

    seen: list[Any] = []

    class Looker(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=lambda: seen.append(_current_job_state.get()))

    flow = Flow()
    flow.add_routine(Looker(), "looker")
    job_state = flow.execute("looker")
    assert seen == [job_state]
    assert _current_job_state.get() is None


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_a_runner_thread_keeps_no_job_state_once_its_run_is_over(strategy: str) -> None:
    from routilux.routine import _current_job_state

    seen: list[Any] = []

    class Looker(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=lambda: seen.append(_current_job_state.get()))

    flow = Flow()
    flow.set_execution_strategy(strategy, 2)
    flow.add_routine(Looker(), "looker")
    job_states = [flow.execute("looker"), flow.execute("looker")]
    assert seen == job_states  # each run's handler saw its own job, in a reused runner thread
    after: list[Any] = []
    runners = flow._get_engine().runners
    for _ in range(4):
        runners.submit(lambda: after.append(_current_job_state.get()))
    assert runners.shutdown(wait=True, timeout=5)
    assert after == [None] * 4


def test_handlers_write_shared_data_and_log_into_their_job_state() -> None:
    class Writer(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.fire)

        def fire(self, **kwargs: Any) -> None:
            job_state = self.get_execution_context().job_state
            job_state.update_shared_data("answer", 42)
            job_state.append_to_shared_log({"action": "wrote"})

    flow = Flow()
    flow.add_routine(Writer(), "w")
    job_state = flow.execute("w")
    assert job_state.get_shared_data("answer") == 42
    assert [e["action"] for e in job_state.get_shared_log()] == ["wrote"]


def test_send_output_reaches_the_output_handler_and_the_output_log(gate: Gate) -> None:
    class Reporter(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=lambda n: self.send_output("progress", n=n))

    flow = chain(("src", Blocker()), ("reporter", Reporter()))
    outputs: queue.Queue[dict[str, Any]] = queue.Queue()
    job_state = flow.start("src", {"n": 3})
    job_state.set_output_handler(QueueOutputHandler(outputs))
    gate.released.set()
    assert job_state.wait(5) and job_state.status == "completed"
    item = outputs.get(timeout=1)
    assert (item["job_id"], item["routine_id"], item["output_type"], item["data"]) == (
        job_state.job_id, "reporter", "progress", {"n": 3}
    )
    assert [(o["routine_id"], o["output_type"], o["data"]) for o in job_state.output_log] == [
        ("reporter", "progress", {"n": 3})
    ]


def test_a_callback_output_handler_gets_each_output_of_the_execution(gate: Gate) -> None:
    class Reporter(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.report)

        def report(self, n: int) -> None:
            for i in range(n):
                self.send_output("step", i=i)

    calls: list[tuple[Any, ...]] = []
    flow = chain(("src", Blocker()), ("reporter", Reporter()))
    job_state = flow.start("src", {"n": 3})
    job_state.set_output_handler(CallbackOutputHandler(lambda *args: calls.append(args)))
    gate.released.set()
    assert job_state.wait(5)
    assert [(c[1], c[2], c[3]) for c in calls] == [("reporter", "step", {"i": i}) for i in range(3)]


# --------------------------------------------------------------------------- merge strategies in a flow


class Aggregator(Routine):
    """Append-merges ``value``s; once ``expected`` arrived, emits their sum and resets its buffer."""

    def __init__(self) -> None:
        """Define an append slot and the ``total`` event."""
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self.collect, merge_strategy="append")
        self.define_event("total", ["values", "sum"])
        self.set_config(expected=3)

    def collect(self, value: list[int]) -> None:
        """Emit when enough values arrived."""
        ctx = self.get_execution_context()
        ctx.job_state.append_to_shared_log({"buffer": dict(self.input_slot._data)})
        if len(value) >= self.get_config("expected"):
            self.emit("total", values=list(value), sum=sum(value))
            self.input_slot._data = {}


def aggregation_flow(**flow_kwargs: Any) -> Flow:
    """burst -> aggregator -> sink (on ``total``)."""
    flow = Flow(**flow_kwargs)
    flow.add_routine(Burst(), "burst")
    flow.add_routine(Aggregator(), "agg")
    flow.add_routine(Sink(), "sink")
    flow.connect("burst", "output", "agg", "input")
    flow.connect("agg", "total", "sink", "input")
    return flow


def test_an_append_slot_aggregates_the_values_of_one_execution() -> None:
    job_state = aggregation_flow().execute("burst", {"items": [1, 2, 3, 4, 5, 6]})
    assert received(job_state, "sink") == [{"values": [1, 2, 3], "sum": 6}, {"values": [4, 5, 6], "sum": 15}]
    assert job_state.slot_buffers["agg"]["input"] == {}


def test_slot_data_inside_a_handler_is_the_executions_buffer() -> None:
    flow = aggregation_flow()
    job_state = flow.execute("burst", {"items": [1, 2]})
    assert [e["buffer"] for e in job_state.shared_log] == [{"value": [1]}, {"value": [1, 2]}]
    assert job_state.slot_buffers["agg"]["input"] == {"value": [1, 2]}
    assert flow.routines["agg"].get_slot("input")._data == {}


def test_append_merges_lose_nothing_when_the_strategy_is_concurrent() -> None:
    flow = aggregation_flow(execution_strategy="concurrent", max_workers=8)
    flow.routines["agg"].set_config(expected=30)
    job_state = flow.execute("burst", {"items": list(range(30))})
    assert job_state.status == "completed"
    assert [sorted(p["values"]) for p in received(job_state, "sink")] == [list(range(30))]


def test_a_callable_merge_strategy_folds_deliveries_in_the_execution() -> None:
    class Summer(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.seen, merge_strategy=self.fold)

        @staticmethod
        def fold(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
            return {"total": old.get("total", 0) + new["value"]}

        def seen(self, total: int) -> None:
            self.get_execution_context().job_state.append_to_shared_log({"total": total})

    flow = Flow()
    flow.add_routine(Burst(), "burst")
    flow.add_routine(Summer(), "sum")
    flow.connect("burst", "output", "sum", "input")
    job_state = flow.execute("burst", {"items": [1, 2, 3]})
    assert [e["total"] for e in job_state.shared_log] == [1, 3, 6]


# --------------------------------------------------------------------------- strategies


def test_the_sequential_strategy_runs_one_handler_at_a_time_breadth_first() -> None:
    flow = Flow()
    flow.add_routine(Source(), "src")
    for rid in ("a", "b"):
        flow.add_routine(Relay(), rid)
        flow.connect("src", "output", rid, "input")
        flow.add_routine(Sink(), f"{rid}_sink")
        flow.connect(rid, "output", f"{rid}_sink", "input")
    job_state = flow.execute("src", {"v": 1})
    assert visits(job_state) == ["a", "b", "a_sink", "b_sink"]


def test_the_concurrent_strategy_runs_independent_branches_at_the_same_time() -> None:
    barrier = threading.Barrier(3, timeout=5)

    class Meeter(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=lambda **kw: barrier.wait())

    flow = Flow(execution_strategy="concurrent", max_workers=3)
    flow.add_routine(Source(), "src")
    for rid in ("m1", "m2", "m3"):
        flow.add_routine(Meeter(), rid)
        flow.connect("src", "output", rid, "input")
    job_state = flow.execute("src")
    assert job_state.status == "completed", job_state.error


def test_max_workers_bounds_the_handlers_running_at_once() -> None:
    lock = threading.Lock()
    running = [0, 0]  # now, peak
    pairs = threading.Barrier(2, timeout=5)  # each handler waits for a partner: two must run at once

    class Counter(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.count)

        def count(self, **kwargs: Any) -> None:
            with lock:
                running[0] += 1
                running[1] = max(running[1], running[0])
            pairs.wait()
            with lock:
                running[0] -= 1

    flow = Flow(execution_strategy="concurrent", max_workers=2)
    flow.add_routine(Source(), "src")
    for i in range(6):
        flow.add_routine(Counter(), f"c{i}")
        flow.connect("src", "output", f"c{i}", "input")
    assert flow.execute("src").status == "completed"
    assert running[1] == 2


def test_set_execution_strategy_chooses_workers_and_rejects_unknown_strategies() -> None:
    flow = Flow(execution_strategy="concurrent", max_workers=7)
    assert (flow.execution_strategy, flow.max_workers) == ("concurrent", 7)
    flow.set_execution_strategy("sequential", max_workers=9)
    assert (flow.execution_strategy, flow.max_workers) == ("sequential", 1)
    flow.set_execution_strategy("concurrent")
    assert flow.max_workers == 5
    with pytest.raises(FlowError, match="Invalid execution strategy"):
        flow.set_execution_strategy("parallel")
    with pytest.raises(ValueError):
        Flow(execution_strategy="parallel")


def test_execute_may_choose_the_strategy_for_that_execution_only() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    job_state = flow.execute("src", {"v": 1}, execution_strategy="concurrent", max_workers=3)
    assert job_state.status == "completed"
    assert (flow.execution_strategy, flow.max_workers) == ("sequential", 1)


# --------------------------------------------------------------------------- timeouts


class Hang(Routine):
    """A trigger handler that hangs until its event is set (a stuck LLM call, say)."""

    release = threading.Event()

    def __init__(self) -> None:
        """Define ``trigger`` and ``output``."""
        super().__init__()
        self.define_slot("trigger", handler=self.hang)
        self.define_event("output")

    def hang(self, **kwargs: Any) -> None:
        """Hang, then emit."""
        type(self).release.wait(10)
        self.emit("output", **kwargs)


@pytest.fixture
def hang() -> threading.Event:
    """A fresh release event for Hang, set when the test ends."""
    Hang.release = threading.Event()
    yield Hang.release
    Hang.release.set()


def test_the_flow_execution_timeout_fails_an_execution_whose_handler_hangs(hang: threading.Event) -> None:
    flow = chain(("stuck", Hang()), ("sink", Sink()), execution_timeout=0.2)
    started = time.monotonic()
    job_state = flow.execute("stuck")
    assert time.monotonic() - started < 5
    assert job_state.status == "failed"
    assert "timeout" in job_state.error and "0.2" in job_state.error
    timeout_records = [r for r in job_state.execution_history if r.event_name == "timeout"]
    assert len(timeout_records) == 1 and timeout_records[0].data["timeout_s"] == 0.2


def test_the_execute_timeout_overrides_the_flow_execution_timeout(hang: threading.Event) -> None:
    flow = chain(("stuck", Hang()), ("sink", Sink()), execution_timeout=60)
    job_state = flow.execute("stuck", timeout=0.1)
    assert job_state.status == "failed"
    assert "0.1" in job_state.error


def test_a_handler_that_returns_after_the_timeout_changes_nothing(hang: threading.Event) -> None:
    flow = chain(("stuck", Hang()), ("sink", Sink()), execution_timeout=0.1)
    job_state = flow.execute("stuck")
    assert job_state.status == "failed"
    hang.set()
    flow.shutdown(wait=True)  # joins the handler thread, so its late result has been dropped
    assert job_state.status == "failed"
    assert received(job_state, "sink") == []


def test_the_timeout_also_ends_an_execution_that_is_waiting_for_a_retry() -> None:
    flaky = Flaky()
    flaky.set_config(fail_times=99)
    flaky.set_error_handler(ErrorHandler("retry", max_retries=5, retry_delay=30))
    flow = chain(("src", Source()), ("flaky", flaky), execution_timeout=0.1)
    started = time.monotonic()
    job_state = flow.execute("src")
    assert time.monotonic() - started < 5
    assert job_state.status == "failed" and "timeout" in job_state.error
    assert [r.event_name for r in job_state.execution_history][-1] == "timeout"


def test_the_default_execution_timeout_is_upstreams_300_seconds() -> None:
    assert Flow().execution_timeout == 300.0


# --------------------------------------------------------------------------- cancel


def test_cancel_ends_an_execution_for_good_and_nothing_of_it_runs_afterwards(gate: Gate) -> None:
    flow = chain(("src", Blocker()), ("sink", Sink()))
    job_state = flow.start("src", {"v": 1})
    assert gate.entered.wait(5)
    flow.cancel(job_state, reason="user said stop")
    assert job_state.status == "cancelled"
    gate.released.set()
    flow.shutdown(wait=True)
    assert job_state.status == "cancelled"
    assert received(job_state, "sink") == []
    assert job_state.get_routine_state("_cancellation") == {"reason": "user said stop"}


def test_a_handler_may_cancel_its_own_execution_and_execute_returns_cancelled() -> None:
    class Quitter(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.quit)
            self.define_event("output")

        def quit(self, **kwargs: Any) -> None:
            ctx = self.get_execution_context()
            self.emit("output", **kwargs)
            ctx.flow.cancel(ctx.job_state, reason="nothing left to do")

    flow = chain(("src", Source()), ("quit", Quitter()), ("sink", Sink()))
    job_state = flow.execute("src", {"v": 1})
    assert job_state.status == "cancelled"
    assert received(job_state, "sink") == []


def test_cancelling_an_execution_waiting_for_a_retry_ends_it_at_once() -> None:
    flaky = Flaky()
    flaky.set_error_handler(ErrorHandler("retry", max_retries=5, retry_delay=30))
    flow = chain(("src", Source()), ("flaky", flaky), ("sink", Sink()))
    job_state = flow.start("src", {"v": 1})
    assert wait_until(lambda: any(r.event_name == "retry" for r in job_state.execution_history))
    flow.cancel(job_state)
    assert job_state.wait(1) and job_state.status == "cancelled"
    assert received(job_state, "sink") == []


def test_cancelling_an_ended_execution_changes_nothing() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    job_state = flow.execute("src")
    flow.cancel(job_state)
    assert job_state.status == "completed"


# --------------------------------------------------------------------------- executions index


def test_the_flow_tracks_every_execution_and_the_latest_one() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    first = flow.execute("src", {"v": "A"})
    second = flow.execute("src", {"v": "B"})
    assert first.job_id != second.job_id
    assert flow.get_all_executions() == [first, second]
    assert flow.get_execution(first.job_id) is first
    assert flow.get_execution("unknown") is None
    assert flow.job_state is second


def test_cleanup_completed_executions_forgets_ended_executions_only() -> None:
    flow = chain(("src", Source()), ("pause", PauseOnce()), ("sink", Sink()))
    paused = flow.execute("src")
    cancelled = flow.execute("src")  # a new execution: it pauses too
    flow.cancel(cancelled)
    assert (paused.status, cancelled.status) == ("paused", "cancelled")
    assert flow.cleanup_completed_executions() == 1
    assert flow.get_all_executions() == [paused]
    assert flow.cleanup_completed_executions() == 0


def test_routines_keep_their_insertion_order_and_connections_their_ends() -> None:
    flow = Flow()
    for rid in ("z", "a", "m"):
        flow.add_routine(Relay(), rid)
    flow.connect("z", "output", "a", "input")
    assert list(flow.routines) == ["z", "a", "m"]
    (connection,) = flow.connections
    assert (connection.source_routine_id, connection.source_event.name) == ("z", "output")
    assert (connection.target_routine_id, connection.target_slot.name) == ("a", "input")


def test_add_routine_defaults_to_the_routine_id() -> None:
    flow = Flow()
    routine = Relay()
    assert flow.add_routine(routine) == routine._id
    assert flow.routines[routine._id] is routine


# --------------------------------------------------------------------------- bad input


def test_adding_two_routines_under_one_id_raises_flow_error() -> None:
    flow = Flow()
    flow.add_routine(Relay(), "r")
    with pytest.raises(FlowError, match="Routine ID 'r' already exists"):
        flow.add_routine(Relay(), "r")


def test_execute_with_an_unknown_entry_routine_raises_flow_error_and_starts_nothing() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    with pytest.raises(FlowError, match="nope"):
        flow.execute("nope")
    with pytest.raises(ValueError):
        flow.start("nope")
    assert flow.get_all_executions() == []


def test_an_entry_routine_without_a_trigger_slot_raises_flow_validation_error() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    with pytest.raises(FlowValidationError, match="'sink' has no 'trigger' slot"):
        flow.execute("sink")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ghost", "output", "sink", "input"), "Source routine 'ghost' not found"),
        (("src", "ghost", "sink", "input"), "Event 'ghost' not found in routine 'src'"),
        (("src", "output", "ghost", "input"), "Target routine 'ghost' not found"),
        (("src", "output", "sink", "ghost"), "Slot 'ghost' not found in routine 'sink'"),
    ],
)
def test_connect_names_what_it_cannot_find(args: tuple[str, str, str, str], message: str) -> None:
    flow = Flow()
    flow.add_routine(Source(), "src")
    flow.add_routine(Sink(), "sink")
    with pytest.raises(FlowError, match=message):
        flow.connect(*args)
    assert flow.connections == []


def test_validate_reports_a_connection_to_a_routine_removed_from_the_flow() -> None:
    flow = chain(("src", Source()), ("sink", Sink()))
    del flow.routines["sink"]
    with pytest.raises(FlowValidationError, match="sink"):
        flow.validate()


def test_emitting_from_a_routine_that_is_not_in_the_flow_fails_the_execution() -> None:
    stranger = Relay()

    class Meddler(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=lambda: stranger.emit("output", x=1))

    flow = Flow()
    flow.add_routine(Meddler(), "m")
    job_state = flow.execute("m")
    assert job_state.status == "failed"
    assert "not part of flow" in job_state.get_routine_state("m")["error"]


def test_a_finished_execution_is_not_kept_alive_by_its_cancelled_timeout_timer():
    import gc
    import weakref

    from routilux import Flow, Routine

    class Quick(Routine):
        def __init__(self):
            super().__init__()
            self.define_slot("trigger", handler=lambda **_: None)

    flow = Flow(flow_id="timer-memory", execution_timeout=300)
    flow.add_routine(Quick(), "quick")
    job_state = flow.execute("quick")
    assert job_state.status == "completed"
    ref = weakref.ref(job_state)
    flow.cleanup_completed_executions()
    flow._latest = None
    del job_state
    gc.collect()
    assert ref() is None


def test_the_flow_execution_tracker_times_every_routine_of_the_latest_execution():
    from routilux import Flow, Routine

    class Source(Routine):
        def __init__(self):
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("out", ["x"])

        def go(self, n=3, **_):
            for i in range(n):
                self.emit("out", x=i)

    class Sink(Routine):
        def __init__(self):
            super().__init__()
            self.define_slot("input", handler=lambda x=None, **_: None)

    flow = Flow(flow_id="tracked")
    flow.add_routine(Source(), "source")
    flow.add_routine(Sink(), "sink")
    flow.connect("source", "out", "sink", "input")
    flow.execute("source", {"n": 3})
    tracker = flow.execution_tracker
    assert tracker.get_routine_performance("sink")["total_executions"] == 3
    assert tracker.get_routine_performance("source")["completed"] == 1
    assert tracker.get_flow_performance()["total_routines"] == 2


def test_a_child_id_is_the_blake2b_of_its_parent_event_target_slot_and_position() -> None:
    import hashlib

    from routilux.activation import child_id, route_emit

    expected = hashlib.blake2b("p\x1fout\x1fr2\x1finput\x1f3".encode(), digest_size=12).hexdigest()
    assert child_id("p", "out", "r2", "input", 3) == expected
    assert child_id("p", "out", "r2", "input", 4) != expected  # the prepared hash is copied, never updated
    children = route_emit("j", "p", "r1", "out", {"x": 1}, [("r2", "input", None), ("r3", "input", None)], 3)
    assert [a.activation_id for a in children] == [expected, child_id("p", "out", "r3", "input", 4)]


# --------------------------------------------------------------------------- runner threads


def test_short_lived_flows_reuse_the_runner_threads_of_earlier_ones() -> None:
    threads: list[int] = []

    class Where(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=lambda: threads.append(threading.get_ident()))

    for _ in range(40):
        flow = Flow()
        flow.add_routine(Where(), "where")
        assert flow.execute("where").status == "completed"
        flow.shutdown(wait=True)
    # A new flow's first step runs on a thread an earlier flow left idle, not on one started for it
    # (a few may still start while the previous runner is on its way back).
    assert len(threads) == 40 and len(set(threads)) <= 10


def test_a_script_that_starts_an_execution_and_exits_lets_it_finish_and_does_not_wait_for_idle_threads(
        tmp_path: Any) -> None:
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    done = tmp_path / "done.txt"
    script = textwrap.dedent(f"""
        import time
        from routilux import Flow, Routine

        class Slow(Routine):
            def __init__(self):
                super().__init__()
                self.define_slot("trigger", handler=self.run)

            def run(self, path):
                time.sleep(0.5)
                open(path, "w").write("finished")

        idle = Flow()
        idle.add_routine(Slow(), "slow")
        idle.execute("slow", {{"path": {str(tmp_path / "first.txt")!r}}})  # leaves an idle runner thread
        flow = Flow()
        flow.add_routine(Slow(), "slow")
        flow.start("slow", {{"path": {str(done)!r}}})  # returns at once; the interpreter exits while it runs
    """)
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", script], check=True, timeout=25,
                   env={"PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.read_text() == "finished"
    assert time.monotonic() - started < 20  # idle threads wait 30 s for work: exit did not wait for them
