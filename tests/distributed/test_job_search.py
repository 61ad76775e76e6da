"""Finding jobs with a JobFilter: the runtime, the HTTP API and the CLI read one definition,
against a real Redis and a real in-process worker."""

from __future__ import annotations

import time

import pytest

import ops_flows
from console_helpers import console  # noqa: F401
from routilux.distributed import JobFilter
from routilux.distributed.operations.jobfilter import parse_time
from routilux.errors import JobFilterError

pytestmark = pytest.mark.distributed

ORDERS = [  # (flow id, params)
    ("orders-eu", {"region": "eu", "customer": "ann", "n": 3}),
    ("orders-eu", {"region": "eu", "customer": "bob", "n": 4, "fail": True}),
    ("orders-us", {"region": "us", "customer": "cid", "n": 3}),
    ("orders-us", {"region": "us", "customer": "dee", "n": 5, "fail": True}),
    ("billing", {"region": "eu", "customer": "eve", "n": 3}),
]


@pytest.fixture
def orders(runtime, start_workers):
    """The ORDERS, run to their end; returns their job ids in submission order and the time between the 2nd and 3rd."""
    start_workers()
    ids, middle = [], None
    for n, (flow_id, params) in enumerate(ORDERS):
        if n == 2:
            time.sleep(0.05)
            middle = time.time()
            time.sleep(0.05)
        ids.append(runtime.submit(ops_flows.orders_flow(flow_id), "order", params))
    for job_id in ids:
        runtime.wait(job_id, timeout=30)
    return ids, middle


def found(runtime, **query) -> list[str]:
    return [row["job_id"] for row in runtime.jobs(filter=JobFilter.parse(**query))]


def test_each_criterion_selects_the_jobs_it_names_newest_first(runtime, orders):
    ids, middle = orders
    assert found(runtime) == ids[::-1]
    assert found(runtime, id=ids[3][:8]) == [ids[3]]
    assert found(runtime, flow="orders-") == [ids[3], ids[2], ids[1], ids[0]]
    assert found(runtime, status="failed") == [ids[3], ids[1]]
    assert found(runtime, status="failed,completed", flow="us") == [ids[3], ids[2]]
    assert found(runtime, error="BAD ORDER FOR BOB") == [ids[1]]
    assert found(runtime, until=middle) == [ids[1], ids[0]]
    assert found(runtime, since=middle, flow="orders") == [ids[3], ids[2]]


def test_where_matches_entry_params_and_shared_data_as_json_scalars(runtime, orders):
    ids, _ = orders
    assert found(runtime, where="region=eu") == [ids[4], ids[1], ids[0]]
    assert found(runtime, where=["region=eu", "n=3"]) == [ids[4], ids[0]]
    assert found(runtime, where="fail=true") == [ids[3], ids[1]]
    assert found(runtime, where="shipped.customer=cid") == [ids[2]]  # shared data, a dotted key
    assert found(runtime, where="customer=dee") == [ids[3]]
    assert found(runtime, where="region=mars") == []


def test_rows_carry_times_and_a_duration_once_ended(runtime, orders):
    ids, _ = orders
    row = runtime.jobs(filter=JobFilter.parse(id=ids[0]))[0]
    assert row["status"] == "completed" and row["created_at"] and row["started_at"] and row["ended_at"]
    assert 0 <= row["duration_s"] < 30
    assert row["retries"] == [] and row["retried_from"] is None


def test_a_filtered_listing_pages_through_every_match_with_its_cursor(runtime, orders):
    ids, _ = orders
    seen, cursor = [], None
    flt = JobFilter.parse(where="region=eu")
    while True:
        page = runtime.job_page(flt, limit=1, cursor=cursor)
        seen += [row["job_id"] for row in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [ids[4], ids[1], ids[0]]


def test_a_filter_it_cannot_read_is_refused_with_what_it_takes():
    with pytest.raises(JobFilterError, match="running"):
        JobFilter.parse(status="running,faild")
    with pytest.raises(JobFilterError, match="key=value"):
        JobFilter.parse(where="region")
    with pytest.raises(JobFilterError, match="not a time"):
        JobFilter.parse(since="yesterday")
    assert parse_time("90m", now=10_000.0) == 10_000.0 - 5400
    assert parse_time("1970-01-01T00:01:00+00:00") == 60.0


def test_the_http_listing_takes_the_same_filters(runtime, orders, console):
    ids, _ = orders
    http = console.http
    got = http.get("/api/jobs", params={"status": "failed,completed", "flow": "orders-eu", "where": "n=4"}).json()
    assert [row["job_id"] for row in got["jobs"]] == [ids[1]]
    assert got["jobs"][0]["duration_s"] is not None and "bad order for bob" in got["jobs"][0]["error"]
    several = http.get("/api/jobs", params=[("where", "region=eu"), ("where", "customer=ann")]).json()
    assert [row["job_id"] for row in several["jobs"]] == [ids[0]]
    assert [r["job_id"] for r in http.get("/api/jobs", params={"id": ids[2][:6]}).json()["jobs"]] == [ids[2]]
    refused = http.get("/api/jobs", params={"status": "faild"})
    assert refused.status_code == 422 and "completed" in refused.json()["error"]["message"]


def test_a_page_stops_reading_at_its_scan_limit_and_its_cursor_goes_on_to_the_rare_match(runtime, orders,
                                                                                          monkeypatch):
    import routilux.distributed.operations.search as search

    ids, _ = orders
    monkeypatch.setattr(search, "PAGE_SCAN_LIMIT", 2)
    flt = JobFilter.parse(where="customer=ann")  # the oldest job: the last one read
    pages, cursor = [], None
    while True:
        page = runtime.job_page(flt, limit=10, cursor=cursor)
        pages.append([row["job_id"] for row in page["jobs"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [[], [], [ids[0]]]


def test_jobs_created_in_the_same_millisecond_beyond_a_batch_are_each_listed_once(runtime, orders, monkeypatch):
    import routilux.distributed.operations.search as search

    ids, _ = orders
    keys = runtime.store.keys
    for job_id in ids:  # as if all five were created at once
        runtime.store.redis.zadd(keys.jobs(keys.bucket_of(job_id)), {job_id: 1_000})
    monkeypatch.setattr(search, "_BATCH", 1)
    seen, cursor = [], None
    while True:
        page = runtime.job_page(JobFilter(), limit=2, cursor=cursor)
        seen += [row["job_id"] for row in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    assert [row["job_id"] for row in runtime.jobs()] == sorted(ids, reverse=True)
