"""``routilux demo``: what the distributed engine is for, in one command.

It starts a throwaway ``redis-server`` and worker daemons as separate "hosts"
(subprocesses with their own names), publishes the example order flow, submits
a batch of jobs, SIGKILLs one host mid-run, and shows the jobs finishing on the
survivors; then a summary: jobs completed, each result checked against the
local engine, and how long recovery took. Everything it started is stopped,
also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from routilux.cli.engine import distributed
from routilux.cli.exits import EXIT_FAILED, UsageError
from routilux.cli.output import interactive, rich_console

PREFIX = "demo"


def register(sub: Any) -> None:
    """Add the ``demo`` command."""
    demo = sub.add_parser("demo", help="run a self-contained demo: workers on a throwaway Redis, one killed",
                          description=__doc__.splitlines()[0])
    demo.add_argument("--workers", type=int, default=2, help="worker hosts to start (default 2)")
    demo.add_argument("--jobs", type=int, default=8, help="order jobs to submit (default 8)")
    demo.add_argument("--no-kill", action="store_true", help="do not kill a worker host")
    demo.add_argument("--delay-s", type=float, default=0.2,
                      help="time each order takes to validate and to price (default 0.2 s)")
    demo.add_argument("--lease-s", type=float, default=3.0,
                      help="activation lease: how soon a dead host's work runs elsewhere (default 3 s)")
    demo.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo; 0 if every job completed with the exact result."""
    if args.workers < 1 or args.jobs < 1:
        raise UsageError("--workers and --jobs must be at least 1")
    if args.workers < 2 and not args.no_kill:
        raise UsageError("killing a host needs another one to finish the work: use --workers 2 or more, or --no-kill")
    examples = _examples_root()
    server = shutil.which("redis-server")
    if server is None:
        raise UsageError("routilux demo needs redis-server on PATH: install it (apt-get install redis-server, "
                         "brew install redis; in a checkout, bash scripts/test installs it)")
    live = not args.plain and interactive() and rich_console() is not None
    with Demo(server, examples, args.lease_s, live) as demo:
        return demo.run(args.workers, args.jobs, args.delay_s, kill=not args.no_kill)


