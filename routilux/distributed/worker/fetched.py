"""What each worker fetched from the Redis broker and has not acknowledged, so a lost worker's messages go back.

kombu's Redis transport keeps every message it delivers in its ``unacked`` hash
(and ``unacked_index`` zset) until the ack, and puts it back on the queue by
itself only after the visibility timeout. When a worker dies holding messages,
claimed or only prefetched, the sweeper must put back exactly those: the
backlog other workers will read is none of its business.

So the consumer's :class:`QoS` also adds the delivery tag to a per-worker set,
in the pipeline kombu already sends per delivery (no extra round trip), and
removes it in the pipeline of the ack or reject. The set expires with the
visibility timeout, after which kombu restores the messages anyway. When the
worker's liveness lapses, :func:`restore_fetched` moves those of its messages
that are still unacknowledged back to the queue, through kombu's own restore
(a transaction on the unacked hash, so a message is restored once even if the
visibility restore runs at the same moment). A message received after the
worker's last liveness write is in the set too: the set is written on delivery.

On RabbitMQ none of this is needed: the broker requeues a channel's
unacknowledged messages when its connection closes.

One window stays open: a message the broker popped but the worker never
received (a kill while the reply was on the wire) is in no set and no
unacked hash; the queue backstop (``redispatch_s``) sends it again.
"""

from __future__ import annotations

from time import time
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps, loads

from routilux.distributed.batch import BATCH_TASK_NAME
from routilux.distributed.serializer import CONTENT_TYPE

FETCHED_OPTION = "routilux_fetched"


def track_fetched(connection: Any, key: str) -> None:
    """Make the consumer ``connection`` record what it fetches in the set ``key`` (see :meth:`Keys.fetched`)."""
    connection.transport_options[FETCHED_OPTION] = key


class QoS(kombu_redis.QoS):
    """kombu's Redis ack emulation, also recording each unacknowledged delivery in its worker's set."""

    def _fetched_key(self) -> str | None:
        client = getattr(self.channel.connection, "client", None)
        return client.transport_options.get(FETCHED_OPTION) if client is not None else None

    def append(self, message: Any, delivery_tag: str) -> None:
        """Keep the delivery as unacknowledged (kombu's pipeline) and in this worker's set (the same pipeline)."""
        # kombu's QoS.append sends its pipeline itself, so its body is restated here to add to it.
        delivery = message.delivery_info
        frame = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: time()}).hset(self.unacked_key, delivery_tag, frame)
            key = self._fetched_key()
            if key:
                pipe.sadd(key, delivery_tag).pexpire(key, int(self.visibility_timeout * 1000))
            pipe.execute()
            super(kombu_redis.QoS, self).append(message, delivery_tag)  # the in-memory bookkeeping only

    def _remove_from_indices(self, delivery_tag: str, pipe: Any = None) -> Any:
        pipe = super()._remove_from_indices(delivery_tag, pipe)
        key = self._fetched_key()
        return pipe.srem(key, delivery_tag) if key else pipe


def restore_fetched(app: Any, key: str) -> tuple[int, int]:
    """Put back on their queues the unacknowledged messages in the fetched set ``key``; returns (messages, activations).

    Tags already acknowledged or restored (by kombu's visibility restore) are skipped.
    """
    messages = activations = 0
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        client = channel.client
        tags = [bytes_to_str(tag) for tag in client.smembers(key)]
        for tag in tags:
            frame = client.hget(channel.unacked_key, tag)
            if frame is None:
                continue
            channel.qos.restore_by_tag(tag, client=client)
            messages += 1
            activations += activation_count(channel, frame)
        if tags:
            client.srem(key, *tags)
    return messages, activations


def activation_count(channel: Any, frame: bytes) -> int:
    """How many activations a stored frame carries (a batch message carries several)."""
    try:
        payload = loads(bytes_to_str(frame))[0]
        if payload.get("headers", {}).get("task") != BATCH_TASK_NAME:
            return 1
        args = channel.Message(payload, channel=channel, accept=[CONTENT_TYPE]).decode()[0]  # never pickle
        return len(args[0])
    except Exception:  # noqa: BLE001 - only a count for the log; the message was restored all the same
        return 1
