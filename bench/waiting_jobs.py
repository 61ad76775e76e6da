"""Jobs that wait: timer lateness beside retry-delay lateness, Redis bytes per waiting job, sweep cost.

Usage (from the repo root)::

    .venv/bin/python bench/waiting_jobs.py                      # defaults: 1,000 timers, 100,000 waiting jobs
    .venv/bin/python bench/waiting_jobs.py --waiting 20000      # quicker

Starts its own ``redis-server`` (free port, temp dir, no persistence) and two worker daemons (threads
pool), then, in one run:

1. **Timer lateness.** ``--timers`` durable timers (``emit_after``, ``--delay`` s each, 10 per job)
   interleaved with as many retries of the same delay, both submitted evenly over ``--spread`` s (a handler that fails once under a retry
   strategy: the mechanism delayed work had before timers), the baseline. Each reports how late it
   ran (ms past its due time, measured in the handler); p50/p99/max of both and their ratio.
2. **Bytes per waiting job.** ``--waiting`` jobs of one ``WaitForPost`` with an hour's timeout,
   all waiting: the bytes of each job's keys (``MEMORY USAGE``, SAMPLES 0) and Redis's
   ``used_memory`` growth per job (keys, index entries and all), beside a job that has completed.
3. **Sweep cost.** One sweep (``Sweeper.sweep_once``, run here with the workers stopped) timed
   and its Redis commands counted with no job in Redis, then with every waiting job in it.

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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import redis  # noqa: E402

from bench.compare_distributed import RedisServer, stop_process  # noqa: E402
from bench.waiting_flows import retry_flow, timer_flow, wait_flow  # noqa: E402
from routilux.distributed import DistributedRuntime, Settings  # noqa: E402
from routilux.distributed.protocol.keys import JOB_PARTS  # noqa: E402
from routilux.distributed.worker.sweeper import Sweeper  # noqa: E402

PER_JOB = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=1000, help="timers, and retries, to time (default 1000)")
    parser.add_argument("--delay", type=float, default=2.0, help="their delay, seconds (default 2)")
    parser.add_argument("--spread", type=float, default=20.0,
                        help="seconds over which the timer and retry jobs are submitted (default 20)")
    parser.add_argument("--waiting", type=int, default=100_000, help="waiting jobs to hold (default 100000)")
    parser.add_argument("--sweeps", type=int, default=20, help="sweeps to time each way (default 20)")
    return parser.parse_args(argv)


def start_worker(settings: Settings, folder: Path, name: str) -> subprocess.Popen[bytes]:
    """A worker daemon (threads pool) on ``settings``, importing the benchmark's flows."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTILUX_")}
    env.update(PYTHONPATH=str(REPO), ROUTILUX_REDIS_URL=settings.redis_url, ROUTILUX_KEY_PREFIX=settings.key_prefix,
               ROUTILUX_QUEUE=settings.queue)
    log = open(folder / f"{name}.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "worker", "--import", "bench.waiting_flows", "--pool", "threads",
                             "--concurrency", "8", "--name", f"{name}@bench", "--loglevel", "ERROR"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """(p50, p99, max) of ``values``."""
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], ordered[-1]


