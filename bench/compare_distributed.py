"""Routilux's distributed engine beside plain Celery: same work, same Redis, same run.

Usage (from the repo root)::

    .venv/bin/python bench/compare_distributed.py          # under a minute on 2 cores

Starts its own ``redis-server`` (free port, temp dir, no persistence), then per
scenario one Routilux worker and one plain-Celery worker (bench/raw_celery.py),
both with the same pool, and times each scenario several times, alternating
the two sides. Prints the medians and the ratios against the issue's goals:

* sequential: a 200-step job (bench/dist_flows.py ``Countdown`` looping on
  itself) vs a Celery task that enqueues the next one 200 times; solo pool;
  ms per step; goal ours <= 1.5 x raw.
* fan-out: a source emitting 1,000 times to a no-op sink vs a task that
  enqueues 1,000 no-op tasks; prefork, 2 processes; tasks per second; goal
  ours >= 1.0 x raw (ours batches the sink activations, ROUTILUX_DISPATCH_BATCH;
  raw sends one message per task, as plain Celery code does).

``--stores redis,cluster`` also runs every scenario with our state on a Redis
Cluster of three masters (started here, 16 key buckets; the broker stays the
plain Redis, or RabbitMQ): raw Celery has no state store, so its side is the
same as with ``redis`` and the ratio shows what the cluster costs or gains.

``--brokers redis,rabbitmq`` runs every scenario on each broker (RabbitMQ at
``--amqp-url``: both sides then use a durable quorum queue with publisher
confirms, and Redis keeps only state and done markers); ``--fanout-concurrency
1,2,4`` runs the fan-out with each number of worker processes. Per timed run it
also reads Redis's INFO commandstats before and after: the Redis commands per
step or task (every command Redis executed, those inside Lua scripts and
pipelines included) and, of them, the script calls (EVALSHA/EVAL).

Wall time is what the goals are about. Alongside it, the CPU time the run
cost (the side's worker processes plus redis-server, read from /proc) is
reported per step or task: on a small machine other processes steal CPU and
make wall times noisy, while CPU per step barely moves, so its ratio is the
steadier estimate of the same comparison.

Every process it starts (Redis, workers) is stopped by pid before it exits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import redis  # noqa: E402

from bench import raw_celery  # noqa: E402
from bench.dist_flows import FANOUT_ENTRY, SEQUENTIAL_ENTRY, fanout_flow, sequential_flow  # noqa: E402
from routilux.distributed import DistributedRuntime, Settings  # noqa: E402
from routilux.distributed.worker.app import delete_amqp_queues  # noqa: E402

SEQ_GOAL = 1.5  # ours / raw, per step: at most
FANOUT_GOAL = 1.0  # ours / raw, throughput: at least
OURS_PREFIX = "rtxbench"
JOB_TIMEOUT_S = 120.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="length of the sequential job")
    parser.add_argument("--fanout", type=int, default=1000, help="width of the fan-out")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per side and scenario")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per side and scenario")
    parser.add_argument("--scenarios", default="sequential,fanout", help="comma-separated subset")
    parser.add_argument("--redis-server", default="redis-server", help="redis-server executable")
    parser.add_argument("--brokers", default="redis", help="comma-separated: redis, rabbitmq")
    parser.add_argument("--stores", default="redis", help="comma-separated: redis, cluster (our state store)")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672//", help="RabbitMQ for --brokers")
    parser.add_argument("--fanout-concurrency", default="2", help="comma-separated worker processes for the fan-out")
    parser.add_argument("--ours-worker", choices=("auto", "daemon", "script"), default="auto",
                        help="ours: python -m worker (daemon), bench/dist_worker.py (script), "
                             "or the daemon when the repo has it (auto)")
    parser.add_argument("--json", dest="json_path", default=None, help="also write every timing here")
    parser.add_argument("--keep-logs", action="store_true", help="print the temp dir with worker logs and keep it")
    parser.add_argument("--inline-steps", type=int, default=None,
                        help="ROUTILUX_INLINE_STEPS for our workers (0: one Celery task per slot invocation)")
    parser.add_argument("--dispatch-batch", type=int, default=None,
                        help="ROUTILUX_DISPATCH_BATCH for our workers (1: one activation per message)")
    parser.add_argument("--dispatch-spread", type=int, default=None, help="ROUTILUX_DISPATCH_SPREAD for our workers")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server this script owns: no RDB, no AOF, stopped by pid."""

    def __init__(self, folder: Path, executable: str = "redis-server", extra: tuple[str, ...] = ()) -> None:
        self.folder = folder
        self.executable = executable
        self.extra = extra
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        args = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                "--save", "", "--appendonly", "no", "--protected-mode", "yes", *self.extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    client.close()
                    return
            except redis.exceptions.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.02)

    def version(self) -> str:
        """The server's version string."""
        client = redis.Redis(port=self.port)
        try:
            return str(client.info("server")["redis_version"])
        finally:
            client.close()

    def command_calls(self) -> tuple[int, int]:
        """(commands executed so far, of them script calls), from INFO commandstats, INFO itself left out."""
        client = redis.Redis(port=self.port)
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        total = sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")
        scripts = sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
        return total, scripts

    def cpu_seconds(self) -> float:
        """CPU seconds the server has used so far."""
        return cpu_seconds(self.proc.pid) if self.proc is not None else 0.0

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None:
            return
        stop_process(self.proc, group=False)
        self.proc = None


