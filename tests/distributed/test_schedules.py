"""Schedules fired by real workers on a real Redis: one job per tick, overlap, catch-up, steering, crashes."""

from __future__ import annotations

import time
from collections import Counter

import pytest

import basic_flows
from waiting import wait_until, workers_up
from routilux.distributed import DistributedRuntime
from routilux.errors import ScheduleError, ScheduleNotFoundError

pytestmark = [pytest.mark.distributed]


def jobs_per_tick(runtime: DistributedRuntime, schedule_id: str) -> Counter:
    """How many stored jobs each tick of the schedule started, read from every job's idempotency key."""
    counts: Counter = Counter()
    for job_id in runtime.store.job_ids():
        key = runtime.store.meta(job_id).get("idempotency_key", "")
        kind, _, rest = key.partition("\x1f")
        sid, _, tick = rest.partition("\x1f")
        if kind == "schedule" and sid == schedule_id:
            counts[int(tick)] += 1
    return counts


def fired(runtime: DistributedRuntime, schedule_id: str) -> int:
    return runtime.get_schedule(schedule_id)["fired"]


def assert_one_job_per_consecutive_tick(runtime: DistributedRuntime, schedule_id: str, period_ms: int = 1000) -> list[int]:
    counts = jobs_per_tick(runtime, schedule_id)
    ticks = sorted(counts)
    assert set(counts.values()) == {1}, counts
    assert [b - a for a, b in zip(ticks, ticks[1:])] == [period_ms] * (len(ticks) - 1), ticks
    return ticks


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_an_every_second_schedule_starts_one_job_per_tick_with_two_worker_processes(runtime, spawn_worker):
    spawn_worker(pool="threads", concurrency=2)
    spawn_worker(pool="threads", concurrency=2)
    wait_until(lambda: workers_up(runtime, 2), timeout=60)
    runtime.schedule("every-second", basic_flows.chain_flow(), "source", {"n": 1}, every_s=1, overlap="allow",
                     catch_up="all")
    wait_until(lambda: fired(runtime, "every-second") >= 8, timeout=60)
    runtime.delete_schedule("every-second")
    ticks = assert_one_job_per_consecutive_tick(runtime, "every-second")
    assert len(ticks) >= 8
    for job_id in runtime.store.job_ids():
        assert runtime.wait(job_id, timeout=30).status == "completed"


@pytest.mark.timeout(120)
def test_overlap_skip_skips_ticks_while_the_previous_job_runs(runtime, start_workers):
    start_workers(concurrency=4)
    runtime.schedule("slow", basic_flows.slow_flow(sleep_s=2.2), "source", {"n": 1}, every_s=1, overlap="skip")
    wait_until(lambda: runtime.get_schedule("slow")["fired"] >= 2, timeout=30)
    runtime.pause_schedule("slow")
    info = runtime.get_schedule("slow")
    assert info["skipped"] >= 2
    states = [runtime.wait(j, timeout=30) for j in runtime.store.job_ids()]
    spans = sorted((s.created_at, s.updated_at) for s in states)
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:])), "two jobs ran at once"


@pytest.mark.timeout(120)
def test_overlap_allow_runs_the_jobs_of_successive_ticks_at_once(runtime, start_workers):
    start_workers(concurrency=4)
    runtime.schedule("slow", basic_flows.slow_flow(sleep_s=2.2), "source", {"n": 1}, every_s=1, overlap="allow")
    wait_until(lambda: sum(s["status"] == "running" for s in runtime.store.summaries(runtime.store.job_ids())) >= 2,
               timeout=30)
    runtime.pause_schedule("slow")
    assert runtime.get_schedule("slow")["skipped"] == 0


