"""Job deadlines on the distributed engine: the flow's execution_timeout and submit(timeout=), as on the local engine."""

from __future__ import annotations

import time

import pytest

import basic_flows
import time_limit_flows
from routilux.distributed.operations.history import replay_job

pytestmark = pytest.mark.distributed


def timeout_records(state) -> list[tuple[str, str, dict]]:
    return [(r.routine_id, r.event_name, r.data) for r in state.execution_history if r.event_name == "timeout"]


def members_of(runtime, index: str, job_id: str) -> list[bytes]:
    return [m for m, _ in runtime.store.redis.zscan_iter(index) if m.startswith(job_id.encode())]


def test_a_job_past_its_flow_timeout_fails_with_a_timeout_record_like_the_local_engine(runtime, start_workers):
    flow = time_limit_flows.sleepy_flow(sleep_s=3.0, timeout=1.0)
    local = flow.execute("source", entry_params={"n": 1})
    start_workers()
    state = runtime.wait(runtime.submit(flow, "source", {"n": 1}), timeout=30)
    assert state.status == local.status == "failed"
    assert state.error == local.error == "execution exceeded its timeout of 1.0 s"
    assert timeout_records(state) == timeout_records(local)
    assert [r["reason"] for _, _, r in timeout_records(state)] == [state.error]
    assert state.shared_log == []  # the overrunning step's effect was dropped
    replayed = replay_job(runtime.store, state.job_id).state
    assert timeout_records(replayed) == timeout_records(state) and replayed.error == state.error


def test_a_timed_out_job_dispatches_none_of_its_queued_activations_even_while_a_handler_hangs(
    runtime, start_workers
):
    start_workers(concurrency=1)
    flow = time_limit_flows.sleepy_flow(sleep_s=2.0)
    job = runtime.submit(flow, "source", {"n": 4}, timeout=1.0)
    state = runtime.wait(job, timeout=30)
    assert state.status == "failed" and "timeout of 1.0 s" in state.error
    time.sleep(2.5)  # the hung handler returns; its commit is refused, and the queued ones never start
    after = runtime.get_job(job)
    assert [r.event_name for r in after.execution_history if r.routine_id == "sleepy"] == []
    assert after.shared_log == [] and after.routine_states == state.routine_states
    keys, bucket = runtime.store.keys, runtime.store.keys.bucket_of(job)
    for index in (keys.due(bucket), keys.leases(bucket)):
        assert members_of(runtime, index, job) == []


def test_submit_timeout_overrides_the_flow_timeout_and_none_keeps_the_flows(runtime, start_workers):
    start_workers()
    flow = basic_flows.chain_flow()
    assert runtime.wait(runtime.submit(flow, "source", {"n": 2}), timeout=30).status == "completed"
    quick = runtime.submit(time_limit_flows.sleepy_flow(sleep_s=1.5, timeout=300.0), "source", {"n": 1}, timeout=0.5)
    assert runtime.wait(quick, timeout=30).error == "execution exceeded its timeout of 0.5 s"


def test_time_spent_paused_does_not_count_against_the_deadline(runtime, start_workers):
    job = runtime.submit(basic_flows.chain_flow(), "source", {"n": 2}, timeout=1.0)
    runtime.pause(job, reason="hold on")
    time.sleep(1.5)
    assert runtime.get_job(job).status == "paused"
    start_workers()
    runtime.resume(job)
    assert runtime.wait(job, timeout=30).status == "completed"
