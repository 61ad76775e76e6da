"""Schedules through the HTTP API and the command line (real Redis; ticks far off, so nothing fires)."""

from __future__ import annotations

import json

import pytest

import basic_flows
from console_helpers import JSON, OPERATOR, VIEWER, console, secured_console  # noqa: F401
from test_cli import cli  # noqa: F401

pytestmark = [pytest.mark.distributed]

WEEKLY = {"id": "weekly", "flow": "chain", "entry": "source", "params": {"n": 1}, "cron": "0 9 * * 1",
          "timezone": "Europe/Berlin"}


def test_schedules_are_created_listed_paused_resumed_triggered_and_deleted_over_http(runtime, start_workers, console):
    start_workers()
    runtime.publish(basic_flows.chain_flow())
    made = console.http.post("/api/schedules", json=WEEKLY)
    assert made.status_code == 201 and made.json()["next_ms"] > 0 and made.json()["timezone"] == "Europe/Berlin"
    assert [s["schedule_id"] for s in console.http.get("/api/schedules").json()["schedules"]] == ["weekly"]
    assert console.http.post("/api/schedules/weekly/pause", headers=JSON).json()["paused"] is True
    assert console.http.post("/api/schedules/weekly/resume", headers=JSON).json()["paused"] is False
    triggered = console.http.post("/api/schedules/weekly/trigger", headers=JSON)
    assert triggered.status_code == 201
    assert runtime.wait(triggered.json()["job_id"], timeout=30).status == "completed"
    assert console.http.get("/api/schedules/weekly").json()["last_job"] == triggered.json()["job_id"]
    assert console.http.delete("/api/schedules/weekly", headers=JSON).status_code == 204
    assert console.http.get("/api/schedules/weekly").status_code == 404
    assert console.http.post("/api/schedules/weekly/trigger", headers=JSON).status_code == 404


@pytest.mark.parametrize("change", [{"cron": "99 * * * *"}, {"cron": None, "every_s": 0.1}, {"timezone": "Nowhere/X"},
                                    {"entry": "nope"}, {"every_s": 5}])
def test_a_bad_schedule_over_http_is_a_422_and_nothing_is_stored(runtime, console, change):
    runtime.publish(basic_flows.chain_flow())
    answer = console.http.post("/api/schedules", json={**WEEKLY, **change})
    assert answer.status_code == 422, answer.text
    assert runtime.schedules() == []


def test_a_viewer_may_list_schedules_but_not_change_them(runtime, secured_console):
    runtime.publish(basic_flows.chain_flow())
    viewer, operator = secured_console.client(VIEWER), secured_console.client(OPERATOR)
    assert viewer.post("/api/schedules", json=WEEKLY).status_code == 403
    assert operator.post("/api/schedules", json=WEEKLY).status_code == 201
    assert viewer.get("/api/schedules").status_code == 200
    for action in ("pause", "resume", "trigger"):
        assert viewer.post(f"/api/schedules/weekly/{action}", headers=JSON).status_code == 403
    assert viewer.delete("/api/schedules/weekly", headers=JSON).status_code == 403
    assert len(runtime.schedules()) == 1 and runtime.store.job_ids() == []


def test_the_cli_adds_lists_pauses_resumes_triggers_and_deletes_a_schedule(runtime, cli):
    runtime.publish(basic_flows.chain_flow())
    code, out, _ = cli("schedules", "add", "often", "chain", "--entry", "source", "--params", '{"n": 1}',
                       "--every", "1h", "--overlap", "allow", "--catch-up", "one")
    assert code == 0 and "next tick" in out
    info = runtime.get_schedule("often")
    assert (info["every_s"], info["overlap"], info["catch_up"], info["params"]) == (3600.0, "allow", "one", {"n": 1})
    code, out, _ = cli("schedules")
    assert code == 0 and "often" in out and "every 3600s" in out
    assert cli("schedules", "pause", "often")[0] == 0 and runtime.get_schedule("often")["paused"]
    assert cli("schedules", "resume", "often")[0] == 0 and not runtime.get_schedule("often")["paused"]
    code, out, _ = cli("schedules", "trigger", "often")
    assert code == 0 and runtime.store.job_ids() == [out.strip()]
    code, out, _ = cli("schedules", "list", "--json")
    assert json.loads(out)[0]["triggered"] == 1
    assert cli("schedules", "delete", "often")[0] == 0 and runtime.schedules() == []
    code, _, err = cli("schedules", "delete", "often")
    assert code != 0 and "often" in err


def test_the_cli_refuses_a_schedule_with_both_cron_and_every(cli):
    with pytest.raises(SystemExit):
        cli("schedules", "add", "x", "chain", "--entry", "source", "--cron", "* * * * *", "--every", "5s")
