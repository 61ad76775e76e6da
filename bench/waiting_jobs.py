"""Jobs that wait: timer lateness beside retry-delay lateness, Redis bytes per waiting job, sweep cost.

Usage (from the repo root)::

    .venv/bin/python bench/waiting_jobs.py                      # defaults: 1,000 timers, 2 x 100,000 waiting jobs
    .venv/bin/python bench/waiting_jobs.py --waiting 20000      # quicker

Starts its own ``redis-server`` (free port, temp dir, no persistence) and two worker daemons (threads
pool), then, in one run:

1. **Timer lateness.** ``--timers`` durable timers (``emit_after``, ``--delay`` s each, 10 per job)
   interleaved with as many retries of the same delay, both submitted evenly over ``--spread`` s (a handler that fails once under a retry
   strategy: the mechanism delayed work had before timers), the baseline. Each reports how late it
   ran (ms past its due time, measured in the handler); p50/p99/max of both and their ratio.
2. **Bytes per waiting job, at two stream node sizes.** Every job's history is a Redis stream, and
   Redis 7 gives a new stream node ``stream-node-max-bytes`` (at most 4096) before it holds anything.
   ``--waiting`` jobs of one ``WaitForPost`` with an hour's timeout are made to wait at
   ``--stream-node-max-bytes`` (CONFIG SET on this server; default the advised 2048), then as many
   again at the server's own setting (Redis's default, 4096): for each batch, the bytes of each job's
   keys (``MEMORY USAGE``, SAMPLES 0) and Redis's ``used_memory`` growth per job (keys, index entries
   and all, less the clients' buffers), their ratio and the GiB a million such jobs need; beside them
   a completed job's keys. The advised batch goes first, so it also pays for filling the status-change
   stream to its cap: if anything its figure is the higher for it. Then two jobs with long histories (a
   loop of ``--steps`` steps; ``--steps`` / 3 items each retried once) have their logs written again
   into 50 streams at each size: the bytes per entry of a long history.
3. **Sweep cost.** One sweep (``Sweeper.sweep_once``, run here with the workers stopped) timed
   and its Redis commands counted with no job in Redis, then with every waiting job (both batches) in it.

Every process it starts is stopped by pid before it exits.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import redis  # noqa: E402

from bench.compare_distributed import RedisServer, start_worker_daemon, stop_process  # noqa: E402
from bench.waiting_flows import loop_flow, retry_flow, timer_flow, wait_flow  # noqa: E402
from routilux.distributed import DistributedRuntime, Settings  # noqa: E402
from routilux.distributed.protocol.constants import ADVISED_STREAM_NODE_MAX_BYTES  # noqa: E402
from routilux.distributed.protocol.keys import JOB_PARTS  # noqa: E402
from routilux.distributed.worker.sweeper import Sweeper  # noqa: E402

PER_JOB = 10
REDIS_DEFAULT_NODE_BYTES = 4096  # Redis's own stream-node-max-bytes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=1000, help="timers, and retries, to time (default 1000)")
    parser.add_argument("--delay", type=float, default=2.0, help="their delay, seconds (default 2)")
    parser.add_argument("--spread", type=float, default=20.0,
                        help="seconds over which the timer and retry jobs are submitted (default 20)")
    parser.add_argument("--waiting", type=int, default=100_000,
                        help="waiting jobs to hold at each stream node size (default 100000)")
    parser.add_argument("--stream-node-max-bytes", type=int, default=ADVISED_STREAM_NODE_MAX_BYTES,
                        help=f"the stream node size to compare with Redis's (default {ADVISED_STREAM_NODE_MAX_BYTES})")
    parser.add_argument("--steps", type=int, default=150, help="steps of the loop job whose long history is measured (default 150)")
    parser.add_argument("--sweeps", type=int, default=20, help="sweeps to time each way (default 20)")
    return parser.parse_args(argv)


def start_worker(settings: Settings, folder: Path, name: str) -> subprocess.Popen[bytes]:
    """A worker daemon (threads pool) on ``settings``, importing the benchmark's flows."""
    return start_worker_daemon(settings.redis_url, settings.key_prefix, settings.queue, "bench.waiting_flows", name,
                               folder / f"{name}.log", concurrency=8, loglevel="ERROR")


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


def held_bytes(client: redis.Redis) -> int:
    """Redis's ``used_memory`` less its clients' buffers (which come and go with the connections)."""
    info = client.info("memory")
    return int(info["used_memory"]) - int(info["mem_clients_normal"])


def node_bytes(client: redis.Redis) -> int:
    """The server's ``stream-node-max-bytes`` now."""
    return int(client.config_get("stream-node-max-bytes")["stream-node-max-bytes"])


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


