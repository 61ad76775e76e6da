"""A worker host frozen past its lease, and Redis killed mid-run: every job exact, late commits refused."""

from __future__ import annotations

import os
import signal
import time

import pytest

import reliability_flows
from cluster import assert_exact
from waiting import wait_until
from test_network_faults import running

pytestmark = [pytest.mark.distributed, pytest.mark.slow]


@pytest.mark.timeout(150)
def test_a_host_frozen_past_its_lease_has_its_work_redone_elsewhere_and_its_late_commits_refused(cluster):
    c = cluster(hosts=2, lease_s=2.0)
    frozen = c.start_worker(0)
    c.start_worker(1)
    c.wait_workers(2)
    rt, flow = c.runtime, reliability_flows.work_flow(sleep_s=1.0)
    jobs = [rt.submit(flow, "source", {"n": 6}) for _ in range(3)]
    held = wait_until(lambda: running(reliability_flows.effects(c.folder / "host0")), timeout=60)
    os.killpg(frozen.proc.pid, signal.SIGSTOP)
    try:
        done = {job_id: rt.wait(job_id, timeout=90) for job_id in jobs}
    finally:
        os.killpg(frozen.proc.pid, signal.SIGCONT)
    for state in done.values():
        assert_exact(state, 6)
    # Everything host0 held when it froze was committed by host1 ...
    for job_id, i in held:
        assert [e["host"] for e in done[job_id].shared_log if e.get("i") == i] == ["host1"]
    # ... then host0 woke, finished those handlers and tried to commit them: refused, nothing changed.
    wait_until(lambda: held <= {(j, i) for j, i, _, what in reliability_flows.effects(c.folder / "host0") if what == "end"},
               timeout=30)
    time.sleep(c.settings.lease_s)
    for job_id, before in done.items():
        after = rt.get_job(job_id)
        assert_exact(after, 6)
        assert len(after.execution_history) == len(before.execution_history)
        assert after.shared_log == before.shared_log
    assert frozen.proc.poll() is None  # and host0 lives on


@pytest.mark.timeout(240)
def test_redis_killed_and_restarted_on_its_aof_mid_run_leaves_every_job_exact_without_waiting_for_the_backstop(cluster):
    # A SIGKILL loses what the AOF had not synced (up to a second): messages popped from the queue
    # but never delivered, claims. The queue backstop is set far beyond this test's timeouts, so
    # only the engine noticing the restart can send the lost activations again.
    c = cluster(hosts=2, lease_s=2.0, redispatch_s=600.0)
    c.start_worker(0)
    c.start_worker(1)
    c.wait_workers(2)
    rt, flow = c.runtime, reliability_flows.work_flow(sleep_s=0.3)
    for _ in range(3):
        jobs = [rt.submit(flow, "source", {"n": 8}) for _ in range(4)]
        wait_until(lambda: sum(len(rt.get_job(j).shared_log) for j in jobs) >= 6, timeout=60)
        assert any(rt.get_job(j).status == "running" for j in jobs)
        c.redis.stop(kill=True)
        time.sleep(1.0)
        c.redis.start()
        for job_id in jobs:
            assert_exact(rt.wait(job_id, timeout=40), 8)
