"""Sibling activations batched into shared messages: every item still runs exactly once. Real Redis and workers."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import basic_flows
import security_routines
from conftest import both_brokers
from waiting import wait_until, workers_up
from routilux.activation import Activation, root_id
from routilux.distributed import DistributedRuntime, Settings
from routilux.distributed.protocol.envelope import seal, to_envelope
from routilux.distributed.protocol.signing import Keyring

pytestmark = pytest.mark.distributed

ONE = "routilux.activate"
BATCH = "routilux.activate_batch"
KEYS = "k1:0123456789abcdef0123456789abcdef"


@contextmanager
def delivered() -> Iterator[list[tuple[str, int]]]:
    """(task name, activations it carried) of every message an in-process worker starts meanwhile."""
    from celery.signals import task_prerun

    seen: list[tuple[str, int]] = []

    def note(sender=None, args=None, **_kwargs) -> None:
        if sender.name in (ONE, BATCH):
            carried = len(args[0]) if sender.name == BATCH and isinstance(args[0], (list, tuple)) else 1
            seen.append((sender.name, carried))

    task_prerun.connect(note, weak=False)
    try:
        yield seen
    finally:
        task_prerun.disconnect(note)


def assert_each_item_once(state, n: int) -> None:
    """The job completed, and every item's effect was committed exactly once."""
    assert state.status == "completed", state.error
    assert sorted(e["i"] for e in state.shared_log) == list(range(n))
    history = Counter((r.routine_id, r.event_name) for r in state.execution_history)
    assert history[("source", "start")] == 1 and history[("source", "out")] == n


@both_brokers
def test_a_fan_out_runs_each_item_exactly_once_in_fewer_messages_than_activations(runtime, start_workers):
    start_workers(concurrency=4)
    with delivered() as seen:
        state = runtime.wait(runtime.submit(basic_flows.fan_out_flow(), "source", {"n": 200}), timeout=60)
    assert_each_item_once(state, 200)
    carried = sum(n for _, n in seen)
    assert carried >= 200  # the root, and the source's 200 children but the one its worker ran inline
    assert any(name == BATCH for name, _ in seen)
    assert len(seen) < carried


def test_with_dispatch_batch_1_every_activation_is_a_message_of_its_own(settings, start_workers):
    single = settings.with_(dispatch_batch=1)
    start_workers(settings_=single)
    with DistributedRuntime(settings=single) as runtime, delivered() as seen:
        state = runtime.wait(runtime.submit(basic_flows.fan_out_flow(), "source", {"n": 40}), timeout=60)
    assert_each_item_once(state, 40)
    assert {name for name, _ in seen} == {ONE}
    assert len(seen) >= 40  # the root, and 39 children (one ran inline)


def _waiting_jobs(settings: Settings, flow, count: int) -> tuple[DistributedRuntime, list[str], list[bytes]]:
    """A producer whose messages no worker reads, ``count`` jobs of ``flow`` it submitted, and their stored bodies."""
    producer = DistributedRuntime(settings=settings.with_(queue=f"nowhere-{uuid.uuid4().hex[:8]}"))
    jobs = [producer.submit(flow, "witness", {"n": 0}) for _ in range(count)]
    bodies = [producer.store.bodies(job, [root_id(job)])[0][1] for job in jobs]
    return producer, jobs, bodies


