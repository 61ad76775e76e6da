"""kombu's Redis transport, hardened: neither a malformed frame nor a reconnect can stop a worker.

kombu stores each message on a Redis list as a JSON frame and parses it inside
the worker's event loop; a frame that is not JSON, or JSON that is not a
message, raises there and Celery stops the whole worker ("Unrecoverable
error"). Anyone able to LPUSH onto the queue could stop every worker, one
frame each. This transport catches such a frame instead: it is recorded in the
dead-letter stream (its text, cut to :data:`MAX_FRAME_BYTES`) and the worker
goes on consuming. JSON that is not a kombu message (no ``properties`` or
``delivery_tag``, see :func:`frame_problem`) is refused before kombu reads it:
kombu counts the ``KeyError`` it would raise as a lost connection and rebuilds
the consumer. Such a frame was never recorded as unacknowledged (it has no tag to
record it by), so refusing it drops it from the queue. Connection errors still
propagate, so reconnects work as before.

The other hole is in the reconnect itself. When the connection drops while the
worker waits on the queue and holds an unacknowledged message, Celery closes the
old connection twice: the first close detaches the transport, the second closes
the channel again, and kombu, restoring the unacknowledged message, builds a new
pool from the detached transport and raises ``AttributeError`` ("'NoneType'
object has no attribute 'hostname'"), which stops the worker. A channel whose
connection is gone now says so with a Redis ``ConnectionError``, which Celery
and kombu treat as the broker going away, and the close goes on. A late ack or
reject of a message from that connection is skipped with a warning: the message
is still in the broker's unacknowledged set, comes back after the visibility
timeout, and the engine's claim makes the rerun a no-op.

Its channels also read a queue's priority bands high band first (:class:`_Banded`, see priority.py),
and each band's tenants in weighted fair order (see fair.py).

The Celery app selects it with ``broker_transport`` for ``redis://`` and
``rediss://`` URLs (:class:`SentinelTransport` for ``sentinel://``); the dead-letter stream's key comes in
``broker_transport_options["routilux_dead_letters"]``.
"""

from __future__ import annotations

import json
import logging
from queue import Empty
from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

from routilux.distributed.dead_letter_record import write_dead_letter
from routilux.distributed.frames import MAX_FRAME_BYTES, frame_problem, safe_text
from routilux.distributed.protocol.priority import BANDS, NORMAL, REDIS_PRIORITY
from routilux.distributed.worker.fair import Tenanted
from routilux.distributed.worker.fetched import QoS as FetchedQoS

log = logging.getLogger("routilux.distributed")

DEAD_LETTERS_OPTION = "routilux_dead_letters"
# RecursionError: JSON nested deeper than the interpreter's stack.
_FRAME_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError)


class RefusedFrame(ValueError):
    """A frame that parsed as JSON but is not a kombu message; ``frame`` is that JSON."""

    def __init__(self, reason: str, frame: Any) -> None:
        super().__init__(reason)
        self.frame = frame


class _Hardened:
    """Channel methods that keep malformed frames and detached connections out of the event loop."""

    connection: Any
    connection_errors: tuple[type[BaseException], ...]
    QoS = FetchedQoS  # each delivery is also recorded for its worker, so a lost worker's messages go back

    def _detached(self) -> bool:
        return self.connection is None or self.connection.client is None

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self._detached():
            raise RedisConnectionError("this channel's broker connection is closed")
        return super()._connparams(asynchronous)  # type: ignore[misc]

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        if not self._skipped("acknowledging", delivery_tag):
            super().basic_ack(delivery_tag, multiple)  # type: ignore[misc]

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        if not self._skipped("rejecting", delivery_tag):
            super().basic_reject(delivery_tag, requeue)  # type: ignore[misc]

    def held_tags(self) -> set[Any]:
        """Delivery tags of the messages this channel holds delivered and not yet acknowledged."""
        qos = self.qos  # type: ignore[attr-defined]
        return set(qos._delivered) - set(qos._dirty)

    def _skipped(self, doing: str, delivery_tag: Any) -> bool:
        """True (with a warning) when the message came on a connection that has closed since."""
        if not self._detached():
            return False
        log.warning("not %s message %s: it came on a broker connection that has since closed; it is delivered "
                    "again after the visibility timeout and its claim is refused", doing, delivery_tag)
        return True

    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)
        except (Empty, *self.connection_errors):
            raise
        except _FRAME_ERRORS as exc:
            self._drop_frame(exc)
            return True

    def _get(self, queue: str) -> Any:
        try:
            return super()._get(queue)
        except (Empty, *self.connection_errors):
            raise
        except _FRAME_ERRORS as exc:
            self._drop_frame(exc)
            raise Empty() from exc

    def _drop_frame(self, exc: BaseException) -> None:
        reason = f"malformed broker frame: {type(exc).__name__}: {exc}"
        log.error("dropping a %s", reason)
        key = self.connection.client.transport_options.get(DEAD_LETTERS_OPTION)
        if not key:
            return
        body = _raw_frame(exc)[:MAX_FRAME_BYTES]
        try:
            with self.conn_or_acquire() as client:
                write_dead_letter(client, key, safe_text(reason), body)
        except Exception:  # noqa: BLE001 - recording is best effort; the worker must keep consuming
            log.warning("could not dead-letter a malformed broker frame", exc_info=True)


def _raw_frame(exc: BaseException) -> bytes:
    """The frame an error was raised on, as far as it tells: raw bytes, the text, or the JSON re-encoded."""
    if isinstance(exc, UnicodeDecodeError):
        return bytes(exc.object)
    if isinstance(exc, RefusedFrame):
        return json.dumps(exc.frame).encode()
    frame = getattr(exc, "doc", None)  # a JSONDecodeError keeps the text it could not parse
    return frame.encode("utf-8", "replace") if isinstance(frame, str) else b""


class _CheckedDelivery:
    """Transport method that refuses a frame kombu cannot make a message of, before kombu reads it."""

    def _deliver(self, message: Any, queue: str) -> None:
        problem = frame_problem(message)
        if problem is not None:
            raise RefusedFrame(problem, message)
        super()._deliver(message, queue)  # type: ignore[misc]


class _Banded:
    """Priority bands on the Redis lists of a queue, read high band first (see priority.py).

    kombu reads a queue's priority lists in the order of ``priority_steps``; its
    default steps read the plain list first. Here the high band's list comes
    first, then the plain list (the default band), then the low band's.
    """

    priority_steps = [REDIS_PRIORITY[b] for b in BANDS]

    def priority(self, n: int) -> int:
        """The list a message of kombu priority ``n`` goes on: its band's; anything else on the plain list."""
        return n if n in self.priority_steps else REDIS_PRIORITY[NORMAL]


class Channel(_Banded, _Hardened, Tenanted, kombu_redis.Channel):
    """A Redis channel that dead-letters malformed frames and survives a reconnect (see the module docstring)."""


class SentinelChannel(_Banded, _Hardened, Tenanted, kombu_redis.SentinelChannel):
    """kombu's Sentinel channel (the current master, found through the sentinels), hardened the same way."""


class Transport(_CheckedDelivery, kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`, refusing frames that are not kombu messages."""

    Channel = Channel


class SentinelTransport(_CheckedDelivery, kombu_redis.SentinelTransport):
    """kombu's Redis Sentinel transport with :class:`SentinelChannel`, refusing frames as :class:`Transport`."""

    Channel = SentinelChannel
