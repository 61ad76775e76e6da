"""How long a normal job takes after malformed frames reach the Redis broker queue: this tree beside a baseline.

Usage (from the repo root)::

    git worktree add /tmp/routilux-base e455255     # or any commit to compare against
    .venv/bin/python bench/frame_stall.py --baseline /tmp/routilux-base

Per tree and scenario: its own ``redis-server``, one worker daemon of that tree
(threads pool, concurrency 2); a warm-up job, then the scenario's frames are
LPUSHed onto the broker queue and a two-step job (bench/dist_flows.py fan-out, n=1)
is timed to completion; then the worker gets SIGTERM, a new one starts, and
another job is timed. A job not done within ``--timeout-s`` counts as stalled.

* ``issue-frames``: the two frames of issue 18 (a ``timelimit`` header Celery
  cannot parse), with two delivery tags;
* ``not-messages``: 60 ``{"foo": 1}`` frames (no properties, no delivery tag).

Every process it starts is stopped by pid.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from compare_distributed import RedisServer
from dist_flows import FANOUT_ENTRY, fanout_flow

from routilux.distributed import DistributedRuntime, Settings

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def issue_frame(queue: str, tag: str) -> bytes:
    """The frame of issue 18 with delivery tag ``tag``."""
    return json.dumps({
        "body": "k5HEAXiAgA==", "content-encoding": "binary", "content-type": "application/x-routilux-msgpack",
        "headers": {"lang": "py", "task": "routilux.activate", "id": "t1", "root_id": "t1", "timelimit": "x"},
        "properties": {"delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
                       "body_encoding": "base64", "delivery_tag": tag}}).encode()


SCENARIOS = {
    "issue-frames": lambda queue: [issue_frame(queue, "d1"), issue_frame(queue, "d2")],
    "not-messages": lambda queue: [b'{"foo": 1}'] * 60,
}


def start_worker(tree: Path, settings: Settings, folder: Path) -> subprocess.Popen[bytes]:
    """A worker daemon of ``tree`` in its own process group."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(BENCH)]), "ROUTILUX_REDIS_URL": settings.redis_url,
           "ROUTILUX_KEY_PREFIX": settings.key_prefix, "ROUTILUX_QUEUE": settings.queue, "ROUTILUX_LEASE_S": "3"}
    log = open(folder / f"worker-{time.monotonic_ns()}.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "worker", "--import", "dist_flows", "--pool", "threads",
                             "--concurrency", "2", "--loglevel", "WARNING"], cwd=tree, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen[bytes], kill: bool = False) -> None:
    """SIGTERM (or SIGKILL) a worker's process group and wait for it."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def timed_job(runtime: DistributedRuntime, timeout_s: float) -> float | None:
    """Seconds until a one-step job completes, or None if it did not within ``timeout_s``."""
    started = time.monotonic()
    try:
        runtime.wait(runtime.submit(fanout_flow(), FANOUT_ENTRY, {"n": 1}), timeout=timeout_s)
    except TimeoutError:
        return None
    return time.monotonic() - started


def measure(tree: Path, scenario: str, timeout_s: float) -> dict[str, float | None]:
    """Job times after the scenario's frames, before and after a worker restart, with ``tree``'s worker."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        server = RedisServer(folder)
        server.start()
        settings = Settings(redis_url=server.url, key_prefix="stall", queue="stall", lease_s=3.0)
        runtime = DistributedRuntime(settings=settings)
        worker = start_worker(tree, settings, folder)
        try:
            if timed_job(runtime, 60) is None:
                raise RuntimeError(f"the worker of {tree} ran no job")
            client = redis.Redis.from_url(server.url)
            for frame in SCENARIOS[scenario](settings.queue):
                client.lpush(f"stall:broker:{settings.queue}", frame)
            first = timed_job(runtime, timeout_s)
            stop(worker)
            worker = start_worker(tree, settings, folder)
            return {"after frames": first, "after restart": timed_job(runtime, timeout_s)}
        finally:
            stop(worker, kill=True)
            runtime.close()
            server.proc.kill()
            server.proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    """Measure every scenario on both trees and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="root of the baseline checkout")
    parser.add_argument("--timeout-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    trees = {"baseline": Path(args.baseline).resolve(), "this": REPO}
    print(f"{'scenario':14} {'measure':14} {'baseline':>10} {'this':>10}")
    for scenario in SCENARIOS:
        results = {side: measure(tree, scenario, args.timeout_s) for side, tree in trees.items()}
        for what in results["this"]:
            cells = [f"{v:.2f} s" if v is not None else "stalled" for v in (r[what] for r in results.values())]
            print(f"{scenario:14} {what:14} {cells[0]:>10} {cells[1]:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
