"""What happens when a handler raises: STOP, CONTINUE, SKIP and RETRY, on any routine of a flow.

Decisions made on purpose (tested as they are): a failed attempt's emits are
discarded but the state it wrote is kept; RETRY waits on a timer and re-runs
the same activation, counting attempts per activation; RETRY exhausted fails the
job at once when critical, else marks the routine failed, lets the rest of the
job run and ends the job failed; STOP (the default) fails the job at once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine

from core_routines import Boom, Flaky, Gate, Relay, Sink, Source, chain, events, received, visits

pytestmark = pytest.mark.timeout(30)

FAST = 0.005  # seconds: retry delays in these tests


def retry(max_retries: int = 3, critical: bool = False, **kwargs: Any) -> ErrorHandler:
    """A RETRY handler with a tiny delay."""
    return ErrorHandler(ErrorStrategy.RETRY, max_retries=max_retries, retry_delay=FAST, is_critical=critical, **kwargs)


def branching_flow(first: Routine, **flow_kwargs: Any) -> Flow:
    """src fans out to ``first`` (-> first_sink) and then to ``other`` (-> other_sink), in that order."""
    flow = Flow(**flow_kwargs)
    flow.add_routine(Source(), "src")
    flow.add_routine(first, "first")
    flow.add_routine(Sink(), "first_sink")
    flow.add_routine(Relay(), "other")
    flow.add_routine(Sink(), "other_sink")
    flow.connect("src", "output", "first", "input")
    flow.connect("src", "output", "other", "input")
    flow.connect("first", "output", "first_sink", "input")
    flow.connect("other", "output", "other_sink", "input")
    return flow


# --------------------------------------------------------------------------- STOP


def test_an_error_with_no_handler_stops_the_job_as_failed_at_once() -> None:
    flow = branching_flow(Boom())
    job_state = flow.execute("src", {"v": 1})
    assert job_state.status == "failed"
    assert visits(job_state) == []  # "other" was queued after "first" and never ran
    state = job_state.get_routine_state("first")
    assert state["status"] == "failed" and state["error"] == "first exploded" and "error_time" in state
    assert "first" in job_state.error and "RuntimeError" in job_state.error


def test_a_stop_records_the_error_with_its_type_in_the_history() -> None:
    job_state = branching_flow(Boom()).execute("src", {"v": 1})
    (record,) = [r for r in job_state.execution_history if r.event_name == "error"]
    assert record.routine_id == "first"
    assert record.data["error"] == "first exploded" and record.data["error_type"] == "RuntimeError"
    assert record.data["slot"] == "input"


def test_a_failed_handlers_record_keeps_its_whole_stack_trace() -> None:
    job_state = branching_flow(Boom()).execute("src", {"v": 1})
    (record,) = [r for r in job_state.execution_history if r.event_name == "error"]
    trace = record.data["traceback"]
    assert trace.startswith("Traceback (most recent call last):")
    assert "in explode" in trace and trace.rstrip().endswith("RuntimeError: first exploded")


def test_a_retried_attempt_keeps_its_stack_trace_too() -> None:
    flaky = Flaky()
    flaky.set_error_handler(retry())
    job_state = branching_flow(flaky).execute("src", {"v": 1})
    (record,) = [r for r in job_state.execution_history if r.event_name == "retry"]
    assert record.data["traceback"].startswith("Traceback (most recent call last):")


def test_a_huge_stack_trace_is_bounded_and_keeps_its_head_and_its_tail() -> None:
    from routilux.step import MAX_TRACEBACK_CHARS, bounded_traceback

    def deep(n: int) -> None:
        if n == 0:
            raise ValueError("the bottom:\n" + "\n".join(f"detail {i}" for i in range(3000)))
        deep(n - 1)

    try:
        deep(50)
    except ValueError as exc:
        trace = bounded_traceback(exc)
        whole = bounded_traceback(exc, limit=10**9)
    assert len(whole) > MAX_TRACEBACK_CHARS and len(trace) <= MAX_TRACEBACK_CHARS
    assert trace.startswith("Traceback (most recent call last):") and trace.endswith(whole[-200:])
    assert f"({len(whole) - MAX_TRACEBACK_CHARS} characters cut)" in trace


def test_an_explicit_stop_handler_on_the_flow_fails_the_job() -> None:
    flow = branching_flow(Boom())
    flow.set_error_handler(ErrorHandler(strategy=ErrorStrategy.STOP))
    assert flow.execute("src").status == "failed"


def test_an_error_in_the_entry_routine_fails_the_job_before_anything_is_delivered() -> None:
    flow = chain(("boom", Boom()), ("sink", Sink()))
    job_state = flow.execute("boom", {"v": 1})
    assert job_state.status == "failed"
    assert received(job_state) == []
    assert job_state.get_routine_state("boom")["status"] == "failed"


def test_a_failed_attempts_emits_are_discarded_but_the_state_it_wrote_is_kept() -> None:
    flow = branching_flow(Boom())
    job_state = flow.execute("src")
    assert job_state.get_shared_data("wrote:first") is True
    assert ("first", "output") not in events(job_state)
    assert received(job_state, "first_sink") == []


# --------------------------------------------------------------------------- CONTINUE


def test_continue_logs_the_error_and_the_rest_of_the_job_runs_to_completion() -> None:
    flow = branching_flow(Boom())
    flow.set_error_handler(ErrorHandler(strategy=ErrorStrategy.CONTINUE))
    job_state = flow.execute("src", {"v": 1})
    assert job_state.status == "completed"
    assert job_state.get_routine_state("first") == {"status": "error_continued", "error": "first exploded"}
    (record,) = [r for r in job_state.execution_history if r.event_name == "error_continued"]
    assert record.routine_id == "first" and record.data["error_type"] == "RuntimeError"
    assert received(job_state, "other_sink") == [{"v": 1}]


def test_continue_still_discards_the_failed_attempts_emits() -> None:
    flow = branching_flow(Boom())
    flow.set_error_handler(ErrorHandler(strategy="continue"))
    job_state = flow.execute("src", {"v": 1})
    assert received(job_state, "first_sink") == []
    assert job_state.get_shared_data("wrote:first") is True


def test_an_optional_routine_continues_by_default() -> None:
    boom = Boom()
    boom.set_as_optional()
    job_state = branching_flow(boom).execute("src")
    assert job_state.status == "completed"
    assert job_state.get_routine_state("first")["status"] == "error_continued"


# --------------------------------------------------------------------------- SKIP


def test_skip_marks_the_routine_skipped_and_the_job_completes() -> None:
    boom = Boom()
    boom.set_error_handler(ErrorHandler(strategy=ErrorStrategy.SKIP))
    job_state = branching_flow(boom).execute("src", {"v": 1})
    assert job_state.status == "completed"
    assert job_state.get_routine_state("first") == {"status": "skipped", "error": "first exploded"}
    assert received(job_state, "first_sink") == []
    assert received(job_state, "other_sink") == [{"v": 1}]


def test_an_optional_routine_may_skip() -> None:
    boom = Boom()
    boom.set_as_optional(ErrorStrategy.SKIP)
    job_state = branching_flow(boom).execute("src")
    assert job_state.status == "completed"
    assert job_state.get_routine_state("first")["status"] == "skipped"


# --------------------------------------------------------------------------- RETRY


def test_retry_re_runs_the_same_activation_until_it_succeeds() -> None:
    flaky = Flaky()
    flaky.set_config(fail_times=2)
    flaky.set_error_handler(retry(max_retries=3))
    job_state = branching_flow(flaky).execute("src", {"v": 1})
    assert job_state.status == "completed"
    assert received(job_state, "first") == [{"v": 1}]
    assert received(job_state, "first_sink") == [{"v": 1}]
    assert [r.data["attempt"] for r in job_state.execution_history if r.event_name == "retry"] == [1, 2]
    state = job_state.get_routine_state("first")
    assert state["status"] == "completed" and state["retry_count"] == 2
    (done,) = [r for r in job_state.execution_history if r.event_name == "completed"]
    assert done.routine_id == "first" and done.data["retried"] is True


def test_retry_delays_grow_by_the_backoff_factor() -> None:
    flaky = Flaky()
    flaky.set_config(fail_times=3)
    flaky.set_error_handler(ErrorHandler("retry", max_retries=3, retry_delay=0.002, retry_backoff=3.0))
    job_state = branching_flow(flaky).execute("src")
    delays = [r.data["delay_s"] for r in job_state.execution_history if r.event_name == "retry"]
    assert delays == pytest.approx([0.002, 0.006, 0.018])
    assert job_state.status == "completed"


def test_a_retry_waits_its_delay_before_running_again() -> None:
    flaky = Flaky()
    flaky.set_error_handler(ErrorHandler("retry", max_retries=1, retry_delay=0.1))
    started = time.monotonic()
    job_state = branching_flow(flaky).execute("src")
    assert job_state.status == "completed"
    assert time.monotonic() - started >= 0.1


def test_retry_counts_attempts_per_activation_not_per_routine() -> None:
    class Twice(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.fire)
            self.define_event("output")

        def fire(self) -> None:
            self.emit("output", n=1)
            self.emit("output", n=2)

    flaky = Flaky()
    flaky.set_error_handler(retry(max_retries=1))
    flow = Flow()
    flow.add_routine(Twice(), "src")
    flow.add_routine(flaky, "flaky")
    flow.connect("src", "output", "flaky", "input")
    job_state = flow.execute("src")
    assert job_state.status == "completed"
    assert sorted(p["n"] for p in received(job_state, "flaky")) == [1, 2]


def test_a_retry_merges_its_payload_once_into_an_append_slot() -> None:
    class FlakyCollector(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.collect, merge_strategy="append")

        def collect(self, v: list[int]) -> None:
            job_state = self.get_execution_context().job_state
            first_try = not job_state.get_shared_data("tried")
            job_state.update_shared_data("tried", True)
            if first_try:
                raise ValueError("transient")
            job_state.append_to_shared_log({"v": v})

    collector = FlakyCollector()
    collector.set_error_handler(retry(max_retries=1))
    flow = chain(("src", Source()), ("c", collector))
    job_state = flow.execute("src", {"v": 7})
    assert [e["v"] for e in job_state.shared_log] == [[7]]


def test_a_retry_re_runs_the_activation_with_its_original_payload_even_if_the_failed_attempt_mutated_it() -> None:
    class Consumer(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.consume)

        def consume(self, data: dict[str, Any]) -> None:
            job_state = self.get_execution_context().job_state
            job_state.append_to_shared_log({"got": dict(data)})
            data.pop("item")  # handlers may treat their data dict as their own
            if len(job_state.shared_log) == 1:
                raise ConnectionError("transient")

    flow = chain(("src", Source()), ("consumer", Consumer()))
    flow.set_error_handler(retry(max_retries=1))
    job_state = flow.execute("src", {"item": "x", "n": 1})
    assert job_state.status == "completed", job_state.error
    assert [e["got"] for e in job_state.shared_log] == [{"item": "x", "n": 1}] * 2


def test_retry_stops_at_once_on_an_exception_it_was_not_told_to_retry() -> None:
    boom = Boom()  # raises RuntimeError
    boom.set_error_handler(retry(max_retries=5, retryable_exceptions=(ConnectionError,)))
    job_state = branching_flow(boom).execute("src")
    assert job_state.status == "failed"
    assert [r for r in job_state.execution_history if r.event_name == "retry"] == []


def test_a_critical_routine_that_exhausts_its_retries_fails_the_job_recording_why() -> None:
    boom = Boom()
    boom.set_as_critical(max_retries=2, retry_delay=FAST)
    flow = branching_flow(boom)
    job_state = flow.execute("src", {"v": 1})
    assert job_state.status == "failed"
    assert len([r for r in job_state.execution_history if r.event_name == "retry"]) == 2
    (error,) = [r for r in job_state.execution_history if r.event_name == "error"]
    assert error.data["retries_exhausted"] == 2
    assert job_state.get_routine_state("first")["status"] == "failed"
    assert "first" in job_state.error


def test_a_critical_routine_that_exhausts_its_retries_does_not_wait_for_the_rest_of_the_job() -> None:
    gate = Gate()
    held_finished = threading.Event()

    class Held(Relay):
        def relay(self, **kwargs: Any) -> None:
            try:
                gate.hold(timeout=5)
            finally:
                held_finished.set()
            super().relay(**kwargs)

    boom = Boom()
    boom.set_as_critical(max_retries=2, retry_delay=FAST)
    flow = Flow(execution_strategy="concurrent", max_workers=2)
    flow.add_routine(Source(), "src")
    flow.add_routine(boom, "critical")
    flow.add_routine(Held(), "held")
    flow.add_routine(Sink(), "sink")
    flow.connect("src", "output", "critical", "input")
    flow.connect("src", "output", "held", "input")
    flow.connect("held", "output", "sink", "input")
    try:
        job_state = flow.execute("src", {"v": 1})
        assert gate.entered.is_set() and not held_finished.is_set()  # "held" is still running
        assert job_state.status == "failed"
    finally:
        gate.released.set()
    flow.shutdown(wait=True)
    assert job_state.status == "failed"
    assert received(job_state, "sink") == []  # the held branch's late emit is dropped


def test_a_non_critical_routine_that_exhausts_its_retries_lets_the_rest_run_and_the_job_ends_failed() -> None:
    boom = Boom()
    boom.set_error_handler(retry(max_retries=2, critical=False))
    job_state = branching_flow(boom).execute("src", {"v": 1})
    assert job_state.status == "failed"
    assert job_state.get_routine_state("first")["status"] == "failed"
    assert received(job_state, "other_sink") == [{"v": 1}]
    assert job_state.error == "a routine failed"


def test_a_critical_routine_that_recovers_completes_the_job() -> None:
    flaky = Flaky()
    flaky.set_config(fail_times=2)
    flaky.set_as_critical(max_retries=5, retry_delay=FAST)
    job_state = branching_flow(flaky).execute("src", {"v": 1})
    assert job_state.status == "completed"
    assert received(job_state, "first_sink") == [{"v": 1}]


def test_the_entry_routine_can_be_retried() -> None:
    class FlakyEntry(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.fire)
            self.define_event("output")

        def fire(self, **kwargs: Any) -> None:
            job_state = self.get_execution_context().job_state
            tries = job_state.get_shared_data("tries", 0) + 1
            job_state.update_shared_data("tries", tries)
            if tries < 3:
                raise ValueError("not yet")
            self.emit("output", tries=tries)

    flow = chain(("entry", FlakyEntry()), ("sink", Sink()))
    flow.set_error_handler(retry(max_retries=5))
    job_state = flow.execute("entry")
    assert job_state.status == "completed"
    assert received(job_state, "sink") == [{"tries": 3}]
    assert job_state.get_routine_state("entry")["retry_count"] == 2


# --------------------------------------------------------------------------- which handler applies


def test_a_routine_handler_overrides_the_flow_handler() -> None:
    boom = Boom()
    boom.set_error_handler(ErrorHandler(strategy=ErrorStrategy.STOP))
    flow = branching_flow(boom)
    flow.set_error_handler(ErrorHandler(strategy=ErrorStrategy.CONTINUE))
    assert flow.execute("src").status == "failed"


def test_the_flow_handler_applies_to_downstream_routines_too() -> None:
    flow = chain(("src", Source()), ("a", Relay()), ("flaky", Flaky()), ("sink", Sink()))
    flow.set_error_handler(retry(max_retries=2))
    job_state = flow.execute("src", {"v": 1})
    assert job_state.status == "completed"
    assert received(job_state, "sink") == [{"v": 1}]


def test_strategies_apply_to_every_routine_of_a_chain() -> None:
    skipper, continuer = Boom(), Boom()
    skipper.set_error_handler(ErrorHandler(strategy="skip"))
    continuer.set_error_handler(ErrorHandler(strategy="continue"))
    flow = Flow()
    flow.add_routine(Source(), "src")
    flow.add_routine(skipper, "skipper")
    flow.add_routine(continuer, "continuer")
    flow.connect("src", "output", "skipper", "input")
    flow.connect("src", "output", "continuer", "input")
    job_state = flow.execute("src")
    assert job_state.status == "completed"
    assert job_state.get_routine_state("skipper")["status"] == "skipped"
    assert job_state.get_routine_state("continuer")["status"] == "error_continued"


def test_one_error_handler_shared_by_routines_keeps_no_count_between_them() -> None:
    shared = retry(max_retries=1)
    flow = chain(("src", Source()), ("f1", Flaky()), ("f2", Flaky()), ("sink", Sink()))
    flow.routines["f1"].set_error_handler(shared)
    flow.routines["f2"].set_error_handler(shared)
    job_state = flow.execute("src", {"v": 1})
    assert job_state.status == "completed"
    assert received(job_state, "sink") == [{"v": 1}]
    assert shared.retry_count == 0


# --------------------------------------------------------------------------- retries do not block


def test_a_waiting_retry_blocks_no_worker_so_other_branches_finish_meanwhile() -> None:
    """Two routines wait out a retry on a two-worker pool; a third branch still runs to its end."""
    first_failures = threading.Barrier(3, timeout=5)  # both flaky routines failed, and the slow branch saw it
    branch_done = threading.Event()
    branch_done_before_retry: list[bool] = []

    class FlakyOnce(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.work)

        def work(self, **kwargs: Any) -> None:
            ctx = self.get_execution_context()
            key = f"tried:{ctx.routine_id}"
            if not ctx.job_state.get_shared_data(key):
                ctx.job_state.update_shared_data(key, True)
                threading.Thread(target=first_failures.wait, daemon=True).start()
                raise ConnectionError("transient")
            branch_done_before_retry.append(branch_done.is_set())

    class Waiter(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.work)
            self.define_event("output")

        def work(self, **kwargs: Any) -> None:
            first_failures.wait()
            self.emit("output", **kwargs)

    class Finisher(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=lambda **kw: branch_done.set())

    flow = Flow(execution_strategy="concurrent", max_workers=2)
    flow.set_error_handler(ErrorHandler("retry", max_retries=1, retry_delay=0.3))
    flow.add_routine(Source(), "src")
    for rid in ("flaky1", "flaky2"):
        flow.add_routine(FlakyOnce(), rid)
        flow.connect("src", "output", rid, "input")
    flow.add_routine(Waiter(), "waiter")
    flow.add_routine(Relay(), "relay")
    flow.add_routine(Finisher(), "finisher")
    flow.connect("src", "output", "waiter", "input")
    flow.connect("waiter", "output", "relay", "input")
    flow.connect("relay", "output", "finisher", "input")
    job_state = flow.execute("src", {"v": 1})
    assert job_state.status == "completed", job_state.error
    assert branch_done_before_retry == [True, True]


def test_a_due_retry_runs_on_a_free_worker_while_another_branch_is_still_busy() -> None:
    retried = threading.Event()
    busy_branch_saw_the_retry: list[bool] = []

    class Busy(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=lambda **kw: busy_branch_saw_the_retry.append(retried.wait(5)))

    class FailOnce(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.work)

        def work(self, **kwargs: Any) -> None:
            job_state = self.get_execution_context().job_state
            if not job_state.get_shared_data("failed"):
                job_state.update_shared_data("failed", True)
                raise ConnectionError("transient")
            retried.set()

    flow = Flow(execution_strategy="concurrent", max_workers=2)
    flow.set_error_handler(retry(max_retries=1))
    flow.add_routine(Source(), "src")
    flow.add_routine(FailOnce(), "flaky")
    flow.add_routine(Busy(), "busy")
    flow.connect("src", "output", "flaky", "input")
    flow.connect("src", "output", "busy", "input")
    job_state = flow.execute("src")
    assert job_state.status == "completed"
    assert busy_branch_saw_the_retry == [True]


def test_a_rebuilt_handler_retries_only_the_named_exceptions_even_where_they_are_not_imported():
    from routilux import ErrorHandler

    data = {"_type": "ErrorHandler", "strategy": "retry", "max_retries": 2, "retry_delay": 0.0,
            "retry_backoff": 1.0, "is_critical": False, "retryable_exceptions": ["payments.errors.GatewayTimeout"]}
    handler = ErrorHandler.from_dict(data)

    GatewayTimeout = type("GatewayTimeout", (Exception,), {"__module__": "payments.errors"})
    assert handler.decide(GatewayTimeout("slow"), 1).action == "retry"
    assert handler.decide(ValueError("bad input"), 1).action == "stop"
    assert handler.serialize()["retryable_exceptions"] == ["payments.errors.GatewayTimeout"]
