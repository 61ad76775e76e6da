"""Sub-flows on the local engine: a SubFlow routine runs a registered child flow here and reports its end."""

from __future__ import annotations

import time
from typing import Any

import pytest

from routilux import Flow, Routine, SubFlow
from routilux.local import register_flow


class Cube(Routine):
    """Child entry: stores ``x ** 3`` as shared data ``y`` and sends it as output; fails on a negative ``x``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.set_config(sleep_s=0.0)

    def go(self, x: int = 0, **_: Any) -> None:
        time.sleep(self.get_config("sleep_s"))
        if x < 0:
            raise ValueError(f"no negative cubes: {x}")
        self.get_execution_context().job_state.update_shared_data("y", x ** 3)
        self.send_output("cube", y=x ** 3)


class KeepSubFlowReport(Routine):
    """Parent end: keeps what the SubFlow reported under shared data ``done`` / ``failed``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("ok", handler=lambda **d: self._keep("done", d))
        self.define_slot("bad", handler=lambda **d: self._keep("failed", d))

    def _keep(self, key: str, data: dict[str, Any]) -> None:
        self.get_execution_context().job_state.update_shared_data(key, data)


def child(flow_id: str, sleep_s: float = 0.0) -> Flow:
    flow = Flow(flow_id=flow_id)
    cube = Cube()
    cube.set_config(sleep_s=sleep_s)
    flow.add_routine(cube, "calc")
    return register_flow(flow)


def parent(child_id: str, result: str = "output") -> Flow:
    flow = Flow(flow_id=f"parent-of-{child_id}")
    sub = SubFlow()
    sub.set_config(flow=child_id, entry="calc", result=result)
    flow.add_routine(sub, "sub")
    flow.add_routine(KeepSubFlowReport(), "keep")
    flow.connect("sub", "done", "keep", "ok")
    flow.connect("sub", "failed", "keep", "bad")
    return flow


@pytest.mark.parametrize(("mode", "expected"), [("shared_data", {"y": 27}), ("y", 27)])
def test_a_local_subflow_completes_with_the_childs_shared_data_or_one_key(mode, expected):
    child("local-cube")
    state = parent("local-cube", mode).execute("sub", {"x": 3}, timeout=10)
    assert state.status == "completed", state.error
    assert state.shared_data["done"]["result"] == expected


def test_a_local_subflow_reports_the_childs_output_and_links_both_jobs():
    child("local-cube")
    state = parent("local-cube", "output").execute("sub", {"x": 2}, timeout=10)
    done = state.shared_data["done"]
    assert [(e["routine_id"], e["output_type"], e["data"]) for e in done["result"]] == [("calc", "cube", {"y": 8})]
    assert state.metadata["children"] == [done["child_job_id"]]


def test_a_failing_local_child_makes_the_subflow_emit_failed_with_the_reason():
    child("local-cube")
    state = parent("local-cube").execute("sub", {"x": -1}, timeout=10)
    assert state.status == "completed", state.error
    assert state.shared_data["failed"]["status"] == "failed"
    assert "no negative cubes: -1" in state.shared_data["failed"]["error"]
    assert "done" not in state.shared_data


def test_cancelling_a_local_parent_cancels_its_running_child():
    child_flow = child("local-slow-cube", sleep_s=1.0)
    flow = parent("local-slow-cube")
    state = flow.start("sub", {"x": 2})
    deadline = time.monotonic() + 5
    while not state.metadata.get("children") and time.monotonic() < deadline:
        time.sleep(0.01)
    flow.cancel(state, "operator")
    state.wait()
    assert state.status == "cancelled"
    [kid] = state.metadata["children"]
    kid_state = child_flow.get_execution(kid)
    kid_state.wait()
    assert kid_state.status == "cancelled"
    assert kid_state.metadata["parent"]["job_id"] == state.job_id
    assert state.shared_data.get("done") is None and state.shared_data.get("failed") is None


def test_a_subflow_naming_an_unregistered_local_flow_fails_its_job_with_a_clear_error():
    state = parent("never-registered").execute("sub", {"x": 1}, timeout=10)
    assert state.status == "failed"
    assert "no local flow 'never-registered'" in state.error


def test_a_spec_file_can_use_subflow():
    child("local-cube")
    spec = {"flow_id": "spec-parent", "entry": "sub",
            "routines": {"sub": {"class": "SubFlow", "config": {"flow": "local-cube", "entry": "calc", "result": "y"}},
                         "keep": {"class": "KeepSubFlowReport"}},
            "connections": [{"from": "sub.done", "to": "keep.ok"}, {"from": "sub.failed", "to": "keep.bad"}]}
    state = Flow.from_spec(spec).execute("sub", {"x": 4}, timeout=10)
    assert state.shared_data["done"]["result"] == 64
