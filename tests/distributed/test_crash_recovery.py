"""Workers and Redis die mid-run; every job still completes, exactly once. Real processes only."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest

import basic_flows
from conftest import RedisServer
from conftest import both_brokers
from waiting import wait_until, workers_up
from routilux.distributed import DistributedRuntime, Settings
from routilux.errors import ExecutionTimeout, StoreUnavailableError

pytestmark = [pytest.mark.distributed, pytest.mark.slow]


def assert_exactly_once(state, n: int) -> None:
    """Every item reached the end once, and each step's effect was committed once."""
    assert state.status == "completed", state.error
    assert sorted(e["got"]["i"] for e in state.shared_log) == list(range(n))
    assert Counter((r.routine_id, r.event_name) for r in state.execution_history)[("slow", "out")] == n


@both_brokers
@pytest.mark.timeout(180)
def test_killing_a_whole_worker_host_mid_job_loses_nothing_and_doubles_nothing(settings, spawn_worker):
    # The queue backstop is out of reach: what the dead host held, claimed or not, comes back by itself.
    strict = settings.with_(redispatch_s=600.0)
    with DistributedRuntime(settings=strict) as runtime:
        doomed = spawn_worker(pool="prefork", concurrency=2, settings_=strict)
        survivor = spawn_worker(pool="prefork", concurrency=2, settings_=strict)
        wait_until(lambda: workers_up(runtime, 2), timeout=60)
        jobs = [runtime.submit(basic_flows.slow_flow(sleep_s=0.4), "source", {"n": 8}) for _ in range(3)]
        wait_until(lambda: sum(len(runtime.get_job(j).shared_log) for j in jobs) >= 3, timeout=60)
        doomed.kill()
        for job_id in jobs:
            assert_exactly_once(runtime.wait(job_id, timeout=45), 8)
    assert survivor.proc.poll() is None


@both_brokers
@pytest.mark.timeout(180)
def test_an_activation_whose_worker_dies_runs_again_on_another_worker(runtime, spawn_worker):
    doomed = spawn_worker(pool="solo", concurrency=1)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    job_id = runtime.submit(basic_flows.slow_flow(sleep_s=5.0), "source", {"n": 1})
    # The slow step is leased by the only worker: kill it while the handler sleeps.
    wait_until(lambda: runtime.store.redis.zcard(runtime.store.keys.leases(runtime.store.keys.bucket_of(job_id))) > 0,
               timeout=60)
    doomed.kill()
    spawn_worker(pool="solo", concurrency=1)
    state = runtime.wait(job_id, timeout=90)
    assert_exactly_once(state, 1)
    pids = {e["pid"] for e in state.shared_log}
    assert doomed.proc.pid not in pids


@pytest.mark.timeout(240)
def test_jobs_complete_after_redis_restarts_with_aof_mid_run(own_redis, spawn_worker):
    server, settings, runtime = own_redis
    spawn_worker(settings_=settings, pool="prefork", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    jobs = [runtime.submit(basic_flows.slow_flow(sleep_s=0.3), "source", {"n": 6}) for _ in range(3)]
    wait_until(lambda: sum(len(runtime.get_job(j).shared_log) for j in jobs) >= 2, timeout=60)
    server.restart()
    for job_id in jobs:
        assert_exactly_once(wait_until(lambda: _try_wait(runtime, job_id), timeout=120), 6)


@pytest.mark.timeout(240)
def test_a_worker_keeps_running_when_redis_restarts_while_it_holds_an_unacknowledged_message(own_redis, spawn_worker):
    # One slow activation on a worker with room for two: at the restart the worker holds that
    # message unacknowledged and is also waiting on the queue, the state in which Celery's
    # reconnect used to close the old channel twice and die on kombu's AttributeError.
    server, settings, runtime = own_redis
    worker = spawn_worker(settings_=settings, pool="prefork", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    job_id = runtime.submit(basic_flows.slow_flow(sleep_s=3.0), "source", {"n": 1})
    time.sleep(1.5)  # the source step is done; the slow step is mid-sleep in a pool child
    server.stop()
    time.sleep(1.0)  # down as long as a container restart: the worker sees the connection go
    server.start()

    def finished():
        assert worker.proc.poll() is None, (worker.folder / "worker.log").read_text()[-3000:]
        return _try_wait(runtime, job_id)

    assert_exactly_once(wait_until(finished, timeout=120), 1)
    log = (worker.folder / "worker.log").read_text()
    assert "Unrecoverable error" not in log
    assert "Couldn't ack" not in log  # the late ack is skipped with our warning, not kombu's CRITICAL


def _try_wait(runtime: DistributedRuntime, job_id: str):
    """Wait a little; a Redis that is still coming back counts as not yet (any other error fails the test)."""
    try:
        return runtime.wait(job_id, timeout=5)
    except (StoreUnavailableError, ExecutionTimeout):
        return None


@pytest.mark.timeout(120)
def test_after_redis_restarts_an_activation_whose_message_was_lost_runs_without_waiting_for_the_backstop(
    tmp_path, spawn_worker
):
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    tag = uuid.uuid4().hex[:8]
    # The queue backstop is out of this test's reach: only restart recovery can send the job again.
    settings = Settings(redis_url=server.url, key_prefix=f"r{tag}", queue=f"r{tag}", lease_s=2.0, outbox_grace_s=0.5,
                        redispatch_s=600.0)
    # A producer whose message no worker will ever read: as if a crash lost it after it was marked sent.
    lossy = DistributedRuntime(settings=settings.with_(queue=f"nowhere-{tag}"))
    try:
        spawn_worker(settings_=settings, pool="solo", concurrency=1)
        wait_until(lambda: workers_up(lossy, 1), timeout=60)
        time.sleep(3 * settings.sweep_interval_s)  # the worker has swept, so it knows this Redis
        job_id = lossy.submit(basic_flows.chain_flow(), "source", {"n": 2})
        with pytest.raises(ExecutionTimeout):
            lossy.wait(job_id, timeout=2.0)  # past the outbox grace: the job waits on the backstop now
        server.restart()
        state = wait_until(lambda: _try_wait(lossy, job_id), timeout=60)
        assert state.status == "completed"
        assert sorted(e["got"]["i"] for e in state.shared_log) == [0, 4]
    finally:
        lossy.close()
        server.stop()


@pytest.mark.timeout(120)
def test_a_message_held_unclaimed_by_a_worker_that_died_runs_without_waiting_for_the_backstop(
    runtime, spawn_worker, settings
):
    # A worker host can die holding a message it received but had not claimed yet (the Redis broker
    # keeps it as unacked for the visibility timeout). The backstop is out of this test's reach.
    strict = settings.with_(redispatch_s=600.0)
    tag = uuid.uuid4().hex[:8]
    with DistributedRuntime(settings=strict.with_(queue=f"held-by-the-dead-{tag}")) as holder:
        holder.store.record_worker(f"dead-{tag}@test", {"pid": 0}, ttl_s=1.0)  # its liveness lapses: it died
        job_id = holder.submit(basic_flows.chain_flow(), "source", {"n": 2})
        spawn_worker(settings_=strict, pool="solo", concurrency=1)
        state = holder.wait(job_id, timeout=60)
    assert state.status == "completed"
    assert sorted(e["got"]["i"] for e in state.shared_log) == [0, 4]
