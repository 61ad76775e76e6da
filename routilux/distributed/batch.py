"""Activation batches: several sibling activations of one job carried by one Celery message.

A fan-out would otherwise pay one broker message (publish, delivery, the pool's
IPC, Celery's request machinery, the ack) per child. The dispatcher packs the
siblings into messages of the task :data:`BATCH_TASK_NAME`, whose one argument
is a list of activation bodies exactly as stored (signed, with signing keys).
A worker runs the bodies one after the other, each through the usual path
(its own signature and limit checks, claim, lease, commit), so a duplicate or
split batch is as harmless as a duplicate single message. A batch still running
after :data:`BUDGET_S` hands the bodies it has not started back to the queue, in
two messages, so idle workers share slow work. An asyncio worker runs a batch's
bodies at once on its pool of activation threads (:func:`run_batch_pooled`), so a
fan-out's awaits overlap; bodies no thread started within the budget go back.

How many bodies go together: enough that a fan-out of ``n`` still makes
``spread`` messages (so that many workers can start on it at once), at most
``max_batch``, and at most :func:`byte_cap` bytes of bodies per message.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import time
from collections import Counter
from typing import Any, Callable, Sequence

from routilux.bounds import MIB
from routilux.errors import MalformedMessageError

__all__ = ["BATCH_TASK_NAME", "BUDGET_S", "MAX_BATCH_BYTES", "MAX_BODIES", "Item", "batch_bodies", "batch_size",
           "byte_cap", "halves", "message_count", "pack", "run_batch", "run_batch_pooled"]

log = logging.getLogger("routilux.distributed")

BATCH_TASK_NAME = "routilux.activate_batch"
# A batch hands back what it has not started once it has run this long (checked between bodies).
BUDGET_S = 0.5
# Most bodies a worker accepts in one batch message (more is dead-lettered as malformed).
MAX_BODIES = 1000
# Bodies of one message take at most this many bytes (or a fraction of the message size limit).
MAX_BATCH_BYTES = MIB

Item = tuple[str, bytes]  # ("job|activation", body)


def batch_size(n: int, max_batch: int, spread: int) -> int:
    """Bodies per message for ``n`` siblings: enough for ``spread`` messages, within 1..``max_batch``."""
    return max(1, min(max_batch, math.ceil(n / max(1, spread))))


def message_count(n: int, max_batch: int, spread: int) -> int:
    """How many messages ``n`` siblings take (more if their bodies are over the byte cap)."""
    return math.ceil(n / batch_size(n, max_batch, spread)) if n else 0


def byte_cap(max_message_bytes: int) -> int:
    """Most bytes of bodies in one batch message: well under the message size limit workers decode."""
    return max(1, min(MAX_BATCH_BYTES, max_message_bytes // 4))


def pack(items: Sequence[Item], max_batch: int, spread: int, max_bytes: int) -> list[list[Item]]:
    """Split the sibling activations ``items`` into messages of even sizes, in order.

    A message's bodies stay within ``max_bytes`` (a body over it goes alone).
    """
    count = message_count(len(items), max_batch, spread)
    batches: list[list[Item]] = []
    at = 0
    for k in range(count):
        end = at + len(items) // count + (k < len(items) % count)
        while at < end:
            batch, used = [items[at]], len(items[at][1])
            at += 1
            while at < end and used + len(items[at][1]) <= max_bytes:
                used += len(items[at][1])
                batch.append(items[at])
                at += 1
            batches.append(batch)
    return batches


def halves(bodies: Sequence[Any]) -> list[list[Any]]:
    """``bodies`` in two messages (one if there is a single body)."""
    middle = (len(bodies) + 1) // 2
    return [list(part) for part in (bodies[:middle], bodies[middle:]) if part]


def batch_bodies(message: Any) -> list[Any]:
    """The bodies of a batch task's argument.

    Raises:
        MalformedMessageError: it is not a non-empty list of at most :data:`MAX_BODIES` bodies.
    """
    if not isinstance(message, (list, tuple)):
        raise MalformedMessageError(f"activation batch is a {type(message).__name__}, not a list of bodies")
    if not 0 < len(message) <= MAX_BODIES:
        raise MalformedMessageError(f"activation batch has {len(message)} bodies, not 1 to {MAX_BODIES}")
    return list(message)


def run_batch(run: Callable[[Any], str], bodies: Sequence[Any], hand_back: Callable[[list[Any]], Any],
              budget_s: float = BUDGET_S) -> Counter[str]:
    """Run ``bodies`` in turn; past ``budget_s``, hand the ones not started back. Returns the outcomes counted.

    If running one raises, the ones after it are handed back (as far as the broker
    allows) before the error propagates, so they do not wait for the queue backstop.
    """
    started = time.monotonic()
    outcomes: Counter[str] = Counter()
    for k, body in enumerate(bodies):
        if k and time.monotonic() - started >= budget_s:
            hand_back(list(bodies[k:]))
            outcomes["handed back"] += len(bodies) - k
            break
        try:
            outcome = run(body)
        except Exception:
            _hand_back_quietly(hand_back, list(bodies[k + 1:]))
            raise
        outcomes[outcome.split(":", 1)[0]] += 1
    return outcomes


def run_batch_pooled(run: Callable[[Any], str], bodies: Sequence[Any], hand_back: Callable[[list[Any]], Any],
                     pool: concurrent.futures.Executor, budget_s: float = BUDGET_S) -> Counter[str]:
    """Run ``bodies`` at once on ``pool``; past ``budget_s``, hand back the ones no thread started.

    Returns the outcomes counted. If running one raises, the first error propagates
    once every started body has ended (each commits on its own).
    """
    futures = [pool.submit(run, body) for body in bodies]
    _, pending = concurrent.futures.wait(futures, timeout=budget_s)
    outcomes: Counter[str] = Counter()
    unstarted = [body for body, future in zip(bodies, futures) if future in pending and future.cancel()]
    if unstarted:
        hand_back(unstarted)
        outcomes["handed back"] += len(unstarted)
    error: BaseException | None = None
    for future in futures:
        if future.cancelled():
            continue
        try:
            outcomes[future.result().split(":", 1)[0]] += 1
        except Exception as exc:
            error = error or exc
    if error is not None:
        raise error
    return outcomes


def _hand_back_quietly(hand_back: Callable[[list[Any]], Any], rest: list[Any]) -> None:
    if not rest:
        return
    try:
        hand_back(rest)
    except Exception:  # the broker is down too: the sweeper sends them after the queue backstop
        log.warning("could not hand back %d activations of a failed batch", len(rest), exc_info=True)
