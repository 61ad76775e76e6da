"""Booting a worker daemon: check access, start metrics if asked, run a real Celery worker.

The entry points (``python -m worker``, ``routilux worker``) parse options,
configure logging, import the ``--import`` modules, then call :func:`run_worker`
(or :func:`liveness_record` for the health probe).
"""

from __future__ import annotations

import socket
from typing import Any

from celery import signals

from routilux.distributed.worker.app import create_app, node_name
from routilux.distributed.dispatch import broker_error
from routilux.distributed.operations import stats
from routilux.distributed.redis_options import amqp_connection
from routilux.distributed.priority import band_queues
from routilux.distributed.settings import Settings
from routilux.distributed.store import RedisStore
from routilux.distributed.worker.instrument import start_worker_metrics
from routilux.errors import BrokerAccessDeniedError, StoreAccessDeniedError, StoreUnavailableError


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
    except StoreAccessDeniedError:
        raise
    except StoreUnavailableError:
        pass
    finally:
        store.close()


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


def worker_name(name: str | None) -> str:
    """The full node name: NAME@HOST as given, NAME alone gets @<hostname>, default routilux@<hostname>."""
    # Celery would read a bare "NAME" as a host and call the node "celery@NAME";
    # the probe must compute the same name as the worker, so be explicit.
    if name and "@" not in name:
        name = f"{name}@{socket.gethostname()}"
    return node_name(name)


def run_celery_worker(settings: Settings, name: str, loglevel: str = "INFO") -> int:
    """Run a real Celery worker until it is shut down; returns its exit code."""
    # Our logging is already configured: a receiver on setup_logging tells
    # Celery (and its forked pool children) to leave it alone.
    signals.setup_logging.connect(_keep_logging, weak=False)
    app = create_app(settings)
    worker = app.Worker(
        hostname=name, pool_cls=settings.pool, concurrency=settings.concurrency, queues=_consumed(settings),
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


def _keep_logging(**_: Any) -> None:
    """setup_logging receiver: Celery must not reconfigure logging."""


def liveness_record(settings: Settings, name: str) -> dict[str, Any] | None:
    """The named worker's liveness record, or None if it expired (Redis expires it when not renewed).

    Raises:
        StoreUnavailableError: Redis could not be read.
    """
    store = RedisStore(settings)
    try:
        return store.worker_record(name)
    finally:
        store.close()
