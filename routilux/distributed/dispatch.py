"""Sending activations to the queue as Celery tasks.

An activation's body travels exactly as stored in Redis (signed, with signing
keys): whoever sends it (the producer, the committing worker, the sweeper)
sends the same bytes, and only the producer of the body signs it. One body is a
``routilux.activate`` task with the body as its one argument; several sibling
activations of one job go together as a ``routilux.activate_batch`` task whose
one argument is the list of bodies (see :mod:`batch`).
"""

from __future__ import annotations

import logging
import ssl
from typing import Any, Callable, Iterable, Mapping

from amqp.exceptions import AccessRefused, NotAllowed
from kombu.exceptions import OperationalError
from redis.exceptions import AuthenticationError, ConnectionError as RedisConnectionError

from routilux.distributed.batch import BATCH_TASK_NAME, Item, byte_cap, halves, message_count, pack
from routilux.distributed.protocol.priority import NORMAL, REDIS_PRIORITY, band, band_queue
from routilux.distributed.protocol.tenants import TENANT_HEADER
from routilux.distributed.settings import Settings
from routilux.errors import BrokerAccessDeniedError, BrokerUnavailableError

log = logging.getLogger("routilux.distributed")
_REFUSALS = (AccessRefused, NotAllowed, AuthenticationError)
_OUTAGES = (OperationalError, RedisConnectionError, ConnectionError, TimeoutError)


