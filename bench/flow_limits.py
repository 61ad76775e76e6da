"""Concurrency and rate limits on a fleet of two workers, each beside the same run without the limit.

Usage (from the repo root)::

    .venv/bin/python bench/flow_limits.py            # about a minute and a half on 2 cores

Starts its own ``redis-server`` (free port, temp dir, no persistence) and two
worker daemons (threads pool, 4 each: a fleet of 8 slots on two processes), then:

* rate: ``--rate`` (20/s) starts of a no-op call over ``--seconds`` (30 s), a
  fan-out of rate x seconds items; reports the observed rate from the first
  start to the last (goal: within 10% of the limit) and the most starts seen in
  any one-second window (goal: at most the rate plus one burst, 1). Beside it, the same fan-out
  with no limit (how fast the fleet would go).
* concurrency: 400 calls of 20 ms over 4 keys, at most 2 at once per key;
  reports the most runs seen at once per key (goal: 2) and the wall time,
  beside the same run with no limit.

Every process it starts is stopped by pid before it exits.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.compare_distributed import RedisServer, start_worker_daemon, stop_process  # noqa: E402
from bench.limit_flows import call_flow, client  # noqa: E402
from routilux.distributed import DistributedRuntime, Settings  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="the rate limit, per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the rate run should take")
    parser.add_argument("--calls", type=int, default=400, help="calls of the concurrency run")
    return parser.parse_args(argv)


def start_workers(server: RedisServer, prefix: str, queue: str, folder: Path) -> list[subprocess.Popen[bytes]]:
    """Two worker daemons, threads x4 each."""
    return [start_worker_daemon(server.url, prefix, queue, "bench.limit_flows", f"lim{n}-{queue}",
                                folder / f"worker{n}.log", concurrency=4) for n in range(2)]


def run_job(rt: DistributedRuntime, url: str, n: int, keys: int, sleep_s: float, **limits: object) -> tuple[str, float]:
    """Submit one fan-out; returns (its tag, seconds until it ended)."""
    tag = f"b{uuid.uuid4().hex[:8]}"
    flow = call_flow(url, tag, sleep_s, **limits)
    started = time.monotonic()
    state = rt.wait(rt.submit(flow, "spread", {"n": n, "keys": keys}), timeout=600)
    assert state.status == "completed", state.error
    return tag, time.monotonic() - started


def rate_figures(url: str, tag: str) -> tuple[float, int]:
    """(starts per second from the first to the last, most starts in any one-second window)."""
    times = sorted(float(x) for x in client(url).lrange(f"{tag}:starts", 0, -1))
    worst, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + 1.0:
            j += 1
        worst = max(worst, j - i)
    return (len(times) - 1) / (times[-1] - times[0]), worst


def run(args: argparse.Namespace, server: RedisServer, folder: Path) -> None:
    """Both scenarios, each with and without its limit; print the figures."""
    prefix, queue = f"rtxlim{uuid.uuid4().hex[:6]}", f"q{uuid.uuid4().hex[:6]}"
    procs = start_workers(server, prefix, queue, folder)
    rt = DistributedRuntime(settings=Settings(redis_url=server.url, key_prefix=prefix, queue=queue))
    url = server.url
    try:
        while len(rt.workers()) < 2:
            time.sleep(0.2)
        n = int(args.rate * args.seconds)
        run_job(rt, url, 20, 1, 0.0)  # warm-up
        tag, free_s = run_job(rt, url, n, 1, 0.0)
        free_rate, _ = rate_figures(url, tag)
        tag, limited_s = run_job(rt, url, n, 1, 0.0, rate=f"{args.rate:g}/s")
        observed, worst = rate_figures(url, tag)
        print(f"rate {args.rate:g}/s, {n} calls on 2 workers (redis {server.version()})")
        print(f"  no limit:   {free_s:6.2f} s, {free_rate:8.1f} starts/s")
        print(f"  limited:    {limited_s:6.2f} s, {observed:8.2f} starts/s observed = {observed / args.rate:.3f} x the "
              f"limit; most in any 1 s window: {worst} (limit + burst = {args.rate + 1:g})")
        tag, free_s = run_job(rt, url, args.calls, 4, 0.02)
        free_high = max(int(client(url).get(k)) for k in client(url).scan_iter(f"{tag}:max:*"))
        tag, limited_s = run_job(rt, url, args.calls, 4, 0.02, max_running=2)
        highs = sorted(int(client(url).get(k)) for k in client(url).scan_iter(f"{tag}:max:*"))
        print(f"concurrency: {args.calls} calls of 20 ms over 4 keys, at most 2 at once per key")
        print(f"  no limit:   {free_s:6.2f} s, most at once per key {free_high}")
        print(f"  limited:    {limited_s:6.2f} s, most at once per key {highs} (limit 2); "
              f"limited/free time {limited_s / free_s:.2f}x")
    finally:
        rt.close()
        for proc in procs:
            stop_process(proc, group=True)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark with its own Redis."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rtx-limits-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            run(args, server, Path(tmp))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
