"""Priorities and bulk submit, each beside a run without the feature, on the same workers in the same run.

Usage (from the repo root)::

    .venv/bin/python bench/priorities.py                       # Redis broker
    .venv/bin/python bench/priorities.py --brokers redis,rabbitmq

Starts its own ``redis-server`` (free port, temp dir, no persistence) and, per
broker, one worker daemon (``python -m worker``, prefork, 2 processes). Then:

* priority: a backlog of ``--backlog`` jobs of one activation each (a
  ``Pause`` of ``--pause-ms``) is submitted at priority 0; once the workers are
  busy with it, one more job is submitted at priority 9 and timed from submit to
  completion. Beside it, the same with no priorities anywhere (the default for
  every job): the last job waits its turn. Runs alternate; medians are
  printed, with the target (the priority-9 job done within 2 s).
* bulk: ``--bulk`` jobs submitted with one ``submit_many`` call against the
  same jobs submitted one ``submit()`` at a time, no worker running; jobs/s
  of each and their ratio. Between runs the Redis is flushed (and the RabbitMQ
  queues deleted).

Every process it starts is stopped by pid before it exits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.compare_distributed import RedisServer, stop_process  # noqa: E402
from bench.priority_flows import ENTRY, pause_flow  # noqa: E402
from routilux.distributed import DistributedRuntime, Settings  # noqa: E402
from routilux.distributed.worker.app import delete_amqp_queues  # noqa: E402

TARGET_S = 2.0
PREFIX = "rtxprio"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", default="redis", help="comma-separated: redis, rabbitmq")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--backlog", type=int, default=2000, help="priority-0 activations ahead of the urgent job")
    parser.add_argument("--pause-ms", type=float, default=2.0, help="what each backlog activation takes")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side")
    parser.add_argument("--bulk", type=int, default=2000, help="jobs per bulk-submit run")
    parser.add_argument("--scenarios", default="priority,bulk", help="comma-separated subset")
    return parser.parse_args(argv)


class Worker:
    """``python -m worker`` in a session of its own, importing the benchmark's flows."""

    def __init__(self, settings: Settings, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTILUX_")}
        env.update({"ROUTILUX_REDIS_URL": settings.redis_url, "ROUTILUX_BROKER_URL": settings.broker_url,
                    "ROUTILUX_KEY_PREFIX": settings.key_prefix, "ROUTILUX_QUEUE": settings.queue,
                    "PYTHONPATH": str(REPO)})
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker", "--pool", "prefork", "--concurrency", "2", "--name",
             f"prio-{uuid.uuid4().hex[:6]}@bench", "--loglevel", "WARNING", "--import", "bench.priority_flows"],
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        """Warm shutdown of the worker and its pool (by pid)."""
        stop_process(self.proc, group=True)
        self.log.close()


def wait_all(runtime: DistributedRuntime, job_ids: list[str]) -> None:
    """Block until every job ended; raise if one did not complete."""
    for job_id in job_ids:
        state = runtime.wait(job_id, timeout=300)
        if state.status != "completed":
            raise RuntimeError(f"job {job_id} ended {state.status}: {state.error}")


def urgent_latency(runtime: DistributedRuntime, args: argparse.Namespace, prioritized: bool) -> float:
    """Seconds from submitting the last job, behind a busy backlog, to its completion."""
    items = [{"flow": ENTRY, "entry": ENTRY, "params": {"ms": args.pause_ms}, "priority": 0 if prioritized else None}]
    backlog = runtime.submit_many(items * args.backlog)
    while runtime.job_status(backlog[20]) != "completed":  # the workers are busy with it
        time.sleep(0.01)
    started = time.perf_counter()
    urgent = runtime.submit(ENTRY, ENTRY, {"ms": 0}, priority=9 if prioritized else None)
    wait_all(runtime, [urgent])
    elapsed = time.perf_counter() - started
    wait_all(runtime, backlog)
    return elapsed


def bulk_rate(runtime: DistributedRuntime, count: int, bulk: bool) -> float:
    """Jobs per second submitted, with one submit_many or one submit() per job."""
    items = [{"flow": ENTRY, "entry": ENTRY, "params": {"ms": 0, "k": k}} for k in range(count)]
    started = time.perf_counter()
    if bulk:
        runtime.submit_many(items)
    else:
        for item in items:
            runtime.submit(item["flow"], item["entry"], item["params"])
    return count / (time.perf_counter() - started)


def alternate(runs: int, sides: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run each side ``runs`` times, alternating, one untimed warm-up each first."""
    for run in sides.values():
        run()
    out: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(runs):
        for name, run in sides.items():
            out[name].append(run())
    return out


def bench_broker(broker: str, args: argparse.Namespace, server: RedisServer, folder: Path) -> list[str]:
    """Both scenarios on one broker; returns the report lines."""
    settings = Settings(redis_url=server.url, broker_url=args.amqp_url if broker == "rabbitmq" else "",
                        key_prefix=PREFIX, queue=f"{PREFIX}-{uuid.uuid4().hex[:6]}")
    lines = []
    runtime = DistributedRuntime(settings=settings)
    try:
        runtime.publish(pause_flow())
        scenarios = args.scenarios.split(",")
        if "bulk" in scenarios:
            def fresh(bulk: bool) -> float:
                rate = bulk_rate(runtime, args.bulk, bulk)
                reset(runtime, settings)
                return rate

            rates = alternate(args.runs, {"submit_many": lambda: fresh(True), "submit loop": lambda: fresh(False)})
            many, loop = statistics.median(rates["submit_many"]), statistics.median(rates["submit loop"])
            lines.append(f"[{broker}] bulk submit of {args.bulk} jobs: submit_many {many:,.0f} jobs/s, "
                         f"submit() loop {loop:,.0f} jobs/s, ratio {many / loop:.1f}x  (runs {rates})")
        if "priority" in scenarios:
            worker = Worker(settings, folder / f"worker-{broker}.log")
            try:
                times = alternate(args.runs, {"priority 9 behind priority 0": lambda: urgent_latency(runtime, args, True),
                                              "no priorities": lambda: urgent_latency(runtime, args, False)})
            finally:
                worker.stop()
            prio, none = statistics.median(times["priority 9 behind priority 0"]), statistics.median(times["no priorities"])
            lines.append(f"[{broker}] last job behind {args.backlog} busy activations of {args.pause_ms} ms: "
                         f"priority 9 done in {prio:.3f} s (target <= {TARGET_S} s: "
                         f"{'met' if prio <= TARGET_S else 'NOT met'}), without priorities {none:.3f} s, "
                         f"{none / prio:.0f}x sooner  (runs {_rounded(times)})")
    finally:
        runtime.close()
        if settings.broker_is_amqp:
            delete_amqp_queues(settings, [settings.queue])
    return lines


def reset(runtime: DistributedRuntime, settings: Settings) -> None:
    """Forget every job and queued message (the flow stays published)."""
    runtime.store.redis.flushdb()
    if settings.broker_is_amqp:
        delete_amqp_queues(settings, [settings.queue])
    runtime._layout_checked = False
    runtime.publish(pause_flow())


def _rounded(times: dict[str, list[float]]) -> dict[str, list[float]]:
    return {name: [round(t, 3) for t in values] for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios on each broker and print the figures."""
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="rtx-prio-"))
    server = RedisServer(folder)
    server.start()
    lines: list[str] = []
    try:
        for broker in args.brokers.split(","):
            lines += bench_broker(broker, args, server, folder)
    finally:
        server.stop()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
