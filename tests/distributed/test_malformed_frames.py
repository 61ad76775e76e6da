"""Frames a worker cannot turn into work are dead-lettered and acknowledged: none holds a slot or stalls it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

import basic_flows
from conftest import WorkerProcess, both_brokers, settings_env
from waiting import wait_until, workers_up
from raw_frames import amqp_messages, issue_frame, publish_amqp, push_redis, redis_frames
from routilux.distributed import DistributedRuntime, Settings

pytestmark = pytest.mark.distributed

# Frames that are not kombu messages at all: no properties, no delivery tag, no delivery info.
NOT_MESSAGES = [
    b'{"foo": 1}',
    b'{"properties": {}}',
    b'{"body": "", "properties": {"delivery_info": {"exchange": "", "routing_key": "x"}}}',
    b'{"body": "", "properties": {"delivery_tag": "t-x"}}',
    b'{"body": "", "properties": {"delivery_tag": ["t"], "delivery_info": {"exchange": "", "routing_key": "x"}}}',
    b'{"body": 7, "properties": {"body_encoding": "base64", "delivery_tag": "t-y", '
    b'"delivery_info": {"exchange": "", "routing_key": "x"}}}',
    b'[1, 2, 3]',
    b'"just a string"',
]


def job_completes(runtime: DistributedRuntime, timeout: float = 10.0) -> bool:
    """True if a normal job submitted now completes within ``timeout`` seconds."""
    try:
        return runtime.wait(runtime.submit(basic_flows.chain_flow(), "source", {"n": 1}), timeout=timeout).status == "completed"
    except TimeoutError:
        return False


def reconnected(worker: WorkerProcess) -> bool:
    """True if the worker's log says its consumer lost the broker connection and rebuilt it."""
    log = (worker.folder / "worker.log").read_text()
    return "Connection to broker lost" in log or "Trying to re-establish" in log


def unacked(settings: Settings) -> int:
    """How many messages the Redis broker holds as delivered and not yet acknowledged."""
    return redis.Redis.from_url(settings.redis_url).hlen(f"{settings.key_prefix}:broker:unacked")


def queued(settings: Settings) -> int:
    """How many messages wait on the Redis broker queue."""
    return redis.Redis.from_url(settings.redis_url).llen(f"{settings.key_prefix}:broker:{settings.queue}")


@both_brokers
def test_frames_whose_celery_headers_cannot_be_parsed_are_dead_lettered_and_acked(settings, runtime, spawn_worker):
    worker = spawn_worker(pool="threads", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=30)
    frames = [issue_frame(settings.queue, "d1"), issue_frame(settings.queue, "d2")]
    if settings.broker_is_amqp:
        publish_amqp(settings, [(frame["body"], frame["headers"]) for frame in frames])
    else:
        push_redis(settings, [json.dumps(frame).encode() for frame in frames])
    letters = wait_until(lambda: len(runtime.dead_letters()) >= 2 and runtime.dead_letters(), timeout=15)
    assert all("timelimit" in letter["reason"] for letter in letters)
    assert all(letter["body"] for letter in letters)  # the raw bytes are kept
    assert job_completes(runtime), "the two frames hold the worker's prefetch slots"
    if not settings.broker_is_amqp:
        wait_until(lambda: unacked(settings) == 0, timeout=5)  # the last activation is acked just after its commit
    assert not reconnected(worker)
    assert worker.terminate() == 0
    if not settings.broker_is_amqp:
        assert queued(settings) == 0, "the frames were put back on the queue at shutdown"
    spawn_worker(pool="threads", concurrency=2)
    assert job_completes(runtime, timeout=30)
    assert len(runtime.dead_letters()) == 2


def test_frames_that_are_not_kombu_messages_are_dead_lettered_without_a_reconnect(settings, runtime, spawn_worker):
    worker = spawn_worker(pool="threads", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=30)
    push_redis(settings, NOT_MESSAGES * 5)
    assert job_completes(runtime)
    letters = wait_until(lambda: len(runtime.dead_letters(1000)) >= len(NOT_MESSAGES) * 5 and runtime.dead_letters(1000),
                         timeout=15)
    assert len(letters) == len(NOT_MESSAGES) * 5
    assert {bytes(letter["body"]) for letter in letters} == {json.dumps(json.loads(f)).encode() for f in NOT_MESSAGES}
    assert all("malformed broker frame" in letter["reason"] for letter in letters)
    wait_until(lambda: unacked(settings) == 0 and queued(settings) == 0, timeout=5)
    assert not reconnected(worker)


