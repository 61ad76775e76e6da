"""Worker liveness: a record renewed from the consumer's own event loop, and the sweeper.

The record is written by a timer of the consumer that fetches messages, so it
stops being renewed when the worker stops consuming; the health probe turns a
stale record into a non-zero exit code.

The record also says for how long the worker's prefetch slots have been held by
nothing running (``stalled_s``, see :class:`SlotWatch`): a worker that holds
delivered messages it never runs takes no other work, and only its probe can tell.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from celery import bootsteps
from celery.worker import state as worker_state

from routilux.distributed.dispatch import Dispatcher
from routilux.distributed.store import RedisStore
from routilux.distributed.worker.fetched import track_fetched
from routilux.distributed.worker.scheduler import Scheduler
from routilux.distributed.worker.sweeper import Sweeper
from routilux.distributed.constants import (LIVENESS_MAX_S, LIVENESS_MIN_S, LIVENESS_RENEWALS_PER_LEASE,
                                              RECORD_TTL_INTERVALS)

log = logging.getLogger("routilux.distributed")


def liveness_interval_s(lease_s: float) -> float:
    """How often the liveness record is renewed."""
    return max(LIVENESS_MIN_S, min(LIVENESS_MAX_S, lease_s / LIVENESS_RENEWALS_PER_LEASE))


class SlotWatch:
    """Measures how long a worker has held a delivered message that does not run, while running none.

    ``stalled_s`` counts from the first beat that saw a held message not running,
    no message running and none started since the beat before; any beat that sees
    a message run, or no message held idle, resets it. Held messages are Celery's
    reserved requests and, on the Redis broker, every delivery the channel holds
    unacknowledged (also one Celery never made a request of).
    """

    def __init__(self) -> None:
        self.since: float | None = None
        self.started = -1

    def stalled_s(self, consumer: Any, now: float) -> float:
        """Seconds the slots of ``consumer`` have been held by nothing running (0 when they are not)."""
        started, self.started = self.started, worker_state.all_total_count[0]
        running = {_tag(r) for r in list(worker_state.active_requests)}
        held = {_tag(r) for r in list(worker_state.reserved_requests)} | _channel_held(consumer)
        if running or started != self.started or not held - running:
            self.since = None
            return 0.0
        if self.since is None:
            self.since = now
        return now - self.since


def _tag(request: Any) -> Any:
    return request.message.delivery_tag


def _channel_held(consumer: Any) -> set[Any]:
    channel = getattr(consumer.task_consumer, "channel", None)
    held = getattr(channel, "held_tags", None)
    return held() if held is not None else set()


class Liveness(bootsteps.StartStopStep):
    """Consumer step: renew this worker's liveness record; run the sweeper."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self.tref = None
        self.sweeper: Sweeper | None = None
        self.scheduler: Scheduler | None = None
        self.forget: Any = None

    def start(self, c: Any) -> None:
        """Begin renewing the record and sweeping."""
        settings = c.app.routilux_settings
        store = RedisStore(settings)
        interval = liveness_interval_s(settings.lease_s)
        name = c.hostname
        c.app.routilux_node = name  # what activate() reports as the worker running an activation
        if not settings.broker_is_amqp:  # RabbitMQ requeues a lost connection's messages by itself
            track_fetched(c.connection, store.keys.fetched(name))
        started = time.time()
        slots = SlotWatch()

        def beat() -> None:
            consuming = c.task_consumer is not None
            info = {"pid": os.getpid(), "host": socket.gethostname(), "ts": time.time(), "started": started,
                    "queues": list(settings.queues), "concurrency": settings.concurrency, "pool": settings.pool,
                    "consuming": consuming, "stalled_s": slots.stalled_s(c, time.monotonic()) if consuming else 0.0}
            try:
                store.record_worker(name, info, ttl_s=interval * RECORD_TTL_INTERVALS)
            except Exception:
                log.warning("could not renew the liveness record", exc_info=True)

        beat()
        self.tref = c.timer.call_repeatedly(interval, beat)
        self.forget = lambda: store.forget_worker(name)
        self.sweeper = Sweeper(store, Dispatcher(c.app, settings), name)
        self.sweeper.start()
        self.scheduler = Scheduler(settings, name)
        self.scheduler.start()

    def stop(self, c: Any) -> None:
        """Stop renewing and sweeping."""
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        if self.sweeper is not None:
            self.sweeper.stop()
            self.sweeper = None
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self.forget is not None:
            try:
                self.forget()  # a stopped worker is not alive: the health probe must say so at once
            except Exception:
                log.warning("could not remove the liveness record", exc_info=True)
            self.forget = None

    shutdown = stop


def install_liveness(app: Any) -> None:
    """Add the liveness step to ``app``'s consumer."""
    app.steps["consumer"].add(Liveness)
