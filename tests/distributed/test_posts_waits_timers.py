"""Posts into a running job, waits with a timeout and durable timers. Real Redis, real workers."""

from __future__ import annotations

import time

import pytest

import waiting_flows
from console_helpers import OPERATOR, VIEWER, secured_console  # noqa: F401
from routilux.cli import main
from routilux.distributed import DistributedRuntime
from routilux.errors import FlowValidationError, JobNotFoundError, JobNotRunningError
from waiting import wait_until

pytestmark = pytest.mark.distributed


def tags(state) -> list[str]:
    return [entry["tag"] for entry in state.shared_data.get("seen", [])]


def test_a_timer_fires_once_after_its_delay_and_keeps_the_job_open_until_then(runtime, start_workers):
    start_workers()
    started = time.monotonic()
    job = runtime.submit(waiting_flows.alarm_flow(), "alarm", {"delay_s": 1.0, "count": 2})
    time.sleep(0.5)
    assert runtime.job_status(job) == "running"
    state = runtime.wait(job, timeout=20)
    assert time.monotonic() - started >= 2.0
    assert state.status == "completed"
    assert state.shared_data["seen"] == [{"tag": "rang", "n": 0}, {"tag": "rang", "n": 1}]
    events = [r.event_name for r in state.execution_history]
    assert events.count("timer_set") == 2 and events.count("ring") == 2


def test_a_post_becomes_one_activation_and_a_retried_post_is_a_no_op(runtime, start_workers):
    start_workers()
    job = runtime.submit(waiting_flows.inbox_flow(), "inbox", {"wait_s": 30})
    wait_until(lambda: runtime.job_summary(job).get("waiting"))
    assert runtime.post(job, "inbox", "note", {"text": "hi"}, post_id="p-1") == "posted"
    assert runtime.post(job, "inbox", "note", {"text": "hi"}, post_id="p-1") == "duplicate"
    state = runtime.wait(job, timeout=20)
    assert state.status == "completed"
    assert state.shared_data["notes"] == [{"text": "hi"}]
    assert [r.data["post"] for r in state.execution_history if r.event_name == "post"] == ["post:p-1"]
    named = [e.event_name for e in runtime.events(job) if e.kind == "record"]
    assert named.index("wait") < named.index("post")  # in the job's events too, in commit order
    assert "post" in [p["act"] for p in runtime.history_positions(job)]  # and on the timeline


def test_a_post_to_an_ended_job_or_an_unknown_slot_is_refused_and_stores_nothing(runtime, start_workers):
    start_workers()
    job = runtime.submit(waiting_flows.inbox_flow(), "inbox", {"wait_s": 30})
    wait_until(lambda: runtime.job_summary(job).get("waiting"))
    entries = len(runtime.history_positions(job))
    with pytest.raises(FlowValidationError, match="no slot"):
        runtime.post(job, "inbox", "nope", {})
    with pytest.raises(FlowValidationError, match="no routine"):
        runtime.post(job, "ghost", "note", {})
    assert len(runtime.history_positions(job)) == entries
    runtime.cancel(job)
    with pytest.raises(JobNotRunningError):
        runtime.post(job, "inbox", "note", {"text": "too late"})
    with pytest.raises(JobNotFoundError):
        runtime.post("no-such-job", "inbox", "note", {})
    assert "notes" not in runtime.get_job(job).shared_data


def test_a_paused_job_holds_a_post_and_an_overdue_timer_until_resume(runtime, start_workers):
    start_workers()
    job = runtime.submit(waiting_flows.alarm_flow("alarm-pause"), "alarm", {"delay_s": 0.5})
    wait_until(lambda: runtime.get_job(job).get_execution_history("alarm"))
    runtime.pause(job)
    time.sleep(1.5)  # the timer comes due while paused
    assert "seen" not in runtime.get_job(job).shared_data
    runtime.resume(job)
    assert tags(runtime.wait(job, timeout=20)) == ["rang"]

    job = runtime.submit(waiting_flows.inbox_flow("inbox-pause"), "inbox", {"wait_s": 30})
    wait_until(lambda: runtime.job_summary(job).get("waiting"))
    runtime.pause(job)
    assert runtime.post(job, "inbox", "note", {"text": "held"}) == "posted"
    time.sleep(0.5)
    assert "notes" not in runtime.get_job(job).shared_data
    runtime.resume(job)
    assert runtime.wait(job, timeout=20).shared_data["notes"] == [{"text": "held"}]


def test_cancel_drops_pending_timers_and_waits(runtime, start_workers):
    start_workers()
    job = runtime.submit(waiting_flows.alarm_flow("alarm-cancel"), "alarm", {"delay_s": 0.5})
    wait_until(lambda: runtime.get_job(job).get_execution_history("alarm"))
    runtime.cancel(job)
    time.sleep(1.2)
    state = runtime.get_job(job)
    assert state.status == "cancelled" and "seen" not in state.shared_data
    assert runtime.store.redis.zcard(runtime.store.keys.due(runtime.store.keys.bucket_of(job))) == 0


def test_a_wait_ends_either_received_or_timed_out_and_a_late_post_is_refused(runtime, start_workers):
    start_workers()
    job = runtime.submit(waiting_flows.approval_flow(timeout_s=30), "approve", {"order": 7})
    waiting = wait_until(lambda: runtime.job_summary(job).get("waiting"))
    assert waiting[0]["routine"] == "approve" and waiting[0]["slot"] == "decision"
    assert runtime.post(job, "approve", "decision", {"ok": True}) == "posted"
    state = runtime.wait(job, timeout=20)
    assert state.shared_data["seen"] == [{"tag": "received", "ok": True}]

    job = runtime.submit(waiting_flows.approval_flow("approval-late", timeout_s=0.5), "approve", {"order": 8})
    state = runtime.wait(job, timeout=20)
    assert state.shared_data["seen"] == [{"tag": "timed_out", "order": 8}]
    assert [r.event_name for r in state.execution_history].count("wait_timed_out") == 1


