"""Each worker's record of the Redis broker messages it holds: written on delivery, emptied on ack, expiring."""

from __future__ import annotations

import pytest

import basic_flows
from waiting import wait_until, workers_up

pytestmark = [pytest.mark.distributed]


def _fetched(runtime, worker: str) -> tuple[set[str], int]:
    """(delivery tags in ``worker``'s record, its time to live in ms)."""
    store = runtime.store
    key = store.keys.broker_prefix + store.keys.fetched(worker)
    return {t.decode() for t in store.redis.smembers(key)}, store.redis.pttl(key)


@pytest.mark.timeout(120)
def test_a_worker_records_each_message_it_holds_until_it_acknowledges_it(runtime, start_workers, settings):
    start_workers(pool="threads", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=30)
    (worker,) = runtime.workers()
    job_id = runtime.submit(basic_flows.slow_flow(sleep_s=1.5), "source", {"n": 2})
    tags, ttl_ms = wait_until(lambda: _fetched(runtime, worker)[0] and _fetched(runtime, worker), timeout=30)
    unacked = runtime.store.keys.broker_prefix + "unacked"
    assert all(runtime.store.redis.hexists(unacked, tag) for tag in tags)  # each one a held message
    assert 0 < ttl_ms <= settings.visibility_timeout_s * 1000  # it outlives no message kombu would restore anyway
    assert runtime.wait(job_id, timeout=60).status == "completed"
    assert wait_until(lambda: _fetched(runtime, worker) == (set(), -2), timeout=10)  # acked: the record is gone