class Redises:
    """The plain redis-server (broker, and store unless a cluster is asked for) and the cluster's masters, if any.

    Commands and CPU are summed over all of them, so each side is charged for every Redis it used.
    """

    def __init__(self, folder: Path, executable: str, cluster: bool) -> None:
        self.server = RedisServer(folder, executable)
        self.nodes: list[RedisServer] = []
        if cluster:
            for i in range(3):
                (folder / f"cluster{i}").mkdir()
                self.nodes.append(RedisServer(folder / f"cluster{i}", executable, (
                    "--cluster-enabled", "yes", "--cluster-port", str(free_port()),
                    "--cluster-config-file", "nodes.conf")))

    @property
    def cluster_url(self) -> str:
        """The ``redis+cluster://`` URL of the cluster (two nodes named; the client finds the third)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:2])

    def start(self) -> None:
        """Start every server; join the cluster's nodes and wait until it serves every slot."""
        for member in (self.server, *self.nodes):
            member.start()
        if not self.nodes:
            return
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
                        "--cluster-yes"], check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 30
        while any(redis.Redis(port=n.port).cluster("info").get("cluster_state") != "ok" for n in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    def command_calls(self) -> tuple[int, int]:
        """(commands, script calls) executed so far on all of them."""
        counts = [member.command_calls() for member in (self.server, *self.nodes)]
        return sum(c for c, _ in counts), sum(s for _, s in counts)

    def cpu_seconds(self) -> float:
        """CPU seconds all of them have used so far."""
        return sum(member.cpu_seconds() for member in (self.server, *self.nodes))

    def stop(self) -> None:
        """Stop every server."""
        for member in (self.server, *self.nodes):
            member.stop()


def start_worker_daemon(redis_url: str, prefix: str, queue: str, imports: str, name: str, log: Path, *,
                        pool: str = "threads", concurrency: int = 2, loglevel: str = "WARNING",
                        ) -> subprocess.Popen[bytes]:
    """``python -m worker`` of this repo on ``redis_url`` (key prefix and queue of the benchmark's own), in a
    process group of its own (stop it with ``stop_process(proc, group=True)``), its output in ``log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTILUX_")}
    env.update(PYTHONPATH=str(REPO), ROUTILUX_REDIS_URL=redis_url, ROUTILUX_KEY_PREFIX=prefix, ROUTILUX_QUEUE=queue)
    return subprocess.Popen([sys.executable, "-m", "worker", "--import", imports, "--pool", pool, "--concurrency",
                             str(concurrency), "--name", f"{name}@bench", "--loglevel", loglevel],
                            cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen[bytes], group: bool, grace_s: float = 15.0) -> None:
    """Stop one process we started: SIGTERM (its group if ``group``), then SIGKILL after ``grace_s``."""
    if proc.poll() is not None:
        return
    send = (lambda sig: os.killpg(proc.pid, sig)) if group else proc.send_signal
    try:
        send(signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
    if group:  # prefork children left behind by a dying main process
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one live process (0 if it is gone or /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds of every live process in process group ``pgid`` (a worker and its pool children)."""
    total = 0.0
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


# Settings of our workers set on the command line (--inline-steps...; absent: the library default).
OURS_ENV: dict[str, str] = {}


@dataclass
class WorkerSpec:
    """One worker daemon to start."""

    side: str  # "ours" or "raw"
    launcher: str  # "daemon" (python -m worker) or "script" (bench/dist_worker.py)
    redis_url: str
    broker_url: str  # "" (the Redis) or amqp://...
    queue: str
    pool: str
    concurrency: int
    name: str


class WorkerProcess:
    """A worker in a subprocess of its own session (so its pool children can be stopped with it)."""

    def __init__(self, spec: WorkerSpec, log_dir: Path) -> None:
        self.spec = spec
        self.log_path = log_dir / f"{spec.name.split('@')[0]}.log"
        self.log: IO[bytes] = open(self.log_path, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTILUX_")}  # only what we set
        if spec.side == "ours":
            env.update(OURS_ENV)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        command = worker_command(spec, env)
        self.proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def check_alive(self) -> None:
        """Raise if the worker died (with the end of its log)."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"worker {self.spec.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        """The last lines of the worker's log."""
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the worker and its pool children."""
        return group_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM to its process group), SIGKILL if it lingers."""
        stop_process(self.proc, group=True)
        self.log.close()


def ours_launcher(choice: str) -> str:
    """``daemon`` if asked for, or if ``auto`` and the repo has ``python -m worker``; else ``script``."""
    if choice == "auto":
        return "daemon" if (REPO / "worker" / "__main__.py").exists() else "script"
    return choice


def worker_command(spec: WorkerSpec, env: dict[str, str]) -> list[str]:
    """The command line of one worker: ``python -m worker`` or bench/dist_worker.py."""
    common = ["--pool", spec.pool, "--concurrency", str(spec.concurrency), "--name", spec.name,
              "--loglevel", "WARNING"]
    if spec.side == "ours" and spec.launcher == "daemon":
        env.update({"ROUTILUX_REDIS_URL": spec.redis_url, "ROUTILUX_KEY_PREFIX": OURS_PREFIX,
                    "ROUTILUX_QUEUE": spec.queue, "ROUTILUX_BROKER_URL": spec.broker_url})
        return [sys.executable, "-m", "worker", *common, "--import", "bench.dist_flows"]
    return [sys.executable, str(BENCH / "dist_worker.py"), spec.side, "--redis-url", spec.redis_url,
            "--key-prefix", OURS_PREFIX, "--queue", spec.queue, "--broker-url", spec.broker_url, *common]


# --------------------------------------------------------------------------- the two sides


class OursSide:
    """Submits the benchmark flows to Routilux's distributed engine and times them."""

    label = "ours"

    def __init__(self, redis_url: str, queue: str, broker_url: str = "") -> None:
        self.runtime = DistributedRuntime(settings=Settings(redis_url=redis_url, broker_url=broker_url,
                                                            key_prefix=OURS_PREFIX, queue=queue))
        self.sequential_hash = self.runtime.publish(sequential_flow())
        self.fanout_hash = self.runtime.publish(fanout_flow())

    def sequential(self, steps: int) -> float:
        """Seconds from submit until the job is known to be settled."""
        return self._time(self.sequential_hash, SEQUENTIAL_ENTRY, steps)

    def fanout(self, width: int) -> float:
        """Seconds from submit until the job (source and every sink step) is settled."""
        return self._time(self.fanout_hash, FANOUT_ENTRY, width)

    def _time(self, digest: str, entry: str, n: int) -> float:
        started = time.perf_counter()
        job_id = self.runtime.submit(digest, entry, {"n": n})
        self._wait_settled(job_id)
        elapsed = time.perf_counter() - started
        state = self.runtime.wait(job_id, timeout=5)  # untimed: checks the outcome
        if state.status != "completed":
            raise RuntimeError(f"job {job_id} ended {state.status}: {state.error}")
        return elapsed

    def _wait_settled(self, job_id: str) -> None:
        """Block on the job's settled marker (what ``DistributedRuntime.wait`` blocks on)."""
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while self.runtime.store.wait_settled(job_id, 1.0) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not settled within {JOB_TIMEOUT_S} s")

    def close(self) -> None:
        """Release connections."""
        self.runtime.close()


class RawSide:
    """Sends the plain-Celery tasks and times them until their done marker."""

    label = "raw"

    def __init__(self, redis_url: str, queue: str, broker_url: str = "") -> None:
        self.app = raw_celery.configure(redis_url, queue, broker_url)
        self.queue = queue
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=None)  # BLPOP may wait long

    def sequential(self, steps: int) -> float:
        """Seconds from sending ``step(steps)`` until the last step pushed its marker."""
        return self._time(raw_celery.step, steps, lambda run: (steps, run), expect_count=None)

    def fanout(self, width: int) -> float:
        """Seconds from sending ``fanout(width)`` until the last noop pushed its marker."""
        return self._time(raw_celery.fanout, width, lambda run: (width, run), expect_count=width)

    def _time(self, task: Any, n: int, args: Callable[[str], tuple[Any, ...]], expect_count: int | None) -> float:
        run = uuid.uuid4().hex
        started = time.perf_counter()
        task.apply_async(args(run), queue=self.queue)
        got = self.redis.blpop([raw_celery.done_key(run)], timeout=JOB_TIMEOUT_S)
        elapsed = time.perf_counter() - started
        if got is None:
            raise TimeoutError(f"raw run {run} ({task.name}, n={n}) not done within {JOB_TIMEOUT_S} s")
        if expect_count is not None:
            count = int(self.redis.get(raw_celery.count_key(run)) or 0)
            if count != expect_count:
                raise RuntimeError(f"raw run {run}: {count} noops ran, expected {expect_count}")
        self.redis.delete(raw_celery.count_key(run), raw_celery.done_key(run))
        return elapsed

    def close(self) -> None:
        """Release connections."""
        self.redis.close()


# --------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    """One comparison: the work, the pool, and how a time becomes the reported figure."""

    name: str
    pool: str
    concurrency: int
    n: int
    warmup_n: int
    unit: str
    per: str
    higher_is_better: bool
    goal: float
    broker: str = "redis"
    key: str = ""  # name in the JSON output (default: name)
    store: str = "redis"  # our state store: the plain Redis, or "cluster"
    times: dict[str, list[float]] = field(default_factory=lambda: {"ours": [], "raw": []})
    commands: dict[str, list[int]] = field(default_factory=lambda: {"ours": [], "raw": []})
    scripts: dict[str, list[int]] = field(default_factory=lambda: {"ours": [], "raw": []})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {"ours": [], "raw": []})

    def figure(self, seconds: float) -> float:
        """ms per step (sequential) or tasks per second (fan-out)."""
        return self.n / seconds if self.higher_is_better else seconds * 1000 / self.n

    def median(self, side: str) -> float:
        """The median figure of one side."""
        return statistics.median(self.figure(t) for t in self.times[side])

    def ratio(self) -> float:
        """ours / raw of the median figures."""
        return self.median("ours") / self.median("raw")

    def cpu_us(self, side: str) -> float:
        """Median CPU microseconds (worker processes + redis-server) per step or task."""
        return statistics.median(self.cpu[side]) * 1e6 / self.n

    def cpu_ratio(self) -> float:
        """The CPU figures as the goal reads them: ours/raw per step, raw/ours (capacity) for fan-out."""
        ours, raw = self.cpu_us("ours"), self.cpu_us("raw")
        return raw / ours if self.higher_is_better else ours / raw

    def per_unit(self, counts: dict[str, list[int]], side: str) -> float:
        """Median Redis commands (or script calls) per step or task."""
        return statistics.median(counts[side]) / self.n if counts[side] else 0.0

    def met(self) -> bool:
        """Whether the ratio meets the issue's goal."""
        return self.ratio() >= self.goal if self.higher_is_better else self.ratio() <= self.goal


