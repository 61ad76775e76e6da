"""A producer waiting for its jobs rides out a Redis restart (found by the docker-compose run)."""

from __future__ import annotations

import threading

import pytest

import basic_flows
from conftest import free_port
from waiting import wait_until, workers_up
from routilux.distributed import DistributedRuntime
from routilux.errors import StoreUnavailableError

pytestmark = [pytest.mark.distributed, pytest.mark.slow]


@pytest.mark.timeout(120)
def test_wait_returns_the_finished_job_when_redis_restarts_while_it_waits(own_redis, spawn_worker):
    server, settings, runtime = own_redis
    spawn_worker(settings_=settings, pool="prefork", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    job_id = runtime.submit(basic_flows.slow_flow(sleep_s=0.3), "source", {"n": 6})
    outcome: dict[str, object] = {}
    waiter = threading.Thread(target=lambda: outcome.update(state=runtime.wait(job_id, timeout=90)))
    waiter.start()
    wait_until(lambda: len(runtime.get_job(job_id).shared_log) >= 1, timeout=60)
    server.restart()
    waiter.join(100)
    assert outcome["state"].status == "completed"
    assert sorted(e["got"]["i"] for e in outcome["state"].shared_log) == list(range(6))


@pytest.mark.timeout(30)
def test_wait_on_a_redis_that_stays_away_raises_store_unavailable_after_its_timeout():
    runtime = DistributedRuntime(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailableError):
        runtime.wait("any-job", timeout=1.5)
