"""The deploy path for real: deploy/Dockerfile and docker-compose.yml, run by a Docker engine.

Every job the producer submits is compared with the same batch run on the local
engine: status, summary and the count of every history record, so a lost or doubled
step fails the test. The compose file and Dockerfile are used unchanged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from dockerstack import (ROOT, assert_every_job_exact, finish, producer_job_ids, run_producer,
                         run_with_worker_a_killed, wait_for_line)
from dockerstack import docker_engine, project_image, stack  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(600)]


def test_the_compose_health_checks_pass_for_redis_and_both_workers(stack):
    assert {s: stack.health(s) for s in ("redis", "worker-a", "worker-b")} == dict.fromkeys(
        ("redis", "worker-a", "worker-b"), "healthy")


def test_the_producer_finishes_its_twenty_jobs_on_the_two_worker_containers(stack):
    out = finish(run_producer(stack, 20))
    assert "20/20 jobs completed" in out
    job_ids = producer_job_ids(out)
    assert len(job_ids) == 20
    assert_every_job_exact(stack, job_ids)


def test_killing_a_worker_container_mid_run_loses_and_doubles_no_job(stack):
    out = run_with_worker_a_killed(stack, 60)
    assert "60/60 jobs completed" in out
    assert_every_job_exact(stack, producer_job_ids(out))
    stack.run("up", "-d", "--no-build", "worker-a")
    stack.wait_healthy("worker-a")


def test_restarting_redis_mid_run_loses_and_doubles_no_job_and_crashes_no_worker(stack):
    workers = ("worker-a", "worker-b")
    restarts = {w: stack.restarts(w) for w in workers}
    producer = run_producer(stack, 60)
    head = wait_for_line(producer, "submitted")
    stack.run("restart", "redis")
    out = "".join(head) + finish(producer)
    assert "60/60 jobs completed" in out
    assert_every_job_exact(stack, producer_job_ids(out))
    assert {w: stack.restarts(w) for w in workers} == restarts, stack.run("logs", "--tail", "80", *workers).stdout
    stack.wait_healthy("redis", *workers)


CONSOLE_PROBE = """
import json, sys, urllib.request
def get(path, token=None):
    request = urllib.request.Request("http://127.0.0.1:8080" + path)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.status, json.loads(answer.read() or b"null")
for _ in range(60):
    try:
        ready = get("/health/ready")
        break
    except OSError:
        __import__("time").sleep(0.5)
print(json.dumps({"ready": ready[0], "jobs": get("/api/jobs?limit=5", "viewer-dev")[1]}))
"""


def test_the_compose_console_serves_its_api_with_the_compose_tokens(stack):
    out = finish(run_producer(stack, 3))
    job_ids = set(producer_job_ids(out))
    name = f"{stack.project}-console-probe"
    stack.run("run", "-d", "--name", name, "console")  # `run` publishes no host port
    try:
        probe = subprocess.run(["docker", "exec", "-i", name, "python", "-"], input=CONSOLE_PROBE,
                               capture_output=True, text=True, timeout=90)
        assert probe.returncode == 0, probe.stderr[-3000:]
        answer = json.loads(probe.stdout.strip().splitlines()[-1])
        assert answer["ready"] == 200
        assert job_ids <= {job["job_id"] for job in answer["jobs"]["jobs"]}
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def container_ids_of_testcontainers() -> set[str]:
    """Ids of the containers testcontainers started that still exist."""
    done = subprocess.run(["docker", "ps", "-aq", "--filter", "label=org.testcontainers"], capture_output=True, text=True)
    return set(done.stdout.split())


def test_the_distributed_suite_runs_against_a_testcontainers_redis(project_image):
    """The basics and a whole-host crash, with the Redis fixture served by testcontainers (redis:7).

    The rest of the crash tests run in the main suite; here they would only repeat it against the container."""
    before = container_ids_of_testcontainers()
    env = {**os.environ, "ROUTILUX_TEST_REDIS": "container", "TESTCONTAINERS_RYUK_DISABLED": "true"}
    env.pop("REDIS_URL", None)
    tests = ["tests/distributed/test_distributed_basics.py",
             "tests/distributed/test_crash_recovery.py::test_killing_a_whole_worker_host_mid_job_loses_nothing_and_doubles_nothing"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=500)
    assert done.returncode == 0, done.stdout[-4000:]
    assert re.search(r"\b\d+ passed\b", done.stdout)
    assert container_ids_of_testcontainers() - before == set()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None or os.geteuid() != 0,
                    reason="needs systemd-analyze and root (for a private mount namespace)")
def test_the_systemd_unit_passes_systemd_analyze_verify():
    """Verified as installed: the layout its header describes is laid on a tmpfs over /opt in a
    private mount namespace (the host's /opt is untouched), with a Python standing in for the venv's."""
    unit = ROOT / "deploy" / "routilux-worker.service"
    script = ("mount -t tmpfs none /opt && mkdir -p /opt/routilux/venv/bin /opt/routilux/app"
              f" && ln -s {shutil.which('python3')} /opt/routilux/venv/bin/python"
              f" && systemd-analyze verify {unit}")
    done = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if unit.name in line] == []
