"""Cheap counts for dashboards and metrics: queue depth, dead letters, jobs by status."""

from __future__ import annotations

from collections import Counter
from typing import Any

import redis

from routilux.distributed.protocol.priority import band_queues
from routilux.distributed.redis_options import amqp_connection, connect, is_sentinel
from routilux.distributed.store import RedisStore, guarded

# kombu's Redis transport keeps one list per priority step; messages without a priority use the plain one
# (priority bands use the plain one and those of steps 3 and 9, see priority.py).
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def queue_depth(store: RedisStore, queue: str | None = None) -> int:
    """Messages waiting in a broker queue (default: the settings' queue), on Redis or RabbitMQ."""
    if store.settings.broker_is_amqp:
        return _amqp_queue_depth(store, queue or store.settings.queue)
    return _redis_queue_depth(store, queue or store.settings.queue)


def _amqp_queue_depth(store: RedisStore, queue: str) -> int:
    """Messages waiting in ``queue`` and its priority bands' queues."""
    with amqp_connection(store.settings) as conn:
        return sum(_amqp_count(conn, name) for name in band_queues([queue]))


def _amqp_count(conn: Any, name: str) -> int:
    channel = conn.channel()
    try:
        return int(channel.queue_declare(name, passive=True).message_count)
    except conn.channel_errors:  # the queue does not exist (yet): nothing waits in it
        return 0
    finally:
        try:
            channel.close()
        except conn.channel_errors + conn.connection_errors:
            pass


@guarded
def _redis_queue_depth(store: RedisStore, queue: str) -> int:
    name = store.keys.broker_prefix + queue
    settings = store.settings
    # A broker of its own (another Redis, or Sentinel) is asked directly; by default it is the store's Redis.
    client = store.redis
    if settings.broker_url:
        client = (connect(settings.with_(redis_url=settings.broker_url)) if is_sentinel(settings.broker_url)
                  else redis.Redis.from_url(settings.broker_url, socket_connect_timeout=5))
    try:
        pipe = client.pipeline(transaction=False)
        for suffix in _PRIORITY_SUFFIXES:
            pipe.llen(name + suffix)
        return sum(pipe.execute())
    finally:
        if client is not store.redis:
            client.close()


@guarded
def dead_letter_count(store: RedisStore) -> int:
    """Entries in the dead-letter streams (one per bucket)."""
    return sum(int(n) for n in store.each_bucket(lambda pipe, b: pipe.xlen(store.keys.dead(b))))


@guarded
def jobs_by_status(store: RedisStore) -> dict[str, int]:
    """How many known jobs are in each status (one pipelined read of every job's status)."""
    ids = store.job_ids()
    pipe = store.redis.pipeline(transaction=False)
    for job_id in ids:
        pipe.hget(store.keys.job(job_id, "meta"), "status")
    return dict(Counter(s.decode() for s in pipe.execute() if s is not None))


@guarded
def ping(store: RedisStore) -> bool:
    """True when Redis answers (raises StoreUnavailableError otherwise)."""
    return bool(store.redis.ping())


class StatsMixin:
    """DistributedRuntime methods for health checks and dashboard gauges."""

    store: RedisStore

    def ping(self) -> bool:
        """True when Redis answers (raises StoreUnavailableError otherwise)."""
        return ping(self.store)

    def queue_depth(self, queue: str | None = None) -> int:
        """Messages waiting in a broker queue (default: the settings' queue), on Redis or RabbitMQ."""
        return queue_depth(self.store, queue)

    def jobs_by_status(self) -> dict[str, int]:
        """How many known jobs are in each status."""
        return jobs_by_status(self.store)

    def dead_letter_count(self) -> int:
        """Entries in the dead-letter stream."""
        return dead_letter_count(self.store)
