"""A post and a wait's timeout racing on different worker processes resolve to exactly one outcome;
timers and waits survive a SIGKILLed worker and a Redis restart on AOF. Real Redis, subprocess workers."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime

import pytest

import waiting_flows
from routilux.errors import ExecutionTimeout, JobNotRunningError, StoreUnavailableError
from waiting import wait_until, workers_up

pytestmark = pytest.mark.distributed


def tags(state) -> list[str]:
    return [entry["tag"] for entry in state.shared_data.get("seen", [])]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_post_racing_a_wait_timeout_on_two_hosts_ends_the_wait_exactly_once(runtime, spawn_worker):
    spawn_worker(("waiting_flows",), pool="threads", concurrency=4)
    spawn_worker(("waiting_flows",), pool="threads", concurrency=4)
    wait_until(lambda: workers_up(runtime, 2))
    flow = runtime.publish(waiting_flows.approval_flow("approval-race", timeout_s=1.0))
    jobs = [runtime.submit(flow, "approve", {"n": n}) for n in range(40)]
    # Most posts are aimed at their wait's deadline, from 60 ms before it to 60 ms after; the rest
    # from 0.25 s to 3.5 s after, so the timeout wins some even when a loaded host runs it late.
    targets = []
    for n, job in enumerate(jobs):
        until = wait_until(lambda job=job: runtime.job_summary(job)["waiting"])[0]["until"]
        offset = (n % 13 - 6) * 0.01 if n < 26 else (n - 25) * 0.25
        targets.append((datetime.fromisoformat(until).timestamp() + offset, n, job))
    answers = {}
    for at, n, job in sorted(targets):
        time.sleep(max(0.0, at - time.time()))
        try:
            answers[job] = runtime.post(job, "approve", "decision", {"n": n})
        except JobNotRunningError:  # the timeout won, and the job has already ended
            answers[job] = "ended"
    for job in jobs:
        state = runtime.wait(job, timeout=30)
        assert state.status == "completed"
        assert tags(state) == (["received"] if answers[job] == "posted" else ["timed_out"]), (job, answers[job])
    counts = Counter(answers.values())
    assert counts["posted"] and counts["late"] + counts["ended"], counts


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_timers_waits_and_posts_pending_when_a_worker_is_sigkilled_run_once_on_another(settings, runtime, spawn_worker):
    doomed = spawn_worker(("waiting_flows",), pool="threads", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1))
    timers = runtime.submit(waiting_flows.alarm_flow("alarm-kill"), "alarm", {"delay_s": 1.0, "count": 3})
    waits = runtime.submit(waiting_flows.approval_flow("approval-kill", timeout_s=1.5), "approve", {"k": 1})
    posted = runtime.submit(waiting_flows.approval_flow("approval-kill", timeout_s=30), "approve", {"k": 2})
    wait_until(lambda: runtime.job_summary(waits)["waiting"] and runtime.job_summary(posted)["waiting"])
    doomed.kill()
    assert runtime.post(posted, "approve", "decision", {"while": "no worker"}) == "posted"
    spawn_worker(("waiting_flows",), pool="threads", concurrency=2)
    assert tags(runtime.wait(posted, timeout=40)) == ["received"]
    # Overdue timers may fire side by side on the new worker: each once, in any order.
    assert sorted(e["n"] for e in runtime.wait(timers, timeout=40).shared_data["seen"]) == [0, 1, 2]
    assert tags(runtime.wait(waits, timeout=40)) == ["timed_out"]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_pending_timers_and_waits_survive_a_redis_restart_on_aof_and_fire_once(own_redis, spawn_worker):
    server, settings, runtime = own_redis
    spawn_worker(("waiting_flows",), settings_=settings, pool="threads", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    timers = runtime.submit(waiting_flows.alarm_flow("alarm-aof"), "alarm", {"delay_s": 2.0, "count": 2})
    waits = runtime.submit(waiting_flows.approval_flow("approval-aof", timeout_s=2.5), "approve", {"k": 2})
    wait_until(lambda: runtime.job_summary(waits)["waiting"]
               and runtime.get_job(timers).get_execution_history("alarm"), timeout=30)
    server.restart()
    fired = wait_until(lambda: _try_wait(runtime, timers), timeout=60).shared_data["seen"]
    assert sorted(e["n"] for e in fired) == [0, 1]
    assert tags(wait_until(lambda: _try_wait(runtime, waits), timeout=60)) == ["timed_out"]


def _try_wait(runtime, job_id: str):
    """Wait a little; a Redis still coming back counts as not yet."""
    try:
        return runtime.wait(job_id, timeout=5)
    except (StoreUnavailableError, ExecutionTimeout):
        return None


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_a_post_that_comes_before_its_wait_opens_answers_that_wait_once(runtime, spawn_worker):
    spawn_worker(("waiting_flows",), pool="threads", concurrency=4)
    spawn_worker(("waiting_flows",), pool="threads", concurrency=4)
    wait_until(lambda: workers_up(runtime, 2))
    flow = runtime.publish(waiting_flows.approval_flow("approval-early", timeout_s=0.5))
    jobs = [runtime.submit(flow, "approve", {"n": n}) for n in range(30)]
    answers = {job: runtime.post(job, "approve", "decision", {"early": True}) for job in jobs}
    for job in jobs:
        state = runtime.wait(job, timeout=30)
        assert state.status == "completed"
        assert tags(state) == (["received"] if answers[job] == "posted" else ["timed_out"]), (job, answers[job])
    assert "posted" in answers.values()