def test_a_batch_with_a_tampered_and_an_oversized_body_dead_letters_only_those_two(settings, start_workers, tmp_path):
    keyed = settings.with_(signing_keys=KEYS, max_message_bytes=64 * 1024)
    trace = tmp_path / "trace"
    flow = security_routines.witness_flow(trace)
    producer, jobs, bodies = _waiting_jobs(keyed, flow, 3)
    tampered = bodies[1][:-1] + bytes([bodies[1][-1] ^ 1])
    big = Activation("no-such-job", "big", "witness", "trigger", {"n": 0, "pad": "x" * 70_000})
    oversized = seal(to_envelope(big, producer.publish(flow)), Keyring.parse(KEYS))
    with producer, DistributedRuntime(settings=keyed) as runtime:
        runtime.app.send_task(BATCH, args=[[bodies[0], tampered, oversized, bodies[2]]], queue=keyed.queue)
        start_workers(settings_=keyed)
        for job_id in (jobs[0], jobs[2]):
            assert runtime.wait(job_id, timeout=30).status == "completed"
        letters = wait_until(lambda: runtime.dead_letters(100) if len(runtime.dead_letters(100)) >= 2 else None)
        assert runtime.get_job(jobs[1]).status == "running"  # its own message has not reached a worker
    assert len(letters) == 2
    assert sorted("signature" in letter["reason"] for letter in letters) == [False, True]
    assert sorted("over the limit" in letter["reason"] for letter in letters) == [False, True]
    assert sorted(line.split()[0] for line in security_routines.runs(trace)) == sorted([jobs[0], jobs[2]])


def test_a_batch_message_of_any_other_shape_is_dead_lettered_whole_and_runs_nothing(settings, start_workers,
                                                                                     tmp_path):
    trace = tmp_path / "trace"
    producer, jobs, bodies = _waiting_jobs(settings, security_routines.witness_flow(trace), 2)
    with producer, DistributedRuntime(settings=settings) as runtime:
        send = runtime.app.send_task
        send(BATCH, args=bodies, queue=settings.queue)  # two arguments instead of one list
        send(BATCH, args=[bodies], kwargs={"extra": 1}, queue=settings.queue)
        send(BATCH, args=[[]], queue=settings.queue)
        send(BATCH, args=["not a list"], queue=settings.queue)
        start_workers(settings_=settings)
        letters = wait_until(lambda: runtime.dead_letters(100) if len(runtime.dead_letters(100)) >= 4 else None)
        assert all(runtime.get_job(job).status == "running" for job in jobs)
        send(BATCH, args=[bodies], queue=settings.queue)  # the worker still serves a well-formed batch
        assert all(runtime.wait(job, timeout=30).status == "completed" for job in jobs)
        assert len(runtime.dead_letters(100)) == 4
    assert all(letter["job"] == "" and "batch" in letter["reason"] for letter in letters)
    assert len(security_routines.runs(trace)) == 2


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_fan_out_of_slow_handlers_sent_as_one_message_is_shared_by_two_workers(settings, spawn_worker):
    # One message for the whole fan-out: only handing back what it has not started lets a second worker help.
    one_message = settings.with_(dispatch_spread=1, inline_steps=0)
    with DistributedRuntime(settings=one_message) as runtime:
        for _ in range(2):
            spawn_worker(pool="solo", concurrency=1, settings_=one_message)
        wait_until(lambda: workers_up(runtime, 2), timeout=60)
        state = runtime.wait(runtime.submit(basic_flows.fan_out_flow(sleep_s=0.4), "source", {"n": 6}), timeout=60)
    assert_each_item_once(state, 6)
    assert len({e["pid"] for e in state.shared_log}) == 2


@both_brokers
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_killing_a_worker_mid_batch_loses_nothing_and_applies_nothing_twice(settings, spawn_worker):
    # The whole fan-out in one message; the queue backstop out of reach: recovery must come by itself.
    strict = settings.with_(dispatch_spread=1, inline_steps=0, redispatch_s=600.0)
    with DistributedRuntime(settings=strict) as runtime:
        doomed = spawn_worker(pool="solo", concurrency=1, settings_=strict)
        wait_until(lambda: workers_up(runtime, 1), timeout=60)
        job_id = runtime.submit(basic_flows.fan_out_flow(sleep_s=0.15), "source", {"n": 12})
        wait_until(lambda: len(runtime.get_job(job_id).shared_log) >= 2, timeout=60)
        doomed.kill()
        spawn_worker(pool="solo", concurrency=1, settings_=strict)
        state = runtime.wait(job_id, timeout=90)
    assert_each_item_once(state, 12)
    assert len(state.shared_log) == 12
