"""The web console in a real headless Chromium (Debian's, driven by Playwright) over a real worker and Redis.

Screenshots of each page go to ``artifacts/console/`` (git-ignored) for people to look at.
"""

from __future__ import annotations

import pytest

import basic_flows
from browser_helpers import browser, page, shot  # noqa: F401
from console_helpers import OPERATOR, console, run_console, secured_console  # noqa: F401
from waiting import wait_until

pytestmark = [pytest.mark.distributed, pytest.mark.browser]
def test_a_job_submitted_in_the_browser_turns_its_graph_completed_and_time_travels(
        runtime, start_workers, console, page):
    start_workers(concurrency=4)
    runtime.publish(basic_flows.fan_in_flow("orders", expected=3, sleep_s=0.2))
    runtime.publish(basic_flows.chain_flow("chain"))
    page.goto(console.url + "/#/jobs")
    page.select_option("#submit-flow", "orders")
    page.wait_for_selector("#submit-entry option[value=source]", state="attached")
    page.fill("#submit-params", '{"n": 3}')
    page.click("#submit-job")
    page.wait_for_url("**/#/jobs/*")
    job_id = page.url.rsplit("/", 1)[1]
    for routine in ("source", "double", "total", "record"):
        page.wait_for_selector(f'#job-graph [data-routine="{routine}"][data-status="completed"]')
    page.wait_for_selector('#job-status [data-status="completed"]')
    assert runtime.get_job(job_id).status == "completed"
    page.wait_for_selector('#timeline li.status [data-status="completed"]')
    assert page.locator("#timeline li.record").count() >= 8  # start, 3 x source.out, 3 x double.out, total.done
    shot(page, "job")

    # Time travel: right after the source's commit, the source is done and the doubles wait to run.
    page.wait_for_function("() => document.querySelector('#travel').max > 3")
    points = console.http.get(f"/api/jobs/{job_id}/history").json()["positions"]
    after_source = next(i for i, p in enumerate(points) if p["kind"] == "delta" and p["act"] != "submit")
    page.eval_on_selector("#travel", f"el => {{ el.value = {after_source}; el.dispatchEvent(new Event('input')); }}")
    page.wait_for_selector('#job-graph [data-routine="double"][data-status="running"]')
    assert page.get_attribute('#job-graph [data-routine="source"]', "data-status") == "completed"
    assert page.get_attribute('#job-graph [data-routine="record"]', "data-status") == "pending"
    assert f"step {after_source + 1} of" in page.inner_text("#travel-where")
    shot(page, "job-time-travel")
    page.click("#btn-fork")
    page.wait_for_url(lambda url: not url.endswith(job_id))
    page.wait_for_selector('#job-status [data-status="completed"]')
    forked = page.url.rsplit("/", 1)[1]
    assert runtime.get_job(forked).shared_data == runtime.get_job(job_id).shared_data

    page.goto(console.url + "/#/jobs")
    page.wait_for_selector(f'#jobs tr[data-job="{job_id}"]')
    shot(page, "jobs")
    page.goto(console.url + "/#/flows")
    page.click("text=orders")
    page.wait_for_selector('#flow-graph [data-routine="total"]')
    shot(page, "flow")
    page.goto(console.url + "/#/workers")
    page.wait_for_selector("#workers tr[data-worker]")
    shot(page, "workers")


def test_the_job_page_pauses_and_resumes_a_running_job(runtime, start_workers, console, page):
    start_workers(concurrency=2)
    runtime.publish(basic_flows.slow_flow("slow", sleep_s=1.0))
    job_id = runtime.submit("slow", "source", {"n": 6})
    page.goto(f"{console.url}/#/jobs/{job_id}")
    page.wait_for_selector("#btn-pause:not([disabled])")
    page.click("#btn-pause")
    page.wait_for_selector('#job-status [data-status="paused"]')
    assert wait_until(lambda: runtime.get_job(job_id).status == "paused")
    shot(page, "job-paused")
    page.click("#btn-resume")
    page.wait_for_selector('#job-status [data-status="completed"]')
    assert runtime.get_job(job_id).status == "completed"
    assert len(runtime.get_job(job_id).shared_log) == 6


