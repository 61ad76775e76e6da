"""Booting a worker daemon: check access, start metrics if asked, run a real Celery worker.

The entry points (``python -m worker``, ``routilux worker``) parse options,
configure logging, import the ``--import`` modules, then call :func:`run_worker`
(or :func:`liveness_record` for the health probe).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from celery import signals

from routilux.distributed.worker.app import create_app
from routilux.distributed.dispatch import broker_error
from routilux.distributed.operations import stats
from routilux.distributed.redis_options import amqp_connection
from routilux.distributed.protocol.constants import ADVISED_STREAM_NODE_MAX_BYTES
from routilux.distributed.protocol.priority import band_queues
from routilux.distributed.settings import Settings
from routilux.distributed.store import RedisStore
from routilux.distributed.worker.instrument import start_worker_metrics
from routilux.distributed.worker.liveness import liveness_interval_s
from routilux.errors import BrokerAccessDeniedError, StoreAccessDeniedError, StoreUnavailableError

SPARE_CONNECTIONS = 64
"""Redis connections an asyncio worker keeps beyond one per pool thread."""

log = logging.getLogger("routilux.distributed")


def run_worker(settings: Settings, name: str, loglevel: str = "INFO", metrics_port: int = 0) -> int:
    """Check Redis and the broker, serve metrics on ``metrics_port`` (0: none), run until shut down.

    Returns:
        The Celery worker's exit code.

    Raises:
        StoreAccessDeniedError: Redis refused the worker.
        KeyLayoutError: ROUTILUX_KEY_BUCKETS differs from the bucket count of the data in Redis.
        BrokerAccessDeniedError: RabbitMQ refused the worker, or the TLS handshake failed.
    """
    check_store_access(settings)
    check_broker_access(settings)
    if metrics_port:
        start_metrics(settings, metrics_port)
    return run_celery_worker(settings, name, loglevel)


def start_metrics(settings: Settings, port: int) -> None:
    """Count activations, latencies and sweeps in this worker (and its pool) and serve them on ``port``."""
    store = RedisStore(settings)
    start_worker_metrics(port, queue_depth=lambda: stats.queue_depth(store), queue=settings.queue)


def check_store_access(settings: Settings) -> None:
    """Fail fast if Redis refuses this worker (credentials, ACL, TLS) or holds data in another key layout.

    A Redis that is not reachable yet is fine: the worker keeps trying to connect.

    Raises:
        StoreAccessDeniedError: Redis refused the connection.
        KeyLayoutError: ROUTILUX_KEY_BUCKETS differs from the bucket count of the data in Redis.
    """
    store = RedisStore(settings)
    try:
        store.ping()
        store.check_layout()
        hint_stream_node_size(store)
    except StoreAccessDeniedError:
        raise
    except StoreUnavailableError:
        pass
    finally:
        store.close()


def hint_stream_node_size(store: RedisStore) -> None:
    """Log a hint when Redis sizes stream nodes above the advised ``stream-node-max-bytes`` (its default does).

    Every job's history is a stream, and Redis 7 gives a new stream node the setting's bytes (at most 4096)
    before it holds anything: at the default, a job waiting at its start keeps about 2 KB it does not use.
    A Redis that refuses CONFIG GET (an ACL, a managed service) gets no hint.
    """
    size = store.stream_node_max_bytes()
    if size is not None and (size == 0 or size > ADVISED_STREAM_NODE_MAX_BYTES):
        log.info("Redis has stream-node-max-bytes %s: at %s, a job with a short history (one waiting at its "
                 "start) takes about 2 KB less Redis memory (see deploy/README.md)", size,
                 ADVISED_STREAM_NODE_MAX_BYTES)


def check_broker_access(settings: Settings) -> None:
    """Fail fast if RabbitMQ refuses this worker (credentials, vhost, TLS); one not up yet is waited for.

    Raises:
        BrokerAccessDeniedError: RabbitMQ refused the connection, or the TLS handshake failed.
    """
    if not settings.broker_is_amqp:
        return  # a Redis broker is the store's Redis (checked above) or refuses the same way
    connection = amqp_connection(settings)
    try:
        connection.connect()
    except Exception as exc:  # noqa: BLE001 - anything but a refusal: not reachable yet, the worker keeps trying
        refusal = broker_error(exc)
        if isinstance(refusal, BrokerAccessDeniedError):
            raise refusal from exc
    finally:
        connection.release()


def given_name(name: str | None) -> str | None:
    """The name from ``--name`` or ``ROUTILUX_WORKER_NAME`` as NAME@HOST (NAME alone gets @<hostname>), else None."""
    name = name or os.environ.get("ROUTILUX_WORKER_NAME") or None
    # Celery would read a bare "NAME" as a host and call the node "celery@NAME";
    # the probe must compute the same name as the worker, so be explicit.
    if name and "@" not in name:
        name = f"{name}@{socket.gethostname()}"
    return name


def worker_name(name: str | None) -> str:
    """The full node name: the given one (see :func:`given_name`), else ``routilux-<pid>@<hostname>``.

    Two workers must not share a name: their liveness records would overwrite each
    other and, on RabbitMQ, the second cannot open the name's exclusive pidbox queue
    (RESOURCE_LOCKED). So the default carries the process id.
    """
    return given_name(name) or f"routilux-{os.getpid()}@{socket.gethostname()}"


def live_namesake(settings: Settings, name: str) -> dict[str, Any] | None:
    """The liveness record of another live worker named ``name``, or None (a dead one's record is waited out).

    A record that is renewed while this process watches for 1.5 liveness intervals belongs
    to a live worker; a dead worker's record lapses by itself. A Redis not reachable yet
    counts as no namesake: the worker keeps trying to connect.
    """
    store = RedisStore(settings)
    try:
        first = store.worker_record(name)
        if first is None or (first.get("pid") == os.getpid() and first.get("host") == socket.gethostname()):
            return None
        time.sleep(liveness_interval_s(settings.lease_s) * 1.5)
        again = store.worker_record(name)
        return again if again is not None and float(again.get("ts", 0)) > float(first.get("ts", 0)) else None
    except StoreUnavailableError:
        return None
    finally:
        store.close()


def run_celery_worker(settings: Settings, name: str, loglevel: str = "INFO") -> int:
    """Run a real Celery worker until it is shut down; returns its exit code."""
    # Our logging is already configured: a receiver on setup_logging tells
    # Celery (and its forked pool children) to leave it alone.
    signals.setup_logging.connect(_keep_logging, weak=False)
    settings = sized_for_pool(settings)
    app = create_app(settings)
    worker = app.Worker(
        hostname=name, pool_cls=celery_pool(settings.pool), concurrency=settings.concurrency,
        queues=_consumed(settings),
        loglevel=loglevel, quiet=loglevel not in ("DEBUG", "INFO"),
        # Mingle and gossip broadcast on the broker for features Routilux does
        # not use (revokes, clock sync); our own liveness record replaces them.
        without_mingle=True, without_gossip=True,
    )
    worker.start()  # SIGTERM: warm shutdown, in-flight activations finish first
    return int(worker.exitcode or 0)


def _consumed(settings: Settings) -> list[str]:
    """The queues a worker consumes: on RabbitMQ each of ``settings.queues`` with its priority bands' queues."""
    return band_queues(settings.queues) if settings.broker_is_amqp else list(settings.queues)


def celery_pool(pool: str) -> str:
    """The Celery pool behind ``pool``.

    asyncio is Celery's threads pool: each pool thread takes one message and runs
    its claim, step and commit as any pool does, so acks, prefetch (``concurrency``
    messages) and reject-on-loss are Celery's own; a coroutine handler runs on the
    process's one handler loop (routilux.aio) while its thread waits, so up to
    ``concurrency`` handlers await at once. A sync handler runs on its thread.
    """
    return "threads" if pool == "asyncio" else pool


def sized_for_pool(settings: Settings) -> Settings:
    """``settings`` with a Redis connection pool big enough for an asyncio worker's ``concurrency``.

    Every pool thread may hold a connection at once (a claim, a commit, a read of the
    job), beside the heartbeat, the sweeper, liveness and dispatch.
    """
    wanted = settings.concurrency + SPARE_CONNECTIONS
    if settings.pool != "asyncio" or settings.redis_max_connections >= wanted:
        return settings
    return settings.with_(redis_max_connections=wanted)


def _keep_logging(**_: Any) -> None:
    """setup_logging receiver: Celery must not reconfigure logging."""


def liveness_records(settings: Settings, name: str | None) -> dict[str, dict[str, Any] | None]:
    """The named worker's liveness record (None if it expired), or with no name those of this host's workers.

    Default names carry a process id the probe cannot know, so without a name it takes
    every worker whose record names this host.

    Raises:
        StoreUnavailableError: Redis could not be read.
    """
    store = RedisStore(settings)
    try:
        if name is not None:
            return {name: store.worker_record(name)}
        host = socket.gethostname()
        return {n: r for n, r in store.workers().items() if r.get("host") == host}
    finally:
        store.close()
