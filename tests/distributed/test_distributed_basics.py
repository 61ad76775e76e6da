"""The distributed engine through its public API, with real Redis and real Celery workers."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

import basic_flows
from routilux import JobState
from routilux.distributed import DistributedRuntime
from conftest import both_brokers
from waiting import wait_until
from routilux.errors import ExecutionTimeout, FlowError, FlowValidationError, JobNotFoundError

pytestmark = pytest.mark.distributed


@both_brokers
def test_a_submitted_chain_completes_with_every_result(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(basic_flows.chain_flow(), "source", {"n": 4})
    state = runtime.wait(job_id, timeout=30)
    assert state.status == "completed"
    assert sorted(e["got"]["i"] for e in state.shared_log) == [0, 4, 8, 12]
    assert sorted(o["data"]["i"] for o in state.output_log) == [0, 4, 8, 12]


def test_the_distributed_job_state_has_the_local_shape(runtime, start_workers):
    start_workers()
    state = runtime.wait(runtime.submit(basic_flows.chain_flow(), "source", {"n": 2}), timeout=30)
    events = sorted((r.routine_id, r.event_name) for r in state.execution_history)
    assert events == sorted([("source", "start"), ("source", "out"), ("source", "out"), ("double0", "out"),
                             ("double0", "out"), ("double1", "out"), ("double1", "out")])
    assert state.routine_states["source"] == {"status": "completed"}
    assert state.flow_id == "chain"


def test_a_distributed_job_state_saves_and_loads_like_a_local_one(runtime, start_workers, tmp_path):
    start_workers()
    state = runtime.wait(runtime.submit(basic_flows.chain_flow(), "source", {"n": 2}), timeout=30)
    path = tmp_path / "state.json"
    state.save(path)
    loaded = JobState.load(path)
    assert loaded.job_id == state.job_id
    assert loaded.status == "completed"
    assert json.loads(path.read_text())["_type"] == "JobState"
    assert len(loaded.execution_history) == len(state.execution_history)


def test_publish_is_idempotent_and_keyed_by_content(runtime):
    flow = basic_flows.chain_flow()
    first, second = runtime.publish(flow), runtime.publish(basic_flows.chain_flow())
    assert first == second
    changed = basic_flows.chain_flow(n_double=3)
    assert runtime.publish(changed) != first


def test_a_job_keeps_the_flow_it_was_submitted_with(runtime, start_workers):
    runtime.publish(basic_flows.chain_flow(flow_id="pinned", n_double=1))
    job_id = runtime.submit("pinned", "source", {"n": 1})
    runtime.publish(basic_flows.chain_flow(flow_id="pinned", n_double=3))
    start_workers()
    state = runtime.wait(job_id, timeout=30)
    assert [e["got"]["i"] for e in state.shared_log] == [0]  # one doubling of 0 is still 0 ...
    assert {r.routine_id for r in state.execution_history} == {"source", "double0"}  # ... and only double0 ran


def test_submitting_by_flow_id_uses_the_latest_publication(runtime, start_workers):
    start_workers()
    runtime.publish(basic_flows.chain_flow(flow_id="by-id", n_double=1))
    state = runtime.wait(runtime.submit("by-id", "source", {"n": 1}), timeout=30)
    assert state.status == "completed"


@both_brokers
def test_an_append_aggregator_fed_in_parallel_fires_exactly_once(runtime, start_workers):
    start_workers(concurrency=4)
    job_id = runtime.submit(basic_flows.fan_in_flow(expected=12, sleep_s=0.01), "source", {"n": 12})
    state = runtime.wait(job_id, timeout=60)
    assert state.status == "completed"
    assert state.shared_data["fired"] == 1
    assert state.shared_data["total"] == sum(2 * k for k in range(12))
    assert len(state.output_log) == 1


@both_brokers
def test_retry_waits_on_a_redis_timer_then_succeeds(runtime, start_workers):
    start_workers()
    state = runtime.wait(runtime.submit(basic_flows.retry_flow(fail_times=2), "source", {"n": 2}), timeout=30)
    assert state.status == "completed"
    retries = [r for r in state.execution_history if r.event_name == "retry"]
    assert len(retries) == 4
    assert state.routine_states["flaky"]["retry_count"] == 2
    assert sorted(e["got"]["i"] for e in state.shared_log) == [0, 1]


def test_a_critical_routine_that_keeps_failing_fails_the_job(runtime, start_workers):
    start_workers()
    flow = basic_flows.retry_flow(fail_times=9, critical=True, max_retries=2)
    state = runtime.wait(runtime.submit(flow, "source", {"n": 1}), timeout=30)
    assert state.status == "failed"
    assert "RuntimeError" in state.error


@pytest.mark.parametrize(
    ("strategy", "job_status", "flaky_status"),
    [("default", "failed", "failed"), ("stop", "failed", "failed"), ("continue", "completed", "error_continued"),
     ("skip", "completed", "skipped"), ("retry", "failed", "failed")],
)
def test_every_error_strategy_applies_to_downstream_routines(runtime, start_workers, strategy, job_status, flaky_status):
    start_workers()
    state = runtime.wait(runtime.submit(basic_flows.strategy_flow(strategy), "source", {"n": 1}), timeout=30)
    assert state.status == job_status
    assert state.routine_states["flaky"]["status"] == flaky_status


def idle(runtime: DistributedRuntime, job_id: str) -> bool:
    """True when no activation of the job holds a lease (nothing of it is running)."""
    leases = runtime.store.redis.zrange(runtime.store.keys.leases(runtime.store.keys.bucket_of(job_id)), 0, -1)
    return not any(m.decode().startswith(f"{job_id}|") for m in leases)


def handler_calls(job_id: str) -> list[int]:
    """Items the job's Slow handlers were called with, in this process (in-process workers)."""
    return [i for j, i in basic_flows.SLOW_STARTS if j == job_id]


