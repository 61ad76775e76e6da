"""The same flows on both engines end in the same JobState (ids and timestamps aside)."""

from __future__ import annotations

from typing import Any, Callable

import pytest

import basic_flows
from routilux import Flow, JobState

pytestmark = pytest.mark.distributed


def comparable(state: JobState) -> dict[str, Any]:
    """What must match between engines: everything but ids, timestamps and engine metadata."""
    def strip(entry: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in entry.items() if k not in ("timestamp", "pid")}

    return {
        "status": state.status,
        "error": state.error,
        "current_routine_id": state.current_routine_id,
        "pause_points": [strip(p) for p in state.pause_points],
        "checkpoint": state.checkpoint,
        "pending_tasks": sorted(repr(sorted(t.items())) for t in state.pending_tasks),
        "routine_states": {
            rid: {k: v for k, v in rs.items() if k not in ("error_time", "execution_time")}
            for rid, rs in state.routine_states.items()
        },
        "history": sorted(
            (r.routine_id, r.event_name, repr(sorted((k, v) for k, v in r.data.items() if k not in ("execution_time", "traceback"))))
            for r in state.execution_history
        ),
        "shared_data": state.shared_data,
        "shared_log": sorted(repr(strip(e)) for e in state.shared_log),
        "output_log": sorted(repr((o["routine_id"], o["output_type"], o["data"])) for o in state.output_log),
        "deferred_events": [(d["routine_id"], d["event_name"], d["data"]) for d in state.deferred_events],
    }


CASES: dict[str, tuple[Callable[[], Flow], dict[str, Any]]] = {
    "chain": (lambda: basic_flows.chain_flow(flow_id="p-chain"), {"n": 3}),
    "fan-out": (lambda: basic_flows.strategy_flow("continue", flow_id="p-fanout"), {"n": 2}),
    "fan-in aggregator": (lambda: basic_flows.fan_in_flow(flow_id="p-fanin", expected=5), {"n": 5}),
    "retry": (lambda: basic_flows.retry_flow(flow_id="p-retry", fail_times=1), {"n": 2}),
    # A failing job stops at once; these flows have no other branch racing the failure, so the
    # whole state (errors included) is the same on both engines.
    "critical retry": (lambda: basic_flows.retry_flow(flow_id="p-crit", fail_times=5, critical=True, max_retries=1), {"n": 1}),
    "stop": (lambda: basic_flows.strategy_flow("stop", flow_id="p-stop", healthy_branch=False), {"n": 1}),
    "skip": (lambda: basic_flows.strategy_flow("skip", flow_id="p-skip"), {"n": 2}),
    "default": (lambda: basic_flows.strategy_flow("default", flow_id="p-default", healthy_branch=False), {"n": 1}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_both_engines_end_a_flow_in_the_same_state(runtime, start_workers, case):
    make, params = CASES[case]
    local = make().execute("source", params)
    start_workers()
    remote = runtime.wait(runtime.submit(make(), "source", params), timeout=30)
    assert comparable(remote) == comparable(local)


def test_pause_and_deferred_events_resume_to_the_same_state_on_both_engines(runtime, start_workers):
    local_flow = basic_flows.deferred_flow(flow_id="p-deferred")
    local = local_flow.execute("source", {"n": 1})
    assert local.status == "paused"
    local_paused = JobState().deserialize(local.serialize())
    local_flow.resume(local)
    start_workers()
    job_id = runtime.submit(basic_flows.deferred_flow(flow_id="p-deferred"), "source", {"n": 1})
    from waiting import wait_until

    # The job is paused from inside the deferring step, before that step commits: wait for the commit too.
    settled = lambda s: s["status"] == "paused" and s["activations"]["done"] == s["activations"]["known"]  # noqa: E731
    wait_until(lambda: settled(runtime.job_summary(job_id)), timeout=15)
    paused = runtime.get_job(job_id)
    assert comparable(paused) == comparable(local_paused)
    runtime.resume(job_id)
    remote = runtime.wait(job_id, timeout=30)
    assert comparable(remote) == comparable(local)