def test_a_dead_letter_is_replayed_from_the_browser_and_its_job_completes(
        runtime, settings, spawn_worker, start_workers, console, page):
    import extra_flows

    strict = settings.with_(max_attempts=2)
    lacking = spawn_worker(imports=("basic_flows",), pool="solo", concurrency=1, settings_=strict)
    job_id = runtime.submit(extra_flows.extra_flow("extra"), "source", {"n": 1})
    letters = wait_until(lambda: runtime.dead_letters(), timeout=40)
    assert letters[0]["job"] == job_id
    lacking.terminate()
    start_workers()  # this one has the routine class (the test imported extra_flows)
    page.goto(console.url + "/#/dead-letters")
    row = page.wait_for_selector(f'#dead-letters tr[data-dead="{letters[0]["id"]}"]')
    assert "Extra" in row.inner_text()
    shot(page, "dead-letters")
    row.query_selector("button.primary").click()
    page.wait_for_selector("text=No dead letters.")
    assert runtime.wait(job_id, timeout=30).status == "completed"


def test_a_console_with_tokens_asks_for_one_and_keeps_it_for_the_session(runtime, secured_console, page):
    runtime.publish(basic_flows.chain_flow("chain"))
    page.goto(secured_console.url + "/#/flows")
    page.wait_for_selector("#login[open]")
    page.fill("#token", "wrong")
    page.click("#login button[type=submit]")
    page.wait_for_selector("text=That token was refused.")
    page.fill("#token", OPERATOR)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#flows >> text=chain")
    page.goto(secured_console.url + "/#/workers")
    page.wait_for_selector("#workers")
    assert not page.is_visible("#login")
    page.goto(secured_console.url + "/docs")  # the API reference renders from /openapi.json, offline
    page.wait_for_selector('#docs h2:has-text("/api/jobs/{job_id}/events")')
    assert page.locator("#docs .card").count() >= 15
    shot(page, "docs")


def test_a_submit_the_broker_does_not_take_says_submit_failed_and_why(settings, page):
    from conftest import free_port
    from routilux.distributed import DistributedRuntime

    cut_off = DistributedRuntime(settings=settings.with_(broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}//"))
    try:
        cut_off.publish(basic_flows.chain_flow("chain"))
        for console in run_console(cut_off):
            page.goto(console.url + "/#/jobs")
            page.wait_for_selector("#submit-entry option[value=source]", state="attached")
            page.fill("#submit-params", '{"n": 1}')
            page.click("#submit-job")
            toast = page.wait_for_selector("#toast.bad")
            assert toast.inner_text().startswith("Submit failed: the broker could not be reached")
            assert "was withdrawn" in toast.inner_text()
            assert cut_off.jobs() == []
    finally:
        cut_off.close()


def test_the_workers_page_lists_limits_and_the_job_page_says_what_its_work_waits_for(
        runtime, start_workers, console, page, settings):
    import uuid

    import limit_flows

    start_workers(pool="threads", concurrency=4)
    tag = f"lim{uuid.uuid4().hex[:8]}"
    flow = limit_flows.api_flow(settings.redis_url, tag, sleep_s=3.0, max_running=1)
    job_id = runtime.submit(flow, "fan", {"n": 3, "customers": 1})
    name = f"concurrency:{flow.flow_id}/api[c0]"
    wait_until(lambda: len(runtime.waiting_on(job_id)) == 2, timeout=30)
    page.goto(console.url + "/#/workers")
    row = page.wait_for_selector(f'#limits tr[data-limit="{name}"]')
    assert row.inner_text().split("\t")[1:3] == ["concurrency", "1"]
    shot(page, "workers-limits")
    page.goto(console.url + f"/#/jobs/{job_id}")
    waiting = page.wait_for_selector("#job-waiting")
    assert waiting.inner_text().count(f"for a free slot of {name}") == 2
    runtime.cancel(job_id)
