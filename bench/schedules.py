"""Schedule tick lateness beside directly submitted jobs, and idempotent submit beside plain submit.

Usage (from the repo root)::

    .venv/bin/python bench/schedules.py              # about 90 s on 2 cores

Starts its own ``redis-server`` (free port, temp dir, no persistence). Then, in one run:

1. Submit cost, no worker running: rounds of ``--submits`` plain submits and as many
   submits with a fresh idempotency key each, interleaved; jobs/s of each and the ratio.
2. Tick lateness: two worker daemons (threads pool, 2 each); a schedule fires every
   second (overlap allow, catch-up all) for ``--ticks`` ticks of a one-step flow; beside it,
   a producer thread submits the same flow directly at each tick's instant plus half a
   second (the baseline: the same work, started by a caller that is on time). For both,
   job creation (the jobs index score, Redis clock) and job end (``finished_at``) minus
   the intended instant, p50 and p99 in ms.

Every process it starts is stopped by pid before it exits.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.compare_distributed import RedisServer, start_worker_daemon, stop_process  # noqa: E402
from bench.dist_flows import SEQUENTIAL_ENTRY, sequential_flow  # noqa: E402
from routilux import codec  # noqa: E402
from routilux.distributed import DistributedRuntime, Settings  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=60, help="schedule ticks to measure (default 60)")
    parser.add_argument("--submits", type=int, default=500, help="submits per side per round (default 500)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of submits (default 3)")
    return parser.parse_args(argv)


def submit_rates(rt: DistributedRuntime, n: int, rounds: int) -> tuple[float, float]:
    """Jobs/s of plain submits and of submits with a fresh idempotency key, interleaved rounds."""
    flow = sequential_flow()
    rt.publish(flow)
    spent = {"plain": 0.0, "keyed": 0.0}
    for side in ("plain", "keyed"):  # warm up: connections, scripts loaded, flow cached by Redis
        for _ in range(50):
            rt.submit(flow.flow_id, SEQUENTIAL_ENTRY, {"n": 1}, idempotency_key=uuid.uuid4().hex if side == "keyed" else None)
    for r in range(rounds):
        for side in (("plain", "keyed") if r % 2 == 0 else ("keyed", "plain")):
            started = time.perf_counter()
            for _ in range(n):
                key = uuid.uuid4().hex if side == "keyed" else None
                rt.submit(flow.flow_id, SEQUENTIAL_ENTRY, {"n": 1}, idempotency_key=key)
            spent[side] += time.perf_counter() - started
    return n * rounds / spent["plain"], n * rounds / spent["keyed"]


def start_workers(server: RedisServer, prefix: str, queue: str, folder: Path) -> list[subprocess.Popen[bytes]]:
    """Two worker daemons on this Redis."""
    return [start_worker_daemon(server.url, prefix, queue, "bench.dist_flows", f"sched{i}-{queue}",
                                folder / f"worker{i}.log") for i in range(2)]


def direct_submits(rt: DistributedRuntime, first_ms: int, ticks: int, offset_ms: int) -> dict[str, int]:
    """Submit one job at each instant ``first_ms + k s + offset_ms`` (Redis clock); job id -> instant."""
    made: dict[str, int] = {}
    skew_ms = rt.store.now_ms() - time.time() * 1000
    for k in range(ticks):
        instant = first_ms + k * 1000 + offset_ms
        time.sleep(max(0.0, (instant - skew_ms) / 1000 - time.time()))
        made[rt.submit("bench-sequential", SEQUENTIAL_ENTRY, {"n": 1})] = instant
    return made


def lateness(rt: DistributedRuntime, intended: dict[str, int]) -> tuple[list[int], list[int]]:
    """(created - intended, finished - intended) in ms for each job."""
    created, finished = [], []
    for job_id, instant in intended.items():
        rt.wait(job_id, timeout=60)
        bucket = rt.store.keys.bucket_of(job_id)
        created.append(int(rt.store.redis.zscore(rt.store.keys.jobs(bucket), job_id)) - instant)
        finished.append(int(rt.store.meta(job_id)["finished_at"]) - instant)
    return created, finished


def pct(values: list[int]) -> str:
    """p50 / p99 of ``values`` in ms."""
    qs = statistics.quantiles(values, n=100, method="inclusive")
    return f"{qs[49]:7.1f} / {qs[98]:7.1f}"


def measure_ticks(rt: DistributedRuntime, ticks: int) -> tuple[dict[str, int], dict[str, int]]:
    """Fire a schedule every second beside direct submits; returns (scheduled job -> tick, direct job -> instant)."""
    rt.publish(sequential_flow())
    info = rt.schedule("bench-tick", "bench-sequential", SEQUENTIAL_ENTRY, {"n": 1}, every_s=1, overlap="allow",
                       catch_up="all", start_at=(rt.store.now_ms() + 3000) / 1000)
    first = info["next_ms"]
    direct: dict[str, int] = {}
    producer = threading.Thread(target=lambda: direct.update(direct_submits(rt, first, ticks, 500)))
    producer.start()
    producer.join()
    time.sleep(1.5)
    rt.pause_schedule("bench-tick")
    scheduled = {}
    for record in rt.store.redis.lrange(rt.store.keys.schedule_ticks("bench-tick"), 0, -1):
        rec = codec.unpackb(record)
        if rec["decision"] == "fired" and rec["tick_ms"] < first + ticks * 1000:
            scheduled[rec["job_id"]] = rec["tick_ms"]
    return scheduled, direct


def run(args: argparse.Namespace, server: RedisServer, folder: Path) -> None:
    """Both measurements, printed as a table with ratios."""
    prefix, queue = f"rtxsch{uuid.uuid4().hex[:6]}", f"q{uuid.uuid4().hex[:6]}"
    rt = DistributedRuntime(settings=Settings(redis_url=server.url, key_prefix=prefix, queue=queue))
    workers: list[subprocess.Popen[bytes]] = []
    try:
        plain, keyed = submit_rates(rt, args.submits, args.rounds)
        print(f"submit jobs/s: plain {plain:.0f}, with an idempotency key {keyed:.0f}, keyed/plain {keyed / plain:.3f}")
        rt.store.redis.flushdb()  # no worker ran those jobs: drop them and their queued messages at once
        workers = start_workers(server, prefix, queue, folder)
        while len(rt.workers()) < 2:
            time.sleep(0.1)
        scheduled, direct = measure_ticks(rt, args.ticks)
        print(f"{len(scheduled)} ticks fired, {len(direct)} direct submits (redis {server.version()})")
        print(f"{'ms after the instant, p50 / p99':<34} {'job created':>17} {'job ended':>17}")
        for name, jobs in (("schedule tick", scheduled), ("direct submit (baseline)", direct)):
            created, finished = lateness(rt, jobs)
            print(f"{name:<34} {pct(created):>17} {pct(finished):>17}")
    finally:
        rt.close()
        for proc in workers:
            stop_process(proc, group=True)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark with its own Redis."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rtx-schedules-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            run(args, server, Path(tmp))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
