"""Console bugs a new user met (issue 17), each pinned in a real headless Chromium over a real worker and Redis."""

from __future__ import annotations

from typing import Any

import pytest

import basic_flows
import extra_flows
from browser_helpers import browser, new_page, page, shot  # noqa: F401
from console_helpers import OPERATOR, VIEWER, console, run_console, secured_console  # noqa: F401
from waiting import wait_until, workers_up
from examples.orders import make_flow

pytestmark = [pytest.mark.distributed, pytest.mark.browser]

# Every drawn edge sampled along its path: no sample falls inside a node box (shrunk by 2 px so the
# end points on a node's border count as outside), and no edge label overlaps a node box.
GRAPH_GEOMETRY = """(box) => {
  const svg = box.querySelector('svg');
  const rects = [...svg.querySelectorAll('g.node')].map((g) => {
    const r = g.querySelector('rect').getBoundingClientRect();
    return { id: g.dataset.routine, l: r.left + 2, t: r.top + 2, r: r.right - 2, b: r.bottom - 2 };
  });
  const inside = (x, y) => rects.filter((n) => x > n.l && x < n.r && y > n.t && y < n.b).map((n) => n.id);
  const edges = [...svg.querySelectorAll('g.edge')].map((g) => {
    const path = g.querySelector('path'), m = path.getScreenCTM(), len = path.getTotalLength();
    const hits = new Set();
    for (let s = 0; s <= len; s += 2) {
      const p = path.getPointAtLength(s);
      inside(m.a * p.x + m.c * p.y + m.e, m.b * p.x + m.d * p.y + m.f).forEach((id) => hits.add(id));
    }
    const label = g.querySelector('text');
    const lr = label ? label.getBoundingClientRect() : null;
    const covered = lr ? rects.filter((n) => lr.left < n.r && lr.right > n.l && lr.top < n.b && lr.bottom > n.t).map((n) => n.id) : [];
    return { from: g.dataset.from, to: g.dataset.to, length: len, crosses: [...hits], label_on: covered };
  });
  const clipped = [...svg.querySelectorAll('g.node text')].filter((t) => {
    const rect = t.parentNode.querySelector('rect').getBoundingClientRect(), r = t.getBoundingClientRect();
    return r.right > rect.right - 2 || t.textContent.includes('…');
  }).map((t) => t.textContent);
  return { edges, clipped };
}"""


def example_flows() -> list[Any]:
    """The order example, every test flow, and one with a back edge and a self-loop."""
    looped = basic_flows.chain_flow("looped", n_double=2)
    looped.connect("double1", "out", "source", "trigger")
    looped.connect("double0", "out", "double0", "input")
    return [make_flow(), basic_flows.chain_flow(), basic_flows.fan_in_flow(), basic_flows.retry_flow(), basic_flows.strategy_flow("skip"),
            basic_flows.deferred_flow(), basic_flows.slow_flow(), basic_flows.fan_out_flow(), extra_flows.extra_flow(), looped]


def test_every_connection_of_every_example_flow_is_drawn_and_no_edge_crosses_a_node(runtime, console, page):
    for flow in example_flows():
        runtime.publish(flow)
        page.goto(f"{console.url}/#/flows/{flow.flow_id}")
        box = page.wait_for_selector("#flow-graph svg g.node")
        drawn = page.eval_on_selector("#flow-graph", GRAPH_GEOMETRY)
        wanted = sorted((c["from"], c["to"]) for c in console.http.get(f"/api/flows/{flow.flow_id}").json()["graph"]["connections"])
        assert sorted((e["from"], e["to"]) for e in drawn["edges"]) == wanted, flow.flow_id
        for edge in drawn["edges"]:
            assert edge["length"] > 10, (flow.flow_id, edge)
            assert edge["crosses"] == [], (flow.flow_id, edge)
            assert edge["label_on"] == [], (flow.flow_id, edge)
        assert drawn["clipped"] == [], flow.flow_id
        assert box is not None
    shot(page, "flow-looped")


