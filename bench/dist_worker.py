"""Start one benchmark worker in this process: Routilux's or plain Celery's, same launcher for both.

    python bench/dist_worker.py ours --redis-url URL --key-prefix P --queue Q --pool solo -c 1 --name N
    python bench/dist_worker.py raw  --redis-url URL --queue Q --pool prefork -c 2 --name N

Both run ``app.Worker(...).start()`` with the options Routilux's daemon
(``python -m worker``, ``routilux.distributed.worker.boot.run_celery_worker``) uses: no mingle, no
gossip, Celery's defaults otherwise; so the only difference is the app. Used
by bench/compare_distributed.py (for ours only when the repo has no
``python -m worker``), which stops the worker by pid.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("side", choices=("ours", "raw"))
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--broker-url", default="", help="the broker when it is not the Redis (amqp://...)")
    parser.add_argument("--key-prefix", default="rtxbench", help="ours only (raw uses bench.raw_celery.KEY_PREFIX)")
    parser.add_argument("--queue", required=True)
    parser.add_argument("--pool", choices=("solo", "prefork", "threads"), default="solo")
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("--name", required=True, help="Celery node name (name@host)")
    parser.add_argument("--loglevel", default="WARNING")
    return parser.parse_args(argv)


def ours_app(args: argparse.Namespace) -> Any:
    """Routilux's Celery app, with the benchmark's routine classes imported (other settings: ``ROUTILUX_*``)."""
    import bench.dist_flows  # noqa: F401  (registers the routine classes)
    from routilux.distributed import Settings, create_app

    settings = Settings.from_env(
        redis_url=args.redis_url, broker_url=args.broker_url, key_prefix=args.key_prefix, queue=args.queue, pool=args.pool,
        concurrency=args.concurrency, imports=("bench.dist_flows",),
    )
    return create_app(settings)


def raw_app(args: argparse.Namespace) -> Any:
    """The plain-Celery baseline app."""
    from bench import raw_celery

    return raw_celery.configure(args.redis_url, args.queue, args.broker_url)


def main(argv: list[str] | None = None) -> None:
    """Build the app and run its worker until it is told to stop."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    args = parse_args(argv)
    app = ours_app(args) if args.side == "ours" else raw_app(args)
    queues = [args.queue]
    if args.side == "ours" and args.broker_url.startswith("amqp"):
        from routilux.distributed.protocol.priority import band_queues

        queues = band_queues(queues)  # on RabbitMQ each priority band is a queue of its own
    worker = app.Worker(
        pool_cls=args.pool, concurrency=args.concurrency, queues=queues, hostname=args.name,
        loglevel=args.loglevel, quiet=True, without_mingle=True, without_gossip=True,
    )
    worker.start()
    sys.exit(worker.exitcode or 0)


if __name__ == "__main__":
    main()
