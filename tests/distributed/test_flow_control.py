"""Concurrency and rate limits hold across the fleet, through a SIGKILLed holder and a Redis restart."""

from __future__ import annotations

import uuid

import pytest

import limit_flows as lf
from waiting import wait_until, workers_up

pytestmark = [pytest.mark.distributed]


def _tag() -> str:
    return f"lim{uuid.uuid4().hex[:8]}"


@pytest.mark.timeout(120)
def test_at_most_two_calls_per_customer_run_at_once_and_every_item_runs(runtime, start_workers, settings):
    tag = _tag()
    start_workers(pool="threads", concurrency=8)
    flow = lf.api_flow(settings.redis_url, tag, sleep_s=0.25, max_running=2)
    job_id = runtime.submit(flow, "fan", {"n": 12, "customers": 2})
    state = runtime.wait(job_id, timeout=60)
    assert state.status == "completed", state.error
    assert sorted(e["i"] for e in state.shared_log) == list(range(12))
    assert lf.high_marks(settings.redis_url, tag) == {"c0": 2, "c1": 2}


@pytest.mark.timeout(120)
def test_without_a_limit_the_same_calls_overlap_more_so_the_limit_is_what_holds_them(runtime, start_workers, settings):
    tag = _tag()
    start_workers(pool="threads", concurrency=8)
    flow = lf.api_flow(settings.redis_url, tag, sleep_s=0.25, max_running=None)
    state = runtime.wait(runtime.submit(flow, "fan", {"n": 12, "customers": 2}), timeout=60)
    assert state.status == "completed", state.error
    assert max(lf.high_marks(settings.redis_url, tag).values()) > 2