@pytest.mark.timeout(120)
def test_overlap_cancel_previous_cancels_the_running_job_when_the_next_tick_starts(runtime, start_workers):
    start_workers(concurrency=4)
    runtime.schedule("slow", basic_flows.slow_flow(sleep_s=2.2), "source", {"n": 1}, every_s=1,
                     overlap="cancel_previous")
    wait_until(lambda: runtime.get_schedule("slow")["fired"] >= 3, timeout=30)
    runtime.pause_schedule("slow")
    states = [runtime.wait(j, timeout=30) for j in runtime.store.job_ids()]
    cancelled = [s for s in states if s.status == "cancelled"]
    assert len(cancelled) >= 2 and all("replaced it" in (s.error or "") for s in cancelled)
    assert runtime.get_schedule("slow")["skipped"] == 0


def _outage_then_workers(runtime, start_workers, catch_up: str, overlap: str = "skip") -> dict:
    """A schedule due every second while no worker runs for about four ticks; then a worker starts."""
    runtime.schedule("nightly", basic_flows.chain_flow(), "source", {"n": 1}, every_s=1, catch_up=catch_up,
                     overlap=overlap)
    time.sleep(4.5)
    start_workers()
    wait_until(lambda: runtime.get_schedule("nightly")["fired"] >= 2, timeout=30)
    runtime.pause_schedule("nightly")
    return runtime.get_schedule("nightly")


@pytest.mark.timeout(120)
def test_catch_up_skip_starts_no_job_for_ticks_missed_while_no_worker_ran(runtime, start_workers):
    info = _outage_then_workers(runtime, start_workers, "skip")
    missed = [t for t in info["ticks"] if t["decision"] == "missed"]
    assert len(missed) == 1 and missed[0]["count"] >= 3
    assert not any(t.get("caught_up") for t in info["ticks"])
    assert min(jobs_per_tick(runtime, "nightly")) > missed[0]["last_tick_ms"]


@pytest.mark.timeout(120)
def test_catch_up_one_starts_a_single_job_for_the_latest_missed_tick(runtime, start_workers):
    info = _outage_then_workers(runtime, start_workers, "one")
    missed = [t for t in info["ticks"] if t["decision"] == "missed"]
    caught = [t for t in info["ticks"] if t.get("caught_up")]
    assert len(missed) == 1 and missed[0]["count"] >= 2
    assert len(caught) == 1 and caught[0]["tick_ms"] == missed[0]["last_tick_ms"] + 1000
    assert min(jobs_per_tick(runtime, "nightly")) == caught[0]["tick_ms"]


@pytest.mark.timeout(120)
def test_catch_up_all_starts_one_job_for_every_missed_tick(runtime, start_workers):
    info = _outage_then_workers(runtime, start_workers, "all", overlap="allow")
    assert info["missed"] == 0
    assert sum(bool(t.get("caught_up")) for t in info["ticks"]) >= 4
    assert len(assert_one_job_per_consecutive_tick(runtime, "nightly")) >= 4


@pytest.mark.timeout(120)
def test_a_paused_schedule_starts_nothing_and_resumes_from_its_next_tick_without_catching_up(runtime, start_workers):
    start_workers()
    runtime.schedule("hourly", basic_flows.chain_flow(), "source", {"n": 1}, every_s=1, catch_up="all")
    wait_until(lambda: fired(runtime, "hourly") >= 1, timeout=30)
    runtime.pause_schedule("hourly")
    before = len(runtime.store.job_ids())
    time.sleep(2.5)
    assert len(runtime.store.job_ids()) == before and runtime.get_schedule("hourly")["paused"]
    runtime.resume_schedule("hourly")
    wait_until(lambda: len(runtime.store.job_ids()) >= before + 2, timeout=30)
    runtime.delete_schedule("hourly")
    counts = jobs_per_tick(runtime, "hourly")
    assert set(counts.values()) == {1}
    assert max(b - a for a, b in zip(sorted(counts), sorted(counts)[1:])) >= 3000  # the paused ticks: none


