"""Real Redis and real Celery workers for the distributed tests.

Redis: ``REDIS_URL`` points at an existing server; otherwise a ``redis-server``
from PATH is started on a free port in a temp dir (so tests can stop and
restart it); otherwise, with a Docker engine, testcontainers runs one. If none
is possible the run fails and says how to get one: it never silently skips.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from routilux.distributed import DistributedRuntime, Settings, create_app
from routilux.distributed.worker.app import delete_amqp_queues

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


# Tests that start processes of their own (worker daemons, redis-servers, namespaces): run in parallel
# (``pytest -n 2 --dist loadgroup``), they all go to one test process, one after another, so no two of
# them load the machine at once; the other test processes take the rest.
OWN_PROCESSES = ("spawn_worker", "own_redis")
OWN_PROCESS_MODULES = ("test_host_faults", "test_network_faults", "test_sentinel", "test_key_buckets", "test_soak")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked ``slow`` states its own timeout (the default one is short); tests that start processes
    of their own share one group (see OWN_PROCESSES)."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            raise pytest.UsageError(f"{item.nodeid} is marked slow: give it @pytest.mark.timeout(SECONDS)")
        module = item.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        if (any(name in getattr(item, "fixturenames", ()) for name in OWN_PROCESSES) or module in OWN_PROCESS_MODULES
                or item.get_closest_marker("slow")) and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group("own-processes"))


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kill_all(procs: dict[int, subprocess.Popen[bytes]]) -> None:
    """SIGKILL every process of ``procs`` still running (a test's own Redis servers), then forget them."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    procs.clear()


def wait_for_ping(port: int, timeout_s: float) -> None:
    """Block until the Redis on 127.0.0.1:``port`` answers PING."""
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if client.ping():
                return
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class RedisServer:
    """A redis-server process this test session owns (started, stopped and restarted by pid)."""

    def __init__(self, folder: Path, appendonly: bool = True, bind: tuple[str, ...] = ()) -> None:
        """``bind``: addresses to listen on besides loopback (the root side of test-made veths only)."""
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.appendonly = appendonly
        self.bind = bind
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers."""
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", *self.bind, "--dir", str(self.folder),
                "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec"]
        if self.bind:  # reachable only from namespaces the test made; no password needed there
            args += ["--protected-mode", "no"]
        with open(self.folder / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_for_ping(self.port, timeout_s=10)

    def stop(self, kill: bool = False) -> None:
        """Stop the server (SIGKILL if ``kill``, else a clean shutdown that syncs the AOF)."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        """Stop cleanly and start again on the same port and data folder."""
        self.stop()
        self.start()


class ContainerRedis:
    """A Redis container (testcontainers) this test session owns, on a fixed host port so a restart keeps it."""

    def __init__(self, image: str) -> None:
        from testcontainers.community.redis import RedisContainer  # type: ignore[import-not-found]

        self.port = free_port()
        self.container = RedisContainer(image).with_bind_ports(6379, self.port)
        self.container.with_command("redis-server --appendonly yes --appendfsync everysec")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.container.start()

    def restart(self) -> None:
        """Restart the container (AOF on): the same data and port."""
        self.container.get_wrapped_container().restart(timeout=10)
        wait_for_ping(self.port, timeout_s=30)

    def stop(self) -> None:
        self.container.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[RedisServer, Settings, DistributedRuntime]]:
    """A redis-server (AOF) of this test's own, its settings and a runtime: for tests that restart or kill it."""
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    tag = uuid.uuid4().hex[:8]
    settings = Settings(redis_url=server.url, key_prefix=f"r{tag}", queue=f"r{tag}", lease_s=3.0, outbox_grace_s=1.0)
    runtime = DistributedRuntime(settings=settings)
    yield server, settings, runtime
    runtime.close()
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The Redis the distributed tests use.

    ``REDIS_URL`` names an existing one; ``ROUTILUX_TEST_REDIS=container`` asks for a
    testcontainers Redis (image ``ROUTILUX_TEST_REDIS_IMAGE``, default ``redis:7``);
    otherwise a ``redis-server`` from PATH, else a container if a Docker engine answers.
    """
    if os.environ.get("REDIS_URL"):
        yield type("External", (), {"url": os.environ["REDIS_URL"], "restart": None})()
        return
    want_container = os.environ.get("ROUTILUX_TEST_REDIS") == "container"
    if shutil.which("redis-server") and not want_container:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
        server.start()
        yield server
        server.stop()
        return
    try:
        container = ContainerRedis(os.environ.get("ROUTILUX_TEST_REDIS_IMAGE", "redis:7"))
        container.start()
    except Exception as exc:  # no Docker engine either
        pytest.fail(
            "The distributed tests need a real Redis: install redis-server (apt-get install redis-server), "
            f"set REDIS_URL=redis://host:port/0, or run a Docker engine for testcontainers ({exc})",
            pytrace=False,
        )
    yield container
    container.stop()


AMQP_URL = os.environ.get("ROUTILUX_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")

# Run a test on both brokers: Redis (broker and store in one) and RabbitMQ (Redis keeps the state).
both_brokers = pytest.mark.parametrize("broker", ["redis", "rabbitmq"], indirect=True)


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The RabbitMQ the RabbitMQ-broker tests use (``ROUTILUX_TEST_AMQP_URL``); fails clearly if none answers."""
    from kombu import Connection

    try:
        with Connection(AMQP_URL, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing here
        pytest.fail(f"The RabbitMQ-broker tests need RabbitMQ at {AMQP_URL} ({exc}): scripts/test installs and "
                    "starts it (apt-get install rabbitmq-server; rabbitmq-server -detached), or set "
                    "ROUTILUX_TEST_AMQP_URL", pytrace=False)
    return AMQP_URL


@pytest.fixture
def broker(request: pytest.FixtureRequest) -> str:
    """Which broker this test's workers use: ``redis`` unless parametrized with :data:`both_brokers`."""
    return getattr(request, "param", "redis")


@pytest.fixture
def settings(redis_server: Any, broker: str, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings isolated to one test: own key prefix and queue, short lease; the broker of ``broker``."""
    tag = uuid.uuid4().hex[:8]
    broker_url = request.getfixturevalue("rabbitmq_url") if broker == "rabbitmq" else ""
    made = Settings(redis_url=redis_server.url, broker_url=broker_url, key_prefix=f"t{tag}", queue=f"q{tag}",
                    lease_s=3.0, outbox_grace_s=1.0)
    yield made
    if broker_url:
        delete_amqp_queues(made, (made.queue, *made.queues))


@pytest.fixture
def runtime(settings: Settings) -> Iterator[DistributedRuntime]:
    """A producer-side runtime for this test's settings."""
    rt = DistributedRuntime(settings=settings)
    yield rt
    rt.close()


@pytest.fixture
def start_workers(settings: Settings) -> Iterator[Any]:
    """Start one in-process Celery worker: ``start_workers(pool="threads", concurrency=2, settings_=...)``.

    One per process only: Celery's event loop is a process-wide global, so two
    in-process workers corrupt each other's sockets. Tests that need several
    workers ("hosts") start them as subprocesses with ``spawn_worker``.
    """
    from celery.contrib.testing.worker import start_worker

    stack: list[Any] = []

    def start(pool: str = "threads", concurrency: int = 2, settings_: Settings | None = None) -> Any:
        assert not stack, "one in-process worker per test; use spawn_worker for more"
        app = create_app(settings_ or settings)
        # Tests do not need remote control; its pub/sub reader only slows teardown.
        app.conf.worker_enable_remote_control = False
        ctx = start_worker(app, pool=pool, concurrency=concurrency, perform_ping_check=False,
                           shutdown_timeout=30, hostname=f"w-{uuid.uuid4().hex[:6]}@test", loglevel="WARNING")
        stack.append(ctx)
        return ctx.__enter__()

    yield start
    for ctx in stack:
        try:
            ctx.__exit__(None, None, None)
        except RuntimeError:
            import faulthandler

            faulthandler.dump_traceback(all_threads=True)  # show what kept the worker from stopping
            raise


def settings_env(settings: Settings) -> dict[str, str]:
    """Every field of ``settings`` (access, signing and limits included) as the ``ROUTILUX_*`` variable a worker reads."""
    env = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        env[f"ROUTILUX_{f.name.upper()}"] = ",".join(value) if isinstance(value, tuple) else str(value)
    return env


class WorkerProcess:
    """A worker daemon in a subprocess (its own working dir), stopped by pid."""

    def __init__(self, settings: Settings, folder: Path, imports: tuple[str, ...], pool: str, concurrency: int,
                 name: str, prefix: list[str] | None = None) -> None:
        """``prefix``: a command prefix to run it with (``ip netns exec NS`` puts it on a test-made host)."""
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **settings_env(settings), "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
        cmd = [*(prefix or []), sys.executable, "-m", "worker", "--pool", pool, "--concurrency", str(concurrency), "--name", name,
               "--loglevel", "WARNING"]
        for module in imports:
            cmd += ["--import", module]
        self.folder = folder
        self.log = open(folder / "worker.log", "wb")
        self.proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.name = name

    def kill(self) -> None:
        """SIGKILL the whole worker: main process and pool children (its process group)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM (warm shutdown) and wait; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self.log.close()


@pytest.fixture
def spawn_worker(settings: Settings, tmp_path: Path) -> Iterator[Any]:
    """Start worker daemons as subprocesses, each in its own working directory (a "host")."""
    procs: list[WorkerProcess] = []

    def spawn(imports: tuple[str, ...] = ("basic_flows",), pool: str = "prefork", concurrency: int = 2,
              settings_: Settings | None = None) -> WorkerProcess:
        name = f"host{len(procs)}-{uuid.uuid4().hex[:6]}@test"
        proc = WorkerProcess(settings_ or settings, tmp_path / f"host{len(procs)}", imports, pool, concurrency, name)
        procs.append(proc)
        return proc

    yield spawn
    for proc in procs:
        proc.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Any]:
    """Make a :class:`cluster.Cluster` (``cluster(hosts=2, lease_s=2.0)``); all of it is removed afterwards."""
    from cluster import Cluster

    made: list[Cluster] = []

    def make(**kwargs: Any) -> Cluster:
        made.append(Cluster(tmp_path / f"cluster{len(made)}", **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.close()
