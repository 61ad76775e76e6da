"""Durations: each step's time from handler start to commit, job durations, and per-flow statistics,
measured by a real in-process worker against a real Redis."""

from __future__ import annotations

import pytest

import ops_flows
from console_helpers import console, read_sse  # noqa: F401
from routilux.distributed.operations.flowstats import percentile
from routilux.distributed.operations.history import positions
from routilux.errors import FlowNotPublishedError

pytestmark = pytest.mark.distributed


@pytest.fixture
def shipped(runtime, start_workers):
    """Three orders shipped with a 0.2 s step and one that failed at its entry; returns their job ids."""
    start_workers()
    flow = ops_flows.orders_flow("durations", sleep_s=0.2)
    ids = [runtime.submit(flow, "order", {"customer": c, "fail": c == "bad"}) for c in ("a", "b", "c", "bad")]
    for job_id in ids:
        runtime.wait(job_id, timeout=30)
    return ids


def test_each_committed_step_carries_its_time_from_handler_start_to_commit(runtime, shipped):
    steps = [e for e in runtime.events(shipped[0], steps=True) if e.kind == "step"]
    times = {e.routine_id: e.data["duration_ms"] for e in steps}
    assert 200 <= times["ship"] < 10_000 and 0 <= times["order"] < times["ship"]
    timeline = {p["routine"]: p["duration_ms"] for p in positions(runtime.store, shipped[0]) if p["routine"]}
    assert timeline == times


def test_the_events_command_shows_each_steps_time(runtime, shipped, settings, monkeypatch, capsys):
    from conftest import settings_env
    from routilux.cli import main

    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    assert main(["events", shipped[0], "--steps"]) == 0
    ship = next(line for line in capsys.readouterr()[0].splitlines() if " step " in line and " ship " in line)
    took = int(ship.split(" in ", 1)[1].split(" ms", 1)[0])
    assert 200 <= took < 10_000


def test_an_ended_job_has_a_duration_and_its_start_and_end_times(runtime, shipped):
    summary = runtime.job_summary(shipped[0])
    assert summary["duration_s"] >= 0.2 and summary["started_at"] and summary["ended_at"]
    assert summary["started_at"] <= summary["ended_at"]


def test_flow_stats_give_step_percentiles_per_routine_and_the_ended_jobs_over_time(runtime, shipped):
    stats = runtime.flow_stats("durations", window_s=600, buckets=10)
    assert stats["sampled_jobs"] == 4 and len(stats["series"]) == 10
    assert sum(b["completed"] for b in stats["series"]) == 3 and sum(b["failed"] for b in stats["series"]) == 1
    ship, order = stats["routines"]["ship"], stats["routines"]["order"]
    assert (ship["count"], ship["failed"]) == (3, 0) and 200 <= ship["p50_ms"] <= ship["p95_ms"]
    assert (order["count"], order["failed"]) == (4, 1)
    assert runtime.flow_stats("durations", window_s=600)["series"][-1]["completed"] == 3  # they just ended
    with pytest.raises(FlowNotPublishedError):
        runtime.flow_stats("no-such-flow")


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile([7], 95)) == (50, 95, 7)


def test_the_http_api_serves_flow_stats_and_row_durations(runtime, shipped, console):
    stats = console.http.get("/api/flows/durations/stats", params={"window": "10m", "buckets": 5}).json()
    assert stats["window_s"] == 600 and stats["routines"]["ship"]["count"] == 3
    assert console.http.get("/api/flows/nothing/stats").status_code == 404
    assert console.http.get("/api/flows/durations/stats", params={"window": "soon"}).status_code == 422
    rows = console.http.get("/api/jobs", params={"flow": "durations", "status": "completed"}).json()["jobs"]
    assert len(rows) == 3 and all(r["duration_s"] >= 0.2 for r in rows)
    history = console.http.get(f"/api/jobs/{shipped[0]}/history").json()["positions"]
    assert any(p["routine"] == "ship" and p["duration_ms"] >= 200 for p in history)


def test_the_event_stream_carries_step_events_with_their_duration_when_asked(runtime, shipped, console):
    with console.http.stream("GET", f"/api/jobs/{shipped[0]}/events", params={"steps": "true"}) as response:
        frames = read_sse(response)
    steps = {f["json"]["routine_id"]: f["json"]["data"]["duration_ms"] for f in frames if f["json"]["kind"] == "step"}
    assert set(steps) == {"order", "ship"} and steps["ship"] >= 200
    with console.http.stream("GET", f"/api/jobs/{shipped[0]}/events") as response:
        assert all(f["json"]["kind"] != "step" for f in read_sse(response))  # not unless asked