def run_once(side: OursSide | RawSide, scenario: Scenario, n: int) -> float:
    """One execution of the scenario's work on one side; returns seconds."""
    return side.fanout(n) if scenario.name == "fanout" else side.sequential(n)


def timed_run(side: OursSide | RawSide, worker: WorkerProcess, server: Redises, scenario: Scenario) -> None:
    """One timed execution: records wall seconds and CPU seconds (worker group + every redis-server)."""
    calls_before = server.command_calls()
    cpu_before = worker.cpu_seconds() + server.cpu_seconds()
    seconds = run_once(side, scenario, scenario.n)
    cpu = worker.cpu_seconds() + server.cpu_seconds() - cpu_before
    calls_after = server.command_calls()
    scenario.times[side.label].append(seconds)
    scenario.cpu[side.label].append(cpu)
    commands, scripts = (after - before for after, before in zip(calls_after, calls_before))
    scenario.commands[side.label].append(commands)
    scenario.scripts[side.label].append(scripts)
    print(f"  {scenario.key:<16} {side.label:<4} {seconds * 1000:8.1f} ms  {scenario.figure(seconds):8.2f} "
          f"{scenario.unit:<8} CPU {cpu * 1e6 / scenario.n:6.0f} us, Redis {commands / scenario.n:5.1f} cmds "
          f"({scripts / scenario.n:4.2f} scripts) per {scenario.per}", flush=True)


