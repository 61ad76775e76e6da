"""Bulk actions on the jobs a filter selects: a dry run counts, a confirmed run acts only on that count.
Against a real Redis and a real in-process worker, through the runtime, the HTTP API and the CLI."""

from __future__ import annotations

import pytest

import ops_flows
from console_helpers import OPERATOR, VIEWER, secured_console  # noqa: F401
from routilux import codec
from routilux.cli import main
from routilux.distributed import JobFilter
from routilux.distributed.protocol.envelope import from_envelope
from routilux.errors import JobFilterError, JobNotFoundError, SelectionChangedError

pytestmark = pytest.mark.distributed


def queued(runtime, flow_id: str, count: int, **params) -> list[str]:
    """Jobs submitted while no worker runs: they stay "running" with their first activation queued."""
    return [runtime.submit(ops_flows.orders_flow(flow_id), "order", {"customer": f"c{n}", **params})
            for n in range(count)]


def statuses(runtime, ids: list[str]) -> list[str]:
    return [runtime.store.status(job_id) for job_id in ids]


def test_a_dry_run_counts_and_a_confirmed_cancel_acts_only_on_the_count_it_was_shown(runtime):
    a, b = queued(runtime, "bulk-a", 3), queued(runtime, "bulk-b", 1)
    preview = runtime.bulk("cancel", JobFilter.parse(flow="bulk-a"))
    assert preview["matched"] == 3 and sorted(preview["job_ids"]) == sorted(a) and preview["done"] == 0
    assert statuses(runtime, a) == ["running"] * 3
    a += queued(runtime, "bulk-a", 1)  # the selection grows after the dry run
    with pytest.raises(SelectionChangedError) as refused:
        runtime.bulk("cancel", JobFilter.parse(flow="bulk-a"), dry_run=False, expect=3)
    assert refused.value.matched == 4 and statuses(runtime, a) == ["running"] * 4
    done = runtime.bulk("cancel", JobFilter.parse(flow="bulk-a"), dry_run=False, expect=4, reason="cleanup")
    assert (done["matched"], done["done"], done["failed"]) == (4, 4, [])
    assert statuses(runtime, a) == ["cancelled"] * 4 and statuses(runtime, b) == ["running"]
    assert runtime.bulk("cancel", JobFilter.parse(flow="bulk-a"))["matched"] == 0  # cancelled: nothing left to cancel


def test_delete_selects_only_ended_jobs_and_forgets_them(runtime):
    ended, live = queued(runtime, "bulk-del", 2), queued(runtime, "bulk-del", 1)
    for job_id in ended:
        runtime.cancel(job_id)
    answer = runtime.bulk("delete", JobFilter.parse(flow="bulk-del"), dry_run=False, expect=2)
    assert answer["done"] == 2
    for job_id in ended:
        with pytest.raises(JobNotFoundError):
            runtime.store.status(job_id)
    assert statuses(runtime, live) == ["running"]
    assert runtime.bulk("delete", JobFilter.parse(flow="bulk-del", status="running"))["matched"] == 0


def test_resume_continues_every_paused_match_on_a_worker(runtime, start_workers):
    ids = queued(runtime, "bulk-resume", 3, region="eu")
    other = queued(runtime, "bulk-resume", 1, region="us")
    for job_id in ids + other:
        runtime.pause(job_id)
    answer = runtime.bulk("resume", JobFilter.parse(where="region=eu"), dry_run=False, expect=3)
    assert answer["done"] == 3
    start_workers()
    for job_id in ids:
        assert runtime.wait(job_id, timeout=30).status == "completed"
    assert statuses(runtime, other) == ["paused"]