def broker_error(exc: BaseException) -> BrokerUnavailableError | None:
    """The typed error for a publish the broker did not take (refused, or not reachable); None for anything else."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return BrokerAccessDeniedError(f"TLS with the broker failed ({cause}); check ROUTILUX_BROKER_TLS_CA / "
                                           "_CERT / _KEY and that its certificate names the URL's host")
        if isinstance(cause, _REFUSALS):
            return BrokerAccessDeniedError(f"the broker refused this client ({cause}); check the user, password "
                                           "and vhost in ROUTILUX_BROKER_URL")
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, _OUTAGES):
        return BrokerUnavailableError(f"the broker could not be reached ({exc})")
    return None

TASK_NAME = "routilux.activate"
# Redis commands :meth:`Dispatcher.send_buffered` holds before it sends them (one round trip each).
BUFFERED_COMMANDS = 10_000
# Time allowed for publishing one message, on top of the outbox grace (see :meth:`Dispatcher.grace_ms`).
PUBLISH_ALLOWANCE_MS = 5


class Dispatcher:
    """Publishes activation bodies as ``routilux.activate`` and ``routilux.activate_batch`` tasks.

    Args:
        app: the Celery app to publish with.
        settings: its queue, and how activations are batched (``dispatch_batch``, ``dispatch_spread``,
            ``max_message_bytes``).
    """

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.queue = settings.queue
        self.max_batch = settings.dispatch_batch
        self.spread = settings.dispatch_spread
        self.max_bytes = byte_cap(settings.max_message_bytes)
        self.amqp = settings.broker_is_amqp

    def send(self, messages: Iterable[Item], sent: Callable[[str, list[str]], Any] | None = None,
             priority: int | Mapping[str, int] | None = None, tenant: str | Mapping[str, str] | None = None) -> int:
        """Publish each ("job|activation", body), siblings of one job batched; returns how many were sent.

        ``sent(job_id, activation_ids)`` is called right after each message is published,
        so a caller can mark them dispatched while the rest are still being sent.
        ``priority`` is the jobs' priority, or a priority per job id (missing: the default);
        it picks the band each message is queued in (see priority.py). ``tenant`` is the
        jobs' tenant, or one per job id (missing: none); on Redis it picks the tenant's list
        in that band (see tenants.py).
        """
        by_job = _by_job(messages)
        if not by_job:
            return 0
        with self.app.producer_or_acquire() as producer:
            return self._send_jobs(producer, by_job, sent, priority, tenant)

    def send_buffered(self, messages: Iterable[Item], priority: int | Mapping[str, int] | None = None,
                      tenant: str | Mapping[str, str] | None = None) -> int:
        """:meth:`send` in one go: on Redis, every message in one pipeline (one round trip); on RabbitMQ,
        one publish after the other on one channel. Returns how many activations were sent."""
        by_job = _by_job(messages)
        if not by_job:
            return 0
        with self.app.producer_or_acquire() as producer:
            with producer.batch(max_size=BUFFERED_COMMANDS):
                return self._send_jobs(producer, by_job, None, priority, tenant)

    def _send_jobs(self, producer: Any, by_job: dict[str, list[Item]], sent: Callable[[str, list[str]], Any] | None,
                   priority: int | Mapping[str, int] | None, tenant: str | Mapping[str, str] | None = None) -> int:
        count = 0
        for job_id, items in by_job.items():
            route = self._route(priority.get(job_id) if isinstance(priority, Mapping) else priority,
                                tenant.get(job_id) if isinstance(tenant, Mapping) else tenant)
            for batch in pack(items, self.max_batch, self.spread, self.max_bytes):
                label = batch[0][0] if len(batch) == 1 else f"{len(batch)} of job {job_id}"
                self._publish(producer, [body for _, body in batch], label, route)
                count += len(batch)
                if sent is not None:
                    sent(job_id, [member.split("|", 1)[1] for member, _ in batch])
        return count

    def send_or_leave(self, messages: Iterable[Item], sent: Callable[[str, list[str]], Any] | None = None,
                      what: str = "activations", priority: int | None = None, tenant: str | None = None) -> None:
        """:meth:`send`, except that what a broker does not take stays in the outbox (a warning is logged).

        For activations whose job state is already committed (a resume, a replay): a
        worker's sweeper sends them once the broker takes them, so nothing is lost.
        """
        try:
            self.send(messages, sent, priority, tenant)
        except Exception as exc:
            typed = broker_error(exc)
            if typed is None:
                raise
            log.warning("%s were not sent: %s; they wait in the outbox and a worker's sweeper sends them once "
                        "the broker takes them", what, typed)

    def grace_ms(self, outbox_grace_s: float, siblings: int) -> int:
        """How long ``siblings`` children of one commit may wait in the outbox before the sweeper sends them.

        The outbox grace, plus a few ms for each message they take: a fan-out still
        being published when the grace ends would otherwise be sent twice.
        """
        messages = message_count(siblings, self.max_batch, self.spread)
        return int(outbox_grace_s * 1000) + PUBLISH_ALLOWANCE_MS * messages

    def hand_back(self, bodies: list[Any], priority: int | None = None, tenant: str | None = None) -> None:
        """Publish again, verbatim, bodies of a batch that were not started: in two messages, for two workers."""
        route = self._route(priority, tenant)
        with self.app.producer_or_acquire() as producer:
            for part in halves(bodies):
                self._publish(producer, part, "handed back", route)

    def _route(self, priority: int | None, tenant: str | None = None) -> dict[str, Any]:
        """Where a message of a job with ``priority`` goes: its band's queue, or on Redis its band's list
        (its ``tenant``'s list in that band, named in a header the Redis channel reads)."""
        which = band(priority)
        route: dict[str, Any] = {"queue": self.queue}
        if which != NORMAL and self.amqp:
            route["queue"] = band_queue(self.queue, which)
        elif which != NORMAL:
            route["priority"] = REDIS_PRIORITY[which]
        if tenant is not None and not self.amqp:
            route["headers"] = {TENANT_HEADER: tenant}
        return route

    def _publish(self, producer: Any, bodies: list[Any], label: str, route: dict[str, Any]) -> None:
        # A short argsrepr: Celery would otherwise build a repr of every body per message.
        if len(bodies) == 1:
            name, args, shown = TASK_NAME, [bodies[0]], f"[<activation {label}>]"
        else:
            name, args, shown = BATCH_TASK_NAME, [bodies], f"[<activations: {label}>]"
        self.app.send_task(name, args=args, producer=producer, ignore_result=True, argsrepr=shown,
                           kwargsrepr="{}", **route)


def _by_job(messages: Iterable[Item]) -> dict[str, list[Item]]:
    """("job|activation", body) items grouped by job id, in order."""
    by_job: dict[str, list[Item]] = {}
    for item in messages:
        by_job.setdefault(item[0].split("|", 1)[0], []).append(item)
    return by_job
