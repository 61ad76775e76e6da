"""Redis Sentinel: the store and the Redis broker follow a failover, and jobs complete after it."""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterator

import pytest

import basic_flows
from waiting import wait_until, workers_up
from routilux.distributed import DistributedRuntime, Settings
from routilux.distributed.redis_options import broker_url, parse_sentinel_url

pytestmark = pytest.mark.distributed


@pytest.fixture
def sentinel_group(tmp_path: Any) -> Iterator[Any]:
    from sentinels import SentinelGroup

    group = SentinelGroup(tmp_path / "sentinel")
    yield group
    group.close()


def test_a_sentinel_url_names_every_sentinel_the_database_and_the_masters_credentials():
    parsed = parse_sentinel_url("sentinel://app:s%3Acret@h1:26379;h2:26380;sentinel://h3/2")
    assert parsed.sentinels == (("h1", 26379), ("h2", 26380), ("h3", 26379))
    assert (parsed.db, parsed.username, parsed.password) == (2, "app", "s:cret")
    settings = Settings(redis_url="sentinel://h1:26379;h2:26380/2", redis_password="pw")
    assert broker_url(settings) == "sentinel://:pw@h1:26379/2;sentinel://h2:26380/2"
    with pytest.raises(ValueError, match="sentinel"):
        parse_sentinel_url("sentinel:///0")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_jobs_complete_after_the_master_is_killed_and_a_sentinel_fails_over(sentinel_group, settings, spawn_worker):
    sentinel_settings = settings.with_(redis_url=sentinel_group.url, redis_sentinel_master="routilux-test",
                                       commit_wait_replicas=1, lease_s=3.0)
    runtime = DistributedRuntime(settings=sentinel_settings)
    try:
        spawn_worker(pool="prefork", concurrency=2, settings_=sentinel_settings)
        wait_until(lambda: workers_up(runtime, 1), timeout=60)
        jobs = [runtime.submit(basic_flows.slow_flow(sleep_s=0.3), "source", {"n": 6}) for _ in range(3)]
        wait_until(lambda: sum(len(runtime.get_job(j).shared_log) for j in jobs) >= 2, timeout=60)
        old = sentinel_group.kill_master()
        wait_until(lambda: sentinel_group.master()[1] != old, timeout=30)
        for job_id in jobs:
            state = runtime.wait(job_id, timeout=120)
            assert state.status == "completed", state.error
            assert sorted(e["got"]["i"] for e in state.shared_log) == list(range(6))
            assert Counter((r.routine_id, r.event_name) for r in state.execution_history)[("slow", "out")] == 6
        # After the failover the producer submits to the new master as well.
        after = runtime.wait(runtime.submit(basic_flows.chain_flow(), "source", {"n": 2}), timeout=60)
        assert after.status == "completed"
        assert sentinel_group.master()[1] == sentinel_group.replica_port
    finally:
        runtime.close()


def test_waiting_for_a_replica_that_does_not_exist_warns_and_goes_on(settings, start_workers, caplog):
    lonely = settings.with_(commit_wait_replicas=1, commit_wait_timeout_s=0.05)
    runtime = DistributedRuntime(settings=lonely)
    try:
        start_workers(settings_=lonely)
        with caplog.at_level("WARNING", logger="routilux.distributed"):
            state = runtime.wait(runtime.submit(basic_flows.chain_flow(), "source", {"n": 1}), timeout=30)
        assert state.status == "completed"
        assert "reached 0 of 1 replicas" in caplog.text
    finally:
        runtime.close()
