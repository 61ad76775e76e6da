"""What a finished job leaves in Redis, kept forever (TTL 0, as before retention) beside a short TTL.

Usage (from the repo root)::

    .venv/bin/python bench/retention.py            # about a minute on 2 cores

Starts its own ``redis-server`` (free port, temp dir, no persistence) and one
worker daemon (solo pool), then submits, in one run and interleaved, N jobs of
a 12-step flow (bench/dist_flows.py ``Countdown``) from two producers: one
with ``completed_ttl_s=0`` (jobs kept forever, what every job did before
retention) and one with ``completed_ttl_s=TTL``. When every job has ended it
measures, per finished job still in the store, the keys in the keyspace that
belong to it (a full SCAN) and their bytes (``MEMORY USAGE key SAMPLES 0``),
and whether the job is still in the jobs index (on the TTL side, jobs that
ended early may already be gone); then waits the TTL out and measures again.

Every process it starts is stopped by pid before it exits.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.compare_distributed import RedisServer, stop_process  # noqa: E402
from bench.dist_flows import SEQUENTIAL_ENTRY, sequential_flow  # noqa: E402
from routilux.distributed import DistributedRuntime, Settings  # noqa: E402

STEPS = 12


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300, help="jobs per side (default 300)")
    parser.add_argument("--ttl", type=float, default=5.0, help="TTL of the retention side, seconds (default 5)")
    return parser.parse_args(argv)


def footprint(client, prefix: str, job_ids: list[str]) -> tuple[int, float, float, int]:
    """(jobs with keys, keys per such job, bytes per such job, jobs still in the jobs index) of ``job_ids``."""
    wanted = set(job_ids)
    keys: dict[str, list[bytes]] = defaultdict(list)
    for key in client.scan_iter(match=f"{prefix}:job:*", count=1000):
        # prefix:job:{bucket}:<job id>:<part> (job ids here are UUIDs: no colon)
        job_id = key.decode().split("}:", 1)[1].split(":", 1)[0]
        if job_id in wanted:
            keys[job_id].append(key)
    pipe = client.pipeline(transaction=False)
    every = [k for ks in keys.values() for k in ks]
    for key in every:
        pipe.memory_usage(key, samples=0)
    total = sum(v or 0 for v in pipe.execute())
    pipe = client.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.zscore(f"{prefix}:jobs:{{0}}", job_id)  # one key bucket on a single Redis
    indexed = sum(1 for v in pipe.execute() if v is not None)
    present = len(keys)
    return present, len(every) / max(1, present), total / max(1, present), indexed


def wait_ended(store, job_ids: list[str], timeout_s: float = 300.0) -> None:
    """Poll until every job has ended (a job whose keys already expired has ended too)."""
    left = set(job_ids)
    deadline = time.monotonic() + timeout_s
    while left:
        rows = {r["job_id"]: r["status"] for r in store.summaries(sorted(left))}
        left = {j for j in left if j in rows and rows[j] not in ("completed", "failed", "cancelled")}
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(left)} jobs did not end in {timeout_s} s")
        time.sleep(0.1)


def run(args: argparse.Namespace, server: RedisServer, folder: Path) -> None:
    """Submit both sides, wait, measure, wait the TTL out, measure again; print the table."""
    prefix, queue = f"rtxret{uuid.uuid4().hex[:6]}", f"q{uuid.uuid4().hex[:6]}"
    base = Settings(redis_url=server.url, key_prefix=prefix, queue=queue)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTILUX_")}
    env.update(PYTHONPATH=str(REPO), ROUTILUX_REDIS_URL=server.url, ROUTILUX_KEY_PREFIX=prefix, ROUTILUX_QUEUE=queue)
    log = open(folder / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "worker", "--import", "bench.dist_flows", "--pool", "solo",
                               "--concurrency", "1", "--name", f"ret-{queue}@bench", "--loglevel", "WARNING"],
                              cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    keep = DistributedRuntime(settings=base.with_(completed_ttl_s=0.0))
    short = DistributedRuntime(settings=base.with_(completed_ttl_s=args.ttl))
    try:
        flow = sequential_flow()
        sides: dict[str, list[str]] = {"kept forever (TTL 0)": [], f"TTL {args.ttl:g} s": []}
        for _ in range(args.jobs):
            for (name, ids), rt in zip(sides.items(), (keep, short)):
                ids.append(rt.submit(flow, SEQUENTIAL_ENTRY, {"n": STEPS}))
        started = time.monotonic()
        for ids in sides.values():
            wait_ended(keep.store, ids)
        print(f"{2 * args.jobs} jobs of {STEPS} steps ended in {time.monotonic() - started:.1f} s "
              f"(redis {server.version()})")
        rows = [(name, "all ended", *footprint(keep.store.redis, prefix, ids)) for name, ids in sides.items()]
        time.sleep(args.ttl + 2)
        rows += [(name, f"{args.ttl + 2:g} s later", *footprint(keep.store.redis, prefix, ids))
                 for name, ids in sides.items()]
        print(f"{'side':<22} {'when':<12} {'jobs with keys':>15} {'keys/job':>9} {'bytes/job':>10} {'in index':>9}")
        for name, when, present, keys, size, indexed in rows:
            print(f"{name:<22} {when:<12} {present:>8}/{args.jobs:<6} {keys:>9.2f} {size:>10.0f} {indexed:>9}")
        kept, gone = (row[2] * row[4] / args.jobs for row in rows[2:])
        print(f"bytes per finished job once the TTL passed, retention / forever: {gone:.0f} / {kept:.0f} "
              f"= {gone / kept if kept else 0:.3f}")
    finally:
        keep.close()
        short.close()
        stop_process(worker, group=True)
        log.close()


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark with its own Redis."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rtx-retention-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            run(args, server, Path(tmp))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