@pytest.mark.timeout(120)
def test_trigger_starts_a_job_now_and_delete_stops_the_schedule_for_good(runtime, start_workers):
    start_workers()
    runtime.schedule("weekly", basic_flows.chain_flow(), "source", {"n": 2}, cron="0 9 * * 1")
    job_id = runtime.trigger_schedule("weekly")
    assert runtime.wait(job_id, timeout=30).status == "completed"
    info = runtime.get_schedule("weekly")
    assert info["triggered"] == 1 and info["last_job"] == job_id and info["fired"] == 0
    assert info["ticks"][0]["decision"] == "triggered"
    runtime.delete_schedule("weekly")
    assert runtime.schedules() == []
    with pytest.raises(ScheduleNotFoundError):
        runtime.trigger_schedule("weekly")
    with pytest.raises(ScheduleNotFoundError):
        runtime.delete_schedule("weekly")


def test_a_schedule_of_an_unknown_entry_or_with_two_timings_is_refused_and_nothing_is_stored(runtime):
    flow = basic_flows.chain_flow()
    with pytest.raises(ScheduleError):
        runtime.schedule("bad", flow, "nope", every_s=5)
    with pytest.raises(ScheduleError):
        runtime.schedule("bad", flow, "source", every_s=5, cron="* * * * *")
    assert runtime.schedules() == []


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_worker_killed_while_firing_a_tick_leaves_one_job_for_that_tick_and_no_tick_lost(runtime, spawn_worker):
    doomed = spawn_worker(imports=("basic_flows", "schedule_crash"), pool="threads", concurrency=1)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    runtime.schedule("tick", basic_flows.chain_flow(), "source", {"n": 1}, every_s=1, catch_up="all", overlap="allow")
    doomed.proc.wait(timeout=60)  # it died right after the first tick's job existed
    first = jobs_per_tick(runtime, "tick")
    assert list(first.values()) == [1] and runtime.get_schedule("tick")["fired"] == 0
    spawn_worker(pool="threads", concurrency=2)
    wait_until(lambda: fired(runtime, "tick") >= 4, timeout=60)
    runtime.pause_schedule("tick")
    ticks = assert_one_job_per_consecutive_tick(runtime, "tick")
    assert ticks[0] == min(first)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_schedule_and_its_next_tick_survive_a_redis_restart_on_aof_with_no_tick_doubled(own_redis, spawn_worker):
    server, settings, runtime = own_redis
    spawn_worker(settings_=settings, pool="threads", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    runtime.schedule("durable", basic_flows.chain_flow(), "source", {"n": 1}, every_s=1, catch_up="all",
                     overlap="allow")
    wait_until(lambda: fired(runtime, "durable") >= 2, timeout=30)
    server.restart()
    wait_until(lambda: (_fired_or_none(runtime, "durable") or 0) >= 6, timeout=90)
    runtime.pause_schedule("durable")
    assert len(assert_one_job_per_consecutive_tick(runtime, "durable")) >= 6


def _fired_or_none(runtime, schedule_id):
    try:
        return fired(runtime, schedule_id)
    except Exception:  # noqa: BLE001 - Redis still coming back
        return None


@pytest.mark.timeout(120)
def test_a_schedule_fires_from_its_start_until_its_end_and_then_has_no_next_tick(runtime, start_workers):
    start_workers()
    now_s = runtime.store.now_ms() / 1000
    info = runtime.schedule("window", basic_flows.chain_flow(), "source", {"n": 1}, every_s=1, overlap="allow",
                            start_at=now_s + 1.0, end_at=now_s + 3.5)
    assert info["next_ms"] == int((now_s + 1.0) * 1000)
    wait_until(lambda: runtime.get_schedule("window")["next_ms"] is None, timeout=30)
    assert sorted(jobs_per_tick(runtime, "window")) == [info["next_ms"] + k * 1000 for k in range(3)]
    assert runtime.store.redis.zcard(runtime.store.keys.schedules_due) == 0
