"""``async def`` handlers on worker daemons started with ``--pool asyncio`` (real Redis, real subprocesses)."""

from __future__ import annotations

import pytest

import async_flows
import basic_flows
from test_parity import comparable
from waiting import wait_until, workers_up
from routilux import ErrorStrategy
from routilux.distributed.worker.boot import SPARE_CONNECTIONS, celery_pool, sized_for_pool

pytestmark = pytest.mark.distributed

IMPORTS = ("basic_flows", "async_flows")


def test_an_asyncio_worker_is_a_threads_pool_with_a_redis_connection_for_every_coroutine(settings):
    sized = sized_for_pool(settings.with_(pool="asyncio", concurrency=1000, redis_max_connections=512))
    assert celery_pool("asyncio") == "threads" and celery_pool("prefork") == "prefork"
    assert sized.redis_max_connections == 1000 + SPARE_CONNECTIONS
    assert sized_for_pool(settings.with_(pool="threads", concurrency=1000)).redis_max_connections == 512
    with pytest.raises(ValueError):
        settings.with_(pool="gevent")


@pytest.mark.timeout(90)
def test_async_and_sync_handlers_on_an_asyncio_worker_end_in_the_local_engines_state(runtime, spawn_worker):
    spawn_worker(imports=IMPORTS, pool="asyncio", concurrency=20)
    wait_until(lambda: workers_up(runtime, 1), timeout=30)
    local = async_flows.async_flow(flow_id="a-parity", sleep_s=0.05, expected=4).execute("source", {"n": 4})
    assert local.status == "completed" and local.shared_data["total"] == 12
    remote = runtime.wait(runtime.submit(async_flows.async_flow(flow_id="a-parity", sleep_s=0.05, expected=4),
                                         "source", {"n": 4}), timeout=30)
    assert comparable(remote) == comparable(local)
    assert remote.shared_data["doubled"] == 4 and remote.shared_data["fired"] == 1
    retries = [r for r in remote.execution_history if r.routine_id == "flaky" and r.event_name == "retry"]
    assert len(retries) == 4 and {r.data["error_type"] for r in retries} == {"RuntimeError"}
    sync = runtime.wait(runtime.submit(basic_flows.fan_in_flow(flow_id="a-sync", expected=3), "source", {"n": 3}),
                        timeout=30)
    assert sync.status == "completed" and sync.shared_data["total"] == 6


@pytest.mark.timeout(90)
def test_an_asyncio_workers_time_limits_cancel_awaiting_handlers_and_the_soft_one_can_be_caught(
    runtime, spawn_worker, settings
):
    limited = settings.with_(max_attempts=2)
    runtime.store.settings = limited
    spawn_worker(imports=IMPORTS, pool="asyncio", concurrency=4, settings_=limited)
    wait_until(lambda: workers_up(runtime, 1), timeout=30)
    caught = runtime.submit(async_flows.nap_flow("a-caught", soft_s=0.3), "source", {"n": 1})
    uncaught = runtime.submit(async_flows.nap_flow("a-uncaught", sleep_s=5.0, soft_s=0.2, catch=False,
                                                   strategy=ErrorStrategy.CONTINUE), "source", {"n": 1})
    hard = runtime.submit(async_flows.nap_flow("a-hard", sleep_s=2.0, stubborn=True, soft_s=0.2, hard_s=0.6),
                          "source", {"n": 1})
    state = runtime.wait(caught, timeout=30)
    assert state.status == "completed"
    assert [e["got"] for e in state.shared_log] == [{"i": 0, "caught": True}]
    state = runtime.wait(uncaught, timeout=30)
    assert state.status == "completed"
    [record] = [r for r in state.execution_history if r.routine_id == "nap"]
    assert record.event_name == "error_continued" and record.data["error_type"] == "SoftTimeLimitExceeded"
    state = runtime.wait(hard, timeout=30)
    assert state.status == "failed" and state.shared_log == []
    [dead] = [d for d in runtime.dead_letters() if d.get("job") == hard]
    assert "gave up after 2 attempts" in dead["reason"]
    assert "ran past its hard time limit of 0.6 s" in dead["reason"]


@pytest.mark.timeout(90)
def test_a_killed_asyncio_workers_awaiting_activations_run_again_elsewhere_and_count_once(
    runtime, spawn_worker, settings
):
    short = settings.with_(lease_s=1.5)
    runtime.store.settings = short
    doomed = spawn_worker(imports=IMPORTS, pool="asyncio", concurrency=50, settings_=short)
    wait_until(lambda: workers_up(runtime, 1), timeout=30)
    job_id = runtime.submit(async_flows.fan_out_flow("a-crash", sleep_s=2.0), "source", {"n": 30})
    store = runtime.store
    leases = store.keys.leases(store.keys.bucket_of(job_id))
    wait_until(lambda: store.redis.zcard(leases) >= 30, timeout=30)  # every double is awaiting on the doomed worker
    doomed.kill()
    spawn_worker(imports=IMPORTS, pool="asyncio", concurrency=50, settings_=short)
    state = runtime.wait(job_id, timeout=60)
    assert state.status == "completed"
    assert state.shared_data["doubled"] == 30
    emitted = sorted(r.data["i"] for r in state.execution_history if r.routine_id == "double" and r.event_name == "out")
    assert emitted == [2 * k for k in range(30)]
