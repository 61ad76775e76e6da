"""The console's HTTP API against a real Redis, a real in-process worker and a real uvicorn server."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

import basic_flows
from console_helpers import JSON, OPERATOR, VIEWER, console, read_sse, run_console, secured_console  # noqa: F401
from waiting import wait_until
from routilux.job_state import TERMINAL

pytestmark = pytest.mark.distributed


def event_order(event_id: str) -> tuple[int, ...]:
    """Sort key of an event id ("<ms>-<seq>" or "<ms>-<seq>.<position>")."""
    entry, _, position = event_id.partition(".")
    ms, seq = entry.split("-")
    return int(ms), int(seq), int(position or 0)


def finished(runtime, job_id, timeout=30):
    return runtime.wait(job_id, timeout=timeout)


def test_a_job_submitted_over_http_runs_on_a_worker_and_reads_back_as_its_jobstate(runtime, start_workers, console):
    start_workers()
    runtime.publish(basic_flows.chain_flow("chain-api"))
    answer = console.http.post("/api/jobs", json={"flow": "chain-api", "entry": "source", "params": {"n": 2}})
    assert answer.status_code == 201
    job_id = answer.json()["job_id"]
    assert answer.headers["location"] == f"/api/jobs/{job_id}"
    state = finished(runtime, job_id)
    assert state.status == "completed"

    body = console.http.get(f"/api/jobs/{job_id}").json()
    assert body["job"]["_type"] == "JobState" and body["job"]["job_id"] == job_id
    assert sorted(e["got"]["i"] for e in body["job"]["shared_log"]) == [0, 4]
    summary = body["summary"]
    assert summary["status"] == "completed" and summary["flow_id"] == "chain-api"
    assert summary["routines"]["record"]["runs"] == 2


def test_jobs_are_listed_newest_first_filtered_and_paginated(runtime, start_workers, console):
    start_workers()
    runtime.publish(basic_flows.chain_flow("chain-list"))
    ids = [console.http.post("/api/jobs", json={"flow": "chain-list", "entry": "source"}).json()["job_id"]
           for _ in range(3)]
    for job_id in ids:
        finished(runtime, job_id)
    first = console.http.get("/api/jobs", params={"limit": 2}).json()
    assert [j["job_id"] for j in first["jobs"]] == ids[::-1][:2]
    rest = console.http.get("/api/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [j["job_id"] for j in rest["jobs"]] == [ids[0]] and rest["next_cursor"] is None
    assert len(console.http.get("/api/jobs", params={"status": "completed", "flow": "chain-list"}).json()["jobs"]) == 3
    assert console.http.get("/api/jobs", params={"status": "running"}).json()["jobs"] == []


def test_the_event_stream_follows_a_running_job_to_its_end_and_resumes_after_last_event_id(
        runtime, start_workers, console):
    start_workers(concurrency=4)
    runtime.publish(basic_flows.slow_flow("slow-sse", sleep_s=0.3))
    job_id = console.http.post("/api/jobs", json={"flow": "slow-sse", "entry": "source", "params": {"n": 3}}).json()["job_id"]
    with console.http.stream("GET", f"/api/jobs/{job_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = read_sse(response)
    assert runtime.get_job(job_id).status == "completed"  # the stream ended only after the job did
    kinds = [f["event"] for f in frames]
    assert kinds[-1] == "status" and frames[-1]["json"]["status"] == "completed"
    records = [f["json"] for f in frames if f["event"] == "record"]
    assert len([r for r in records if r["routine_id"] == "slow"]) >= 3
    ids = [f["id"] for f in frames]
    assert ids == sorted(ids, key=event_order) and len(set(ids)) == len(ids)

    middle = ids[len(ids) // 2]
    with console.http.stream("GET", f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": middle}) as response:
        again = read_sse(response)
    assert [f["id"] for f in again] == ids[ids.index(middle) + 1:]
    with console.http.stream("GET", f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": ids[-1]}) as response:
        assert read_sse(response) == []  # nothing after the end: the stream closes at once


def test_the_global_event_stream_carries_every_jobs_status_changes(runtime, start_workers, console):
    start_workers()
    runtime.publish(basic_flows.chain_flow("chain-global"))
    events: list = []
    opened = threading.Event()

    def collect() -> None:
        with console.http.stream("GET", "/api/events") as response:
            opened.set()
            events.extend(read_sse(response, stop=lambda f: f["json"].get("status") in TERMINAL))

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    assert opened.wait(10)
    time.sleep(0.5)  # the stream starts from "now": let its reader's first XREAD begin
    job_id = runtime.submit("chain-global", "source")
    thread.join(timeout=30)
    assert any(e["json"]["job_id"] == job_id and e["json"]["status"] == "completed" for e in events)
    assert all(e["event"] == "status" for e in events)


def test_pause_resume_cancel_and_delete_steer_a_job_over_http(runtime, start_workers, console):
    start_workers(concurrency=2)
    runtime.publish(basic_flows.slow_flow("slow-steer", sleep_s=0.4))
    job_id = console.http.post("/api/jobs", json={"flow": "slow-steer", "entry": "source", "params": {"n": 4}}).json()["job_id"]
    paused = console.http.post(f"/api/jobs/{job_id}/pause", json={"reason": "maintenance"})
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert wait_until(lambda: runtime.get_job(job_id).status == "paused")
    assert console.http.delete(f"/api/jobs/{job_id}", headers=JSON).status_code == 409  # not finished
    assert console.http.post(f"/api/jobs/{job_id}/resume", headers=JSON).status_code == 200
    assert finished(runtime, job_id).status == "completed"
    assert console.http.post(f"/api/jobs/{job_id}/pause", json={}).json()["error"]["type"] == "FlowError"

    other = console.http.post("/api/jobs", json={"flow": "slow-steer", "entry": "source", "params": {"n": 4}}).json()["job_id"]
    assert console.http.post(f"/api/jobs/{other}/cancel", json={"reason": "not needed"}).status_code == 200
    assert finished(runtime, other).status == "cancelled"
    assert console.http.delete(f"/api/jobs/{other}", headers=JSON).status_code == 204
    assert console.http.get(f"/api/jobs/{other}").status_code == 404


def test_flows_list_their_versions_and_graphs(runtime, console):
    first = runtime.publish(basic_flows.chain_flow("chain-flows", n_double=1))
    second = runtime.publish(basic_flows.chain_flow("chain-flows", n_double=2))
    listed = {f["flow_id"]: f for f in console.http.get("/api/flows").json()["flows"]}
    assert listed["chain-flows"]["latest"] == second
    assert {v["hash"] for v in listed["chain-flows"]["versions"]} == {first, second}
    one = console.http.get("/api/flows/chain-flows").json()
    assert one["graph"]["hash"] == second and set(one["graph"]["routines"]) == {"source", "double0", "double1", "record"}
    assert any(c["from"] == "double1.out" and c["to"] == "record.input" for c in one["graph"]["connections"])
    old = console.http.get("/api/flows/chain-flows", params={"version": first}).json()
    assert set(old["graph"]["routines"]) == {"source", "double0", "record"}
    assert console.http.get(f"/api/flows/{first}").json()["graph"]["hash"] == first


def test_workers_shows_the_live_worker(runtime, start_workers, console):
    start_workers()
    rows = wait_until(lambda: console.http.get("/api/workers").json()["workers"])
    assert rows[0]["name"] and rows[0]["pid"] and "running" in rows[0]


def test_time_travel_rebuilds_every_position_and_a_fork_continues_as_a_new_job(runtime, start_workers, console):
    start_workers()
    runtime.publish(basic_flows.chain_flow("chain-travel"))
    job_id = runtime.submit("chain-travel", "source", {"n": 3})
    final = finished(runtime, job_id)
    positions = console.http.get(f"/api/jobs/{job_id}/history").json()["positions"]
    assert "submit" in [p["act"] for p in positions] and positions[-1]["status"] == "completed"

    last = console.http.get(f"/api/jobs/{job_id}/state").json()["job"]
    assert last["shared_log"] == final.serialize()["shared_log"]
    assert last["routine_states"] == final.serialize()["routine_states"]
    assert last["status"] == "completed" and last["pending_tasks"] == []
    logs = [len(console.http.get(f"/api/jobs/{job_id}/state", params={"at": p["id"]}).json()["job"]["shared_log"])
            for p in positions]
    assert logs == sorted(logs) and logs[0] == 0 and logs[-1] == 3

    # Fork from the first point where one item has been recorded and others are still on their way.
    at = next(p["id"] for p, n in zip(positions, logs) if n == 1)
    middle = console.http.get(f"/api/jobs/{job_id}/state", params={"at": at}).json()["job"]
    assert middle["pending_tasks"], "work was still to run at that point"
    forked = console.http.post(f"/api/jobs/{job_id}/fork", json={"at": at})
    assert forked.status_code == 201
    new_id = forked.json()["job_id"]
    copy = finished(runtime, new_id)
    assert copy.status == "completed"
    assert sorted(str(e["got"]) for e in copy.shared_log) == sorted(str(e["got"]) for e in final.shared_log)
    assert copy.job_id != job_id and runtime.get_job(job_id).status == "completed"
    assert console.http.post(f"/api/jobs/{job_id}/fork", json={}).status_code == 409  # nothing left at the end


def test_the_server_exposes_prometheus_metrics(runtime, start_workers, console):
    start_workers()
    runtime.publish(basic_flows.chain_flow("chain-metrics"))
    finished(runtime, runtime.submit("chain-metrics", "source", {"n": 2}))
    served = console.http.get("/metrics")
    assert served.headers["content-type"].startswith("text/plain")
    assert 'routilux_jobs{status="completed"} 1' in served.text
    assert "routilux_dead_letters 0" in served.text and "routilux_workers 1" in served.text
    assert 'routilux_queue_depth{queue="' in served.text
    assert 'routilux_http_requests_total{route="/metrics",status="200"} 1' in console.http.get("/metrics").text


def test_health_is_live_and_ready_only_while_redis_answers(console):
    assert console.http.get("/health/live").json() == {"status": "ok"}
    assert console.http.get("/health/ready").status_code == 200


def test_docs_and_the_web_ui_are_served(console):
    docs = console.http.get("/docs")
    assert docs.status_code == 200 and "/static/docs.js" in docs.text and "cdn" not in docs.text
    assert console.http.get("/static/docs.js").status_code == 200
    assert console.http.get("/docs/swagger").status_code == 404  # it ran a CDN's scripts on our origin: gone
    paths = console.http.get("/openapi.json").json()["paths"]
    assert {"/api/jobs", "/api/jobs/{job_id}/events", "/api/dead-letters/{dead_id}/replay", "/metrics"} <= set(paths)
    page = console.http.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert console.http.get("/static/app.js").status_code == 200


def test_routilux_server_serves_the_console_until_sigterm(settings, runtime):
    import os
    import signal
    import subprocess
    import sys

    from conftest import ROOT, free_port

    runtime.publish(basic_flows.chain_flow("chain-cli"))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ROUTILUX_REDIS_URL": settings.redis_url,
           "ROUTILUX_KEY_PREFIX": settings.key_prefix, "ROUTILUX_QUEUE": settings.queue, "ROUTILUX_SERVER_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "routilux.cli", "server", "--loglevel", "WARNING"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(base + "/health/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read().decode()
                return False

        wait_until(ready, timeout=30)
        assert [f["flow_id"] for f in httpx.get(base + "/api/flows").json()["flows"]] == ["chain-cli"]
        assert "Routilux console" in httpx.get(base + "/").text
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down cleanly, then re-raises the signal it caught (the exit status says SIGTERM).
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)


def test_a_job_url_with_a_unique_prefix_of_the_id_answers_for_that_job(runtime, start_workers, console):
    start_workers()
    runtime.publish(basic_flows.chain_flow("chain-prefix"))
    job_id = console.http.post("/api/jobs", json={"flow": "chain-prefix", "entry": "source"}).json()["job_id"]
    finished(runtime, job_id)
    body = console.http.get(f"/api/jobs/{job_id[:8]}").json()
    assert body["summary"]["job_id"] == job_id and body["job"]["job_id"] == job_id
    assert console.http.get(f"/api/jobs/{job_id[:8]}/history").json()["job_id"] == job_id
    missing = console.http.get("/api/jobs/zzzzzzzz")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "JobNotFoundError"
    others = {job_id[0]: job_id}
    while True:  # a second job sharing the first character makes that character ambiguous
        other = runtime.submit("chain-prefix", "source")
        if other[0] in others:
            break
        others[other[0]] = other
    ambiguous = console.http.get(f"/api/jobs/{other[0]}")
    assert ambiguous.status_code == 400 and ambiguous.json()["error"]["type"] == "AmbiguousIdError"
    assert other in ambiguous.json()["error"]["message"] and others[other[0]] in ambiguous.json()["error"]["message"]


def test_a_job_submitted_over_http_with_a_concurrency_key_shows_it_and_a_blank_key_is_422(runtime, console):
    runtime.publish(basic_flows.chain_flow("chain-keyed"))
    body = {"flow": "chain-keyed", "entry": "source", "params": {"n": 1}, "priority": 3, "tenant": "acme"}
    one = console.http.post("/api/jobs", json={**body, "concurrency_key": "nightly"})
    again = console.http.post("/api/jobs", json={**body, "concurrency_key": "nightly"}, headers={"Idempotency-Key": "k1"})
    batch = console.http.post("/api/jobs/batch", json={"items": [{**body, "concurrency_key": "nightly"}]})
    assert (one.status_code, again.status_code, batch.status_code) == (201, 201, 201)
    for job_id in (one.json()["job_id"], again.json()["job_id"], *batch.json()["job_ids"]):
        summary = console.http.get(f"/api/jobs/{job_id}").json()["summary"]
        assert (summary["priority"], summary["tenant"], summary["concurrency_key"]) == (3, "acme", "nightly")
    blank = console.http.post("/api/jobs", json={**body, "concurrency_key": "  "})
    assert blank.status_code == 422 and blank.json()["error"]["type"] == "LimitError", blank.text
