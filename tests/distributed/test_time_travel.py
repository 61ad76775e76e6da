"""Time travel and fork: a job's JobState rebuilt after any stream entry, and continued from there as a new job."""

from __future__ import annotations

import pytest

import basic_flows
from routilux.activation import root_id
from routilux.distributed.operations.fork import fork_job
from routilux.distributed.operations.history import positions, replay_job
from routilux.errors import FlowError, JobNotFoundError

pytestmark = pytest.mark.distributed


def comparable(state):
    data = state.serialize()
    return {k: data[k] for k in ("shared_data", "shared_log", "output_log", "routine_states", "deferred_events",
                                 "slot_buffers", "status")}


def test_the_last_position_rebuilds_the_stored_jobstate(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(basic_flows.fan_in_flow("fanin-travel", expected=3), "source", {"n": 3})
    final = runtime.wait(job_id, timeout=30)
    replay = replay_job(runtime.store, job_id)
    assert comparable(replay.state) == comparable(final)
    assert [r.serialize() for r in replay.state.execution_history] == [r.serialize() for r in final.execution_history]
    assert replay.outstanding == {} and replay.entries == len(positions(runtime.store, job_id))


def test_each_position_shows_the_state_as_it_grew(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(basic_flows.chain_flow("chain-grow"), "source", {"n": 3})
    runtime.wait(job_id, timeout=30)
    points = positions(runtime.store, job_id)
    seen = [replay_job(runtime.store, job_id, p["id"]) for p in points]
    logs = [len(r.state.shared_log) for r in seen]
    assert logs == sorted(logs) and logs[-1] == 3
    submitted = seen[[p["act"] for p in points].index("submit")]
    assert submitted.state.status == "running" and list(submitted.outstanding) == [root_id(job_id)]
    assert seen[-1].state.status == "completed" and seen[-1].outstanding == {}
    assert [len(r.state.execution_history) for r in seen] == sorted(len(r.state.execution_history) for r in seen)


def test_a_fork_continues_from_a_position_as_a_new_job_and_leaves_the_original_alone(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(basic_flows.chain_flow("chain-fork"), "source", {"n": 3})
    final = runtime.wait(job_id, timeout=30)
    points = positions(runtime.store, job_id)
    middle = next(p["id"] for p in points if len(replay_job(runtime.store, job_id, p["id"]).state.shared_log) == 1)
    new_id = fork_job(runtime, job_id, middle)
    copy = runtime.wait(new_id, timeout=30)
    assert copy.status == "completed"
    assert len(copy.shared_log) == 3
    assert sorted(str(e["got"]) for e in copy.shared_log) == sorted(str(e["got"]) for e in final.shared_log)
    assert runtime.get_job(job_id).serialize()["shared_log"] == final.serialize()["shared_log"]
    assert comparable(replay_job(runtime.store, new_id).state) == comparable(copy)  # the fork travels in time too
    meta = runtime.store.meta(new_id)
    assert meta["forked_from"] == job_id and meta["forked_at"] == middle
    assert int(meta["expire_at"]) > 0  # the fork keeps the retention a submitted job gets


def test_a_fork_of_a_failed_job_from_before_the_failure_runs_the_failing_step_again(runtime, start_workers):
    start_workers()
    flow = basic_flows.retry_flow("retry-fork", fail_times=1, max_retries=0)
    job_id = runtime.submit(flow, "source", {"n": 1})
    assert runtime.wait(job_id, timeout=30).status == "failed"
    # The entry routine's commit: the first step after the submission.
    before = next(p["id"] for p in positions(runtime.store, job_id) if p["kind"] == "delta" and p["act"] != "submit")
    assert "attempts-flaky-0" not in replay_job(runtime.store, job_id, before).state.shared_data
    forked = runtime.wait(fork_job(runtime, job_id, before), timeout=30)
    # The fork starts where flaky had not run yet: it runs (and fails) again, from its own first attempt.
    assert forked.status == "failed" and forked.shared_data["attempts-flaky-0"] == 1
    assert [r.routine_id for r in forked.execution_history if r.event_name == "error"] == ["flaky"]


def test_bad_positions_and_unknown_jobs_are_typed_errors(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(basic_flows.chain_flow("chain-bad-travel"), "source")
    runtime.wait(job_id, timeout=30)
    with pytest.raises(FlowError, match="not an entry"):
        replay_job(runtime.store, job_id, "1-0")
    with pytest.raises(FlowError, match="nothing to fork"):
        fork_job(runtime, job_id)
    with pytest.raises(JobNotFoundError):
        replay_job(runtime.store, "no-such-job")
    with pytest.raises(JobNotFoundError):
        positions(runtime.store, "no-such-job")


def test_each_position_says_which_routines_ran_which_wait_and_which_failed(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(basic_flows.strategy_flow("default", "strategy-travel"), "source", {"n": 1})
    assert runtime.wait(job_id, timeout=30).status == "failed"
    submitted = next(p for p in positions(runtime.store, job_id) if p["act"] == "submit")
    first = replay_job(runtime.store, job_id, submitted["id"]).routines()
    assert first == {"source": {"status": "running", "runs": 0, "errors": 0}}
    last = replay_job(runtime.store, job_id).routines()
    assert last["source"]["status"] == "completed" and last["source"]["runs"] == 1
    assert last["flaky"] == {"status": "failed", "runs": 1, "errors": 1}