def run_scenario(scenario: Scenario, server: Redises, log_dir: Path, runs: int, warmup: int,
                 launcher: str, amqp_url: str = "") -> None:
    """Start both workers, warm them up, time alternating runs, stop the workers."""
    tag = uuid.uuid4().hex[:6]
    redis_url = server.server.url
    broker_url = amqp_url if scenario.broker == "rabbitmq" else ""
    # On a cluster our state moves there and the plain Redis stays the broker (a cluster cannot be one).
    ours_store, ours_broker = ((server.cluster_url, broker_url or redis_url) if scenario.store == "cluster"
                               else (redis_url, broker_url))
    specs = [WorkerSpec(side, launcher if side == "ours" else "script", *(
                 (ours_store, ours_broker) if side == "ours" else (redis_url, broker_url)),
                 f"{side}-{scenario.key}-{tag}", scenario.pool, scenario.concurrency,
                 f"{side}-{scenario.key}-{tag}@bench") for side in ("ours", "raw")]
    workers = [WorkerProcess(spec, log_dir) for spec in specs]
    sides: list[Any] = []
    try:
        sides = [OursSide(ours_store, specs[0].queue, ours_broker), RawSide(redis_url, specs[1].queue, broker_url)]
        for side in sides:  # the first warm-up also waits for the worker to be up
            for _ in range(warmup):
                check_workers(workers)
                run_once(side, scenario, scenario.warmup_n)
        by_label = dict(zip(("ours", "raw"), workers))
        for i in range(runs):
            for side in (sides if i % 2 == 0 else sides[::-1]):
                check_workers(workers)
                timed_run(side, by_label[side.label], server, scenario)
                time.sleep(0.2)
    except Exception:
        for worker in workers:
            print(f"--- {worker.spec.name} log tail ---\n{worker.tail()}", file=sys.stderr)
        raise
    finally:
        for side in sides:
            side.close()
        for worker in workers:
            worker.stop()
        if broker_url:
            delete_amqp_queues(Settings(broker_url=broker_url), [spec.queue for spec in specs])


