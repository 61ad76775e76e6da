"""Job priorities: higher-priority jobs overtake a backlog on both brokers, and keep their band through crashes."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

import priority_flows
from conftest import both_brokers
from waiting import wait_until, workers_up
from routilux.distributed.protocol.envelope import open_body
from routilux.distributed.protocol.priority import BANDS, HIGH, LOW, NORMAL, REDIS_PRIORITY, band_queue
from routilux.errors import BulkSubmitError, InvalidPriorityError

pytestmark = pytest.mark.distributed


def _backlog(runtime: Any, count: int, nap_s: float, priority: int | None = 0) -> list[str]:
    return runtime.submit_many([{"flow": priority_flows.nap_flow(), "entry": "nap", "params": {"s": nap_s},
                                 "priority": priority}] * count)


def _finished_ms(runtime: Any, job_id: str) -> int:
    return int(runtime.store.meta(job_id)["finished_at"])


def _overtaken(runtime: Any, backlog: list[str], urgent: str) -> float:
    """The share of the backlog that finished after ``urgent`` (every job waited for)."""
    for job_id in [urgent, *backlog]:
        assert runtime.wait(job_id, timeout=120).status == "completed"
    done_at = _finished_ms(runtime, urgent)
    return sum(_finished_ms(runtime, j) > done_at for j in backlog) / len(backlog)


@both_brokers
@pytest.mark.timeout(180)
def test_a_high_priority_job_submitted_behind_a_busy_backlog_overtakes_it(runtime, start_workers):
    backlog = _backlog(runtime, 300, 0.01)
    start_workers(concurrency=2)
    wait_until(lambda: runtime.job_status(backlog[10]) == "completed", timeout=60)
    urgent = runtime.submit(priority_flows.nap_flow(), "nap", {"s": 0.0}, priority=9)
    assert _overtaken(runtime, backlog, urgent) >= 0.9
    assert runtime.job_summary(urgent)["priority"] == 9 and runtime.job_summary(backlog[0])["priority"] == 0


@both_brokers
@pytest.mark.timeout(180)
def test_without_priorities_a_job_submitted_behind_a_backlog_waits_its_turn(runtime, start_workers):
    backlog = runtime.submit_many([{"flow": priority_flows.nap_flow(), "entry": "nap", "params": {"s": 0.01}}] * 150)
    start_workers(concurrency=2)
    wait_until(lambda: runtime.job_status(backlog[10]) == "completed", timeout=60)
    last = runtime.submit(priority_flows.nap_flow(), "nap", {"s": 0.0})
    assert _overtaken(runtime, backlog, last) < 0.5
    assert runtime.job_summary(last)["priority"] == 5


def test_a_priority_that_is_not_a_whole_number_from_0_to_9_is_refused_before_anything_is_written(runtime):
    for bad in (10, -1, "9", 2.5, True):
        with pytest.raises(InvalidPriorityError, match="0 to 9"):
            runtime.submit(priority_flows.nap_flow(), "nap", priority=bad)
    with pytest.raises(BulkSubmitError) as refused:
        runtime.submit_many([{"flow": priority_flows.nap_flow(), "entry": "nap"},
                             {"flow": priority_flows.nap_flow(), "entry": "nap", "priority": 11}])
    assert refused.value.index == 1 and isinstance(refused.value.__cause__, InvalidPriorityError)
    assert runtime.job_page(limit=10)["jobs"] == []


@pytest.mark.timeout(120)
def test_every_activation_of_a_job_carries_its_priority_and_the_default_carries_none(runtime, start_workers):
    urgent = runtime.submit(priority_flows.nap_flow(), "nap", {"s": 0.0}, priority=8)
    plain = runtime.submit(priority_flows.nap_flow(), "nap", {"s": 0.0})
    start_workers()
    for job_id in (urgent, plain):
        assert runtime.wait(job_id, timeout=60).status == "completed"
    assert [_stored_priorities(runtime, job_id) for job_id in (urgent, plain)] == [[8, 8], [None, None]]


def _stored_priorities(runtime: Any, job_id: str) -> list[Any]:
    """The ``pr`` of every activation the job's history created (its submit and each commit's children)."""
    out = []
    for _, fields in runtime.store.redis.xrange(runtime.store.keys.job(job_id, "log")):
        kids = fields.get(b"kids")
        if kids:
            pairs = msgpack.unpackb(kids, raw=True)
            out += [open_body(body).get("pr") for body in pairs[1::2]]
    return out


# A re-send that lost its band would go to the default band, behind the whole backlog (none overtaken): these
# backlogs are in the default band, so that a lost band shows. The backlog runs while the killed worker's lease
# runs out (a few seconds of it), so the bound is below the 90% of a live overtaking.
@both_brokers
@pytest.mark.timeout(240)
def test_a_job_whose_worker_was_killed_keeps_its_band_when_its_activation_is_sent_again(settings, runtime,
                                                                                         spawn_worker):
    doomed = spawn_worker(imports=("priority_flows",), pool="solo", concurrency=1)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    urgent = runtime.submit(priority_flows.nap_flow(), "nap", {"s": 2.0}, priority=9)
    wait_until(lambda: runtime.job_summary(urgent)["started_at"], timeout=30)
    doomed.kill()
    backlog = _backlog(runtime, 150, 0.1, priority=None)
    spawn_worker(imports=("priority_flows",), pool="solo", concurrency=1)
    assert _overtaken(runtime, backlog, urgent) >= 0.6


@pytest.mark.timeout(240)
def test_priorities_survive_a_redis_restart(own_redis, spawn_worker):
    server, settings, runtime = own_redis
    backlog = _backlog(runtime, 150, 0.02, priority=None)
    urgent = runtime.submit(priority_flows.nap_flow(), "nap", {"s": 0.0}, priority=9)
    server.restart()
    assert runtime.job_summary(urgent)["priority"] == 9
    spawn_worker(imports=("priority_flows",), settings_=settings, pool="solo", concurrency=1)
    assert _overtaken(runtime, backlog, urgent) >= 0.9


def _waiting_by_band(settings: Any, runtime: Any) -> dict[str, int]:
    """Messages waiting in each band's queue (RabbitMQ) or list (Redis)."""
    if settings.broker_is_amqp:
        from kombu import Connection

        counts = {}
        with Connection(settings.broker_url) as conn:
            for which in BANDS:
                counts[which] = conn.channel().queue_declare(band_queue(settings.queue, which),
                                                             passive=True).message_count
        return counts
    name = runtime.store.keys.broker_prefix + settings.queue
    suffixes = {which: "" if which == NORMAL else f"\x06\x16{REDIS_PRIORITY[which]}" for which in BANDS}
    return {which: runtime.store.redis.llen(name + suffix) for which, suffix in suffixes.items()}


@both_brokers
def test_a_job_without_a_priority_is_queued_as_before_and_others_in_their_bands_queue(settings, runtime):
    runtime.submit(priority_flows.nap_flow(), "nap")
    runtime.submit(priority_flows.nap_flow(), "nap", priority=5)
    runtime.submit(priority_flows.nap_flow(), "nap", priority=7)
    runtime.submit_many([{"flow": "nap", "entry": "nap", "priority": 2}, {"flow": "nap", "entry": "nap", "priority": 9}])
    assert _waiting_by_band(settings, runtime) == {HIGH: 2, NORMAL: 2, LOW: 1}