def test_pause_holds_the_job_nothing_runs_while_paused_and_a_fresh_runtime_resumes_it(runtime, start_workers, settings):
    start_workers(concurrency=2)
    job_id = runtime.submit(basic_flows.slow_flow(sleep_s=0.3), "source", {"n": 6})
    wait_until(lambda: handler_calls(job_id), timeout=15)
    runtime.pause(job_id, reason="maintenance", checkpoint={"step": 1})
    assert runtime.get_job(job_id).status == "paused"
    wait_until(lambda: idle(runtime, job_id), timeout=15)  # handlers already running finish and commit
    calls, held = handler_calls(job_id), runtime.get_job(job_id)
    elsewhere = DistributedRuntime(settings=settings)
    try:
        with pytest.raises(ExecutionTimeout, match=r"status paused, \d+ of \d+ activations done\)"):
            elsewhere.wait(job_id, timeout=2 * settings.sweep_interval_s + 1.0)
        still = elsewhere.get_job(job_id)
        # Nothing ran while paused: no handler call, no effect; the rest of the work waits in pending_tasks.
        assert handler_calls(job_id) == calls and len(calls) < 6
        assert still.status == "paused"
        assert still.shared_log == held.shared_log and len(still.execution_history) == len(held.execution_history)
        waiting = Counter(t["slot_routine_id"] for t in still.pending_tasks)
        assert waiting["slow"] == 6 - len(calls) and waiting["record"] == len(calls) - len(held.shared_log)
        elsewhere.resume(job_id)
        state = elsewhere.wait(job_id, timeout=30)
    finally:
        elsewhere.close()
    assert state.status == "completed"
    assert sorted(e["got"]["i"] for e in state.shared_log) == [0, 1, 2, 3, 4, 5]
    assert sorted(handler_calls(job_id)) == [0, 1, 2, 3, 4, 5]
    (point,) = state.pause_points
    assert {k: point[k] for k in ("reason", "checkpoint", "current_routine_id")} == {
        "reason": "maintenance", "checkpoint": {"step": 1}, "current_routine_id": "source"}
    assert set(point) == {"timestamp", "reason", "checkpoint", "current_routine_id", "pending_count"}
    assert state.checkpoint == {"step": 1}


