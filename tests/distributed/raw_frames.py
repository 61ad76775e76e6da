"""Raw frames put straight onto a broker queue, as a hostile or broken producer would."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlparse

import amqp
import redis
from hypothesis import strategies as st

from routilux import codec
from routilux.distributed import Settings
from routilux.distributed.serializer import CONTENT_TYPE

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


# -- hypothesis strategies of malformed frames -------------------------------------------------------------

def json_values(amqp_table: bool = False) -> st.SearchStrategy[Any]:
    """Random JSON values; with ``amqp_table``, only what an AMQP header table can carry (64-bit ints, no surrogates)."""
    text = st.text(st.characters(exclude_categories=("Cs",)) if amqp_table else st.characters(), max_size=20)
    ints = st.integers(-(2**63), 2**63 - 1) if amqp_table else st.integers()
    return st.recursive(st.none() | st.booleans() | ints | st.floats(allow_nan=False) | text,
                        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                        max_leaves=12)


JSON = json_values()
TABLE = json_values(amqp_table=True)
CONTENT_TYPE_NAMES = [CONTENT_TYPE, "application/json", "application/x-python-serialize", "text/plain"]
CONTENT_TYPES = st.sampled_from(CONTENT_TYPE_NAMES) | JSON
HEADER_VALUES = {
    "timelimit": st.sampled_from([None, [None, None], [1, 2], [-1, 5], "x", [1], [1, 2, 3], ["a", "b"], 1e308]),
    "eta": st.sampled_from([None, "2999-01-01T00:00:00", "not a date", 5]),
    "expires": st.sampled_from([None, "2000-01-01T00:00:00", "soon"]),
    "id": st.sampled_from(["t1", ""]),
    "compression": st.sampled_from(["zlib", "bogus"]),
    **{name: st.nothing() for name in ("retries", "shadow", "argsrepr", "ignore_result", "root_id", "parent_id")},
}


def _bodies() -> st.SearchStrategy[bytes]:
    """Task bodies: random bytes, msgpack of random data, bombs (huge lengths, deep nesting)."""
    bombs = st.sampled_from([b"\xdd\xff\xff\xff\xff" + b"\x00" * 8, b"\xc6\x7f\xff\xff\xff", b"\x91" * 5000 + b"\xc0",
                             b"\x93\x90\x80\x80", b"\x93\x91\xc4\x01x\x80\x80", b"\x92\x90\x80", b"\x80"])
    return st.binary(max_size=64) | JSON.map(lambda v: codec.packb(v)) | bombs


@st.composite
def celery_headers(draw: Any, values: st.SearchStrategy[Any] = JSON) -> dict[str, Any]:
    """Celery protocol 2 headers with some fields damaged (a wrong type, a value Celery cannot parse)."""
    headers = {"lang": "py", "task": draw(st.sampled_from(["routilux.activate", "someone.elses.task", ""]) | values),
               "id": "t1", "root_id": "t1"}
    for name in draw(st.lists(st.sampled_from(sorted(HEADER_VALUES)), max_size=3, unique=True)):
        headers[name] = draw(HEADER_VALUES[name] | values)
    return headers


@st.composite
def amqp_messages(draw: Any) -> tuple[bytes, Any, dict[str, Any]]:
    """One raw AMQP message: (body, headers, properties), headers damaged Celery headers or any table."""
    headers = draw(celery_headers(TABLE) | st.dictionaries(st.text(max_size=8), TABLE, max_size=4) | st.none())
    text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
    props = {"content_type": draw(st.sampled_from(CONTENT_TYPE_NAMES) | text),
             "content_encoding": draw(st.sampled_from(["binary", "utf-8", "gzip"]) | text)}
    return draw(_bodies()), headers, props


@st.composite
def redis_frames(draw: Any, queue: str, tag: str) -> bytes:
    """One raw frame for the Redis broker queue: JSON that is no message, a damaged message, or no JSON at all."""
    kind = draw(st.sampled_from(["json", "message", "message", "message", "bytes"]))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    if kind == "bytes":
        return draw(st.sampled_from([b"[" * 100_000, b"\xff\xfe{}", b"{" + b'"a":' * 10, b"A" * 2_000_000])
                    | st.binary(max_size=100))
    body = draw(_bodies())
    frame = {"body": base64.b64encode(body).decode(), "content-encoding": "binary",
             "content-type": draw(CONTENT_TYPES), "headers": draw(celery_headers()),
             "properties": {"delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": queue},
                            "priority": 0, "body_encoding": "base64", "delivery_tag": tag}}
    for name in draw(st.lists(st.sampled_from(sorted(DAMAGE)), max_size=2, unique=True)):
        values, where = DAMAGE[name]
        (frame["properties"] if where == "properties" else frame)[name] = draw(values)
    return json.dumps(frame).encode()


# Damage to a frame's own fields: (values, where the field is).
DAMAGE = {
    "body": (st.sampled_from(["!!!", "A", "QQ=", "A" * 1_000_001]) | JSON, "frame"),
    "headers": (JSON, "frame"),
    "content-encoding": (st.sampled_from(["utf-8", "gzip", "binary"]) | JSON, "frame"),
    "properties": (JSON, "frame"),
    "body_encoding": (st.sampled_from(["rot13", None, ""]) | JSON, "properties"),
    "delivery_tag": (JSON, "properties"),
    "delivery_info": (JSON, "properties"),
    "priority": (JSON, "properties"),
}
