"""Raw frames put straight onto a broker queue, as a hostile or broken producer would."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlparse

import amqp
import redis

from routilux.distributed import Settings

ISSUE_BODY = base64.b64decode("k5HEAXiAgA==")


def issue_frame(queue: str, tag: str) -> dict[str, Any]:
    """The frame of issue 18: a Celery header (``timelimit``) that cannot be parsed; ``tag`` is its delivery tag."""
    return {"body": "k5HEAXiAgA==", "content-encoding": "binary", "content-type": "application/x-routilux-msgpack",
            "headers": {"lang": "py", "task": "routilux.activate", "id": "t1", "root_id": "t1", "timelimit": "x"},
            "properties": {"delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": queue},
                           "priority": 0, "body_encoding": "base64", "delivery_tag": tag}}


def push_redis(settings: Settings, frames: list[bytes]) -> None:
    """LPUSH ``frames`` onto the Redis broker's queue of ``settings``, in order."""
    client = redis.Redis.from_url(settings.redis_url)
    for frame in frames:
        client.lpush(f"{settings.key_prefix}:broker:{settings.queue}", frame)
    client.close()


def publish_amqp(settings: Settings, messages: list[tuple[Any, dict[str, Any]]], **properties: Any) -> None:
    """Publish (body, headers) pairs onto the RabbitMQ queue of ``settings`` with py-amqp, nothing in between.

    A body given as text is sent base64-decoded (as in :func:`issue_frame`).
    """
    url = urlparse(settings.broker_url)
    with amqp.Connection(f"{url.hostname}:{url.port or 5672}", userid=url.username or "guest",
                         password=url.password or "guest") as conn:
        channel = conn.channel()
        for body, headers in messages:
            raw = base64.b64decode(body) if isinstance(body, str) else body
            props = {"content_type": "application/x-routilux-msgpack", "content_encoding": "binary", **properties}
            channel.basic_publish(amqp.Message(raw, application_headers=headers, **props), exchange="",
                                  routing_key=settings.queue)
