"""Worker liveness: a record renewed from the consumer's own event loop, and the sweeper.

The record is written by a timer of the consumer that fetches messages, so it
stops being renewed when the worker stops consuming; the health probe turns a
stale record into a non-zero exit code.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from celery import bootsteps

from routilux.distributed.dispatch import Dispatcher
from routilux.distributed.store import RedisStore
from routilux.distributed.worker.fetched import track_fetched
from routilux.distributed.worker.sweeper import Sweeper
from routilux.distributed.constants import (LIVENESS_MAX_S, LIVENESS_MIN_S, LIVENESS_RENEWALS_PER_LEASE,
                                              RECORD_TTL_INTERVALS)

log = logging.getLogger("routilux.distributed")


def liveness_interval_s(lease_s: float) -> float:
    """How often the liveness record is renewed."""
    return max(LIVENESS_MIN_S, min(LIVENESS_MAX_S, lease_s / LIVENESS_RENEWALS_PER_LEASE))


class Liveness(bootsteps.StartStopStep):
    """Consumer step: renew this worker's liveness record; run the sweeper."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self.tref = None
        self.sweeper: Sweeper | None = None
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

        def beat() -> None:
            info = {"pid": os.getpid(), "host": socket.gethostname(), "ts": time.time(), "started": started,
                    "queues": list(settings.queues), "concurrency": settings.concurrency, "pool": settings.pool,
                    "consuming": c.task_consumer is not None}
            try:
                store.record_worker(name, info, ttl_s=interval * RECORD_TTL_INTERVALS)
            except Exception:
                log.warning("could not renew the liveness record", exc_info=True)

        beat()
        self.tref = c.timer.call_repeatedly(interval, beat)
        self.forget = lambda: store.forget_worker(name)
        self.sweeper = Sweeper(store, Dispatcher(c.app, settings), name)
        self.sweeper.start()

    def stop(self, c: Any) -> None:
        """Stop renewing and sweeping."""
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        if self.sweeper is not None:
            self.sweeper.stop()
            self.sweeper = None
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
