"""The ``routilux-msgpack`` kombu serializer: Routilux's codec on the wire, never pickle.

The Celery app sets ``task_serializer``, ``result_serializer``, ``accept_content``
and ``result_accept_content`` to :data:`SERIALIZER_NAME`, after calling
:func:`register_serializer`, so workers refuse any message that is not
Routilux msgpack (kombu raises ``ContentDisallowed`` before decoding it).
"""

from __future__ import annotations

from kombu.serialization import register

from routilux import codec

__all__ = ["SERIALIZER_NAME", "CONTENT_TYPE", "register_serializer"]

SERIALIZER_NAME = "routilux-msgpack"
CONTENT_TYPE = "application/x-routilux-msgpack"


def register_serializer() -> None:
    """Register the codec with kombu as ``routilux-msgpack``; calling it again is harmless."""
    # kombu's registry is keyed by name and content type, so registering the
    # same functions again just rewrites identical entries: no guard needed,
    # and a worker that imports this in several places cannot end up with two.
    register(
        SERIALIZER_NAME,
        codec.packb,
        codec.unpackb,
        content_type=CONTENT_TYPE,
        content_encoding="binary",
    )
