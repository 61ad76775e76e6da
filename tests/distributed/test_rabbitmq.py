"""RabbitMQ as the broker while Redis keeps the state: what differs from a Redis broker."""

from __future__ import annotations

import pytest
from kombu import Connection, Exchange, Queue

import basic_flows
from waiting import wait_until
from routilux.distributed import Settings, create_app
from routilux.distributed.operations import stats
from routilux.distributed.store import RedisStore

pytestmark = pytest.mark.distributed


@pytest.fixture
def broker() -> str:
    """Every test here runs on RabbitMQ."""
    return "rabbitmq"


def test_activations_go_through_a_durable_quorum_queue(runtime, start_workers, settings):
    start_workers()
    assert runtime.wait(runtime.submit(basic_flows.chain_flow(), "source", {"n": 1}), timeout=30).status == "completed"
    with Connection(settings.broker_url) as conn:
        # Declaring it again as a classic queue is refused: RabbitMQ has it as a quorum queue.
        classic = Queue(settings.queue, Exchange(settings.queue, "direct", durable=True), routing_key=settings.queue,
                        durable=True, channel=conn.channel())
        with pytest.raises(conn.channel_errors, match="x-queue-type"):
            classic.declare()


def test_classic_queues_are_used_when_asked_for(settings, start_workers):
    from routilux.distributed import DistributedRuntime

    classic = settings.with_(broker_queue_type="classic")  # same queue name: the fixture deletes it
    runtime = DistributedRuntime(settings=classic)
    start_workers(settings_=classic)
    assert runtime.wait(runtime.submit(basic_flows.chain_flow(), "source", {"n": 2}), timeout=30).status == "completed"
    runtime.close()
    with Connection(settings.broker_url) as conn:
        quorum = Queue(settings.queue, Exchange(settings.queue, "direct", durable=True), routing_key=settings.queue,
                       durable=True, queue_arguments={"x-queue-type": "quorum"}, channel=conn.channel())
        with pytest.raises(conn.channel_errors, match="x-queue-type"):
            quorum.declare()


def test_queue_depth_counts_what_waits_on_rabbitmq(runtime, settings):
    store = RedisStore(settings)
    assert stats.queue_depth(store) == 0  # no queue yet: nothing waits
    for n in range(3):
        runtime.submit(basic_flows.chain_flow(), "source", {"n": n})
    assert wait_until(lambda: stats.queue_depth(store) == 3, timeout=10)
    store.close()


def test_the_rabbitmq_app_accepts_only_the_routilux_serializer_and_keeps_state_in_redis(settings):
    app = create_app(settings)
    assert app.conf.broker_url.startswith("amqp://")
    assert list(app.conf.accept_content) == [app.conf.task_serializer]
    assert "pickle" not in app.conf.task_serializer
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert RedisStore(settings).redis.ping()


def test_a_broker_url_that_is_not_a_broker_is_refused(redis_server):
    with pytest.raises(ValueError, match="broker_url"):
        Settings(redis_url=redis_server.url, broker_url="http://127.0.0.1:5672/")
    with pytest.raises(ValueError, match="broker_queue_type"):
        Settings(redis_url=redis_server.url, broker_queue_type="stream")
