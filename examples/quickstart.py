"""Run the order pipeline once and print its result.

    python -m examples.quickstart                 # local engine, nothing to install
    ROUTILUX_REDIS_URL=redis://127.0.0.1:6379/0 python -m examples.quickstart --embedded-worker

Without ``ROUTILUX_REDIS_URL`` the flow runs in this process on the local
engine. With it, the job goes to the distributed engine: workers started with
``python -m worker --import examples.orders`` run it, or, with
``--embedded-worker``, a Celery worker thread inside this script does.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from typing import Any

from examples.orders import ENTRY, SAMPLE_ORDERS, format_summary, make_flow


def run_local() -> Any:
    """Run one order job on the local engine; returns its JobState."""
    flow = make_flow()
    try:
        return flow.execute(ENTRY, entry_params={"orders": SAMPLE_ORDERS})
    finally:
        flow.shutdown()


def run_distributed(embedded_worker: bool, timeout: float) -> Any:
    """Submit one order job to the distributed engine and wait for it; returns its JobState."""
    try:
        from routilux.distributed import DistributedRuntime, create_app
    except ImportError as exc:  # the distributed extra is not installed in this Python
        raise SystemExit(f"ROUTILUX_REDIS_URL is set, so this runs on the distributed engine, which needs "
                         f"{exc.name or exc}: pip install 'routilux[distributed]' (or unset ROUTILUX_REDIS_URL "
                         "to run on the local engine)") from None

    runtime = DistributedRuntime()
    with ExitStack() as stack:
        stack.callback(runtime.close)
        if embedded_worker:
            from celery.contrib.testing.worker import start_worker

            app = create_app(runtime.settings)
            stack.enter_context(start_worker(app, pool="threads", concurrency=2, perform_ping_check=False,
                                             loglevel="WARNING", shutdown_timeout=10))
        job_id = runtime.submit(make_flow(), ENTRY, entry_params={"orders": SAMPLE_ORDERS})
        return runtime.wait(job_id, timeout=timeout)


def main(argv: list[str] | None = None) -> int:
    """Run the example; returns 0 if the job completed."""
    parser = argparse.ArgumentParser(prog="python -m examples.quickstart", description=__doc__.splitlines()[0])
    parser.add_argument("--embedded-worker", action="store_true",
                        help="distributed engine only: run a worker thread in this process")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the job (distributed)")
    args = parser.parse_args(argv)
    if os.environ.get("ROUTILUX_REDIS_URL"):
        print(f"engine: distributed ({os.environ['ROUTILUX_REDIS_URL']})")
        state = run_distributed(args.embedded_worker, args.timeout)
    else:
        print("engine: local")
        state = run_local()
    print(format_summary(state))
    return 0 if state.status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
