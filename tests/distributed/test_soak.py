"""A soak run: thousands of small jobs for half a minute; Redis memory stays flat once retention applies."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import reliability_flows
from cluster import assert_exact
from waiting import wait_until
from routilux.distributed import DistributedRuntime, Settings

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

PRODUCERS, MIN_JOBS_EACH, WAVE = 4, 500, 25
TTL_S = 5.0
# Long enough for several TTLs to pass under load, however fast the machine runs the jobs.
DURATION_S = 6 * TTL_S


def produce(settings: Settings, flow_hash: str, until: float) -> int:
    """Submit one-item jobs in waves until ``until`` (and at least MIN_JOBS_EACH); check each one exact."""
    done = 0
    with DistributedRuntime(settings=settings) as rt:
        while done < MIN_JOBS_EACH or time.monotonic() < until:
            jobs = [rt.submit(flow_hash, "source", {"n": 1}) for _ in range(WAVE)]
            for job_id in jobs:
                assert_exact(rt.wait(job_id, timeout=60), 1)
            done += WAVE
    return done


@pytest.mark.timeout(300)
def test_thousands_of_jobs_leave_redis_memory_flat_once_retention_applies(cluster):
    c = cluster(hosts=2, lease_s=2.0, completed_ttl_s=TTL_S)
    for index in (0, 1):
        c.start_worker(index, concurrency=3)
    c.wait_workers(2)
    flow_hash = c.runtime.publish(reliability_flows.work_flow(sleep_s=0.0))
    redis = c.runtime.store.redis
    samples: list[tuple[float, int, int]] = []  # (seconds since start, used_memory, keys)
    started = time.monotonic()
    with ThreadPoolExecutor(PRODUCERS) as pool:
        running = [pool.submit(produce, c.settings, flow_hash, started + DURATION_S) for _ in range(PRODUCERS)]
        while not all(f.done() for f in running):
            time.sleep(1.0)
            samples.append((time.monotonic() - started, redis.info("memory")["used_memory"], redis.dbsize()))
        done = sum(f.result() for f in running)
    elapsed = time.monotonic() - started
    settled = [s for s in samples if s[0] > 2 * TTL_S]
    third = max(1, len(settled) // 3)
    early = statistics.mean(m for _, m, _ in settled[:third])
    late = statistics.mean(m for _, m, _ in settled[-third:])
    print(f"\nsoak: {done} jobs in {elapsed:.1f} s ({done / elapsed:.0f} jobs/s); used_memory after warm-up "
          f"{early / 1024:.0f} KiB -> {late / 1024:.0f} KiB; keys {settled[0][2]} -> {settled[-1][2]}")
    # Without retention memory grows with every job (about 2-3x between these windows); with it, it is flat.
    assert late < 1.25 * early
    # Once the last TTL has passed, no key of any of those jobs is left, and the jobs index is empty again.
    prefix = f"{c.settings.key_prefix}:job:"
    wait_until(lambda: not any(True for _ in redis.scan_iter(match=f"{prefix}*", count=1000)), timeout=3 * TTL_S)
    wait_until(lambda: c.runtime.jobs() == [], timeout=3 * TTL_S)
