"""Plain Celery doing the benchmark's work, the baseline of bench/compare_distributed.py.

Same Redis as Routilux in the same run, its own key prefix, and the same
reliability settings as ``routilux.distributed.worker.app.celery_config``: late acks,
reject on worker lost, prefetch 1, results ignored, reconnect forever, the
same visibility timeout, msgpack on the wire. Only the work differs: there is
no claim, no commit and no state, just the messages.

* ``step(n, run)`` enqueues ``step(n - 1, run)`` while ``n > 1``; the last one
  pushes a done marker (``step(N)`` is N task executions, one after the other).
* ``fanout(n, run)`` enqueues ``n`` ``noop(run, n)`` tasks through one producer
  (as Routilux's dispatcher does); each noop INCRs a counter and the one that
  brings it to ``n`` pushes the done marker.

The driver BLPOPs :func:`done_key` and reads :func:`count_key`. Workers get the
Redis URL and queue from ``BENCH_REDIS_URL`` and ``BENCH_RAW_QUEUE`` (or call
:func:`configure`), so ``celery -A bench.raw_celery worker`` works too.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import redis
from celery import Celery
from celery.worker.consumer import Consumer as CeleryConsumer

KEY_PREFIX = "rawbench"
DEFAULT_QUEUE = "rawbench"
VISIBILITY_TIMEOUT_S = 3600.0  # Routilux's default Settings.visibility_timeout_s

_local = threading.local()


def celery_config(redis_url: str, queue: str, broker_url: str = "") -> dict[str, Any]:
    """Celery settings matching Routilux's reliability settings, under the ``rawbench`` prefix.

    With an ``amqp://`` ``broker_url`` the queue is a durable quorum queue and publishes wait
    for confirms, as Routilux does on RabbitMQ; Redis then only holds the done markers.
    """
    if broker_url.startswith("amqp"):
        from kombu import Exchange, Queue

        return {**celery_config(redis_url, queue), "broker_url": broker_url,
                "broker_transport_options": {"confirm_publish": True},
                "task_queues": [Queue(queue, Exchange(queue, "direct", durable=True), routing_key=queue,
                                      durable=True, queue_arguments={"x-queue-type": "quorum"})],
                # Like Routilux's consumer: no native delayed-delivery exchanges (no ETA tasks here).
                "worker_consumer": "bench.raw_celery:Consumer"}
    return {
        "broker_url": redis_url,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "broker_transport_options": {
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
            "global_keyprefix": f"{KEY_PREFIX}:broker:",
        },
        "task_serializer": "msgpack",
        "result_serializer": "msgpack",
        "accept_content": ["msgpack"],
        "result_accept_content": ["msgpack"],
        "event_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_ignore_result": True,
        "result_backend": None,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": queue,
        "task_create_missing_queues": True,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }


class Consumer(CeleryConsumer):
    """Celery's consumer without the native delayed-delivery step (neither side sends ETA tasks)."""

    class Blueprint(CeleryConsumer.Blueprint):
        """Celery's consumer steps minus delayed delivery."""

        default_steps = [step for step in CeleryConsumer.Blueprint.default_steps if "delayed_delivery" not in step]


app = Celery("rawbench", set_as_current=False)


_redis_url = {"url": ""}


def configure(redis_url: str, queue: str = DEFAULT_QUEUE, broker_url: str = "") -> Celery:
    """Point :data:`app` at ``redis_url`` (markers, and the broker unless ``broker_url``) and ``queue``."""
    app.conf.update(celery_config(redis_url, queue, broker_url))
    # The app caches its broker connections and queue map on first use: drop them, or a driver that
    # ran a Redis scenario first would keep publishing to Redis.
    app._pool = None
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None
        app.__dict__.pop("amqp")
    _redis_url["url"] = redis_url
    _local.__dict__.clear()
    return app


configure(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
          os.environ.get("BENCH_RAW_QUEUE", DEFAULT_QUEUE), os.environ.get("BENCH_BROKER_URL", ""))


def done_key(run: str) -> str:
    """List the last task of run ``run`` pushes a marker to."""
    return f"{KEY_PREFIX}:done:{run}"


def count_key(run: str) -> str:
    """Counter of the noops run ``run`` has executed."""
    return f"{KEY_PREFIX}:count:{run}"


def client() -> redis.Redis:
    """This process's Redis client for the done markers (made on first use after fork)."""
    pid = os.getpid()
    if getattr(_local, "pid", None) != pid:
        _local.client = redis.Redis.from_url(_redis_url["url"])
        _local.pid = pid
    return _local.client


@app.task(name="rawbench.step", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def step(n: int, run: str) -> None:
    """One step of the chain: enqueue the next one, or mark the run done."""
    if n > 1:
        step.apply_async((n - 1, run), queue=app.conf.task_default_queue)
    else:
        client().rpush(done_key(run), b"1")


@app.task(name="rawbench.fanout", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def fanout(n: int, run: str) -> None:
    """Enqueue ``n`` noop tasks through one producer."""
    queue = app.conf.task_default_queue
    with app.producer_or_acquire() as producer:
        for _ in range(n):
            noop.apply_async((run, n), queue=queue, producer=producer)


@app.task(name="rawbench.noop", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def noop(run: str, n: int) -> None:
    """Count this execution; the n-th one marks the run done."""
    redis_client = client()
    if redis_client.incr(count_key(run)) == n:
        redis_client.rpush(done_key(run), b"1")