def test_replay_sends_back_the_dead_letters_of_the_selected_failed_jobs(runtime, settings, start_workers):
    ids = queued(runtime, "bulk-replay", 2)
    for job_id in ids:
        kill_by_expiry(runtime, settings, job_id)
    failed_by_handler = queued(runtime, "bulk-replay", 1, fail=True)
    start_workers()
    assert runtime.wait(failed_by_handler[0], timeout=30).status == "failed"
    assert statuses(runtime, ids) == ["failed", "failed"]
    preview = runtime.bulk("replay_dead_letters", JobFilter.parse(flow="bulk-replay"))
    assert sorted(preview["job_ids"]) == sorted(ids)  # the job its handler failed has no dead letter
    answer = runtime.bulk("replay_dead_letters", JobFilter.parse(flow="bulk-replay"), dry_run=False, expect=2)
    assert answer["done"] == 2
    for job_id in ids:
        assert runtime.wait(job_id, timeout=30).status == "completed"
    assert runtime.dead_letters() == []


def kill_by_expiry(runtime, settings, job_id: str) -> None:
    """Claim the job's only activation ``max_attempts`` times, each lease expiring; the next claim dead-letters it."""
    acts = runtime.store.redis.hgetall(runtime.store.keys.job(job_id, "acts"))
    act_id = from_envelope(codec.unpackb(next(iter(acts.values()))))[0].activation_id
    leases = runtime.store.keys.leases(runtime.store.keys.bucket_of(job_id))
    for _ in range(settings.max_attempts):
        assert runtime.store.claim(job_id, act_id, "")[0] == "ok"
        runtime.store.redis.zadd(leases, {f"{job_id}|{act_id}": 0})
    assert runtime.store.claim(job_id, act_id, "")[0] == "dead"


def test_an_unknown_action_is_refused(runtime):
    with pytest.raises(JobFilterError, match="cancel"):
        runtime.bulk("explode", JobFilter())


def test_the_http_bulk_action_needs_an_operator_and_the_confirmed_count(runtime, secured_console):
    ids = queued(runtime, "bulk-http", 2)
    body = {"action": "cancel", "filter": {"flow": "bulk-http", "status": ["running"]}}
    viewer, operator = secured_console.client(VIEWER), secured_console.client(OPERATOR)
    assert viewer.post("/api/jobs/bulk", json=body).status_code == 403
    preview = operator.post("/api/jobs/bulk", json=body).json()
    assert preview["matched"] == 2 and preview["done"] == 0
    assert operator.post("/api/jobs/bulk", json={**body, "dry_run": False}).status_code == 422
    stale = operator.post("/api/jobs/bulk", json={**body, "dry_run": False, "expect": 5})
    assert stale.status_code == 409 and stale.json()["error"]["matched"] == 2
    done = operator.post("/api/jobs/bulk", json={**body, "dry_run": False, "expect": 2}).json()
    assert done["done"] == 2 and done["failed"] == []
    assert statuses(runtime, ids) == ["cancelled", "cancelled"]
    bad = operator.post("/api/jobs/bulk", json={"action": "cancel", "filter": {"status": ["runing"]}})
    assert bad.status_code == 422


def test_the_cli_shows_the_count_and_acts_with_yes_or_refuses_without_a_terminal(runtime, settings, monkeypatch,
                                                                                  capsys):
    for key, value in {"ROUTILUX_REDIS_URL": settings.redis_url, "ROUTILUX_KEY_PREFIX": settings.key_prefix,
                       "ROUTILUX_QUEUE": settings.queue}.items():
        monkeypatch.setenv(key, value)
    ids = queued(runtime, "bulk-cli", 2)
    capsys.readouterr()
    assert main(["jobs", "cancel", "--flow", "bulk-cli"]) == 2  # no terminal to confirm on, no --yes
    out, err = capsys.readouterr()
    assert "cancel: 2 jobs selected" in out and "--yes" in err
    assert statuses(runtime, ids) == ["running", "running"]
    assert main(["jobs", "cancel", "--flow", "bulk-cli", "--status", "running", "--yes"]) == 0
    assert "cancel: 2 done, 0 failed" in capsys.readouterr()[0]
    assert statuses(runtime, ids) == ["cancelled", "cancelled"]
    assert main(["jobs", "--flow", "bulk-cli", "--status", "cancelled"]) == 0
    listed = capsys.readouterr()[0]
    assert all(job_id in listed for job_id in ids) and "DURATION" in listed.splitlines()[0]
    assert main(["jobs", "--status", "faild"]) == 2
