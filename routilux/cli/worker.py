"""``routilux worker``: run a worker daemon (same as ``python -m worker``), or probe one with ``--check``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from routilux.cli.common import add_connection_arguments, configure_logging, distributed, import_modules, settings_from
from routilux.cli.nodename import check_worker, given_name, refuse_duplicate, worker_name


def register(sub: Any) -> None:
    """Add the ``worker`` command."""
    worker = sub.add_parser("worker", help="run a worker daemon (same as python -m worker)")
    add_worker_arguments(worker)
    worker.set_defaults(func=cmd_worker)


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker daemon's options, shared by ``python -m worker`` and ``routilux worker``."""
    add_connection_arguments(parser)
    parser.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                        help="module defining routine classes; repeatable (env ROUTILUX_IMPORTS, comma-separated)")
    parser.add_argument("--concurrency", type=int, help="pool processes or threads (env ROUTILUX_CONCURRENCY)")
    parser.add_argument("--pool", choices=("prefork", "threads", "solo"), help="Celery pool (env ROUTILUX_POOL)")
    parser.add_argument("--queues", help="comma-separated queues to consume (env ROUTILUX_QUEUES)")
    parser.add_argument("--lease-s", type=float, help="activation lease in seconds (env ROUTILUX_LEASE_S)")
    parser.add_argument("--soft-time-limit-s", type=float,
                        help="default soft time limit of a handler, 0 for none (env ROUTILUX_SOFT_TIME_LIMIT_S)")
    parser.add_argument("--hard-time-limit-s", type=float,
                        help="default hard time limit of an activation, 0 for none (env ROUTILUX_HARD_TIME_LIMIT_S)")
    parser.add_argument("--name", help="node name, NAME or NAME@HOST, unique among live workers (env "
                                       "ROUTILUX_WORKER_NAME; default routilux-<pid>@<hostname>)")
    parser.add_argument("--loglevel", help="DEBUG, INFO, WARNING or ERROR (env ROUTILUX_LOGLEVEL; default INFO)")
    parser.add_argument("--metrics-port", type=int,
                        help="serve Prometheus metrics on this port (env ROUTILUX_METRICS_PORT; off by default)")
    parser.add_argument("--check", action="store_true",
                        help="health probe: exit 0 if the named worker's liveness record is fresh, else 1")


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a Celery worker for Routilux activations (or, with --check, probe one)."""
    if args.check:
        return check_worker(args)
    loglevel = (args.loglevel or os.environ.get("ROUTILUX_LOGLEVEL") or "INFO").upper()
    configure_logging(loglevel)
    settings = settings_from(args, concurrency=args.concurrency, pool=args.pool, lease_s=args.lease_s,
                             queues=_split(args.queues), imports=tuple(args.imports) if args.imports else None,
                             soft_time_limit_s=args.soft_time_limit_s, hard_time_limit_s=args.hard_time_limit_s)
    import_modules(settings.imports)
    check_access(settings)
    check_broker_access(settings)
    port = args.metrics_port or int(os.environ.get("ROUTILUX_METRICS_PORT") or 0)
    if port:
        start_metrics(settings, port)
    name = worker_name(args.name)
    if given_name(args.name):
        refuse_duplicate(settings, name)
    return run_celery_worker(settings, name, loglevel)


def start_metrics(settings: Any, port: int) -> None:
    """Count activations, latencies and sweeps in this worker (and its pool) and serve them on ``port``."""
    from routilux.distributed import stats
    from routilux.distributed.instrument import start_worker_metrics
    from routilux.distributed.store import RedisStore

    store = RedisStore(settings)
    start_worker_metrics(port, queue_depth=lambda: stats.queue_depth(store), queue=settings.queue)


def check_access(settings: Any) -> None:
    """Fail fast if Redis refuses this worker (credentials, ACL, TLS) or holds data in another key layout.

    A Redis that is not reachable yet is fine: the worker keeps trying to connect.

    Raises:
        StoreAccessDeniedError: Redis refused the connection.
        KeyLayoutError: ROUTILUX_KEY_BUCKETS differs from the bucket count of the data in Redis.
    """
    from routilux.distributed.store import RedisStore
    from routilux.errors import StoreAccessDeniedError, StoreUnavailableError

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


def check_broker_access(settings: Any) -> None:
    """Fail fast if RabbitMQ refuses this worker (credentials, vhost, TLS); one not up yet is waited for.

    Raises:
        BrokerAccessDeniedError: RabbitMQ refused the connection, or the TLS handshake failed.
    """
    if not settings.broker_is_amqp:
        return  # a Redis broker is the store's Redis (checked above) or refuses the same way
    from routilux.distributed.dispatch import broker_error
    from routilux.distributed.redis_options import amqp_connection
    from routilux.errors import BrokerAccessDeniedError

    connection = amqp_connection(settings)
    try:
        connection.connect()
    except Exception as exc:  # noqa: BLE001 - anything but a refusal: not reachable yet, the worker keeps trying
        refusal = broker_error(exc)
        if isinstance(refusal, BrokerAccessDeniedError):
            raise refusal from exc
    finally:
        connection.release()


def _split(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())


def run_celery_worker(settings: Any, name: str, loglevel: str = "INFO") -> int:
    """Run a real Celery worker until it is shut down; returns its exit code."""
    from celery import signals

    # Our logging is already configured: a receiver on setup_logging tells
    # Celery (and its forked pool children) to leave it alone.
    signals.setup_logging.connect(_keep_logging, weak=False)
    app = distributed().create_app(settings)
    worker = app.Worker(
        hostname=name, pool_cls=settings.pool, concurrency=settings.concurrency, queues=list(settings.queues),
        loglevel=loglevel, quiet=loglevel not in ("DEBUG", "INFO"),
        # Mingle and gossip broadcast on the broker for features Routilux does
        # not use (revokes, clock sync); our own liveness record replaces them.
        without_mingle=True, without_gossip=True,
    )
    worker.start()  # SIGTERM: warm shutdown, in-flight activations finish first
    return int(worker.exitcode or 0)


def _keep_logging(**_: Any) -> None:
    """setup_logging receiver: Celery must not reconfigure logging."""
