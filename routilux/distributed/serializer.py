"""The ``routilux-msgpack`` kombu serializer: Routilux's codec on the wire, never pickle.

The Celery app sets ``task_serializer``, ``result_serializer``, ``accept_content``
and ``result_accept_content`` to :data:`SERIALIZER_NAME`, after calling
:func:`register_serializer`, so workers refuse any message that is not
Routilux msgpack (kombu raises ``ContentDisallowed`` before decoding it).

A task body is decoded under size and shape limits: the activation inside it is
one opaque ``bin`` (signed, with signing keys), so this decodes only Celery's
frame around it; the executor checks the signature before decoding the rest.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kombu.serialization import register

from routilux import codec
from routilux.bounds import DEFAULT_LIMITS, Limits

__all__ = ["SERIALIZER_NAME", "CONTENT_TYPE", "register_serializer"]

SERIALIZER_NAME = "routilux-msgpack"
CONTENT_TYPE = "application/x-routilux-msgpack"
# Room for Celery's frame (args, kwargs, embed) and the signature around one activation body.
FRAME_BYTES = 64 * 1024

_wire_limits = DEFAULT_LIMITS


def wire_limits(limits: Limits) -> Limits:
    """The limits on a whole task body that carries one activation body within ``limits``."""
    room = limits.max_bytes + FRAME_BYTES
    return replace(limits, max_bytes=room, max_str_bytes=max(limits.max_str_bytes, room))


def _decode(data: bytes) -> Any:
    return codec.unpackb(data, _wire_limits)


def register_serializer(limits: Limits = DEFAULT_LIMITS) -> None:
    """Register the codec with kombu as ``routilux-msgpack``; calling it again is harmless.

    kombu's registry is global to the process, so the limits of the last call
    apply to every app in it (each app's executor then applies its own to the
    activation inside).
    """
    global _wire_limits
    _wire_limits = wire_limits(limits)
    # kombu's registry is keyed by name and content type, so registering the
    # same functions again just rewrites identical entries: no guard needed,
    # and a worker that imports this in several places cannot end up with two.
    register(
        SERIALIZER_NAME,
        codec.packb,
        _decode,
        content_type=CONTENT_TYPE,
        content_encoding="binary",
    )
