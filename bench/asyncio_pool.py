"""One worker process, N activations that each wait 1 s: the asyncio pool beside the threads pool.

    PYTHONPATH=. .venv/bin/python bench/asyncio_pool.py [--activations 1000] [--concurrency 1000] [--runs 2]

Starts its own redis-server, then for each side one worker daemon
(``python -m worker --pool P --concurrency N``) and one job whose source fans out
``--activations`` activations of a handler that waits ``--sleep-s``:

- asyncio: ``--pool asyncio``, ``async def`` handler, ``await asyncio.sleep``;
- threads: ``--pool threads`` with the same concurrency, sync handler, ``time.sleep``
  (what the same work costs without coroutines);
- threads+async: ``--pool threads``, the coroutine handler (a batch message's bodies
  then run one after another, as for any handler on that pool).

Reported: seconds from ``submit`` to ``wait`` returning (best of ``--runs``, after one
warm-up job of the same size), and each side's ratio to asyncio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.compare_distributed import RedisServer, start_worker_daemon, stop_process  # noqa: E402

SIDES = {"asyncio": ("asyncio", True), "threads": ("threads", False), "threads+async": ("threads", True)}


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activations", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--sleep-s", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--sides", default=",".join(SIDES))
    return parser.parse_args()


def start_worker(url: str, prefix: str, pool: str, concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    """A worker daemon in its own process group."""
    return start_worker_daemon(url, prefix, prefix, "bench.asyncio_flows", prefix, log, pool=pool,
                               concurrency=concurrency)


def run_side(url: str, side: str, args: argparse.Namespace, folder: Path) -> list[float]:
    """Seconds per job for one side (warm-up first, not counted)."""
    from bench.asyncio_flows import fan_flow
    from routilux.distributed import DistributedRuntime, Settings

    pool, coroutine = SIDES[side]
    prefix = f"bench-{side.replace('+', '-')}"
    proc = start_worker(url, prefix, pool, args.concurrency, folder / f"{prefix}.log")
    rt = DistributedRuntime(settings=Settings(redis_url=url, key_prefix=prefix, queue=prefix))
    try:
        while not rt.workers():
            time.sleep(0.1)
        flow = fan_flow(coroutine, args.sleep_s)
        times = []
        for _ in range(args.runs + 1):
            started = time.perf_counter()
            state = rt.wait(rt.submit(flow, "fan", {"n": args.activations}), timeout=600)
            times.append(time.perf_counter() - started)
            assert state.status == "completed", state.error
        return times[1:]
    finally:
        rt.close()
        stop_process(proc, group=True)


def main() -> None:
    """Run every side against one redis-server and print the figures and the ratios."""
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(Path(tmp))
        redis.start()
        try:
            results = {side: run_side(redis.url, side, args, Path(tmp)) for side in args.sides.split(",")}
        finally:
            redis.stop()
    best = {side: min(times) for side, times in results.items()}
    base = best.get("asyncio")
    print(f"{args.activations} activations waiting {args.sleep_s} s each, concurrency {args.concurrency}, one worker")
    for side, seconds in best.items():
        ratio = f"  x{seconds / base:.2f} of asyncio" if base else ""
        print(f"  {side:14s} {seconds:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in results[side])}){ratio}")
    print(json.dumps({"args": vars(args), "seconds": results}))


if __name__ == "__main__":
    main()
