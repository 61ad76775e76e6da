"""What freeing a job concurrency key's slot costs with many jobs waiting for it, beside none waiting.

Usage (from the repo root)::

    .venv/bin/python bench/job_key_free.py                 # 1,000 / 10,000 / 100,000 waiting jobs
    .venv/bin/python bench/job_key_free.py --waiting 20000

Starts its own ``redis-server`` (free port, temp dir, no persistence; the Redis on 6379 is never
touched). For each size it parks that many jobs (one waiting activation each, and every tenth job a
second one, as a post to a waiting job makes) on one key of limit 1 through the store's own admit
script, then times ``--frees`` frees of the key's slot (each hands the slot to the next job and its
waiters, lua/free.lua). The baseline, in the same run, is the same free with one job waiting. The
last line of each size is the ratio: a free must not cost more with a long queue behind it.
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
from routilux.distributed import DistributedRuntime, Settings  # noqa: E402
from routilux.distributed.worker.admission import job_limit_name  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", default="1000,10000,100000", help="waiting jobs per size, comma-separated")
    parser.add_argument("--frees", type=int, default=200, help="frees timed per size (default 200)")
    return parser.parse_args(argv)


def park(rt: DistributedRuntime, name: str, jobs: int) -> list[str]:
    """Park ``jobs`` jobs on the key (the first takes its one slot); returns the job ids in order."""
    ids = [str(uuid.uuid4()) for _ in range(jobs + 1)]
    for n, job_id in enumerate(ids):
        rt.store.admit_job(name, job_id, f"{job_id}|{uuid.uuid4().hex[:24]}")
        if n % 10 == 1:
            rt.store.admit_job(name, job_id, f"{job_id}|{uuid.uuid4().hex[:24]}")
    return ids


def time_frees(rt: DistributedRuntime, name: str, holders: list[str], frees: int) -> float:
    """Median ms of ``frees`` frees: each frees the slot of the job holding it, and the next job takes it."""
    times, holder = [], holders[0]
    for _ in range(frees):
        started = time.perf_counter()
        promoted = rt.store.free_slot(name, holder, -1)
        times.append((time.perf_counter() - started) * 1000)
        assert promoted, "a free with jobs waiting promoted nobody"
        holder = promoted[0].split("|", 1)[0]
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    """Run every size beside its baseline and print the ratios."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rtx-jobkey-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            rt = DistributedRuntime(settings=Settings(redis_url=server.url, key_prefix="jkf", queue="jkf"))
            name = job_limit_name("acme")

            def fresh(waiting: int) -> list[str]:
                rt.store.redis.flushdb()
                rt.set_concurrency_limit("acme", 1)
                return park(rt, name, waiting)

            for size in (int(s) for s in args.waiting.split(",")):
                baseline = statistics.median(time_frees(rt, name, fresh(1), 1) for _ in range(args.frees))
                loaded = time_frees(rt, name, fresh(size), args.frees)
                print(f"{size:>7} jobs waiting: a free takes {loaded:.3f} ms (median of {args.frees}); "
                      f"one job waiting: {baseline:.3f} ms; ratio {loaded / baseline:.2f}")
            rt.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
