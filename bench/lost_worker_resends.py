"""Re-sends per lost worker: this tree beside a baseline commit, same scenario, same run.

Usage (from the repo root)::

    .venv/bin/python bench/lost_worker_resends.py                    # baseline cdedb21; a few minutes on 2 cores
    .venv/bin/python bench/lost_worker_resends.py --baseline REF --jobs 300 --kills 2 --rounds 2
    .venv/bin/python bench/lost_worker_resends.py --broker-url amqp://guest:guest@127.0.0.1:5672//

The baseline is ``git archive REF`` unpacked in a temp folder. Each side runs in
its own child process (its tree first on ``PYTHONPATH``) with its own
``redis-server`` (and, with ``--broker-url``, a queue of its own on that broker): three worker daemons (``python -m worker``, prefork, two
processes each) and ``--jobs`` jobs of bench/lost_worker_flows.py submitted at
once, so a backlog waits in the queue. Each time a quarter of the activations
more is done, one worker is SIGKILLed (its whole process group) and a fresh one
takes its place, ``--kills`` times. The queue backstop (``redispatch_s``) is set
out of reach, so every re-send counted comes from recovery, and every job must
still end exact (each item recorded once) or the side fails.

Counted from the surviving sweepers' logs: the activations sent again because
a worker's liveness lapsed, per lost worker (and, where the side logs it, the
messages they came in); leases that expired (the same mechanism on both sides);
and the wall time from the first submit until every job was done.

Sides alternate (baseline first) for ``--rounds`` rounds. Every process it
starts is stopped by pid.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OLD_LINE = re.compile(r"workers (.+?) stopped without shutting down: sending again (\d+) activations")
NEW_LINE = re.compile(r"worker (\S+) stopped without shutting down: (\d+) messages \((\d+) activations\)")
LEASE_LINE = re.compile(r"lease of (\S+) expired; sending it again")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="cdedb21", help="git ref of the baseline tree")
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--items", type=int, default=4, help="work activations per job")
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--broker-url", default="", help="a RabbitMQ (amqp://...); default: the Redis is the broker")
    parser.add_argument("--side", help=argparse.SUPPRESS)  # internal: run one side from this tree root
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- one side (child process)


def worker_env(root: Path, settings: Any) -> dict[str, str]:
    """The environment of a worker daemon of the side at ``root``."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(BENCH)]),
            "ROUTILUX_REDIS_URL": settings.redis_url, "ROUTILUX_BROKER_URL": settings.broker_url,
            "ROUTILUX_KEY_PREFIX": settings.key_prefix, "ROUTILUX_QUEUE": settings.queue,
            "ROUTILUX_LEASE_S": str(settings.lease_s), "ROUTILUX_REDISPATCH_S": str(settings.redispatch_s)}