def test_signing_in_with_a_wrong_then_a_right_token_shows_the_jobs_without_a_reload(runtime, secured_console, page):
    runtime.publish(basic_flows.chain_flow("chain"))
    job_id = runtime.submit("chain", "source", {"n": 1})  # no worker: it stays pending, listed
    page.goto(secured_console.url + "/#/jobs")
    page.wait_for_selector("#login[open]")
    page.fill("#token", "wrong")
    page.click("#login button[type=submit]")
    page.wait_for_selector("text=That token was refused.")
    page.fill("#token", OPERATOR)
    page.click("#login button[type=submit]")
    page.wait_for_selector(f'#jobs tr[data-job="{job_id}"]')
    page.wait_for_selector("#submit-job")
    page.wait_for_selector("#conn.live")
    assert not page.is_visible("#login")


def test_a_viewer_sees_no_submit_form_and_no_enabled_action_buttons(runtime, secured_console, page):
    runtime.publish(basic_flows.chain_flow("chain"))
    job_id = runtime.submit("chain", "source", {"n": 1})
    page.goto(secured_console.url + "/#/jobs")
    page.fill("#token", VIEWER)
    page.click("#login button[type=submit]")
    page.wait_for_selector(f'#jobs tr[data-job="{job_id}"]')
    assert page.locator("#submit-job").count() == 0
    page.goto(f"{secured_console.url}/#/jobs/{job_id}")
    page.wait_for_selector("#job-graph svg")
    for button in ("#btn-pause", "#btn-resume", "#btn-cancel", "#btn-delete", "#btn-fork"):
        assert page.locator(button).count() == 0 or page.is_disabled(button), button
    assert "viewer" in page.inner_text("#whoami")


def test_the_submit_form_names_the_entry_params_and_flags_a_misspelled_one(runtime, console, page):
    runtime.publish(make_flow())
    page.goto(console.url + "/#/jobs")
    page.select_option("#submit-flow", "orders")
    page.wait_for_selector("#submit-hint >> text=orders")
    page.fill("#submit-params", '{"ordres": []}')
    hint = page.wait_for_selector("#submit-hint.warn")
    assert "ordres" in hint.inner_text() and "orders" in hint.inner_text()
    page.fill("#submit-params", '{"orders": []}')
    page.wait_for_selector("#submit-hint:not(.warn)")


def test_time_travel_names_the_step_highlights_it_and_shows_the_facts_as_they_were(
        runtime, start_workers, console, page):
    start_workers(concurrency=4)
    job_id = runtime.submit(basic_flows.fan_in_flow("orders", expected=3), "source", {"n": 3})
    assert runtime.wait(job_id, timeout=30).status == "completed"
    page.goto(f"{console.url}/#/jobs/{job_id}")
    page.wait_for_selector('#job-status [data-status="completed"]')
    page.wait_for_function("() => document.querySelector('#travel').max > 3")
    points = console.http.get(f"/api/jobs/{job_id}/history").json()["positions"]
    at = next(i for i, p in enumerate(points) if p["kind"] == "delta" and p["act"] != "submit")
    page.eval_on_selector("#travel", f"el => {{ el.value = {at}; el.dispatchEvent(new Event('input')); }}")
    page.wait_for_selector('#job-graph [data-routine="double"][data-status="running"]')
    where = page.inner_text("#travel-where")
    assert "source.trigger" in where and f"step {at + 1} of {len(points)}" in where, where
    assert "delta" not in where and points[at]["act"][:10] not in where
    chosen = page.wait_for_selector("#timeline li.chosen")
    assert chosen.get_attribute("data-id").startswith(points[at]["id"])
    assert page.eval_on_selector("#timeline", """(ul) => { const li = ul.querySelector('li.chosen');
        return li.offsetTop >= ul.scrollTop && li.offsetTop + li.offsetHeight <= ul.scrollTop + ul.clientHeight + 1; }""")
    facts = page.inner_text("#job-facts")
    assert "completed" not in facts and "running" in facts, facts
    assert page.is_visible("#travel-banner")
    shot(page, "job-time-travel-fixed")
    page.click("#travel-live")
    page.wait_for_function("() => !document.querySelector('#job-facts').innerText.includes('running')")