def _examples_root() -> str:
    """The folder holding the ``examples`` package (a source checkout), found from this package or the cwd."""
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (root / "examples" / "orders.py").is_file():
            return str(root)
    raise UsageError("routilux demo runs the order flow of examples/: run it from a Routilux source checkout")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def expected_summaries(batches: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each batch's summary as the local engine computes it (the reference the distributed results must equal)."""
    from examples.orders import ENTRY, make_flow

    out = []
    for orders in batches:
        flow = make_flow()
        try:
            out.append(flow.execute(ENTRY, entry_params={"orders": orders}).get_shared_data("summary"))
        finally:
            flow.shutdown()
    return out


def batch(k: int) -> list[dict[str, Any]]:
    """The orders of job ``k``: the sample orders, ids and quantities varied per job."""
    from examples.orders import SAMPLE_ORDERS

    return [{**o, "order_id": f"{o['order_id']}-{k}", "quantity": o["quantity"] * (1 + k % 4)} for o in SAMPLE_ORDERS]


class Demo:
    """The demo's processes and files; a context manager that stops and removes all of them."""

    def __init__(self, server: str, examples: str, lease_s: float, live: bool) -> None:
        self.server, self.examples, self.lease_s, self.live = server, examples, lease_s, live
        self.folder = Path(tempfile.mkdtemp(prefix="routilux-demo-"))
        self.redis: subprocess.Popen[bytes] | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.runtime: Any = None
        self.started = time.monotonic()
        self.notes: list[str] = []
        self.watching = False

    def __enter__(self) -> Demo:
        self._previous = signal.signal(signal.SIGTERM, _interrupt)
        if self.examples not in sys.path:
            sys.path.insert(0, self.examples)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.runtime is not None:
            self.runtime.close()
        for proc in self.workers.values():
            _stop_group(proc)
        if self.redis is not None:
            self.redis.terminate()
            try:
                self.redis.wait(10)
            except subprocess.TimeoutExpired:
                self.redis.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
        signal.signal(signal.SIGTERM, self._previous)

    def say(self, text: str) -> None:
        """One line of narration, with the time since the demo started (in the live view once it runs)."""
        line = f"[{time.monotonic() - self.started:5.1f} s] {text}"
        if self.watching and self.live:
            self.notes.append(line)
        else:
            print(line, flush=True)

    # -- the story ---------------------------------------------------------
    def run(self, n_workers: int, n_jobs: int, delay_s: float, kill: bool) -> int:
        """Start everything, run the batch (killing a host mid-run), and print the summary."""
        settings = self.start_redis()
        self.runtime = distributed().DistributedRuntime(settings=settings)
        names = [self.start_worker(settings, n) for n in range(1, n_workers + 1)]
        self.wait_for_workers(names)
        from examples.orders import ENTRY, make_flow

        digest = self.runtime.publish(make_flow(delay_s=delay_s))
        self.say(f"published the order flow (examples/orders.py) as {digest[:12]}; "
                 f"each order takes {delay_s:g} s to validate and {delay_s:g} s to price")
        batches = [batch(k) for k in range(n_jobs)]
        job_ids = [self.runtime.submit(digest, ENTRY, {"orders": orders}) for orders in batches]
        self.say(f"submitted {n_jobs} jobs of {len(batches[0])} orders each")
        watcher = Watcher(self, names[0] if kill else None)
        code = self.watch(job_ids, watcher)
        if code == 130:
            return code
        return self.report(job_ids, expected_summaries(batches), watcher, names)

    def start_redis(self) -> Any:
        """Start redis-server on a free port in the demo's folder; returns the Settings pointing at it."""
        port = _free_port()
        self.redis = subprocess.Popen(
            [self.server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.folder), "--save", "",
             "--appendonly", "no", "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        url = f"redis://127.0.0.1:{port}/0"
        import redis

        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if self.redis.poll() is not None or time.monotonic() > deadline:
                    raise UsageError(f"redis-server did not start (see {self.folder / 'redis.log'})") from None
                time.sleep(0.05)
        client.close()
        self.say(f"started a throwaway redis-server on 127.0.0.1:{port} (in {self.folder})")
        return distributed().Settings(redis_url=url, key_prefix=PREFIX, queue=PREFIX, lease_s=self.lease_s,
                                      outbox_grace_s=1.0)

    def start_worker(self, settings: Any, n: int) -> str:
        """Start worker host ``n`` (a daemon subprocess in its own process group); returns its short name."""
        name = f"host-{n}"
        # Only the demo's own settings: a ROUTILUX_* variable of this shell (another broker, say) must not leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTILUX_")}
        env = {**env, "ROUTILUX_REDIS_URL": settings.redis_url, "ROUTILUX_KEY_PREFIX": PREFIX,
               "ROUTILUX_QUEUE": PREFIX, "ROUTILUX_LEASE_S": str(settings.lease_s), "ROUTILUX_OUTBOX_GRACE_S": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (self.examples, os.environ.get("PYTHONPATH")) if p)}
        log = open(self.folder / f"{name}.log", "wb")
        cmd = [sys.executable, "-m", "routilux.cli", "worker", "--import", "examples.orders", "--name",
               f"{name}@demo", "--pool", "prefork", "--concurrency", "2", "--loglevel", "WARNING"]
        self.workers[name] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True, cwd=self.folder)
        log.close()
        return name

    def wait_for_workers(self, names: list[str]) -> None:
        """Wait until every worker host has written its liveness record."""
        deadline = time.monotonic() + 60
        while len([n for n in self.runtime.workers() if n.split("@")[0] in names]) < len(names):
            for name, proc in self.workers.items():
                if proc.poll() is not None:
                    tail = (self.folder / f"{name}.log").read_text(errors="replace").strip().splitlines()[-3:]
                    raise UsageError(f"worker {name} exited with code {proc.returncode}: {' | '.join(tail)}")
            if time.monotonic() > deadline:
                raise UsageError("the worker hosts did not come up within 60 s")
            time.sleep(0.1)
        pids = ", ".join(f"{n} (pid {self.workers[n].pid})" for n in names)
        self.say(f"started {len(names)} worker hosts, 2 processes each: {pids}")

    def watch(self, job_ids: list[str], watcher: Watcher) -> int:
        """Show the jobs until they end (the live view on a terminal; one line per finished job otherwise)."""
        from routilux.cli.watch import watch_jobs

        self.watching = True
        if self.live:
            return watch_jobs(self.runtime, job_ids, mode="live", workers=True,
                              title=f"{len(job_ids)} order jobs", on_event=watcher.on_event, notes=self.notes)
        return watch_jobs(self.runtime, job_ids, mode="ends", on_event=watcher.on_event)

    def running_on(self, name: str) -> list[str]:
        """The activations a worker host reports running now."""
        return [r["activation_id"] for r in self.runtime.workers().get(f"{name}@demo", {}).get("running", [])]

    def kill(self, name: str) -> None:
        """SIGKILL a worker host: its main process and pool children (its process group)."""
        _kill_group(self.workers[name])

    # -- the summary -------------------------------------------------------
    def report(self, job_ids: list[str], expected: list[dict[str, Any]], watcher: Watcher, names: list[str]) -> int:
        """Print the summary; returns 0 if every job completed with exactly the local engine's result."""
        states = [self.runtime.get_job(job_id) for job_id in job_ids]
        completed = sum(state.status == "completed" for state in states)
        exact = sum(state.get_shared_data("summary") == want for state, want in zip(states, expected))
        total = sum(want["total_cents"] for want in expected) / 100
        print("")
        print("summary")
        print(f"  jobs completed:  {completed}/{len(job_ids)}")
        print(f"  results exact:   {exact}/{len(job_ids)} (each job's summary equals the local engine's; "
              f"${total:.2f} in all)")
        if watcher.victim is None:
            print(f"  hosts:           {len(names)}, none killed (--no-kill)")
        elif watcher.killed_at is None:
            print(f"  hosts:           {watcher.victim} was not killed (the jobs ended first)")
        else:
            survivors = ", ".join(n for n in names if n != watcher.victim)
            print(f"  killed:          {watcher.victim} (SIGKILL) at {watcher.killed_at - self.started:.1f} s, "
                  f"with {_n(len(watcher.lost), 'activation')} in flight")
            print(f"  recovery:        {watcher.recovery()} on {survivors} (lease {self.lease_s:g} s)")
        print(f"  total time:      {time.monotonic() - self.started:.1f} s")
        return 0 if completed == exact == len(job_ids) else EXIT_FAILED


