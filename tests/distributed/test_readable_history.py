"""Every job keeps a readable history: its JobState, each history position, its events and forks read back.

A resumed job whose handler deferred an event is the serialization tutorial's own path: it once left
stream entries that could not be decoded (the resume script logged its timeout arguments as children).
"""

from __future__ import annotations

from typing import Any

import pytest

import basic_flows
import waiting_flows
from waiting import wait_until
from routilux import JobState
from routilux.activation import TIMER_SLOT
from routilux.distributed.operations.fork import fork_job
from routilux.distributed.operations.history import positions, replay_job
from routilux.errors import FlowError

pytestmark = pytest.mark.distributed


def paused_and_settled(runtime: Any, job_id: str) -> bool:
    """The job is paused and its pausing step has committed."""
    summary = runtime.job_summary(job_id)
    return summary["status"] == "paused" and summary["activations"]["done"] == summary["activations"]["known"]


def read_everything(runtime: Any, job_id: str) -> list[Any]:
    """Read a job every way an operator can; returns the replay at each history position."""
    runtime.get_job(job_id)
    runtime.job_summary(job_id)
    assert list(runtime.events(job_id, steps=True))
    replays = []
    for point in positions(runtime.store, job_id):
        replay = replay_job(runtime.store, job_id, point["id"])
        replay.routines()
        JobState().deserialize(replay.state.serialize())
        replays.append(replay)
    return replays


def fork_every_position(runtime: Any, job_id: str) -> list[str]:
    """Fork the job at each position that left work to run; every fork must be readable too."""
    forks = []
    for point in positions(runtime.store, job_id):
        try:
            forks.append(fork_job(runtime, job_id, point["id"]))
        except FlowError as exc:
            assert "nothing was left to run" in str(exc)
    for fork_id in forks:
        runtime.get_job(fork_id)
    return forks