NO_OVERFLOW = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('.card, table, .graph')) {
    if (el.scrollWidth > el.clientWidth + 1) bad.push(`${el.tagName}.${el.className}#${el.id}: ${el.scrollWidth} > ${el.clientWidth}`);
  }
  for (const pre of document.querySelectorAll('pre')) {
    const card = pre.closest('.card');
    if (card && pre.getBoundingClientRect().right > card.getBoundingClientRect().right) bad.push('pre spills out of its card');
  }
  for (const t of document.querySelectorAll('time')) if (t.getClientRects().length > 1) bad.push(`date on ${t.getClientRects().length} lines: ${t.textContent}`);
  const svg = document.querySelector('.graph svg');
  if (svg && svg.getBoundingClientRect().width > svg.parentNode.clientWidth + 1) bad.push('graph clipped');
  if (document.documentElement.scrollWidth > document.documentElement.clientWidth) bad.push('page scrolls sideways');
  return bad;
}"""


def test_at_an_800_px_viewport_no_card_table_graph_or_date_overflows(
        runtime, settings, spawn_worker, start_workers, console, browser):
    lacking = spawn_worker(imports=("basic_flows",), pool="solo", concurrency=1, settings_=settings.with_(max_attempts=2))
    stuck = runtime.submit(extra_flows.extra_flow("extra"), "source", {"n": 1})
    wait_until(lambda: runtime.dead_letters(), timeout=40)
    lacking.terminate()
    start_workers(concurrency=2)
    job_id = runtime.submit(make_flow(), "source", {"orders": [{"order_id": f"A-{i}", "sku": "coffee", "quantity": 2}
                                                                 for i in range(4)]})
    assert runtime.wait(job_id, timeout=30).status == "completed"
    narrow = new_page(browser, width=800, height=900)
    try:
        for route, ready in ((f"#/jobs/{job_id}", '#job-status [data-status="completed"]'), ("#/jobs", f'tr[data-job="{stuck}"]'),
                             ("#/dead-letters", "#dead-letters tr[data-dead]"), ("#/flows/orders", "#flow-graph svg"),
                             ("#/workers", "#workers tr[data-worker]")):
            narrow.goto(f"{console.url}/{route}")
            narrow.wait_for_selector(ready)
            narrow.wait_for_timeout(300)
            assert narrow.evaluate(NO_OVERFLOW) == [], route
            shot(narrow, "narrow-" + route.strip("#/").replace("/", "-")[:20])
    finally:
        narrow.context.close()


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_the_job_page_says_reconnecting_during_a_redis_outage_and_resumes_its_stream(own_redis, spawn_worker, browser):
    server, settings, runtime = own_redis
    spawn_worker(settings_=settings, pool="prefork", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    job_id = runtime.submit(basic_flows.slow_flow(sleep_s=1.0), "source", {"n": 8})
    tab = new_page(browser)
    try:
        for console_ in run_console(runtime):
            tab.goto(f"{console_.url}/#/jobs/{job_id}")
            tab.wait_for_selector('#timeline li[data-routine="slow"]')
            server.stop()
            tab.wait_for_selector("#stream-state >> text=Reconnecting")
            assert "undefined" not in tab.inner_text("#view")
            server.start()
            tab.wait_for_selector('#job-status [data-status="completed"]', timeout=90000)
            assert not tab.is_visible("#stream-state")
            assert tab.locator('#timeline li[data-routine="slow"]').count() == 8
            assert "undefined" not in tab.inner_text("#view")
    finally:
        tab.context.close()
