"""``routilux worker``: run a worker daemon (same as ``python -m worker``), or probe one with ``--check``.

Only the options live here; the daemon boots in :mod:`routilux.distributed.worker.boot`.
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from typing import Any

from routilux.cli.engine import distributed, settings_from
from routilux.cli.exits import EXIT_FAILED, UsageError, fail
from routilux.cli.options import add_connection_arguments
from routilux.cli.process import configure_logging, import_modules
from routilux.errors import RoutiluxError

DEFAULT_STALL_S = 30.0  # a delivered message normally starts within milliseconds; a pool restart takes seconds


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
    parser.add_argument("--pool", choices=("prefork", "threads", "solo", "asyncio"),
                        help="Celery pool, or asyncio for async def handlers (env ROUTILUX_POOL)")
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
                        help="health probe: exit 0 if the named worker's liveness record is fresh and its "
                             "prefetch slots are not stalled, else 1")
    parser.add_argument("--stall-s", type=float,
                        help="with --check: fail when the worker has held a delivered message this long without "
                             "running it while running nothing (env ROUTILUX_STALL_S; default 30)")


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
    boot = _boot()
    port = args.metrics_port or int(os.environ.get("ROUTILUX_METRICS_PORT") or 0)
    name = boot.worker_name(args.name)
    if boot.given_name(args.name):
        refuse_namesake(boot, settings, name)
    return boot.run_worker(settings, name, loglevel, metrics_port=port)


def _boot() -> Any:
    """The worker's boot module (imported late: the distributed engine is an install extra)."""
    distributed()
    from routilux.distributed.worker import boot

    return boot


def _split(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())


def refuse_namesake(boot: Any, settings: Any, name: str) -> None:
    """Refuse to start under a name a live worker uses.

    Raises:
        UsageError: another worker renewed its liveness record under ``name`` while this one watched.
    """
    other = boot.live_namesake(settings, name)
    if other is not None:
        raise UsageError(f"another worker named {name} is alive (pid {other.get('pid')} on {other.get('host')}); "
                         "two workers must not share a name: give this one another --name, or leave --name out "
                         "(each worker is then routilux-<pid>@<hostname>)")


def check_worker(args: argparse.Namespace) -> int:
    """Health probe: 0 if the worker is alive and its prefetch slots are not stalled, else 1.

    Alive: its liveness record exists (Redis expires it when not renewed). Stalled: the record
    says it has held a delivered message longer than ``--stall-s`` without running it, while it
    ran nothing (see ``liveness.SlotWatch``). Without ``--name`` it checks every worker of this
    host (default names carry a process id the probe cannot know).
    """
    settings = settings_from(args)
    boot = _boot()
    name = boot.given_name(args.name)
    try:
        records = boot.liveness_records(settings, name) or {f"*@{socket.gethostname()}": None}
    except RoutiluxError as exc:
        return fail(f"worker {name or 'on this host'}: cannot read its liveness record: {exc}", EXIT_FAILED)
    return max(_probe(args, settings, n, r) for n, r in sorted(records.items()))


def _probe(args: argparse.Namespace, settings: Any, name: str, record: dict[str, Any] | None) -> int:
    if record is None:
        return fail(f"worker {name} is not alive: no fresh liveness record under prefix "
                    f"{settings.key_prefix!r} (stopped, stuck, or started with another --key-prefix)", EXIT_FAILED)
    if not record.get("consuming", True):
        return fail(f"worker {name} is up but not consuming its queues", EXIT_FAILED)
    age = time.time() - float(record.get("ts", time.time()))
    stalled = float(record.get("stalled_s", 0.0))
    bound = args.stall_s or float(os.environ.get("ROUTILUX_STALL_S") or DEFAULT_STALL_S)
    if stalled and stalled + age > bound:
        return fail(f"worker {name} is stalled: a message delivered to it has not run for {stalled + age:.0f} s "
                    f"while it ran nothing (bound {bound:g} s); its prefetch slots take no other work", EXIT_FAILED)
    print(f"worker {name} is alive (pid {record.get('pid')} on {record.get('host')}, renewed {age:.1f} s ago)")
    return 0
