"""Workers and Redis die mid-run; every job still completes, exactly once. Real processes only."""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter

import pytest
import redis

import basic_flows
from conftest import RedisServer
from conftest import both_brokers
from waiting import wait_until, workers_up
from routilux.distributed import DistributedRuntime, Settings
from routilux.distributed.worker.app import delete_amqp_queues
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


LOST_WORKER_LINE = re.compile(r"worker (\S+) stopped without shutting down: (\d+) messages \((\d+) activations\)")


def lost_worker_resends(log_path, worker: str) -> tuple[int, int] | None:
    """(messages, activations) the sweeper of the worker logging at ``log_path`` put back for ``worker``."""
    for match in LOST_WORKER_LINE.finditer(log_path.read_text(errors="replace")):
        if match.group(1) == worker:
            return int(match.group(2)), int(match.group(3))
    return None


@both_brokers
@pytest.mark.timeout(240)
def test_a_worker_killed_holding_fetched_messages_costs_resends_of_what_it_held_not_the_backlog(
    spawn_worker, settings
):
    # The doomed worker is killed holding two messages (its prefetch): running slow steps, and in a
    # batch message (two bodies each) a second step received but not claimed. A backlog waits for other
    # workers. The queue backstop is out of reach: only lost-worker recovery (or RabbitMQ itself)
    # can bring back what it held, and it must not touch the backlog.
    strict = settings.with_(redispatch_s=600.0, dispatch_spread=2)
    tag = uuid.uuid4().hex[:8]
    with DistributedRuntime(settings=strict) as held_rt, \
            DistributedRuntime(settings=strict.with_(queue=f"others-{tag}", queues=(f"others-{tag}",))) as others:
        doomed = spawn_worker(settings_=strict, pool="prefork", concurrency=2)
        wait_until(lambda: workers_up(held_rt, 1), timeout=60)
        held_job = held_rt.submit(basic_flows.slow_flow(sleep_s=4.0), "source", {"n": 4})
        backlog = [others.submit(basic_flows.chain_flow(), "source", {"n": 1}) for _ in range(60)]
        wait_until(lambda: _leases(held_rt, held_job) >= 2, timeout=60)  # both children run a slow step
        doomed.kill()
        held = None if strict.broker_is_amqp else _unacked(strict)
        survivor = spawn_worker(settings_=strict, pool="prefork", concurrency=2)
        messages, activations = wait_until(lambda: lost_worker_resends(survivor.folder / "worker.log", doomed.name),
                                           timeout=60)
        if held is None:  # RabbitMQ requeued them when the connection closed
            assert (messages, activations) == (0, 0)
        else:
            assert messages == held == 2
            assert messages <= activations <= 1 + 4  # the held job's source and slow steps, at most
        assert_exactly_once(held_rt.wait(held_job, timeout=120), 4)
        assert all(others.get_job(job_id).shared_log == [] for job_id in backlog)  # nothing sent it anywhere
        spawn_worker(settings_=others.settings, pool="prefork", concurrency=2)
        for job_id in backlog:
            done = others.wait(job_id, timeout=60)
            assert done.status == "completed" and [e["got"]["i"] for e in done.shared_log] == [0]
    if strict.broker_is_amqp:
        delete_amqp_queues(strict, [f"others-{tag}"])


def _leases(rt: DistributedRuntime, job_id: str) -> int:
    store = rt.store
    return store.redis.zcard(store.keys.leases(store.keys.bucket_of(job_id)))


def _unacked(settings: Settings) -> int:
    """How many messages the Redis broker holds as delivered and not acknowledged."""
    client = redis.Redis.from_url(settings.broker_url or settings.redis_url)
    try:
        return client.hlen(f"{settings.key_prefix}:broker:unacked")
    finally:
        client.close()