def test_a_handler_can_pause_its_job_and_deferred_events_go_out_on_resume(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(basic_flows.deferred_flow(), "source", {"n": 1})
    wait_until(lambda: runtime.get_job(job_id).status == "paused", timeout=15)
    assert runtime.get_job(job_id).deferred_events[0]["event_name"] == "later"
    runtime.resume(job_id)
    state = runtime.wait(job_id, timeout=30)
    assert state.status == "completed"
    assert [e["got"]["i"] for e in state.shared_log] == [100]
    assert state.deferred_events == []


def test_cancel_stops_a_job_for_good_and_nothing_runs_after_it(runtime, start_workers, settings):
    start_workers()
    job_id = runtime.submit(basic_flows.slow_flow(sleep_s=0.3), "source", {"n": 8})
    wait_until(lambda: handler_calls(job_id), timeout=15)
    runtime.cancel(job_id, reason="not needed")
    state = runtime.wait(job_id, timeout=10)
    assert state.status == "cancelled"
    assert state.routine_states["_cancellation"] == {"reason": "not needed"}
    # Handlers claimed before the cancel may still start and finish (their commits are dropped);
    # once they have, nothing of the job runs again.
    time.sleep(0.5)
    wait_until(lambda: sorted(handler_calls(job_id)) == sorted(i for j, i in basic_flows.SLOW_ENDS if j == job_id), timeout=15)
    calls, ended = handler_calls(job_id), runtime.get_job(job_id)
    with pytest.raises(FlowError, match="only a paused job can be resumed"):
        runtime.resume(job_id)
    time.sleep(2 * settings.sweep_interval_s + 1.0)  # sweeps and queued messages would run the rest now
    after = runtime.get_job(job_id)
    assert handler_calls(job_id) == calls and len(calls) < 8
    assert after.status == "cancelled" and after.pending_tasks == []
    assert after.shared_log == ended.shared_log and len(after.execution_history) == len(ended.execution_history)


def test_jobs_lists_summaries_filtered_by_status(runtime, start_workers):
    start_workers()
    done = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    runtime.wait(done, timeout=30)
    summaries = {row["job_id"]: row for row in runtime.jobs()}
    assert summaries[done]["status"] == "completed"
    assert [r["job_id"] for r in runtime.jobs(status="completed")] == [done]
    assert runtime.jobs(status="failed") == []


def test_wait_raises_a_timeout_error_when_no_worker_runs_the_job(runtime):
    job_id = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    with pytest.raises(TimeoutError):
        runtime.wait(job_id, timeout=0.5)
    assert runtime.get_job(job_id).status == "running"


def test_unknown_jobs_and_bad_entries_are_clear_errors(runtime):
    with pytest.raises(JobNotFoundError):
        runtime.get_job("no-such-job")
    with pytest.raises(FlowValidationError):
        runtime.submit(basic_flows.chain_flow(), "record")
    with pytest.raises(FlowValidationError):
        runtime.submit(basic_flows.chain_flow(), "nope")


def _count_tasks(run) -> int:
    from celery.signals import task_prerun

    seen: list[str] = []

    def count(sender=None, **_kwargs) -> None:
        seen.append(sender.name)

    task_prerun.connect(count, weak=False)
    try:
        run()
    finally:
        task_prerun.disconnect(count)
    return seen.count("routilux.activate")


def test_with_inline_steps_off_every_slot_invocation_is_its_own_celery_task(runtime, start_workers, settings):
    start_workers(settings_=settings.with_(inline_steps=0))
    flow = basic_flows.chain_flow(n_double=3)
    tasks = _count_tasks(lambda: runtime.wait(runtime.submit(flow, "source", {"n": 2}), timeout=30))
    assert tasks == 1 + 2 * 3 + 2  # source, three doublings of two items, two records


def test_a_chain_runs_inline_in_fewer_tasks_with_the_same_result(runtime, start_workers):
    start_workers()
    flow = basic_flows.chain_flow(n_double=3)
    states = []
    tasks = _count_tasks(lambda: states.append(runtime.wait(runtime.submit(flow, "source", {"n": 2}), timeout=30)))
    assert tasks < 1 + 2 * 3 + 2
    assert sorted(e["got"]["i"] for e in states[0].shared_log) == [0, 8]


def test_a_finished_job_can_be_deleted_but_a_running_one_cannot(runtime, start_workers):
    waiting = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    with pytest.raises(FlowError):
        runtime.delete_job(waiting)
    start_workers()
    runtime.wait(waiting, timeout=30)
    runtime.delete_job(waiting)
    with pytest.raises(JobNotFoundError):
        runtime.get_job(waiting)
    assert runtime.jobs() == []
    assert runtime.store.redis.keys(f"{runtime.settings.key_prefix}:job:*") == []
