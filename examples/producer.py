"""Producer for the multi-host setup: publish the order flow, submit N jobs, wait, print a summary.

    ROUTILUX_REDIS_URL=redis://redis-host:6379/0 python -m examples.producer --jobs 20

Run it on any host that reaches the Redis; the jobs run on whichever workers
(``python -m worker --import examples.orders``) are up. Exit code 0 when every
job completed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from typing import Any

from examples.orders import ENTRY, PRICES_CENTS, make_flow

BAD_SKUS = ("caviar", "truffle")


def orders_for(batch: int) -> list[dict[str, Any]]:
    """A reproducible batch of 3 to 6 orders, now and then an invalid one."""
    rng = random.Random(batch)
    skus = sorted(PRICES_CENTS)
    orders = []
    for k in range(rng.randint(3, 6)):
        sku = rng.choice(BAD_SKUS) if rng.random() < 0.1 else rng.choice(skus)
        orders.append({"order_id": f"B{batch:03d}-{k + 1}", "sku": sku, "quantity": rng.randint(0, 5)})
    return orders


def wait_for_workers(runtime: Any, seconds: float) -> int:
    """Wait up to ``seconds`` for a live worker; returns how many are live (jobs queue up meanwhile anyway)."""
    deadline = time.monotonic() + seconds
    while True:
        live = len(runtime.workers())
        if live or time.monotonic() >= deadline:
            return live
        time.sleep(0.5)


def run(jobs: int, timeout: float, worker_wait_s: float) -> int:
    """Publish, submit, wait and report; returns the exit code."""
    from routilux.distributed import DistributedRuntime

    runtime = DistributedRuntime()
    try:
        live = wait_for_workers(runtime, worker_wait_s)
        print(f"redis {runtime.settings.redis_url}, prefix {runtime.settings.key_prefix!r}, {live} live worker(s)")
        digest = runtime.publish(make_flow())
        print(f"published flow 'orders' as {digest[:12]}", flush=True)
        started = time.monotonic()
        # Submitting by hash pins every job to the flow published just now.
        job_ids = [runtime.submit(digest, ENTRY, {"orders": orders_for(n)}) for n in range(jobs)]
        print(f"submitted {len(job_ids)} jobs", flush=True)
        states = [runtime.wait(job_id, timeout=max(0.1, timeout - (time.monotonic() - started))) for job_id in job_ids]
        return report(states, time.monotonic() - started)
    finally:
        runtime.close()


def report(states: list[Any], elapsed_s: float) -> int:
    """Print one line per job and a total; returns 0 if every job completed."""
    grand = 0
    for state in states:
        summary = state.get_shared_data("summary") or {}
        grand += summary.get("total_cents", 0)
        print(f"  {state.job_id}  {state.status:<9}  {summary.get('orders', 0)} orders, "
              f"{len(summary.get('rejected', {}))} rejected, ${summary.get('total_cents', 0) / 100:.2f}")
    completed = sum(1 for s in states if s.status == "completed")
    print(f"{completed}/{len(states)} jobs completed in {elapsed_s:.1f} s; total ${grand / 100:.2f}")
    return 0 if completed == len(states) else 1


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the producer."""
    parser = argparse.ArgumentParser(prog="python -m examples.producer", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10, help="how many order batches to submit (default 10)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for all jobs (default 120)")
    parser.add_argument("--wait-for-workers", type=float, default=30.0, metavar="S",
                        help="seconds to wait for a live worker before submitting (default 30)")
    args = parser.parse_args(argv)
    try:
        return run(args.jobs, args.timeout, args.wait_for_workers)
    except Exception as exc:  # one readable line for an operator, e.g. Redis unreachable or a timeout
        from routilux.errors import RoutiluxError

        if not isinstance(exc, (RoutiluxError, TimeoutError)):
            raise
        print(f"producer: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
