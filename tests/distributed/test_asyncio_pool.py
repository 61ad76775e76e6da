"""``async def`` handlers on worker daemons started with ``--pool asyncio`` (real Redis, real subprocesses)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

import async_flows
import basic_flows
from conftest import both_brokers
from test_parity import comparable
from waiting import wait_until, workers_up
from routilux import ErrorStrategy
from routilux.aio import LoopThread
from routilux.distributed.worker.handler_call import HandlerCall
from routilux.errors import HardTimeLimitExceeded, SoftTimeLimitExceeded
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


@both_brokers
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
@pytest.mark.parametrize("pool", ["asyncio", "prefork"])
def test_time_limits_cancel_awaiting_handlers_and_the_soft_one_can_be_caught(runtime, spawn_worker, settings, pool):
    limited = settings.with_(max_attempts=2)
    runtime.store.settings = limited
    spawn_worker(imports=IMPORTS, pool=pool, concurrency=4 if pool == "asyncio" else 2, settings_=limited)
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


def _call_in_thread(call: HandlerCall, coro) -> concurrent.futures.Future:
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(call.awaiter, coro)
    pool.shutdown(wait=False)
    return future


def test_the_hard_limit_cancels_an_awaiting_coroutine_and_frees_its_thread_with_a_typed_error():
    ended = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            ended.set()

    call = HandlerCall(LoopThread("test-hard"), None, 0.1)
    future = _call_in_thread(call, forever())
    wait_until(lambda: call.task is not None, timeout=5)
    call.hard()
    with pytest.raises(HardTimeLimitExceeded):
        future.result(timeout=5)
    assert ended.is_set()


def test_a_soft_limit_on_a_coroutine_awaiting_another_task_fails_the_step_with_soft_time_limit_exceeded():
    async def awaits_a_task() -> None:
        await asyncio.ensure_future(asyncio.sleep(3600))

    call = HandlerCall(LoopThread("test-soft"), None, 0.1)
    future = _call_in_thread(call, awaits_a_task())
    wait_until(lambda: call.task is not None, timeout=5)
    call.soft()
    with pytest.raises(SoftTimeLimitExceeded, match="soft time limit of 0.1 s"):
        future.result(timeout=5)


def test_a_limit_that_passes_before_the_coroutine_starts_applies_as_it_starts():
    loop = LoopThread("test-early")
    gate = threading.Event()
    loop.loop.call_soon_threadsafe(gate.wait, 5)  # the loop is busy: the coroutine cannot start yet

    async def nap() -> str:
        try:
            await asyncio.sleep(3600)
        except SoftTimeLimitExceeded:
            return "caught"
        return "slept"

    call = HandlerCall(loop, None, 0.1)
    future = _call_in_thread(call, nap())
    wait_until(lambda: call.awaiting, timeout=5)
    call.soft()
    gate.set()
    assert future.result(timeout=5) == "caught"
