"""Fair share across tenants beside a run without tenants, on the same worker in the same run (Redis broker).

Usage (from the repo root)::

    .venv/bin/python bench/tenants.py                  # about 3 minutes on 2 cores

Starts its own ``redis-server`` (free port, temp dir, no persistence) and one
worker daemon (``python -m worker``, prefork, 2 processes). Then:

* newcomer: tenant "acme" queues ``--backlog`` jobs of one activation each (a
  ``Pause`` of ``--pause-ms``); once the worker is busy with them, tenant
  "globex" submits one job, timed from submit to completion. Beside it, the same
  with no tenant on any job: the last job waits its turn behind the backlog.
* ratio: "acme" (weight 1) and "globex" (weight ``--weight``) each queue
  ``--each`` jobs; of the first ``--each`` to complete (both tenants still have
  work waiting), how many are globex's per one of acme's. Beside it, the same
  tenants at equal weights.

Runs alternate; medians are printed. Every
process it starts is stopped by pid before it exits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.compare_distributed import RedisServer  # noqa: E402
from bench.priorities import Worker, alternate, wait_all  # noqa: E402
from bench.priority_flows import ENTRY, pause_flow  # noqa: E402
from routilux.distributed import DistributedRuntime, Settings  # noqa: E402

TARGET_S = 1.0
PREFIX = "rtxtenant"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=10_000, help="acme's activations ahead of globex's job")
    parser.add_argument("--pause-ms", type=float, default=0.5, help="what each activation takes")
    parser.add_argument("--each", type=int, default=2000, help="jobs per tenant in the ratio runs")
    parser.add_argument("--weight", type=int, default=3, help="globex's weight against acme's 1")
    parser.add_argument("--runs", type=int, default=2, help="timed runs per side")
    parser.add_argument("--scenarios", default="newcomer,ratio", help="comma-separated subset")
    return parser.parse_args(argv)


def newcomer_latency(runtime: DistributedRuntime, args: argparse.Namespace, tenants: bool) -> float:
    """Seconds from globex's submit, behind acme's busy backlog, to its job's completion."""
    item = {"flow": ENTRY, "entry": ENTRY, "params": {"ms": args.pause_ms}, "tenant": "acme" if tenants else None}
    backlog = runtime.submit_many([item] * args.backlog)
    while runtime.job_status(backlog[20]) != "completed":  # the worker is busy with it
        time.sleep(0.01)
    started = time.perf_counter()
    newcomer = runtime.submit(ENTRY, ENTRY, {"ms": 0}, tenant="globex" if tenants else None)
    wait_all(runtime, [newcomer])
    elapsed = time.perf_counter() - started
    wait_all(runtime, backlog)
    return elapsed


def progress_ratio(runtime: DistributedRuntime, args: argparse.Namespace, weight: int) -> float:
    """globex's completed jobs per acme's among the first ``--each`` to complete."""
    runtime.set_tenant_weight("acme", 1)
    runtime.set_tenant_weight("globex", weight)
    time.sleep(0.5)  # the worker reads weights every 0.25 s
    # Interleaved in one call, so that both tenants have work waiting from the first chunk on.
    items = [{"flow": ENTRY, "entry": ENTRY, "params": {"ms": args.pause_ms}, "tenant": t}
             for _ in range(args.each) for t in ("acme", "globex")]
    ids = runtime.submit_many(items)
    wait_all(runtime, ids)
    ends = sorted((int(runtime.store.meta(j)["finished_at"]), item["tenant"]) for j, item in zip(ids, items))
    first = [t for _, t in ends[:args.each]]
    return first.count("globex") / max(1, first.count("acme"))


def main(argv: list[str] | None = None) -> int:
    """Run both scenarios and print the figures."""
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="rtx-tenant-"))
    server = RedisServer(folder)
    server.start()
    settings = Settings(redis_url=server.url, key_prefix=PREFIX, queue=f"{PREFIX}-{uuid.uuid4().hex[:6]}")
    runtime = DistributedRuntime(settings=settings)
    worker = None
    try:
        runtime.publish(pause_flow())
        worker = Worker(settings, folder / "worker.log")
        scenarios = args.scenarios.split(",")
        if "newcomer" in scenarios:
            report_newcomer(args, alternate(args.runs, {"tenants": lambda: newcomer_latency(runtime, args, True),
                                                        "no tenants": lambda: newcomer_latency(runtime, args, False)}))
        if "ratio" in scenarios:
            report_ratio(args, alternate(args.runs, {
                f"weights 1:{args.weight}": lambda: progress_ratio(runtime, args, args.weight),
                "weights 1:1": lambda: progress_ratio(runtime, args, 1)}))
    finally:
        if worker is not None:
            worker.stop()
        runtime.close()
        server.stop()
    return 0


def report_newcomer(args: argparse.Namespace, late: dict[str, list[float]]) -> None:
    """Print the newcomer scenario's medians."""
    fair, plain = statistics.median(late["tenants"]), statistics.median(late["no tenants"])
    print(f"globex's job behind {args.backlog} busy activations of acme ({args.pause_ms} ms each): done in "
          f"{fair:.3f} s (target <= {TARGET_S} s: {'met' if fair <= TARGET_S else 'NOT met'}); without tenants "
          f"{plain:.3f} s, {plain / fair:.0f}x sooner  (runs {_rounded(late)})", flush=True)


def report_ratio(args: argparse.Namespace, ratios: dict[str, list[float]]) -> None:
    """Print the ratio scenario's medians."""
    weighted, even = statistics.median(ratios[f"weights 1:{args.weight}"]), statistics.median(ratios["weights 1:1"])
    print(f"of the first {args.each} jobs done, globex's per acme's: {weighted:.2f} at weights 1:{args.weight}, "
          f"{even:.2f} at 1:1  (runs {_rounded(ratios)})", flush=True)


def _rounded(values: dict[str, list[float]]) -> dict[str, list[float]]:
    return {name: [round(v, 3) for v in runs] for name, runs in values.items()}


if __name__ == "__main__":
    sys.exit(main())