def spawn(root: Path, folder: Path, settings: Any, index: int) -> tuple[subprocess.Popen[bytes], Path]:
    """Start worker daemon number ``index``; returns its process and log file."""
    home = folder / f"w{index}"
    home.mkdir()
    log = home / "worker.log"
    cmd = [sys.executable, "-m", "worker", "--pool", "prefork", "--concurrency", "2", "--name", f"w{index}@bench",
           "--import", "lost_worker_flows", "--loglevel", "WARNING"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=home, env=worker_env(root, settings), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc, log


def run_side(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run the scenario against the tree at ``root`` (already first on this process's path)."""
    from compare_distributed import RedisServer, stop_process
    from lost_worker_flows import fan_flow
    from routilux.distributed import DistributedRuntime, Settings
    from routilux.distributed.worker.app import delete_amqp_queues

    folder = Path(tempfile.mkdtemp(prefix="lost-worker-"))
    server = RedisServer(folder)
    server.start()
    workers: list[tuple[subprocess.Popen[bytes], Path]] = []
    settings = Settings(redis_url=server.url, broker_url=args.broker_url, key_prefix="lw",
                        queue=f"lw-{uuid.uuid4().hex[:8]}", lease_s=2.0, redispatch_s=900.0)
    try:
        with DistributedRuntime(settings=settings) as rt:
            workers += [spawn(root, folder, settings, k) for k in range(3)]
            wait(lambda: len(rt.workers()) >= 3, 90)
            started = time.monotonic()
            flow = fan_flow()
            jobs = [rt.submit(flow, "source", {"n": args.items}) for _ in range(args.jobs)]
            killed = kill_along(rt, jobs, workers, args, root, folder, settings)
            for job_id in jobs:
                state = rt.wait(job_id, timeout=600)
                items = sorted(e["i"] for e in state.shared_log)
                if state.status != "completed" or items != list(range(args.items)):
                    raise RuntimeError(f"job {job_id} is not exact: {state.status}, {items}")
            elapsed = time.monotonic() - started
            time.sleep(3 * settings.sweep_interval_s)  # let the last sweeps log
        return {"elapsed_s": elapsed, "killed": killed, **count_resends([log for _, log in workers], killed)}
    finally:
        for proc, _ in workers:
            stop_process(proc, group=True)
        if server.proc is not None:
            stop_process(server.proc, group=False)
        if settings.broker_is_amqp:
            delete_amqp_queues(settings, [settings.queue])


def kill_along(rt: Any, jobs: list[str], workers: list[tuple[subprocess.Popen[bytes], Path]],
               args: argparse.Namespace, root: Path, folder: Path, settings: Any) -> list[str]:
    """Each time another quarter of the jobs' items is recorded, SIGKILL one worker and start a fresh one."""
    killed = []
    total = len(jobs) * args.items
    for k in range(args.kills):
        wait(lambda: recorded(rt, jobs) >= total * (k + 1) / (args.kills + 2), 600, interval=0.2)
        victim, _ = workers[k]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        killed.append(f"w{k}@bench")
        workers.append(spawn(root, folder, settings, len(workers)))
    return killed


def recorded(rt: Any, jobs: list[str]) -> int:
    """Items recorded so far over ``jobs`` (a sample of them, to keep polling cheap)."""
    sample = jobs[:: max(1, len(jobs) // 50)]
    return int(sum(len(rt.get_job(j).shared_log) for j in sample) * len(jobs) / len(sample))


def count_resends(logs: list[Path], killed: list[str]) -> dict[str, Any]:
    """Re-sends logged by the sweepers, per lost worker; log lines printed twice count once."""
    lines = set()
    for log in logs:
        lines |= set(log.read_text(errors="replace").splitlines())
    per_worker: dict[str, dict[str, int]] = {name: {"activations": 0, "messages": -1} for name in killed}
    for line in lines:
        if m := NEW_LINE.search(line):
            per_worker.setdefault(m.group(1), {})
            per_worker[m.group(1)].update(activations=int(m.group(3)), messages=int(m.group(2)))
        elif m := OLD_LINE.search(line):
            names = m.group(1).split(", ")
            for name in names:  # one count for all of them: split it evenly
                per_worker.setdefault(name, {"messages": -1})["activations"] = int(m.group(2)) // len(names)
    return {"per_worker": per_worker, "leases_expired": sum(bool(LEASE_LINE.search(x)) for x in lines)}


def wait(predicate: Any, timeout: float, interval: float = 0.1) -> None:
    """Poll ``predicate`` until true; RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not done within {timeout} s")
        time.sleep(interval)


# --------------------------------------------------------------------------- both sides (parent)


def run_child(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run one side in a child process with ``root`` first on its path; returns its figures."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    cmd = [sys.executable, str(Path(__file__).resolve()), "--side", str(root), "--out", path, "--jobs", str(args.jobs),
           "--items", str(args.items), "--kills", str(args.kills), "--broker-url", args.broker_url]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(BENCH)])}
    subprocess.run(cmd, env=env, check=True, cwd=root)
    try:
        return json.loads(Path(path).read_text())
    finally:
        os.unlink(path)


def baseline_tree(ref: str) -> Path:
    """``ref`` unpacked in a temp folder."""
    folder = Path(tempfile.mkdtemp(prefix="lost-worker-base-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def report(results: dict[str, list[dict[str, Any]]]) -> str:
    """A table of both sides' medians and their ratio."""
    def figures(runs: list[dict[str, Any]]) -> tuple[float, float, float]:
        per_lost = [w["activations"] for r in runs for w in r["per_worker"].values()]
        return (statistics.median(per_lost), statistics.median(r["elapsed_s"] for r in runs),
                statistics.median(r["leases_expired"] for r in runs))
    base, ours = figures(results["baseline"]), figures(results["ours"])
    rows = [("activations re-sent per lost worker", 0), ("wall time, submit to all done (s)", 1),
            ("lease expiries re-sent per run", 2)]
    out = [f"{'':40} {'baseline':>10} {'this tree':>10} {'ratio':>8}"]
    for label, k in rows:
        ratio = f"{ours[k] / base[k]:.3f}" if base[k] else "-"
        out.append(f"{label:40} {base[k]:>10.1f} {ours[k]:>10.1f} {ratio:>8}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run both sides ``--rounds`` times and print the figures."""
    args = parse_args(argv)
    if args.side:
        Path(args.out).write_text(json.dumps(run_side(Path(args.side), args)))
        return 0
    base = baseline_tree(args.baseline)
    results: dict[str, list[dict[str, Any]]] = {"baseline": [], "ours": []}
    for _ in range(args.rounds):
        for side, root in (("baseline", base), ("ours", REPO)):
            results[side].append(run_child(root, args))
            print(side, json.dumps(results[side][-1]), flush=True)
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
