"""A Docker engine, stand-in base images, the project image and its compose stack, for the deploy tests.

``scripts/docker-harness`` does the work: it installs and starts the engine when it is
missing (root on Debian), builds local stand-ins for ``python:3.11-slim`` and
``redis:7`` when those tags are absent (no registry is reachable here), and builds the
project image from ``deploy/Dockerfile`` unchanged. The engine is stopped at the end
if this session started it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ["bash", str(ROOT / "scripts" / "docker-harness")]
SERVICES_BUILT = ("worker-a", "worker-b", "console", "producer")


def harness(*args: str, timeout: float = 900) -> str:
    """Run one harness step; its stdout."""
    done = subprocess.run([*HARNESS, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"docker-harness {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    """A Docker engine that answers; stopped afterwards if this session started it."""
    try:
        answer = harness("engine")
    except (RuntimeError, OSError) as exc:
        if os.environ.get("CI") or os.environ.get("ROUTILUX_TEST_DOCKER") == "1":
            pytest.fail(f"the deploy tests need a Docker engine: {exc}", pytrace=False)
        pytest.skip(f"no Docker engine and none can be installed here (root on Debian can): {exc}")
    started = answer.split()[1] if answer.startswith("started") else None
    yield
    if started:
        harness("stop", started)


@pytest.fixture(scope="session")
def project_image(docker_engine: None) -> Iterator[str]:
    """The project image from deploy/Dockerfile, on top of the base images (stand-ins when needed)."""
    harness("standins")
    tag = f"routilux-deploy-test:{uuid.uuid4().hex[:8]}"
    harness("image", tag)
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


class Compose:
    """The project's docker-compose.yml under a project name of our own."""

    def __init__(self, image: str, overlays: tuple[str, ...] = ()) -> None:
        """``overlays``: the project's own overlay files to add, e.g. ``docker-compose.rabbitmq.yml``."""
        self.project = f"rlx{uuid.uuid4().hex[:8]}"
        self.image = image
        # The project's compose files, unchanged, with tests/docker/compose.test.yml on top (shorter lease).
        files = ["docker-compose.yml", *overlays]
        self.base = ["docker-compose", "--no-ansi", "-p", self.project,
                     *(arg for name in files for arg in ("-f", str(ROOT / name))),
                     "-f", str(Path(__file__).parent / "compose.test.yml")]
        # docker-compose names a service's built image <project>_<service>; tagging the
        # harness-built image so means compose never builds (builds need the host network here).
        for service in SERVICES_BUILT:
            subprocess.run(["docker", "tag", image, f"{self.project}_{service}"], check=True)

    def run(self, *args: str, timeout: float = 300, check: bool = True, stdin: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """``docker-compose -p PROJECT -f docker-compose.yml ARGS``."""
        done = subprocess.run([*self.base, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, input=stdin)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start ``docker-compose ARGS`` in the background (its output piped)."""
        return subprocess.Popen([*self.base, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def container(self, service: str) -> str:
        """The container id of a running service."""
        return self.run("ps", "-q", service).stdout.strip()

    def health(self, service: str) -> str:
        """The Docker health status of a service's container (healthy, starting, unhealthy)."""
        out = subprocess.run(["docker", "inspect", "--format", "{{.State.Health.Status}}", self.container(service)],
                             capture_output=True, text=True)
        return out.stdout.strip()

    def restarts(self, service: str) -> int:
        """How often Docker's restart policy has restarted a service's container (a crash each time)."""
        out = subprocess.run(["docker", "inspect", "--format", "{{.RestartCount}}", self.container(service)],
                             capture_output=True, text=True, check=True)
        return int(out.stdout.strip())

    def wait_healthy(self, *services: str, timeout: float = 120) -> None:
        """Block until every service's health check passes."""
        deadline = time.monotonic() + timeout
        while not all(self.health(s) == "healthy" for s in services):
            if time.monotonic() > deadline:
                states = {s: self.health(s) for s in services}
                raise AssertionError(f"not healthy within {timeout} s: {states}\n{self.run('logs', '--tail', '40').stdout}")
            time.sleep(1)

    def job_reports(self, job_ids: list[str]) -> list[dict[str, Any]]:
        """Status, summary and history counts of each job, read from inside the compose network."""
        script = (Path(__file__).parent / "job_report.py").read_text()
        done = self.run("run", "--rm", "-T", "producer", "python", "-", *job_ids, stdin=script)
        return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]

    def down(self) -> None:
        """Remove the containers, network and volume, and our image tags."""
        self.run("down", "-v", "--remove-orphans", "--timeout", "5", check=False)
        subprocess.run(["docker", "rmi", *(f"{self.project}_{s}" for s in SERVICES_BUILT)], capture_output=True)


@pytest.fixture(scope="module")
def stack(project_image: str) -> Iterator[Compose]:
    """Redis and the two workers of docker-compose.yml, up and healthy."""
    compose = Compose(project_image)
    try:
        compose.run("up", "-d", "--no-build", "redis", "worker-a", "worker-b")
        compose.wait_healthy("redis", "worker-a", "worker-b")
        yield compose
    finally:
        compose.down()


@pytest.fixture(scope="module")
def rabbitmq_stack(project_image: str) -> Iterator[Compose]:
    """docker-compose.yml with docker-compose.rabbitmq.yml: Redis, RabbitMQ and the two workers, up and healthy."""
    compose = Compose(project_image, overlays=("docker-compose.rabbitmq.yml",))
    try:
        compose.run("up", "-d", "--no-build", "redis", "rabbitmq", "worker-a", "worker-b", timeout=600)
        compose.wait_healthy("redis", "rabbitmq", "worker-a", "worker-b", timeout=240)
        yield compose
    finally:
        compose.down()


JOB_LINE = re.compile(r"^\s*(?:producer\S*\s*\|\s*)?([0-9a-f]{8}-[0-9a-f-]{27})\s+(\w+)\s", re.M)


def producer_job_ids(output: str) -> list[str]:
    """The job ids the producer printed, in submission order (batch 0 first)."""
    return [m.group(1) for m in JOB_LINE.finditer(output)]


def assert_every_job_exact(stack: Compose, job_ids: list[str]) -> None:
    """Each job ended completed with the local engine's summary and history counts."""
    reports = stack.job_reports(job_ids)
    assert [r["job_id"] for r in reports] == job_ids
    for batch, report in enumerate(reports):
        expected = expected_report(batch)
        assert report["status"] == "completed", report
        assert report["summary"] == expected["summary"], f"batch {batch}"
        assert report["history"] == expected["history"], f"batch {batch}"


def run_producer(stack: Compose, jobs: int) -> subprocess.Popen[str]:
    """Start the compose file's producer service with ``--jobs N`` in the background (its workers healthy first)."""
    stack.wait_healthy("worker-a", "worker-b")  # the producer service depends on both being healthy
    return stack.popen("run", "--rm", "-T", "producer", "python", "-m", "examples.producer", "--jobs", str(jobs),
                       "--timeout", "240")


def run_with_worker_a_killed(stack: Compose, jobs: int) -> str:
    """Run the producer for ``jobs`` jobs, ``docker kill`` worker-a just after the flow is published; its output."""
    producer = run_producer(stack, jobs)
    head = wait_for_line(producer, "published flow")
    time.sleep(0.5)
    subprocess.run(["docker", "kill", stack.container("worker-a")], check=True, capture_output=True)
    return "".join(head) + finish(producer)


def finish(proc: subprocess.Popen[str], timeout: float = 300) -> str:
    """Wait for a background producer; its output, asserting it exited 0."""
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    return out


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 120) -> list[str]:
    """Read the producer's output until a line contains ``needle``; the lines read."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"no line with {needle!r}: {''.join(lines)[-2000:]}")


def expected_report(batch: int) -> dict[str, Any]:
    """The same batch the producer submits, run on the local engine: the exact answer."""
    sys.path.insert(0, str(ROOT))
    from examples.orders import ENTRY, make_flow
    from examples.producer import orders_for

    state = make_flow().execute(ENTRY, entry_params={"orders": orders_for(batch)})
    counts = Counter(f"{r.routine_id}.{r.event_name}" for r in state.execution_history)
    return {"status": state.status, "summary": state.get_shared_data("summary"), "history": dict(counts)}