FUZZ = hypothesis.settings(max_examples=30, deadline=None, derandomize=True, database=None, print_blob=True,
                           suppress_health_check=list(hypothesis.HealthCheck))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_after_any_sequence_of_malformed_redis_frames_a_job_completes_before_and_after_a_restart(
        settings, runtime, spawn_worker, pool):
    worker = spawn_worker(pool=pool, concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=30)
    pushed = []

    @FUZZ
    @given(st.data())
    def push_then_run(data: st.DataObject) -> None:
        count = data.draw(st.integers(1, 4))
        frames = [data.draw(redis_frames(settings.queue, f"fz-{len(pushed) + k}")) for k in range(count)]
        pushed.extend(frames)
        push_redis(settings, frames)
        assert job_completes(runtime), "a job did not complete within 10 s after these frames"

    push_then_run()
    wait_until(lambda: len(runtime.dead_letters(10_000)) == len(pushed), timeout=15)
    wait_until(lambda: unacked(settings) == 0 and queued(settings) == 0, timeout=5)
    assert worker.terminate() == 0
    assert queued(settings) == 0
    spawn_worker(pool=pool, concurrency=2)
    assert job_completes(runtime, timeout=30)
    assert len(runtime.dead_letters(10_000)) == len(pushed)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)
def test_after_any_sequence_of_malformed_rabbitmq_messages_a_job_completes_before_and_after_a_restart(
        settings, runtime, spawn_worker):
    worker = spawn_worker(pool="threads", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=30)
    pushed = []

    @FUZZ
    @given(st.lists(amqp_messages(), min_size=1, max_size=4))
    def publish_then_run(messages: list[tuple[bytes, Any, dict[str, Any]]]) -> None:
        pushed.extend(messages)
        for body, headers, props in messages:
            publish_amqp(settings, [(body, headers)], **props)
        assert job_completes(runtime), "a job did not complete within 10 s after these messages"

    publish_then_run()
    wait_until(lambda: len(runtime.dead_letters(10_000)) == len(pushed), timeout=15)
    assert worker.terminate() == 0
    spawn_worker(pool="threads", concurrency=2)
    assert job_completes(runtime, timeout=30)
    assert len(runtime.dead_letters(10_000)) == len(pushed)


def probe(settings: Settings, name: str, stall_s: float) -> subprocess.CompletedProcess[str]:
    """Run the worker health probe (``python -m worker --check``) with a stall bound of ``stall_s``."""
    env = {**os.environ, **settings_env(settings), "ROUTILUX_STALL_S": str(stall_s)}
    return subprocess.run([sys.executable, "-m", "worker", "--check", "--name", name], env=env, capture_output=True,
                          text=True, timeout=30)


def children(pid: int) -> list[int]:
    """The pids of the processes whose parent is ``pid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_the_health_probe_fails_while_a_delivered_message_waits_and_the_worker_runs_nothing(settings, runtime,
                                                                                          spawn_worker):
    worker = spawn_worker(pool="prefork", concurrency=1)
    assert job_completes(runtime, timeout=30)
    assert probe(settings, worker.name, stall_s=2).returncode == 0
    (child,) = children(worker.proc.pid)
    os.kill(child, signal.SIGSTOP)  # the pool child hangs: a message delivered now is held, never run
    try:
        job_id = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
        failed = wait_until(lambda: (result := probe(settings, worker.name, stall_s=2)).returncode == 1 and result,
                            timeout=30)
        assert "has not run" in failed.stderr
        assert probe(settings, worker.name, stall_s=60).returncode == 0  # under the bound: still healthy
    finally:
        os.kill(child, signal.SIGCONT)
    assert runtime.wait(job_id, timeout=30).status == "completed"
    wait_until(lambda: probe(settings, worker.name, stall_s=2).returncode == 0, timeout=15)
