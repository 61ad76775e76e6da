"""The web console under its Content-Security-Policy, in a real headless Chromium: pages work, nothing is
blocked, and names holding bidi or invisible characters are shown with those characters spelled out."""

from __future__ import annotations

from typing import Any

import pytest

import basic_flows
from console_helpers import console  # noqa: F401
from routilux import Flow
from test_console_browser import browser, page  # noqa: F401

pytestmark = [pytest.mark.distributed, pytest.mark.browser]
SPOOF = "invoice\u202egpj.exe"  # reads "invoiceexe.jpg" when the override is obeyed


def csp_reports(page: Any) -> list[str]:
    """Console messages the browser logs for anything the page's CSP blocked, from now on."""
    blocked: list[str] = []
    page.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)
    return blocked


def test_every_page_runs_under_the_csp_with_nothing_blocked(runtime, start_workers, console, page):
    start_workers()
    runtime.publish(basic_flows.chain_flow("csp"))
    job_id = runtime.submit("csp", "source", {"n": 1})
    runtime.wait(job_id, timeout=30)
    blocked = csp_reports(page)
    page.goto(console.url + "/#/jobs")
    page.wait_for_selector(f'#jobs tr[data-job="{job_id}"]')
    page.goto(f"{console.url}/#/jobs/{job_id}")
    page.wait_for_selector('#job-graph [data-routine="record"][data-status="completed"]')
    page.goto(console.url + "/#/flows")
    page.wait_for_selector("#flows tbody tr")
    page.goto(console.url + "/docs")
    page.wait_for_selector("#docs h2")
    assert blocked == []


def test_a_routine_name_with_a_bidi_override_is_shown_spelled_out(runtime, console, page):
    flow = Flow(flow_id="spoof")
    flow.add_routine(basic_flows.Source(), SPOOF)
    runtime.publish(flow)
    job_id = runtime.submit("spoof", SPOOF)  # no worker needed: the page shows the job as submitted
    page.goto(f"{console.url}/#/jobs/{job_id}")
    page.wait_for_selector("#job-graph [data-routine]")
    graph = page.inner_text("#job-graph")
    assert "\u202e" not in graph and "<U+202E>" in graph
    page.goto(console.url + "/#/jobs")
    page.wait_for_selector(f'#jobs tr[data-job="{job_id}"]')
    assert "\u202e" not in page.inner_text("#view")