@dataclass
class Batch:
    """One batch of waiting jobs, made at one ``stream-node-max-bytes``."""

    node_bytes: int
    jobs: list[str]
    made_s: float
    grown: float  # bytes of Redis memory per job

    def line(self, rt: DistributedRuntime, label: str) -> str:
        """Its row in part 2's table."""
        keys, size = job_bytes(rt, self.jobs[:200])
        return (f"   {f'{self.node_bytes} ({label})':<24} {self.made_s:>6.0f} {keys:>5.1f} {size:>9.0f} "
                f"{self.grown:>8.0f} {self.grown * 1e6 / 2**30:>10.2f}")


def hold_batch(rt: DistributedRuntime, digest: str, count: int, held: int, size: int) -> Batch:
    """Set ``stream-node-max-bytes`` to ``size``, submit ``count`` waiting jobs (``held`` wait already) and
    keep how much Redis grew per job."""
    client = rt.store.redis
    client.config_set("stream-node-max-bytes", size)
    before = held_bytes(client)
    started = time.monotonic()
    jobs = submit_many(rt.settings, digest, count)
    wait_all_waiting(client, rt.settings.key_prefix, held + count)
    made_s = time.monotonic() - started
    return Batch(size, jobs, made_s, (held_bytes(client) - before) / count)


def history_bytes(client: redis.Redis, entries: list, size: int, copies: int = 50) -> float:
    """Bytes per entry of ``copies`` streams holding ``entries`` (a job's log) at ``stream-node-max-bytes`` ``size``."""
    client.config_set("stream-node-max-bytes", size)
    keys = [f"bench:history:{uuid.uuid4().hex}" for _ in range(copies)]
    before = held_bytes(client)
    for key in keys:
        pipe = client.pipeline(transaction=False)
        for entry_id, fields in entries:
            pipe.xadd(key, fields, id=entry_id)
        pipe.execute()
    grown = held_bytes(client) - before
    client.delete(*keys)
    return grown / copies / len(entries)


def waiting(server: RedisServer, rt: DistributedRuntime, args: argparse.Namespace, workers: list) -> None:
    """Parts 2 and 3: waiting jobs at Redis's default and the advised stream node size; a long history at
    both; a sweep's cost with every waiting job held."""
    client, prefix = rt.store.redis, rt.settings.key_prefix
    default, advised = node_bytes(client), args.stream_node_max_bytes
    digest = rt.publish(wait_flow())
    done = rt.submit(digest, "approve", {})
    wait_all_waiting(client, prefix, 1)
    rt.post(done, "approve", "decision", {"ok": True})
    rt.wait(done, timeout=60)
    long_jobs = {f"a {args.steps}-step loop": rt.submit(rt.publish(loop_flow()), "loop", {"k": 0, "n": args.steps}),
                 f"{args.steps // 3} items each retried once": rt.submit(rt.publish(retry_flow(0.1)), "fan",
                                                                         {"count": args.steps // 3})}
    for job in long_jobs.values():
        rt.wait(job, timeout=300)
    # The advised batch first: the first batch also fills the status-change stream to its cap, so if
    # anything the advised figure is the higher for it.
    batches = [hold_batch(rt, digest, args.waiting, 0, advised)]
    batches.append(hold_batch(rt, digest, args.waiting, args.waiting, default))
    for proc in workers:
        stop_process(proc, group=True)
    logs = {name: client.xrange(rt.store.keys.job(job, "log")) for name, job in long_jobs.items()}
    per_entry = {name: [history_bytes(client, log, size) for size in (default, advised)] for name, log in logs.items()}
    client.config_set("stream-node-max-bytes", default)
    _, done_size = job_bytes(rt, [done])
    print(f"2. {args.waiting} waiting jobs at each stream-node-max-bytes; per waiting job (a completed job's keys: "
          f"{done_size:.0f} bytes, at the default):")
    print(f"   {'stream-node-max-bytes':<24} {'made s':>6} {'keys':>5} {'key bytes':>9} {'growth':>8} "
          f"{'GiB per 1M':>10}")
    print(batches[1].line(rt, "Redis's default" if default == REDIS_DEFAULT_NODE_BYTES else "the server's"))
    print(batches[0].line(rt, "advised"))
    print(f"   advised / default: {batches[0].grown / batches[1].grown:.2f} of the growth "
          f"({batches[1].grown - batches[0].grown:.0f} bytes less per waiting job)")
    print("   long histories (a job's log written again into 50 streams at each size), bytes per entry:")
    for name, (at_default, at_advised) in per_entry.items():
        print(f"   {name} ({len(logs[name])} entries): {at_default:.0f} at {default}, {at_advised:.0f} at {advised} "
              f"(ratio {at_advised / at_default:.2f})")
    loaded = sweep_cost(server, rt, args.sweeps)
    print(f"3. a sweep with {2 * args.waiting} waiting jobs: {loaded[0]:.2f} ms, {loaded[1]:.0f} Redis commands")


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
