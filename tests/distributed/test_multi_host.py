"""Several worker "hosts" (subprocesses, each in its own working directory, sharing only the Redis URL)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

import basic_flows
import extra_flows
from conftest import HERE, ROOT
from waiting import wait_until, workers_up

pytestmark = [pytest.mark.distributed, pytest.mark.slow]



@pytest.mark.timeout(180)
def test_an_aggregator_fed_from_two_hosts_fires_exactly_once(runtime, spawn_worker):
    spawn_worker(pool="prefork", concurrency=2)
    spawn_worker(pool="threads", concurrency=4)
    wait_until(lambda: workers_up(runtime, 2), timeout=60)
    job_id = runtime.submit(basic_flows.fan_in_flow(expected=40, sleep_s=0.01), "source", {"n": 40})
    state = runtime.wait(job_id, timeout=120)
    assert state.status == "completed"
    assert state.shared_data["fired"] == 1
    assert state.shared_data["total"] == sum(2 * k for k in range(40))
    assert Counter(r.event_name for r in state.execution_history if r.routine_id == "double")["out"] == 40


@pytest.mark.timeout(180)
def test_a_worker_that_lacks_a_routine_class_hands_the_work_to_one_that_has_it(runtime, spawn_worker):
    spawn_worker(imports=("basic_flows",), pool="solo", concurrency=1)
    spawn_worker(imports=("basic_flows", "extra_flows"), pool="solo", concurrency=1)
    wait_until(lambda: workers_up(runtime, 2), timeout=60)
    jobs = [runtime.submit(extra_flows.extra_flow(), "source", {"n": 3}) for _ in range(3)]
    for job_id in jobs:
        state = runtime.wait(job_id, timeout=120)
        assert state.status == "completed", state.error
        assert sorted(e["got"]["i"] for e in state.shared_log) == [1000, 1001, 1002]


@pytest.mark.timeout(180)
def test_an_activation_no_worker_can_run_ends_in_the_dead_letter_stream_naming_the_fix(runtime, spawn_worker, settings):
    strict = settings.with_(max_attempts=2)
    spawn_worker(imports=("basic_flows",), pool="solo", concurrency=1, settings_=strict)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    job_id = runtime.submit(extra_flows.extra_flow(), "source", {"n": 1})
    state = runtime.wait(job_id, timeout=120)
    assert state.status == "failed"
    assert "dead-letter" in state.error
    letter = runtime.dead_letters()[0]
    assert letter["job"] == job_id
    assert "extra_flows.Extra" in letter["reason"]
    assert "--import extra_flows" in letter["reason"]


@pytest.mark.timeout(180)
def test_a_worker_stopped_with_sigterm_finishes_its_work_and_another_host_continues(runtime, spawn_worker):
    first = spawn_worker(pool="prefork", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    job_id = runtime.submit(basic_flows.slow_flow(sleep_s=0.5), "source", {"n": 8})
    wait_until(lambda: len(runtime.get_job(job_id).shared_log) >= 1, timeout=60)
    assert first.terminate(timeout=60) == 0
    assert runtime.get_job(job_id).status == "running"
    spawn_worker(pool="prefork", concurrency=2)
    state = runtime.wait(job_id, timeout=120)
    assert state.status == "completed"
    assert sorted(e["got"]["i"] for e in state.shared_log) == list(range(8))


@pytest.mark.timeout(180)
def test_a_job_paused_here_is_resumed_from_another_process_and_finishes_on_any_worker(runtime, spawn_worker, settings):
    spawn_worker(pool="threads", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    job_id = runtime.submit(basic_flows.slow_flow(sleep_s=0.3), "source", {"n": 6})
    runtime.pause(job_id, reason="hold")
    script = (
        "import json, sys\n"
        "from routilux.distributed import DistributedRuntime, Settings\n"
        "s = Settings(**json.loads(sys.argv[1]))\n"
        "rt = DistributedRuntime(settings=s)\n"
        "rt.resume(sys.argv[2])\n"
        "print(rt.wait(sys.argv[2], timeout=90).status)\n"
    )
    args = json.dumps({"redis_url": settings.redis_url, "key_prefix": settings.key_prefix, "queue": settings.queue,
                       "lease_s": settings.lease_s})
    out = subprocess.run([sys.executable, "-c", script, args, job_id], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": f"{ROOT}:{HERE}", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "completed"
    state = runtime.get_job(job_id)
    assert sorted(e["got"]["i"] for e in state.shared_log) == list(range(6))