def check_workers(workers: list[WorkerProcess]) -> None:
    """Raise if any worker died."""
    for worker in workers:
        worker.check_alive()


def make_scenarios(args: argparse.Namespace) -> list[Scenario]:
    """The scenarios selected on the command line."""
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [n for n in names if n not in ("sequential", "fanout")]
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}; choose from sequential, fanout")
    brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    if set(brokers) - {"redis", "rabbitmq"}:
        raise SystemExit("--brokers: redis and/or rabbitmq")
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if set(stores) - {"redis", "cluster"}:
        raise SystemExit("--stores: redis and/or cluster")
    widths = [int(c) for c in args.fanout_concurrency.split(",") if c.strip()]
    made = []
    for store in stores:
        for broker in brokers:
            suffix = ("" if broker == "redis" else f"-{broker}") + ("" if store == "redis" else f"-{store}")
            for name in names:
                if name == "sequential":
                    made.append(Scenario("sequential", "solo", 1, args.steps, min(20, args.steps), "ms/step",
                                         "step", False, SEQ_GOAL, broker, f"sequential{suffix}", store))
                    continue
                for width in widths:
                    key = f"fanout{suffix}" + ("" if width == 2 else f"-x{width}")
                    made.append(Scenario("fanout", "prefork", width, args.fanout, min(200, args.fanout), "tasks/s",
                                         "task", True, FANOUT_GOAL, broker, key, store))
    return made