def test_a_resumed_job_whose_handler_deferred_an_event_reads_back_at_every_position(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(basic_flows.deferred_flow("readable-deferred"), "source", {"n": 1})
    wait_until(lambda: paused_and_settled(runtime, job_id), timeout=15)
    runtime.resume(job_id)
    state = runtime.wait(job_id, timeout=30)
    assert state.status == "completed" and [e["got"]["i"] for e in state.shared_log] == [100]
    replays = read_everything(runtime, job_id)
    assert replays[-1].state.status == "completed" and replays[-1].outstanding == {}
    # The resume's entry holds the deferred event's child and nothing else.
    resumed = next(r for r, p in zip(replays, positions(runtime.store, job_id)) if p["act"] == "resume")
    assert [a["slot_routine_id"] for a in resumed.state.pending_tasks] == ["record"]
    assert resumed.state.deferred_events == []
    fork_every_position(runtime, job_id)


def test_a_resumed_job_with_a_new_timeout_and_a_deferred_event_reads_back(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(basic_flows.deferred_flow("readable-deferred-timeout"), "source", {"n": 1})
    wait_until(lambda: paused_and_settled(runtime, job_id), timeout=15)
    runtime.resume(job_id, timeout=60)
    assert runtime.wait(job_id, timeout=30).status == "completed"
    read_everything(runtime, job_id)


def test_the_deferred_event_job_completes_with_a_readable_history_on_the_local_engine():
    flow = basic_flows.deferred_flow("readable-deferred-local")
    state = flow.execute("source", {"n": 1})
    assert state.status == "paused"
    state = JobState().deserialize(state.serialize())  # resumed from its saved form, as on another host
    flow.resume(state)
    assert state.status == "completed" and [e["got"]["i"] for e in state.shared_log] == [100]
    copy = JobState().deserialize(state.serialize())
    assert [(r.routine_id, r.event_name) for r in copy.execution_history] == [
        (r.routine_id, r.event_name) for r in state.execution_history]
    assert ("defer", "later") in [(r.routine_id, r.event_name) for r in copy.execution_history]
    assert copy.deferred_events == []


# -- every scenario ---------------------------------------------------------------------------------
def _slow_calls(job_id: str) -> list[int]:
    return [i for j, i in basic_flows.SLOW_STARTS if j == job_id]


def _completed(runtime: Any, start_workers: Any, settings: Any) -> str:
    start_workers()
    job_id = runtime.submit(basic_flows.fan_in_flow("readable-fanin", expected=3), "source", {"n": 3})
    assert runtime.wait(job_id, timeout=30).status == "completed"
    return job_id


def _paused_then_resumed(runtime: Any, start_workers: Any, settings: Any) -> str:
    start_workers()
    job_id = runtime.submit(basic_flows.slow_flow("readable-pause", sleep_s=0.2), "source", {"n": 4})
    wait_until(lambda: _slow_calls(job_id), timeout=15)
    runtime.pause(job_id, reason="maintenance", checkpoint={"step": 1})
    wait_until(lambda: not runtime.store.redis.hlen(runtime.store.keys.job(job_id, "lease")), timeout=15)
    read_everything(runtime, job_id)  # readable while paused too
    runtime.resume(job_id, timeout=60)
    assert runtime.wait(job_id, timeout=30).status == "completed"
    return job_id


def _forked(runtime: Any, start_workers: Any, settings: Any) -> str:
    start_workers()
    job_id = runtime.submit(basic_flows.chain_flow("readable-fork"), "source", {"n": 3})
    runtime.wait(job_id, timeout=30)
    middle = positions(runtime.store, job_id)[2]["id"]
    fork_id = fork_job(runtime, job_id, middle)
    assert runtime.wait(fork_id, timeout=30).status == "completed"
    return fork_id


def _retried_then_failed(runtime: Any, start_workers: Any, settings: Any) -> str:
    start_workers()
    job_id = runtime.submit(basic_flows.retry_flow("readable-retry", fail_times=2, max_retries=1), "source", {"n": 1})
    assert runtime.wait(job_id, timeout=30).status == "failed"
    return job_id


def _dead_lettered(runtime: Any, start_workers: Any, settings: Any, replay: bool = False) -> str:
    job_id = runtime.submit(basic_flows.chain_flow("readable-dead", n_double=1), "source", {"n": 2})
    (act_id,) = [a.decode() for a in runtime.store.redis.hkeys(runtime.store.keys.job(job_id, "acts"))]
    leases = runtime.store.keys.leases(runtime.store.keys.bucket_of(job_id))
    for _ in range(settings.max_attempts):  # each claimant "dies": its lease expires at once
        assert runtime.store.claim(job_id, act_id, "").outcome == "ok"
        runtime.store.redis.zadd(leases, {f"{job_id}|{act_id}": 0})
    assert runtime.store.claim(job_id, act_id, "").outcome == "dead"
    assert runtime.get_job(job_id).status == "failed"
    if replay:
        start_workers()
        runtime.replay_dead_letter(runtime.dead_letters()[0]["id"])
        assert runtime.wait(job_id, timeout=30).status == "completed"
    return job_id


def _replayed(runtime: Any, start_workers: Any, settings: Any) -> str:
    return _dead_lettered(runtime, start_workers, settings, replay=True)


def _timed_out(runtime: Any, start_workers: Any, settings: Any) -> str:
    start_workers()
    job_id = runtime.submit(basic_flows.slow_flow("readable-timeout", sleep_s=1.5), "source", {"n": 1}, timeout=0.5)
    assert runtime.wait(job_id, timeout=20).status == "failed"
    return job_id


def _cancelled(runtime: Any, start_workers: Any, settings: Any) -> str:
    start_workers()
    job_id = runtime.submit(basic_flows.slow_flow("readable-cancel", sleep_s=0.3), "source", {"n": 4})
    wait_until(lambda: _slow_calls(job_id), timeout=15)
    runtime.cancel(job_id, reason="not needed")
    assert runtime.wait(job_id, timeout=10).status == "cancelled"
    return job_id


SCENARIOS = {
    "completed": _completed, "paused-then-resumed": _paused_then_resumed, "forked": _forked,
    "retried-then-failed": _retried_then_failed, "dead-lettered": _dead_lettered,
    "dead-letter-replayed": _replayed, "timed-out": _timed_out, "cancelled": _cancelled,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_history_position_of_a_job_reads_back_whatever_happened_to_it(runtime, start_workers, settings,
                                                                           scenario):
    job_id = SCENARIOS[scenario](runtime, start_workers, settings)
    final = runtime.get_job(job_id)
    replays = read_everything(runtime, job_id)
    assert replays[-1].state.status == final.status
    assert len(replays[-1].state.execution_history) == len(final.execution_history)
    fork_every_position(runtime, job_id)


def test_a_job_with_timers_reads_back_at_every_position_and_its_forks_keep_the_timers(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(waiting_flows.alarm_flow("readable-timers"), "alarm", {"delay_s": 0.3, "count": 2})
    assert runtime.wait(job_id, timeout=30).status == "completed"
    replays = read_everything(runtime, job_id)
    armed = next(r for r in replays if len(r.state.pending_tasks) == 2)
    assert {t["slot_name"] for t in armed.state.pending_tasks} == {TIMER_SLOT}
    assert replays[-1].outstanding == {}
    for fork_id in fork_every_position(runtime, job_id):
        assert runtime.wait(fork_id, timeout=30).status == "completed"


def test_a_job_that_waited_for_a_post_reads_back_and_a_fork_from_its_wait_still_waits(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(waiting_flows.approval_flow("readable-wait", timeout_s=60), "approve", {"k": 1})
    wait_until(lambda: runtime.job_summary(job_id)["waiting"])
    runtime.post(job_id, "approve", "decision", {"ok": True}, post_id="r-1")
    assert runtime.wait(job_id, timeout=30).status == "completed"
    replays = read_everything(runtime, job_id)
    points = positions(runtime.store, job_id)
    posted = next(i for i, p in enumerate(points) if p["act"] == "post")
    # The post's entry closed the wait: what remains to run is the post, not the wait's timeout.
    assert [t["slot_name"] for t in replays[posted].state.pending_tasks] == ["decision"]
    waiting_fork = fork_job(runtime, job_id, points[posted - 1]["id"])
    assert runtime.job_summary(waiting_fork)["waiting"][0]["slot"] == "decision"
    assert runtime.post(waiting_fork, "approve", "decision", {"ok": False}) == "posted"
    assert runtime.wait(waiting_fork, timeout=30).shared_data["seen"] == [{"tag": "received", "ok": False}]