class Watcher:
    """Watches the events go by: kills the victim host once the batch is well under way, and times recovery."""

    def __init__(self, demo: Demo, victim: str | None) -> None:
        self.demo, self.victim = demo, victim
        self.known: dict[str, tuple[int, int]] = {}
        self.killed_at: float | None = None
        self.killed_wall = 0.0
        self.committed: set[str] = set()
        self.lost: list[str] = []
        self.rerun: dict[str, float] = {}

    def on_event(self, event: Any) -> None:
        """Called with each event of the batch's jobs."""
        if event.kind != "step":
            if event.kind == "status" and event.status in ("completed", "failed", "cancelled") and not self.demo.live:
                self.demo.say(f"job {event.job_id[:8]} {event.status}")
            return
        data = event.data
        self.known[event.job_id] = (data["done"], data["known"])
        self.committed.add(data["activation"])
        if self.killed_at is not None and data["activation"] in self.lost:
            committed = datetime.fromisoformat(event.time).timestamp()
            if committed < self.killed_wall:  # it had committed just before the kill: nothing lost
                self.lost.remove(data["activation"])
            else:
                self.rerun[data["activation"]] = committed
        if self.victim is not None and self.killed_at is None and self._progress() >= 0.3:
            # The report may be half a second old: what has committed since was not lost.
            running = [a for a in self.demo.running_on(self.victim) if a not in self.committed]
            if running or self._progress() >= 0.6:  # a host with nothing in hand is no demonstration
                self.demo.kill(self.victim)
                self.lost, self.killed_at, self.killed_wall = running, time.monotonic(), time.time()
                self.demo.say(f"killed {self.victim} with SIGKILL while it ran {_n(len(running), 'activation')}")

    def _progress(self) -> float:
        done = sum(d for d, _ in self.known.values())
        known = sum(k for _, k in self.known.values())
        return done / known if known else 0.0

    def recovery(self) -> str:
        """How long until the killed host's activations had run again elsewhere."""
        if not self.lost:
            return "nothing to recover (it held no activation)"
        if len(self.rerun) < len(self.lost):
            return f"only {len(self.rerun)} of its {len(self.lost)} lost activations ran again"
        return (f"its {_n(len(self.lost), 'lost activation')} ran again within "
                f"{max(self.rerun.values()) - self.killed_wall:.1f} s of the kill")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a worker host (a warm shutdown), SIGKILL it if it is not gone within 10 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
    except ProcessLookupError:
        pass


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