# --------------------------------------------------------------------------- report


def describe(scenario: Scenario) -> str:
    """Row label of a scenario."""
    broker = ("" if scenario.broker == "redis" else f", {scenario.broker}") + (
        "" if scenario.store == "redis" else ", ours on a cluster")
    if scenario.name == "fanout":
        return f"fan-out {scenario.n:,} (prefork x{scenario.concurrency}{broker})"
    return f"sequential {scenario.n} steps (solo{broker})"


def report(scenarios: list[Scenario], runs: int) -> str:
    """The results table: wall-time figures against the goals, then the CPU figures."""
    lines = [f"median of {runs} runs per side", "",
             f"{'scenario':<58} {'unit':<8} {'ours':>9} {'raw':>9} {'ratio':>7} {'goal':>8}  met"
             f" | {'CPU':<12} {'ours':>6} {'raw':>6} {'ratio':>6} | {'Redis cmds':>10} {'ours':>5} {'raw':>5}"
             f" {'scripts':>7}",
             "-" * 166]
    for s in scenarios:
        goal = f"{'>=' if s.higher_is_better else '<='} {s.goal:.1f}x"
        lines.append(f"{describe(s):<58} {s.unit:<8} {s.median('ours'):>9.2f} {s.median('raw'):>9.2f} "
                     f"{s.ratio():>6.2f}x {goal:>8}  {'yes' if s.met() else 'NO ':<3} | {'us/' + s.per:<12} "
                     f"{s.cpu_us('ours'):>6.0f} {s.cpu_us('raw'):>6.0f} {s.cpu_ratio():>5.2f}x | {'per ' + s.per:>10} "
                     f"{s.per_unit(s.commands, 'ours'):>5.1f} {s.per_unit(s.commands, 'raw'):>5.1f} "
                     f"{s.per_unit(s.scripts, 'ours'):>7.2f}")
    lines += ["",
              "ratio = ours/raw; ms/step: wall time from submit/send until done, over the steps (lower is better);",
              "tasks/s: no-op sink invocations per second, submit/send until the last one (higher is better).",
              "CPU: worker processes + redis-server per step/task; its ratio is read like the goal (ours/raw per",
              "step; raw/ours, i.e. relative capacity, for the fan-out) and is steadier than wall time on a busy box.",
              "Redis cmds: INFO commandstats delta per step/task (commands inside Lua scripts and pipelines counted",
              "one by one; on RabbitMQ only state and done markers); scripts: ours' EVALSHA/EVAL calls per step/task."]
    return "\n".join(lines)


