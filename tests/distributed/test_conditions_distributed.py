"""ConditionalRouter conditions on a real worker: lambdas travel as safe expressions, bombs fail fast."""

from __future__ import annotations

import json
import os
import time

import pytest

import basic_flows
from routilux import ConditionalRouter, Flow

pytestmark = pytest.mark.distributed


def routing_flow(flow_id: str, routes: list[tuple[str, object]]) -> Flow:
    """source (emits i = 0..n-1) -> router -> record, every route and the default wired to record."""
    flow = Flow(flow_id=flow_id)
    router = ConditionalRouter()
    router.set_config(routes=routes, default_route="rest")
    flow.add_routine(basic_flows.Source(), "source")
    flow.add_routine(router, "router")
    flow.add_routine(basic_flows.Record(), "record")
    flow.connect("source", "out", "router", "input")
    for name in [name for name, _ in routes] + ["rest"]:
        flow.connect("router", name, "record", "input")
    return flow


def test_an_exponent_tower_fails_its_job_at_once_and_the_worker_keeps_serving(runtime, start_workers):
    start_workers()
    started = time.monotonic()
    bomb = runtime.wait(runtime.submit(routing_flow("bomb", [("bomb", "9**9**9**9 > 0")]), "source", {"n": 1}),
                        timeout=30)
    assert time.monotonic() - started < 20  # a generous safety bound, not a performance claim
    assert bomb.status == "failed"
    assert "exponent of **" in json.dumps(bomb.serialize(), default=str)
    after = runtime.wait(runtime.submit(basic_flows.chain_flow(), "source", {"n": 2}), timeout=30)
    assert after.status == "completed"


def test_a_lambda_condition_is_published_as_an_expression_and_routes_on_the_worker(runtime, start_workers):
    start_workers()
    flow = routing_flow("even-odd", [("even", lambda i: i % 2 == 0)])
    state = runtime.wait(runtime.submit(flow, "source", {"n": 4}), timeout=30)
    assert state.status == "completed", state.error
    routes = sorted((e["got"]["data"], e["got"]["route"]) for e in state.get_shared_log())
    assert routes == [(0, "even"), (1, "rest"), (2, "even"), (3, "rest")]


def test_a_worker_process_restores_a_named_condition_from_the_module_it_imported(runtime, spawn_worker):
    import registered_conditions

    flow = registered_conditions.named_condition_flow()
    stored = flow.serialize()["routines"]["router"]["_config"]["routes"][0][1]
    assert stored["name"] == "registered_conditions.has_remainder"  # a name in the data, not code
    spawn_worker(imports=("basic_flows", "registered_conditions"), pool="threads", concurrency=1)
    state = runtime.wait(runtime.submit(flow, "source", {"n": 5}), timeout=60)
    assert state.status == "completed", state.error
    routes = sorted((e["got"]["data"], e["got"]["route"]) for e in state.get_shared_log())
    assert routes == [(0, "rest"), (1, "match"), (2, "rest"), (3, "rest"), (4, "match")]
    assert {e["pid"] for e in state.get_shared_log()} != {os.getpid()}  # run by the worker process
