"""The console's schedules page in a real Chromium: fire times, triggered jobs, pause and resume, viewers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ops_flows
from browser_helpers import browser, page, shot  # noqa: F401
from console_helpers import VIEWER, console, secured_console  # noqa: F401

pytestmark = [pytest.mark.distributed, pytest.mark.browser]
SHOTS = Path(os.environ["ROUTILUX_SHOTS"]) if os.environ.get("ROUTILUX_SHOTS") else None
ROW = '#schedules tr[data-schedule="hourly"]'


def sign_in(page, url: str, token: str) -> None:
    """Open ``url`` and give ``token`` at the sign-in prompt."""
    page.goto(url)
    page.wait_for_selector("#login[open]")
    page.fill("#token", token)
    page.click("#login button[type=submit]")


def test_a_schedule_shows_its_next_fire_time_a_trigger_lists_its_job_and_pause_and_resume_toggle_it(
        runtime, console, page):
    runtime.publish(ops_flows.orders_flow())
    info = runtime.schedule("hourly", "orders-ops", "order", {"customer": "ann"}, every_s=3600,
                            timezone="Europe/Paris", overlap="allow", catch_up="one")
    page.goto(console.url + "/#/schedules")
    row = page.wait_for_selector(ROW)
    assert row.get_attribute("data-state") == "active"
    assert page.inner_text(f"{ROW} .when") == "every 1 h" and page.inner_text(f"{ROW} .zone") == "Europe/Paris"
    assert page.inner_text(f"{ROW} td.policies").split("\n") == ["overlap: allow", "catch-up: one"]
    next_fire = page.get_attribute(f"{ROW} td.next time", "datetime")
    assert abs(_epoch_ms(next_fire) - info["next_ms"]) < 1000
    assert "never" in page.inner_text(f"{ROW} td.last")
    page.click(f'{ROW} button[data-action="trigger"]')
    page.wait_for_selector(f"{ROW} td.jobs a[data-job]")
    job_id = page.get_attribute(f"{ROW} td.jobs a[data-job]", "data-job")
    assert runtime.get_schedule("hourly")["last_job"] == job_id and runtime.get_job(job_id).job_id == job_id
    assert "triggered" in page.inner_text(f"{ROW} td.jobs")
    page.wait_for_selector(f"{ROW} td.counts >> text=1 triggered")
    shot(page, "schedules", SHOTS)
    page.click(f'{ROW} button[data-action="pause"]')
    page.wait_for_selector(f'{ROW}[data-state="paused"]')
    assert runtime.get_schedule("hourly")["paused"] is True
    page.click(f'{ROW} button[data-action="resume"]')
    page.wait_for_selector(f'{ROW}[data-state="active"]')
    assert runtime.get_schedule("hourly")["paused"] is False
    page.click(f"{ROW} td.jobs a[data-job]")
    page.wait_for_url(f"**/#/jobs/{job_id}")


def test_an_operator_adds_a_schedule_with_the_form_and_deletes_it(runtime, console, page):
    runtime.publish(ops_flows.orders_flow())
    page.goto(console.url + "/#/schedules")
    page.wait_for_selector("text=No schedules.")
    page.fill("#sched-id", "nightly")
    page.select_option("#sched-flow", "orders-ops")
    page.fill("#sched-entry", "order")
    page.fill("#sched-params", '{"customer": "bob"}')
    page.select_option("#sched-kind", "cron")
    page.fill("#sched-when", "0 3 * * *")
    page.fill("#sched-tz", "America/New_York")
    page.click("#sched-add")
    page.wait_for_selector('#schedules tr[data-schedule="nightly"]')
    made = runtime.get_schedule("nightly")
    assert (made["cron"], made["timezone"], made["params"]) == ("0 3 * * *", "America/New_York", {"customer": "bob"})
    page.fill("#sched-id", "broken")
    page.fill("#sched-when", "not a cron")
    page.click("#sched-add")
    page.wait_for_selector("#toast.bad >> text=Add schedule failed")
    assert [s["schedule_id"] for s in runtime.schedules()] == ["nightly"]
    page.once("dialog", lambda dialog: dialog.accept())
    page.click('#schedules tr[data-schedule="nightly"] button[data-action="delete"]')
    page.wait_for_selector("text=No schedules.")
    assert runtime.schedules() == []


def test_a_viewer_sees_the_schedules_with_no_enabled_action_and_no_form(runtime, secured_console, page):
    runtime.publish(ops_flows.orders_flow())
    runtime.schedule("hourly", "orders-ops", "order", {"customer": "ann"}, every_s=3600)
    sign_in(page, secured_console.url + "/#/schedules", VIEWER)
    page.wait_for_selector(ROW)
    buttons = page.locator(f"{ROW} button")
    assert buttons.count() == 3
    assert all(buttons.nth(i).is_disabled() for i in range(3))
    assert page.locator("#sched-form").count() == 0
    assert page.locator("#schedules button:enabled").count() == 0


def _epoch_ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
