"""Redis stays bounded: ended jobs expire as a whole, delete_job and prune leave no key behind."""

from __future__ import annotations

import time

import pytest

import basic_flows
import time_limit_flows
from waiting import wait_until
from routilux.distributed.protocol.keys import slot_field
from routilux.errors import JobNotFoundError

pytestmark = pytest.mark.distributed


def keys_of(runtime, job_ids) -> list[bytes]:
    """Every key in the store that belongs to one of ``job_ids`` (a full SCAN of the keyspace)."""
    tags = {("}:%s:" % j).encode() for j in job_ids}
    return [k for k in runtime.store.redis.scan_iter(count=1000) if any(t in k for t in tags)]


def watch_until_ended(runtime, job_ids, timeout: float = 60.0) -> dict[str, str]:
    """Poll the jobs' statuses together; returns each job's final status as first seen."""
    ended: dict[str, str] = {}

    def all_ended() -> bool:
        for row in runtime.store.summaries([j for j in job_ids if j not in ended]):
            if row["status"] in ("completed", "failed", "cancelled"):
                ended[row["job_id"]] = row["status"]
        return len(ended) == len(job_ids)

    wait_until(all_ended, timeout=timeout, interval=0.05)
    return ended


def test_ended_jobs_leave_no_key_once_their_ttl_passes(runtime, start_workers, settings):
    short = settings.with_(completed_ttl_s=2.0, failed_ttl_s=2.0)
    runtime.store.settings = short
    start_workers(settings_=short, concurrency=4)
    ok, failing = basic_flows.fan_in_flow(expected=2), basic_flows.strategy_flow("default")
    jobs = [runtime.submit(ok if k % 3 else failing, "source", {"n": 2}) for k in range(99)]
    jobs.append(runtime.submit(time_limit_flows.sleepy_flow(sleep_s=1.0), "source", {"n": 1}))
    runtime.cancel(jobs[-1], reason="not needed")
    ended = watch_until_ended(runtime, jobs)  # each ended job expires 2 s later: watch them all at once
    assert set(ended.values()) == {"completed", "failed", "cancelled"}
    assert keys_of(runtime, jobs)  # kept until the TTL passes
    time.sleep(4.0)
    assert keys_of(runtime, jobs) == []
    wait_until(lambda: runtime.jobs() == [] and not any(runtime.store.redis.zcard(runtime.store.keys.expiries(b))
                                                      for b in runtime.store.keys.all_buckets),
               timeout=5)
    with pytest.raises(JobNotFoundError):
        runtime.get_job(jobs[0])


def test_a_ttl_of_zero_keeps_ended_jobs(runtime, start_workers, settings):
    forever = settings.with_(completed_ttl_s=0.0)
    runtime.store.settings = forever
    start_workers(settings_=forever)
    job = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    runtime.wait(job, timeout=30)
    assert all(runtime.store.redis.ttl(k) == -1 for k in keys_of(runtime, [job]))
    assert [r["job_id"] for r in runtime.jobs()] == [job]


def test_delete_job_removes_every_key_even_slot_wait_lists_and_a_late_commit(runtime, start_workers, settings):
    time_limit_flows.GATE.clear()
    start_workers(concurrency=3)
    job = runtime.submit(time_limit_flows.hold_flow(), "source", {"n": 3})
    wait_list = runtime.store.keys.slot_wait(job, slot_field("hold", "input"))
    wait_until(lambda: runtime.store.redis.llen(wait_list) == 2)
    runtime.cancel(job)
    runtime.delete_job(job)
    try:
        assert keys_of(runtime, [job]) == []
    finally:
        time_limit_flows.GATE.set()  # the held handler returns and commits into a job that no longer exists
    time.sleep(0.5)
    assert keys_of(runtime, [job]) == []
    assert runtime.jobs() == []


def test_prune_deletes_ended_jobs_by_status_and_age(runtime, start_workers, settings):
    forever = settings.with_(completed_ttl_s=0.0, failed_ttl_s=0.0)
    runtime.store.settings = forever
    start_workers(settings_=forever)
    done = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    failed = runtime.submit(basic_flows.strategy_flow("default"), "source", {"n": 1})
    for job in (done, failed):
        runtime.wait(job, timeout=30)
    running = runtime.submit(time_limit_flows.sleepy_flow(sleep_s=2.0), "source", {"n": 1})
    assert runtime.prune(older_than_s=3600) == 0
    assert runtime.prune(status="failed") == 1
    assert keys_of(runtime, [failed]) == []
    assert runtime.prune() == 1
    assert keys_of(runtime, [done]) == []
    assert [r["job_id"] for r in runtime.jobs()] == [running]
    with pytest.raises(ValueError):
        runtime.prune(status="running")
    runtime.cancel(running)


def test_routilux_prune_deletes_what_its_options_select(runtime, start_workers, settings, monkeypatch, capsys):
    from routilux.cli import main

    forever = settings.with_(completed_ttl_s=0.0, failed_ttl_s=0.0)
    runtime.store.settings = forever
    start_workers(settings_=forever)
    jobs = [runtime.submit(basic_flows.chain_flow(), "source", {"n": 1}) for _ in range(3)]
    for job in jobs:
        runtime.wait(job, timeout=30)
    for key, value in {"ROUTILUX_REDIS_URL": settings.redis_url, "ROUTILUX_KEY_PREFIX": settings.key_prefix}.items():
        monkeypatch.setenv(key, value)
    assert main(["prune", "--older-than", "1h"]) == 0
    assert capsys.readouterr().out.strip() == "pruned 0 jobs"
    assert main(["prune", "--older-than", "0s", "--status", "completed"]) == 0
    assert capsys.readouterr().out.strip() == "pruned 3 jobs"
    assert keys_of(runtime, jobs) == []
    assert main(["prune", "--older-than", "soon"]) == 2
    assert "bad duration 'soon'" in capsys.readouterr().err


def test_a_forked_job_keeps_the_retention_and_deadline_of_its_producer(runtime, start_workers, settings):
    from routilux.distributed.operations.fork import fork_job
    from routilux.distributed.operations.history import positions

    short = settings.with_(completed_ttl_s=2.0, failed_ttl_s=2.0)
    runtime.store.settings = short
    start_workers(settings_=short)
    job = runtime.submit(basic_flows.chain_flow(), "source", {"n": 2}, timeout=60)
    runtime.wait(job, timeout=30)
    fork = fork_job(runtime, job, positions(runtime.store, job)[1]["id"])
    meta = runtime.store.meta(fork)
    assert (meta["timeout_ms"], meta["ttl_ok"], meta["ttl_fail"]) == ("60000", "2000", "2000")
    assert runtime.wait(fork, timeout=30).status == "completed"
    time.sleep(3.0)
    assert keys_of(runtime, [job, fork]) == []
