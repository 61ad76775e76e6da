"""Each worker's record of the Redis broker messages it holds: written on delivery, emptied on ack, expiring."""

from __future__ import annotations

import base64
import json
import pickle

import pytest

import basic_flows
from routilux.distributed import DistributedRuntime
from routilux.distributed.batch import BATCH_TASK_NAME
from routilux.distributed.dispatch import Dispatcher
from routilux.distributed.worker.app import create_app
from routilux.distributed.store import RedisStore
from routilux.distributed.worker.fetched import activation_count
from routilux.distributed.worker.sweeper import Sweeper
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


class _Unpickled:
    """Touches ``marker`` if anything ever unpickles it."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (type(self.marker).touch, (self.marker,))


def test_held_messages_are_counted_by_their_activations_and_a_pickled_frame_is_never_decoded(settings, tmp_path):
    app = create_app(settings)
    marker = tmp_path / "unpickled"
    pickled = {"body": base64.b64encode(pickle.dumps(([[_Unpickled(marker)]], {}, {}))).decode(),
               "content-encoding": "binary", "content-type": "application/x-python-serialize",
               "headers": {"task": BATCH_TASK_NAME}, "properties": {"body_encoding": "base64", "delivery_tag": "t"}}
    Dispatcher(app, settings).hand_back([b"a", b"b", b"c"])  # two batch messages: [a, b] and [c]
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        frames = [json.dumps([json.loads(channel.client.rpop(settings.queue)), "", settings.queue]) for _ in range(2)]
        assert sorted(activation_count(channel, frame.encode()) for frame in frames) == [1, 2]
        assert activation_count(channel, json.dumps([pickled, "", settings.queue]).encode()) == 1
    assert not marker.exists()


@pytest.mark.timeout(60)
def test_a_lost_worker_is_kept_for_the_next_sweep_when_the_broker_is_away_and_the_sweep_goes_on(settings):
    unreachable = settings.with_(broker_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    store = RedisStore(unreachable)
    store.record_worker("gone@test", {"pid": 0}, ttl_s=0.05)
    wait_until(lambda: store.lost_workers() == ["gone@test"], timeout=5)
    with DistributedRuntime(settings=settings) as producer:
        job_id = producer.submit(basic_flows.chain_flow(), "source", {"n": 1}, timeout=0.05)
    sweeper = Sweeper(store, Dispatcher(create_app(unreachable), unreachable), "sweeper@test")
    wait_until(lambda: store.timed_out_jobs() == [job_id], timeout=5)
    sweeper.sweep_once()
    assert store.status(job_id) == "failed"  # the rest of the sweep ran: the overdue job ended
    assert store.lost_workers() == ["gone@test"]  # and the lost worker waits for the broker
