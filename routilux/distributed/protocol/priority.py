"""Job priorities: a whole number from 0 to 9 (higher first, 5 by default) and the band it is queued in.

A job's priority is kept in its meta and in the envelope of each of its
activations (``pr``, absent at the default), so children, retries, posts,
resumes, forks and every re-send keep it (see lane.py). The brokers take activations by band,
never by the exact number: 7-9 go before 3-6, which go before 0-2; within a
band, first in, first out.

On RabbitMQ each band is its own durable queue (quorum queues have no
priorities before RabbitMQ 4.0): the default band is the plain queue, the
others are ``<queue>.high`` and ``<queue>.low``, and a worker consumes all three.
On Redis each band is one of kombu's priority lists of the one queue (see
:class:`routilux.distributed.worker.transport.Channel`): the default band is the
plain list, so jobs that use no priority travel exactly as before.
"""

from __future__ import annotations

from typing import Any

from routilux.errors import InvalidPriorityError

MIN_PRIORITY = 0
MAX_PRIORITY = 9
DEFAULT_PRIORITY = 5

HIGH, NORMAL, LOW = "high", "normal", "low"
# Bands in the order workers take them.
BANDS = (HIGH, NORMAL, LOW)
# On Redis, the kombu message priority that puts a message on its band's list: kombu's plain
# list is the default band, and its lists "3" and "9" (which every kombu worker reads, with
# its default priority steps) the high and low bands; our channel reads them high first.
REDIS_PRIORITY = {HIGH: 3, NORMAL: 0, LOW: 9}
# Lowest priority of the high band, highest of the low band.
HIGH_FROM = 7
LOW_UP_TO = 2


def check_priority(value: Any) -> int:
    """``value`` as a priority; None gives the default.

    Raises:
        InvalidPriorityError: not a whole number from 0 to 9.
    """
    if value is None:
        return DEFAULT_PRIORITY
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise InvalidPriorityError(f"priority must be a whole number from {MIN_PRIORITY} to {MAX_PRIORITY} "
                                   f"(higher runs first, {DEFAULT_PRIORITY} by default), not {value!r}")
    return value


def band(priority: int | None) -> str:
    """The band activations of a job with ``priority`` are queued in (None: the default band)."""
    if priority is None:
        return NORMAL
    if priority >= HIGH_FROM:
        return HIGH
    return LOW if priority <= LOW_UP_TO else NORMAL


def band_queue(queue: str, which: str) -> str:
    """The RabbitMQ queue of band ``which`` for activation queue ``queue``."""
    return queue if which == NORMAL else f"{queue}.{which}"


def band_queues(queues: tuple[str, ...] | list[str]) -> list[str]:
    """``queues`` (the default band's), then their high and low bands' queues.

    The order is not a preference: RabbitMQ pushes each queue's messages to its own
    consumer, so a high-band message is delivered at once whatever the order.
    """
    names = list(dict.fromkeys(queues))
    return names + [band_queue(q, b) for q in names for b in BANDS if b != NORMAL]


def carried(priority: int | None) -> int | None:
    """What an envelope and a meta hash keep for ``priority``: nothing at the default."""
    return None if priority is None or priority == DEFAULT_PRIORITY else priority


def of_envelope(envelope: dict[str, Any]) -> int | None:
    """The priority an activation envelope carries (None: the default, or a value that is not one)."""
    value = envelope.get("pr")
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9 else None


def of_meta(meta: dict[str, str]) -> int:
    """A job's priority from its meta hash (the default when it has none)."""
    raw = meta.get("priority")
    return int(raw) if raw and raw.isdigit() and 0 <= int(raw) <= 9 else DEFAULT_PRIORITY
