"""The console's search, bulk actions, durations, retry, stack traces, keys and dark theme, in a real Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ops_flows
from browser_helpers import browser, new_page, page, shot  # noqa: F401
from console_helpers import console  # noqa: F401

pytestmark = [pytest.mark.distributed, pytest.mark.browser]
# Where the screenshots for people go (ROUTILUX_SHOTS; default: the git-ignored artifacts folder).
SHOTS = Path(os.environ["ROUTILUX_SHOTS"]) if os.environ.get("ROUTILUX_SHOTS") else None


def test_a_search_is_kept_in_the_url_and_a_bulk_cancel_confirms_the_count_before_it_acts(runtime, console, page):
    runtime.publish(ops_flows.orders_flow())
    ann = [runtime.submit("orders-ops", "order", {"customer": "ann"}) for _ in range(3)]
    bob = runtime.submit("orders-ops", "order", {"customer": "bob"})  # no worker: all stay pending
    page.goto(console.url + "/#/jobs")
    page.wait_for_selector(f'#jobs tr[data-job="{bob}"]')
    page.fill("#search", "flow:orders-ops customer=ann")
    page.press("#search", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#jobs tr[data-job]').length === 3")
    assert "where=customer%3Dann" in page.url and "flow=orders-ops" in page.url
    page.reload()  # the view is the URL
    page.wait_for_function("() => document.querySelectorAll('#jobs tr[data-job]').length === 3")
    assert page.input_value("#search") == "flow:orders-ops customer=ann"
    assert sorted(page.eval_on_selector_all("#jobs tr[data-job]", "rows => rows.map((r) => r.dataset.job)")) == sorted(ann)
    shot(page, "search", SHOTS)
    page.select_option("#bulk-action", "cancel")
    page.click("#bulk-go")
    dialog = page.wait_for_selector("#bulk-confirm[open]")
    assert "Cancel 3 jobs?" in dialog.inner_text()
    shot(page, "bulk-confirm", SHOTS)
    assert all(runtime.get_job(j).status != "cancelled" for j in ann)  # nothing happens before the confirmation
    page.click("#bulk-confirm-yes")
    page.wait_for_selector("#toast >> text=3 of 3 done")
    assert [runtime.get_job(j).status for j in ann] == ["cancelled"] * 3
    assert runtime.get_job(bob).status != "cancelled"


@pytest.fixture
def failing_customer():
    ops_flows.FAILING_CUSTOMERS.add("zed")
    yield "zed"
    ops_flows.FAILING_CUSTOMERS.discard("zed")


def test_a_failed_job_shows_its_duration_its_stack_trace_folded_and_retries_from_the_page(
        runtime, start_workers, console, page, failing_customer):
    start_workers()
    runtime.publish(ops_flows.orders_flow())
    ok = runtime.submit("orders-ops", "order", {"customer": "ann"})
    bad = runtime.submit("orders-ops", "order", {"customer": failing_customer})
    assert runtime.wait(ok, timeout=30).status == "completed" and runtime.wait(bad, timeout=30).status == "failed"
    page.goto(console.url + "/#/jobs")
    page.wait_for_selector(f'#jobs tr[data-job="{bad}"]')
    for job_id in (ok, bad):
        cell = page.inner_text(f'#jobs tr[data-job="{job_id}"] td.duration')
        assert cell.endswith(" ms") or cell.endswith(" s"), cell
    shot(page, "durations", SHOTS)
    page.goto(f"{console.url}/#/jobs/{bad}")
    trace = page.wait_for_selector("#job-trace")
    assert trace.get_attribute("open") is None and "ValueError: bad order for zed" in trace.inner_text()
    page.click("#job-trace summary")
    page.wait_for_selector("#job-trace pre", state="visible", timeout=5000)
    page.wait_for_timeout(1500)  # a refresh of the page meanwhile keeps it open
    assert page.is_visible("#job-trace pre")
    shot(page, "stack-trace", SHOTS)
    ops_flows.FAILING_CUSTOMERS.discard(failing_customer)
    page.click("#btn-retry")
    page.wait_for_url(lambda url: not url.endswith(bad))
    page.wait_for_selector('#job-status [data-status="completed"]')
    assert page.get_attribute(f'#job-facts a[href="#/jobs/{bad}"]', "class") == "mono"  # "Retry of" links back


def test_keys_move_through_the_jobs_and_jump_between_pages(runtime, console, page):
    runtime.publish(ops_flows.orders_flow())
    jobs = [runtime.submit("orders-ops", "order", {"customer": c}) for c in ("a", "b")]
    page.goto(console.url + "/#/jobs")
    page.wait_for_selector(f'#jobs tr[data-job="{jobs[0]}"]')
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.get_attribute("#jobs tr.selected", "data-job") == jobs[1]  # newest first
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/#/jobs/{jobs[1]}")
    page.keyboard.press("g")
    page.keyboard.press("f")
    page.wait_for_url("**/#/flows")
    page.keyboard.press("g")
    page.keyboard.press("j")
    page.wait_for_url("**/#/jobs")


def test_the_console_follows_a_dark_system_theme(runtime, console, browser):
    dark = new_page(browser, color_scheme="dark")
    try:
        dark.goto(console.url + "/#/jobs")
        dark.wait_for_selector("#jobs")
        rgb = dark.evaluate("getComputedStyle(document.body).backgroundColor")
        red, green, blue = (int(x) for x in rgb[rgb.index("(") + 1:-1].split(",")[:3])
        assert red + green + blue < 120, rgb
        card = dark.evaluate("getComputedStyle(document.querySelector('.card')).backgroundColor")
        assert card != rgb
        shot(dark, "jobs-dark", SHOTS)
    finally:
        dark.context.close()


def test_the_timeline_shows_each_steps_time_and_the_flow_page_its_percentiles_and_an_ended_jobs_chart(
        runtime, start_workers, console, page, failing_customer):
    start_workers(concurrency=2)
    runtime.publish(ops_flows.orders_flow(sleep_s=0.2))
    done = [runtime.submit("orders-ops", "order", {"customer": c}) for c in ("ann", "bob", failing_customer)]
    assert [runtime.wait(j, timeout=30).status for j in done] == ["completed", "completed", "failed"]
    page.goto(f"{console.url}/#/jobs/{done[0]}")
    page.wait_for_selector('#job-status [data-status="completed"]')
    ship = page.wait_for_selector('#timeline li.step[data-step="ship"] .ms')
    assert ship.inner_text().endswith(" ms") and int(ship.inner_text().split()[0]) >= 200
    page.goto(console.url + "/#/flows/orders-ops")
    page.wait_for_selector("#flow-chart")
    p50 = page.inner_text('#flow-routines tr[data-routine="ship"] td.p50')
    assert p50.endswith(" ms") and int(p50.split()[0]) >= 200, p50
    assert page.locator("#flow-chart rect.bad").count() >= 1
    assert "3 jobs ended: 2 completed, 1 failed (33 % failure rate)" in page.inner_text("#flow-rate")
    shot(page, "flow-stats", SHOTS)


def test_the_workers_page_shows_counts_and_uptime_and_an_operator_shuts_a_worker_down(runtime, spawn_worker, console, page):
    from waiting import wait_until, workers_up

    worker = spawn_worker(pool="threads", concurrency=3)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    page.goto(console.url + "/#/workers")
    row = page.wait_for_selector(f'#workers tr[data-worker="{worker.name}"]')
    cells = row.inner_text()
    assert "threads" in cells and "3" in cells and " ago" in cells
    shot(page, "workers", SHOTS)
    page.on("dialog", lambda dialog: dialog.accept())
    page.click(f'#workers button[data-shutdown="{worker.name}"]')
    page.wait_for_selector("#toast >> text=is shutting down")
    assert worker.proc.wait(timeout=60) == 0
