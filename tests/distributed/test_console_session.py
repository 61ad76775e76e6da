"""What the console asks the API for besides jobs: the caller's role, named history steps, step events."""

from __future__ import annotations

import pytest

import basic_flows
from console_helpers import OPERATOR, VIEWER, console, read_sse, secured_console  # noqa: F401

pytestmark = pytest.mark.distributed


def test_whoami_answers_the_callers_role_and_asks_for_a_token_when_one_is_needed(secured_console, console):
    assert secured_console.client(VIEWER).get("/api/whoami").json() == {"role": "viewer"}
    assert secured_console.client(OPERATOR).get("/api/whoami").json() == {"role": "operator"}
    assert secured_console.http.get("/api/whoami").status_code == 401
    assert console.http.get("/api/whoami").json() == {"role": "operator"}  # no tokens configured


def test_history_positions_say_which_routine_slot_ran_when_and_the_activations_then(runtime, start_workers, console):
    start_workers()
    job_id = runtime.submit(basic_flows.chain_flow("chain", n_double=1), "source", {"n": 2})
    assert runtime.wait(job_id, timeout=30).status == "completed"
    points = console.http.get(f"/api/jobs/{job_id}/history").json()["positions"]
    steps = [p for p in points if p["routine"]]
    assert [f"{p['routine']}.{p['slot']}" for p in steps][:1] == ["source.trigger"]
    assert sorted(f"{p['routine']}.{p['slot']}" for p in steps[1:]) == ["double0.input"] * 2 + ["record.input"] * 2
    assert steps[-1]["done"] == steps[-1]["known"] == 5
    assert all(p["time"][:4].isdigit() and "T" in p["time"] for p in points)
    assert points[-1]["kind"] == "status" and points[-1]["status"] == "completed" and points[-1]["routine"] is None


def test_a_job_stream_asked_for_steps_carries_one_step_event_per_activation(runtime, start_workers, console):
    start_workers()
    job_id = runtime.submit(basic_flows.chain_flow("chain", n_double=1), "source", {"n": 2})
    assert runtime.wait(job_id, timeout=30).status == "completed"
    with console.http.stream("GET", f"/api/jobs/{job_id}/events?steps=true") as response:
        frames = read_sse(response)
    steps = [f["json"] for f in frames if f["event"] == "step"]
    assert len(steps) == 5 and steps[0]["routine_id"] == "source" and steps[0]["data"]["slot"] == "trigger"
    with console.http.stream("GET", f"/api/jobs/{job_id}/events") as response:
        assert not [f for f in read_sse(response) if f["event"] == "step"]