def environment(redis_version: str) -> dict[str, Any]:
    """What the figures were measured on."""
    import celery
    import kombu

    return {"python": platform.python_version(), "celery": celery.__version__, "kombu": kombu.__version__,
            "redis_server": redis_version, "cpus": os.cpu_count(), "machine": platform.machine()}


def write_json(path: str, scenarios: list[Scenario], env: dict[str, Any]) -> None:
    """Every timing, the medians and the ratios."""
    data = {"environment": env, "scenarios": {
        s.key: {"n": s.n, "broker": s.broker, "store": s.store, "redis_commands_per_unit": {
                    side: s.per_unit(s.commands, side) for side in ("ours", "raw")},
                 "script_calls_per_unit": s.per_unit(s.scripts, "ours"), "pool": s.pool, "concurrency": s.concurrency, "unit": s.unit, "goal": s.goal,
                 "seconds": s.times, "cpu_seconds": s.cpu,
                 "median": {side: s.median(side) for side in ("ours", "raw")},
                 "cpu_us_per_unit": {side: s.cpu_us(side) for side in ("ours", "raw")},
                 "ratio": s.ratio(), "cpu_ratio": s.cpu_ratio(), "met": s.met()} for s in scenarios}}
    Path(path).write_text(json.dumps(data, indent=2))


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    """Run every selected scenario; print the table. Returns 0 (even if a goal is missed), 1 if a scenario failed."""
    args = parse_args(argv)
    for name in ("inline_steps", "dispatch_batch", "dispatch_spread"):
        if getattr(args, name) is not None:
            OURS_ENV[f"ROUTILUX_{name.upper()}"] = str(getattr(args, name))
    scenarios = make_scenarios(args)
    folder = Path(tempfile.mkdtemp(prefix="routilux-bench-"))
    server = Redises(folder, args.redis_server, cluster=any(s.store == "cluster" for s in scenarios))
    server.start()
    failed: list[Scenario] = []
    try:
        env = environment(server.server.version())
        launcher = ours_launcher(args.ours_worker)
        print(f"redis-server {env['redis_server']} on port {server.server.port} (temp dir {folder}"
              f"{'; a 3-master cluster for ours' if server.nodes else ''}); "
              f"python {env['python']}, celery {env['celery']}, {env['cpus']} CPUs; "
              f"ours via {'python -m worker' if launcher == 'daemon' else 'bench/dist_worker.py'}; "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
        for scenario in scenarios:
            print(f"{describe(scenario)}: starting workers, {args.warmup} warm-up run(s) per side", flush=True)
            try:
                run_scenario(scenario, server, folder, args.runs, args.warmup, launcher, args.amqp_url)
            except Exception as exc:  # noqa: BLE001 - one failed scenario must not discard the others
                print(f"{describe(scenario)} FAILED: {type(exc).__name__}: {exc}", flush=True)
                failed.append(scenario)
        scenarios = [s for s in scenarios if s not in failed]
        print(f"\nload average at the end {os.getloadavg()[0]:.2f} (other processes on the machine add noise)\n")
        print(report(scenarios, args.runs))
        if args.json_path:
            write_json(args.json_path, scenarios, env)
    finally:
        server.stop()
        if args.keep_logs:
            print(f"worker logs kept in {folder}")
        else:
            shutil.rmtree(folder)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