def lateness(rt: DistributedRuntime, args: argparse.Namespace) -> None:
    """Part 1: timers beside retries of the same delay, submitted interleaved."""
    timers, retries = rt.publish(timer_flow(args.delay)), rt.publish(retry_flow(args.delay))
    jobs: dict[str, list[str]] = {"timers (emit_after)": [], "retries (baseline)": []}
    pairs = max(1, args.timers // PER_JOB)
    started = time.monotonic()
    for n in range(pairs):  # paced over --spread seconds: a steady load, not one burst
        time.sleep(max(0.0, started + n * args.spread / pairs - time.monotonic()))
        jobs["timers (emit_after)"].append(rt.submit(timers, "arm", {"count": PER_JOB, "delay_s": args.delay}))
        jobs["retries (baseline)"].append(rt.submit(retries, "fan", {"count": PER_JOB}))
    print(f"1. lateness of {args.timers} delayed activations of {args.delay:g} s each (and as many retries), "
          f"started over {args.spread:g} s, ms past due")
    print(f"   {'side':<22} {'p50':>8} {'p99':>8} {'max':>8}")
    figures = {}
    for side, ids in jobs.items():
        late = [v for job in ids for k, v in rt.wait(job, timeout=300).shared_data.items() if k.startswith("late:")]
        assert len(late) == len(ids) * PER_JOB, f"{side}: {len(late)} of {len(ids) * PER_JOB} ran"
        figures[side] = percentiles(late)
        print(f"   {side:<22} {figures[side][0]:>8.1f} {figures[side][1]:>8.1f} {figures[side][2]:>8.1f}")
    (t50, t99, _), (r50, r99, _) = figures.values()
    print(f"   timers / retries: p50 {t50 / r50:.2f}, p99 {t99 / r99:.2f}")


def submit_many(settings: Settings, digest: str, count: int) -> list[str]:
    """Submit ``count`` waiting jobs from 4 producer threads; returns their ids."""
    def batch(n: int) -> list[str]:
        with DistributedRuntime(settings=settings) as rt:
            return [rt.submit(digest, "approve", {}) for _ in range(n)]
    with ThreadPoolExecutor(4) as pool:
        parts = pool.map(batch, [count // 4 + (1 if i < count % 4 else 0) for i in range(4)])
    return [job for part in parts for job in part]


def wait_all_waiting(client: redis.Redis, prefix: str, count: int, timeout_s: float = 1800) -> None:
    """Until ``count`` jobs have an open wait (a wait's timeout is a due entry an hour away)."""
    deadline = time.monotonic() + timeout_s
    key = f"{prefix}:due:{{0}}"
    while client.zcount(key, f"({int(time.time() * 1000) + 3_000_000}", "+inf") < count:
        if time.monotonic() > deadline:
            raise TimeoutError("the waiting jobs did not all open their waits")
        time.sleep(0.5)


def job_bytes(rt: DistributedRuntime, sample: list[str]) -> tuple[float, float]:
    """(keys per job, bytes of them per job) over ``sample`` (MEMORY USAGE, SAMPLES 0, of every per-job key)."""
    pipe = rt.store.redis.pipeline(transaction=False)
    for job in sample:
        for part in JOB_PARTS:
            pipe.memory_usage(rt.store.keys.job(job, part), samples=0)
    sizes = [v for v in pipe.execute() if v]
    return len(sizes) / len(sample), sum(sizes) / len(sample)


def sweep_cost(server: RedisServer, rt: DistributedRuntime, sweeps: int) -> tuple[float, float]:
    """(ms per sweep, Redis commands per sweep), averaged over ``sweeps`` sweeps."""
    sweeper = Sweeper(rt.store, rt.dispatcher, "bench")
    sweeper.sweep_once()  # the first one records the Redis run id
    calls = server.command_calls()[0]
    started = time.perf_counter()
    for _ in range(sweeps):
        sweeper.sweep_once()
    elapsed = time.perf_counter() - started
    return elapsed * 1000 / sweeps, (server.command_calls()[0] - calls) / sweeps


def waiting(server: RedisServer, rt: DistributedRuntime, args: argparse.Namespace, workers: list) -> None:
    """Parts 2 and 3: hold ``--waiting`` waiting jobs; their bytes; a sweep's cost with and without them."""
    client, prefix = rt.store.redis, rt.settings.key_prefix
    digest = rt.publish(wait_flow())
    done = rt.submit(digest, "approve", {})
    wait_all_waiting(client, prefix, 1)
    rt.post(done, "approve", "decision", {"ok": True})
    rt.wait(done, timeout=60)
    before = client.info("memory")["used_memory"]
    started = time.monotonic()
    jobs = submit_many(rt.settings, digest, args.waiting)
    wait_all_waiting(client, prefix, args.waiting)
    made_s = time.monotonic() - started
    for proc in workers:
        stop_process(proc, group=True)
    grown = (client.info("memory")["used_memory"] - before) / args.waiting
    keys, size = job_bytes(rt, jobs[:200])
    _, done_size = job_bytes(rt, [done])
    print(f"2. {args.waiting} waiting jobs made in {made_s:.0f} s; per waiting job: {keys:.1f} keys, "
          f"{size:.0f} bytes of them (a completed one: {done_size:.0f}, ratio {size / done_size:.2f}); "
          f"used_memory growth {grown:.0f} bytes -> a million waiting jobs need about {grown * 1e6 / 2**30:.2f} GiB")
    loaded = sweep_cost(server, rt, args.sweeps)
    print(f"3. a sweep with {args.waiting} waiting jobs: {loaded[0]:.2f} ms, {loaded[1]:.0f} Redis commands")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark with its own Redis and workers."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rtx-waiting-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        settings = Settings(redis_url=server.url, key_prefix=f"rtxw{uuid.uuid4().hex[:6]}",
                            queue=f"q{uuid.uuid4().hex[:6]}")
        rt = DistributedRuntime(settings=settings)
        workers = []
        try:
            empty = sweep_cost(server, rt, args.sweeps)
            print(f"redis {server.version()}; 3. (baseline) a sweep with no job: {empty[0]:.2f} ms, "
                  f"{empty[1]:.0f} Redis commands")
            workers = [start_worker(settings, Path(tmp), f"w{i}-{settings.queue}") for i in range(2)]
            lateness(rt, args)
            waiting(server, rt, args, workers)
        finally:
            rt.close()
            for proc in workers:
                stop_process(proc, group=True)
            server.stop()


if __name__ == "__main__":
    main()
