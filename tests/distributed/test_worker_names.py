"""Two workers on one host: each gets its own node name by default, and a name in use is refused."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import basic_flows
from conftest import both_brokers, settings_env
from waiting import wait_until

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


@pytest.fixture
def daemon(settings, tmp_path):
    """Start ``python -m worker ARGS`` subprocesses (stdout+stderr to a log file); all stopped by pid afterwards."""
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(*args: str) -> tuple[subprocess.Popen[bytes], Path]:
        env = {**os.environ, **settings_env(settings), "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
        env.pop("ROUTILUX_WORKER_NAME", None)
        log = tmp_path / f"worker{len(procs)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "worker", "--import", "basic_flows", "--pool", "threads",
                                     "--concurrency", "2", "--loglevel", "WARNING", *args], cwd=ROOT, env=env,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append((proc, log))
        return proc, log

    yield start
    for proc, _ in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@both_brokers
@pytest.mark.timeout(150)
def test_two_workers_started_on_one_host_without_a_name_get_their_own_names_and_both_run(runtime, daemon):
    (first, first_log), (second, second_log) = daemon(), daemon()
    host = socket.gethostname()
    names = {f"routilux-{first.pid}@{host}", f"routilux-{second.pid}@{host}"}
    wait_until(lambda: names <= set(runtime.workers()) or first.poll() is not None or second.poll() is not None,
               timeout=60)
    assert first.poll() is None, first_log.read_text()
    assert second.poll() is None, second_log.read_text()
    workers = runtime.workers()
    assert names <= set(workers)
    assert {workers[n]["pid"] for n in names} == {first.pid, second.pid}
    jobs = [runtime.submit(basic_flows.chain_flow("two-names"), "source", {"n": 2}) for _ in range(6)]
    assert all(runtime.wait(job_id, timeout=60).status == "completed" for job_id in jobs)
    assert first.poll() is None and second.poll() is None
    for log in (first_log, second_log):
        assert "RESOURCE_LOCKED" not in log.read_text()


@pytest.mark.timeout(120)
def test_a_second_worker_given_a_live_workers_name_is_refused_with_a_clear_message(runtime, daemon, settings):
    first, first_log = daemon("--name", "same@host-a")
    wait_until(lambda: "same@host-a" in runtime.workers() or first.poll() is not None, timeout=60)
    assert first.poll() is None, first_log.read_text()
    second, second_log = daemon("--name", "same@host-a")
    assert second.wait(timeout=60) == 2
    text = second_log.read_text()
    assert "another worker named same@host-a is alive" in text and f"pid {first.pid}" in text
    assert "--name" in text and "Traceback" not in text
    assert first.poll() is None


def test_the_health_probe_without_a_name_checks_the_workers_of_this_host(runtime, daemon, settings):
    from test_cli import clean_env, run_python

    env = clean_env(**{k: v for k, v in settings_env(settings).items() if k != "ROUTILUX_WORKER_NAME"})
    missing = run_python("-m", "worker", "--check", env=env)
    assert missing.returncode == 1 and "is not alive" in missing.stderr
    proc, log = daemon()
    name = f"routilux-{proc.pid}@{socket.gethostname()}"
    wait_until(lambda: name in runtime.workers() or proc.poll() is not None, timeout=60)
    assert proc.poll() is None, log.read_text()
    probe = run_python("-m", "worker", "--check", env=env)
    assert probe.returncode == 0, probe.stderr
    assert re.search(rf"worker {re.escape(name)} is alive \(pid {proc.pid} ", probe.stdout)