def test_the_cli_posts_once_per_id_and_status_shows_what_a_job_waits_for(runtime, settings, start_workers,
                                                                        monkeypatch, capsys):
    for key, value in {"ROUTILUX_REDIS_URL": settings.redis_url, "ROUTILUX_KEY_PREFIX": settings.key_prefix,
                       "ROUTILUX_QUEUE": settings.queue}.items():
        monkeypatch.setenv(key, value)
    start_workers()
    job = runtime.submit(waiting_flows.approval_flow("approval-cli", timeout_s=60), "approve", {})
    wait_until(lambda: runtime.job_summary(job)["waiting"])
    assert main(["status", job]) == 0
    assert "waiting:  for a post to approve.decision until " in capsys.readouterr().out
    assert main(["post", job, "approve.decision", "--data", '{"ok": true}', "--id", "mail-1"]) == 0
    assert main(["post", job, "approve.decision", "--data", '{"ok": true}', "--id", "mail-1"]) == 0
    out = capsys.readouterr().out
    assert ": posted" in out and ": duplicate" in out
    assert runtime.wait(job, timeout=20).shared_data["seen"] == [{"tag": "received", "ok": True}]
    assert main(["post", job, "approve.decision", "--data", "{}"]) != 0
    assert main(["post", job, "nodot", "--data", "{}"]) != 0


def test_posting_over_http_is_for_operators_and_maps_refusals_to_409_404_and_422(runtime, start_workers,
                                                                                  secured_console):
    start_workers()
    job = runtime.submit(waiting_flows.approval_flow("approval-http", timeout_s=60), "approve", {})
    wait_until(lambda: runtime.job_summary(job)["waiting"])
    body = {"routine": "approve", "slot": "decision", "data": {"ok": 1}, "id": "h-1"}
    assert secured_console.client(VIEWER).post(f"/api/jobs/{job}/post", json=body).status_code == 403
    operator = secured_console.client(OPERATOR)
    assert operator.post(f"/api/jobs/{job}/post", json={**body, "slot": "nope"}).status_code == 422
    assert operator.post("/api/jobs/no-such-job/post", json=body).status_code == 404
    answer = operator.post(f"/api/jobs/{job}/post", json=body)
    assert answer.status_code == 200 and answer.json()["outcome"] == "posted"
    assert operator.post(f"/api/jobs/{job}/post", json=body).json()["outcome"] == "duplicate"
    runtime.wait(job, timeout=20)
    ended = operator.post(f"/api/jobs/{job}/post", json={**body, "id": "h-2"})
    assert ended.status_code == 409 and ended.json()["error"]["type"] == "JobNotRunningError"


def test_posts_and_timers_are_sealed_with_the_signing_key_and_a_post_from_a_keyless_producer_never_runs(
        settings, start_workers):
    keyed = settings.with_(signing_keys="new:a1b2c3d4e5f60718293a4b5c6d7e8f90", redispatch_s=1.5)
    start_workers(settings_=keyed)
    keyless_settings = keyed.with_(signing_keys="")
    with DistributedRuntime(settings=keyed) as runtime, DistributedRuntime(settings=keyless_settings) as keyless:
        job = runtime.submit(waiting_flows.approval_flow("approval-signed", timeout_s=60), "approve", {})
        wait_until(lambda: runtime.job_summary(job)["waiting"])
        assert runtime.signing_key_usage() == {"new": 1}  # the wait's timeout, signed by the worker
        assert keyless.post(job, "approve", "decision", {"forged": True}) == "posted"
        state = runtime.wait(job, timeout=30)
        assert state.status == "failed" and "unsigned activation" in state.error
        assert "seen" not in state.shared_data

        job = runtime.submit(waiting_flows.approval_flow("approval-signed", timeout_s=60), "approve", {})
        wait_until(lambda: runtime.job_summary(job)["waiting"])
        assert runtime.post(job, "approve", "decision", {"ok": True}) == "posted"
        assert runtime.wait(job, timeout=30).shared_data["seen"] == [{"tag": "received", "ok": True}]


def test_a_job_waiting_past_its_deadline_fails_and_its_wait_goes_with_it(runtime, start_workers):
    start_workers()
    job = runtime.submit(waiting_flows.approval_flow("approval-deadline", timeout_s=60), "approve", {}, timeout=1.0)
    state = runtime.wait(job, timeout=20)
    assert state.status == "failed" and "timeout" in state.error
    assert runtime.job_summary(job)["waiting"] == []
    with pytest.raises(JobNotRunningError):
        runtime.post(job, "approve", "decision", {})


def test_a_wait_that_runs_out_says_what_the_job_still_waits_for(runtime, start_workers):
    from routilux.errors import ExecutionTimeout

    start_workers()
    job_id = runtime.submit(waiting_flows.approval_flow("approval-says", timeout_s=30), "approve", {"k": 1})
    wait_until(lambda: runtime.job_summary(job_id)["waiting"])
    # Its entry step is done; the wait's timeout activation is the other one known.
    with pytest.raises(ExecutionTimeout, match=r"did not end within 0.2 s \(status running, 1 of 2 activations done, "
                                               r"waiting for a post to approve\.decision\)"):
        runtime.wait(job_id, timeout=0.2)
    assert runtime.post(job_id, "approve", "decision", {"ok": True}) == "posted"
    assert runtime.wait(job_id, timeout=30).status == "completed"
