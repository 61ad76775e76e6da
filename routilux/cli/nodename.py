"""A worker's node name: unique by default, a duplicate refused, and the health probe that finds it.

Two workers must not share a node name: their liveness records overwrite each
other (``routilux workers`` shows one row) and, on RabbitMQ, the second cannot
open the name's exclusive pidbox queue (RESOURCE_LOCKED) and dies. So the
default name carries the process id, ``routilux-<pid>@<hostname>``, and a
worker given a name that a live worker already uses refuses to start.
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from typing import Any

from routilux.cli.common import EXIT_FAILED, UsageError, fail, settings_from
from routilux.errors import RoutiluxError, StoreUnavailableError


def given_name(name: str | None) -> str | None:
    """The name from ``--name`` or ``ROUTILUX_WORKER_NAME``, as NAME@HOST (NAME alone gets @<hostname>)."""
    name = name or os.environ.get("ROUTILUX_WORKER_NAME") or None
    # Celery would read a bare "NAME" as a host and call the node "celery@NAME";
    # the probe must compute the same name as the worker, so be explicit.
    if name and "@" not in name:
        name = f"{name}@{socket.gethostname()}"
    return name


def worker_name(name: str | None) -> str:
    """The full node name: the given one (see :func:`given_name`), else ``routilux-<pid>@<hostname>``."""
    return given_name(name) or f"routilux-{os.getpid()}@{socket.gethostname()}"


def refuse_duplicate(settings: Any, name: str) -> None:
    """Refuse to start under a name a live worker uses (a record left by a dead one is waited out).

    Raises:
        UsageError: another worker renewed its liveness record under ``name`` while this one watched.
    """
    from routilux.distributed.liveness import liveness_interval_s
    from routilux.distributed.store import RedisStore

    store = RedisStore(settings)
    try:
        first = store.worker_record(name)
        if first is None or _is_this_process(first):
            return
        # A record of a worker that died lapses by itself; one that is renewed meanwhile is alive.
        time.sleep(liveness_interval_s(settings.lease_s) * 1.5)
        again = store.worker_record(name)
        if again is not None and float(again.get("ts", 0)) > float(first.get("ts", 0)):
            raise UsageError(f"another worker named {name} is alive (pid {again.get('pid')} on {again.get('host')}); "
                             "two workers must not share a name: give this one another --name, or leave --name "
                             "out (each worker is then routilux-<pid>@<hostname>)")
    except StoreUnavailableError:
        pass  # not reachable yet: the worker keeps trying to connect
    finally:
        store.close()


def _is_this_process(record: dict[str, Any]) -> bool:
    return record.get("pid") == os.getpid() and record.get("host") == socket.gethostname()


def check_worker(args: argparse.Namespace) -> int:
    """Health probe: 0 if the worker's liveness record is fresh (Redis expires it when not renewed), else 1.

    Without a name it checks the workers of this host (default names carry a pid the probe cannot know).
    """
    settings = settings_from(args)
    name = given_name(args.name)
    from routilux.distributed.store import RedisStore

    store = RedisStore(settings)
    try:
        if name is not None:
            records = {name: store.worker_record(name)}
        else:
            host = socket.gethostname()
            records = {n: r for n, r in store.workers().items() if r.get("host") == host} or {f"*@{host}": None}
    except RoutiluxError as exc:
        return fail(f"worker {name or 'on this host'}: cannot read its liveness record: {exc}", EXIT_FAILED)
    finally:
        store.close()
    return max(_probe(settings, n, r) for n, r in sorted(records.items()))


def _probe(settings: Any, name: str, record: dict[str, Any] | None) -> int:
    if record is None:
        return fail(f"worker {name} is not alive: no fresh liveness record under prefix "
                    f"{settings.key_prefix!r} (stopped, stuck, or started with another --key-prefix)", EXIT_FAILED)
    if not record.get("consuming", True):
        return fail(f"worker {name} is up but not consuming its queues", EXIT_FAILED)
    age = time.time() - float(record.get("ts", time.time()))
    print(f"worker {name} is alive (pid {record.get('pid')} on {record.get('host')}, renewed {age:.1f} s ago)")
    return 0
