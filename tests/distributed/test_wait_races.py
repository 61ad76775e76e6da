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
    # Each post is aimed at its wait's deadline, from 60 ms before it to 60 ms after.
    targets = []
    for n, job in enumerate(jobs):
        until = wait_until(lambda job=job: runtime.job_summary(job)["waiting"])[0]["until"]
        targets.append((datetime.fromisoformat(until).timestamp() + (n % 13 - 6) * 0.01, n, job))
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
def test_timers_and_waits_of_a_sigkilled_worker_fire_once_on_another(settings, runtime, spawn_worker):
    doomed = spawn_worker(("waiting_flows",), pool="threads", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1))
    timers = runtime.submit(waiting_flows.alarm_flow("alarm-kill"), "alarm", {"delay_s": 1.0, "count": 3})
    waits = runtime.submit(waiting_flows.approval_flow("approval-kill", timeout_s=1.5), "approve", {"k": 1})
    wait_until(lambda: runtime.job_summary(waits)["waiting"])
    doomed.kill()
    spawn_worker(("waiting_flows",), pool="threads", concurrency=2)
    assert [e["n"] for e in runtime.wait(timers, timeout=40).shared_data["seen"]] == [0, 1, 2]
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
    assert [e["n"] for e in wait_until(lambda: _try_wait(runtime, timers), timeout=60).shared_data["seen"]] == [0, 1]
    assert tags(wait_until(lambda: _try_wait(runtime, waits), timeout=60)) == ["timed_out"]


def _try_wait(runtime, job_id: str):
    """Wait a little; a Redis still coming back counts as not yet."""
    try:
        return runtime.wait(job_id, timeout=5)
    except (StoreUnavailableError, ExecutionTimeout):
        return None
