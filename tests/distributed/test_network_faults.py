"""Worker hosts in their own network namespaces; the link between a host and Redis fails for real.

Every scenario ends with every job exact: each item's effect once in the
results, the shared log, the outputs and the execution history.
"""

from __future__ import annotations

import time

import pytest

import reliability_flows
from cluster import assert_exact
from waiting import wait_until

pytestmark = [pytest.mark.distributed, pytest.mark.slow]


def running(rows: list[tuple[str, int, int, str]]) -> set[tuple[str, int]]:
    """Items a host has started and not finished."""
    started = {(job, i) for job, i, _, what in rows if what == "start"}
    return started - {(job, i) for job, i, _, what in rows if what == "end"}


@pytest.mark.timeout(150)
def test_a_host_cut_off_from_redis_for_several_leases_loses_nothing_and_takes_work_again_when_healed(cluster):
    c = cluster(hosts=2, lease_s=2.0)
    c.start_worker(0)
    other = c.start_worker(1)
    c.wait_workers(2)
    rt, flow = c.runtime, reliability_flows.work_flow(sleep_s=1.0)
    jobs = [rt.submit(flow, "source", {"n": 6}) for _ in range(3)]
    cut_off = wait_until(lambda: running(reliability_flows.effects(c.folder / "host0")), timeout=60)
    c.hosts[0].cut()

    def taken_over() -> bool:
        """host1 committed an item host0 was running when it was cut off."""
        return any(e.get("host") == "host1" and (j, e["i"]) in cut_off for j in jobs for e in rt.get_job(j).shared_log)

    wait_until(taken_over, timeout=30)  # past the lease of what host0 was running, host1 runs it again
    time.sleep(3 * c.settings.lease_s)  # several leases in all
    c.hosts[0].heal()
    for job_id in jobs:
        assert_exact(rt.wait(job_id, timeout=90), 6)
    # Healed, host0 takes work again without a restart: with host1 gone, only host0 can finish these.
    assert other.terminate(timeout=60) == 0
    later = [rt.submit(flow, "source", {"n": 4}) for _ in range(2)]
    for job_id in later:
        state = rt.wait(job_id, timeout=90)
        assert_exact(state, 4)
        assert {e["host"] for e in state.shared_log if "i" in e} == {"host0"}


@pytest.mark.timeout(150)
def test_packet_loss_and_latency_on_a_hosts_link_leave_every_job_exact(cluster):
    c = cluster(hosts=2, lease_s=2.0)
    means = c.hosts[0].impair(loss_pct=5, delay_ms=40)
    assert means in ("netem", "iptables+nfqueue")
    c.start_worker(0)
    c.wait_workers(1)
    rt, flow = c.runtime, reliability_flows.work_flow(sleep_s=0.05)
    jobs = [rt.submit(flow, "source", {"n": 8}) for _ in range(6)]
    # The lossy host works alone for a while (every round trip of it crosses the bad link) ...
    wait_until(lambda: sum(1 for *_, what in reliability_flows.effects(c.folder / "host0") if what == "end") >= 6, timeout=60)
    # ... then a healthy host joins; leases the slow one loses to late renewals run again there.
    c.start_worker(1)
    states = [rt.wait(job_id, timeout=120) for job_id in jobs]
    for state in states:
        assert_exact(state, 8)
    assert any(e["host"] == "host0" for s in states for e in s.shared_log if "i" in e)
    dropped, delayed = c.hosts[0].impaired_packets()
    assert dropped > 0 and delayed > 0
