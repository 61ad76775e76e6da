"""The jobs list and job page show priority, tenant, waiting and sub-flow links when the API sends them.

The fields come from work that lands separately (priorities, waits, sub-flows); the console renders them
only when present. The first test reads the real API as it is; the second adds the fields to the real
responses in the browser, as a server with that work answers, to check how they are drawn.
"""

from __future__ import annotations

import json

import pytest

import ops_flows
from browser_helpers import browser, page  # noqa: F401
from console_helpers import console  # noqa: F401

pytestmark = [pytest.mark.distributed, pytest.mark.browser]


def test_the_priority_and_tenant_columns_show_exactly_when_the_jobs_carry_them(runtime, console, page):
    runtime.publish(ops_flows.orders_flow())
    job_id = runtime.submit("orders-ops", "order", {"customer": "ann"})
    row = console.http.get("/api/jobs").json()["jobs"][0]
    page.goto(console.url + "/#/jobs")
    page.wait_for_selector(f'#jobs tr[data-job="{job_id}"]')
    assert page.is_visible("#jobs th.pri") == ("priority" in row)
    assert page.is_visible("#jobs th.tenant") == bool(row.get("tenant"))
    assert page.locator(f'#jobs tr[data-job="{job_id}"] .waiting').count() == 0
    page.goto(f"{console.url}/#/jobs/{job_id}")
    page.wait_for_selector("#job-status .badge")
    assert page.locator("#job-priority").count() == (1 if "priority" in row else 0)


def _with(extra_row, extra_summary):
    """A route handler that passes the real answer on with fields added to its rows or its summary."""
    def handle(route):
        response = route.fetch()
        data = response.json()
        for job in data.get("jobs", []):
            job.update(extra_row(job["job_id"]))
        if "summary" in data:
            data["summary"].update(extra_summary)
        route.fulfill(response=response, body=json.dumps(data), headers={**response.headers, "content-length": ""})
    return handle


def test_a_job_with_priority_tenant_key_a_parent_and_an_open_wait_shows_them_in_the_list_and_on_its_page(
        runtime, console, page):
    runtime.publish(ops_flows.orders_flow())
    parent = runtime.submit("orders-ops", "order", {"customer": "ann"})
    child = runtime.submit("orders-ops", "order", {"customer": "bob"}, concurrency_key="nightly")
    wait = {"routine": "ship", "slot": "confirm", "wait_id": "w1", "until": "2030-01-01T00:00:00+00:00"}
    fields = {parent: {"priority": 8, "tenant": "acme", "children": [{"job_id": child, "activation": "a1", "state": "open"}]},
              child: {"priority": 2, "tenant": "acme", "parent": {"job_id": parent, "activation": "a1", "routine": "sub"},
                      "waiting": [wait]}}
    page.route("**/api/jobs?*", _with(lambda job_id: fields.get(job_id, {}), {}))
    page.route(f"**/api/jobs/{child}", _with(lambda job_id: {}, fields[child]))
    page.goto(console.url + "/#/jobs")
    page.wait_for_selector(f'#jobs tr[data-job="{child}"]')
    assert page.is_visible("#jobs th.pri") and page.is_visible("#jobs th.tenant")
    assert page.inner_text(f'#jobs tr[data-job="{parent}"] td.pri') == "8"
    assert page.inner_text(f'#jobs tr[data-job="{child}"] td.tenant') == "acme"
    assert page.inner_text(f'#jobs tr[data-job="{parent}"] .children') == "1 sub-flow"
    assert page.get_attribute(f'#jobs tr[data-job="{child}"] .parent a', "href") == f"#/jobs/{parent}"
    pill = page.locator(f'#jobs tr[data-job="{child}"] .waiting')
    assert pill.inner_text() == "waiting" and "a post to ship.confirm until" in pill.get_attribute("title")
    page.goto(f"{console.url}/#/jobs/{child}")
    page.wait_for_selector("#job-priority")
    assert page.inner_text("#job-priority") == "priority 2" and page.inner_text("#job-tenant") == "tenant acme"
    assert page.inner_text("#job-key") == "key nightly"
    assert "a post to ship.confirm" in page.get_attribute("#job-waiting-for", "title")
    page.unroute_all(behavior="ignoreErrors")  # a refresh in flight as the page closes is no failure
