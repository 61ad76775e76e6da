"""Sub-flows on the distributed engine: a SubFlow routine runs a child job and reports how it ended.

Real Redis and real Celery workers (in-process; a subprocess worker for the SIGKILL test).
"""

from __future__ import annotations

import pytest

import subflow_flows as sf
from conftest import settings_env
from console_helpers import console  # noqa: F401
from waiting import wait_until, workers_up
from routilux.cli import main
from routilux.distributed.subflows import child_job_id

pytestmark = [pytest.mark.distributed]


def children_of(runtime, parent_id: str) -> list[dict]:
    """Rows of every job whose parent is ``parent_id``."""
    return [row for row in runtime.jobs() if (row.get("parent") or {}).get("job_id") == parent_id]


def start_parent(runtime, result: str = "output", x: int = 7, sleep_s: float = 0.0) -> str:
    runtime.publish(sf.child_flow(sleep_s))
    return runtime.submit(sf.parent_flow("square-child", result), "sub", {"x": x})


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("mode", "expected"), [("shared_data", {"y": 49}), ("y", 49)])
def test_a_parent_with_a_subflow_completes_with_the_childs_shared_data_or_one_key(runtime, start_workers, mode,
                                                                                  expected):
    start_workers(concurrency=2)
    state = runtime.wait(start_parent(runtime, mode), timeout=30)
    assert state.status == "completed", state.error
    [done] = state.shared_data["done"]
    assert done["result"] == expected
    assert "failed" not in state.shared_data


@pytest.mark.timeout(60)
def test_a_parent_with_a_subflow_completes_with_the_childs_output_and_both_are_linked(runtime, start_workers):
    start_workers(concurrency=2)
    parent_id = start_parent(runtime, "output")
    state = runtime.wait(parent_id, timeout=30)
    assert state.status == "completed", state.error
    [done] = state.shared_data["done"]
    assert [(e["routine_id"], e["output_type"], e["data"]) for e in done["result"]] == [("calc", "square", {"y": 49})]
    summary = runtime.job_summary(parent_id)
    [kid] = summary["children"]
    assert kid["job_id"] == done["child_job_id"] == child_job_id(parent_id, kid["activation"])
    assert kid["state"] == "done"
    child = runtime.job_summary(kid["job_id"])
    assert child["status"] == "completed"
    assert child["parent"] == {"job_id": parent_id, "activation": kid["activation"], "routine": "sub"}
    assert [row["job_id"] for row in children_of(runtime, parent_id)] == [kid["job_id"]]


@pytest.mark.timeout(60)
def test_a_failing_child_makes_the_subflow_emit_failed_with_the_reason(runtime, start_workers):
    start_workers(concurrency=2)
    state = runtime.wait(start_parent(runtime, x=-3), timeout=30)
    assert state.status == "completed", state.error
    [failed] = state.shared_data["failed"]
    assert failed["status"] == "failed"
    assert "cannot square a negative number here: -3" in failed["error"]
    assert runtime.get_job(failed["child_job_id"]).status == "failed"
    assert "done" not in state.shared_data


@pytest.mark.timeout(60)
def test_the_parent_stays_open_while_its_child_runs(runtime, start_workers):
    start_workers(concurrency=2)
    parent_id = start_parent(runtime, "y", sleep_s=1.5)
    wait_until(lambda: runtime.job_summary(parent_id)["children"], timeout=20)
    kid = runtime.job_summary(parent_id)["children"][0]["job_id"]
    wait_until(lambda: runtime.job_summary(parent_id)["routines"]["sub"]["runs"] == 1, timeout=20)
    # The SubFlow step has committed: nothing of the parent is pending but the child.
    assert runtime.job_status(kid) == "running"
    assert runtime.job_status(parent_id) == "running"
    assert runtime.wait(parent_id, timeout=30).shared_data["done"][0]["result"] == 49


@pytest.mark.timeout(60)
def test_cancelling_the_parent_cancels_its_child_and_the_childs_end_changes_nothing(runtime, start_workers):
    start_workers(concurrency=2)
    parent_id = start_parent(runtime, "y", sleep_s=2.0)
    wait_until(lambda: runtime.job_summary(parent_id)["children"], timeout=20)
    kid = runtime.job_summary(parent_id)["children"][0]["job_id"]
    runtime.cancel(parent_id, reason="operator")
    assert runtime.wait(kid, timeout=20).status == "cancelled"
    state = runtime.wait(parent_id, timeout=5)
    assert state.status == "cancelled"
    assert "done" not in state.shared_data and "failed" not in state.shared_data
    assert runtime.job_summary(parent_id)["children"][0]["state"] == "open"  # never released: the parent had ended


@pytest.mark.timeout(60)
def test_cancelling_a_child_makes_its_parents_subflow_emit_failed(runtime, start_workers):
    start_workers(concurrency=2)
    parent_id = start_parent(runtime, "y", sleep_s=2.0)
    wait_until(lambda: runtime.job_summary(parent_id)["children"], timeout=20)
    kid = runtime.job_summary(parent_id)["children"][0]["job_id"]
    runtime.cancel(kid, reason="not needed")
    state = runtime.wait(parent_id, timeout=20)
    assert state.status == "completed", state.error
    [failed] = state.shared_data["failed"]
    assert (failed["status"], failed["child_job_id"]) == ("cancelled", kid)


@pytest.mark.timeout(60)
def test_a_parent_failed_by_its_deadline_cancels_its_child(runtime, start_workers):
    start_workers(concurrency=2)
    runtime.publish(sf.child_flow(sleep_s=3.0))
    parent_id = runtime.submit(sf.parent_flow("square-child", "y"), "sub", {"x": 2}, timeout=1.0)
    wait_until(lambda: runtime.job_summary(parent_id)["children"], timeout=20)
    kid = runtime.job_summary(parent_id)["children"][0]["job_id"]
    assert runtime.wait(parent_id, timeout=20).status == "failed"
    assert runtime.wait(kid, timeout=20).status == "cancelled"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_one_child_per_activation_when_the_parents_worker_is_killed_right_after_starting_it(
        runtime, spawn_worker, tmp_path):
    doomed = spawn_worker(imports=("subflow_flows",), pool="solo", concurrency=1)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    runtime.publish(sf.child_flow())
    sub = sf.SubFlowThenDie()
    sub.set_config(marker=str(tmp_path / "killed-once"))
    parent_id = runtime.submit(sf.parent_flow("square-child", "y", sub=sub), "sub", {"x": 5})
    wait_until(lambda: doomed.proc.poll() is not None, timeout=30)  # it started the child, then died
    assert (tmp_path / "killed-once").read_text() == str(doomed.proc.pid)
    spawn_worker(imports=("subflow_flows",), pool="solo", concurrency=1)
    state = runtime.wait(parent_id, timeout=60)
    assert state.status == "completed", state.error
    assert state.shared_data["done"] == [{"result": 25, "child_job_id": state.shared_data["done"][0]["child_job_id"]}]
    kids = children_of(runtime, parent_id)
    assert len(kids) == 1
    assert kids[0]["status"] == "completed"
    assert [r.routine_id for r in state.execution_history if r.event_name == "done"] == ["sub"]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_redis_restart_on_aof_while_a_child_runs_loses_neither_the_child_nor_its_report(own_redis, start_workers):
    server, settings, runtime = own_redis
    start_workers(concurrency=2, settings_=settings)
    parent_id = start_parent(runtime, "y", x=4, sleep_s=1.5)
    wait_until(lambda: runtime.job_summary(parent_id)["children"], timeout=20)
    kid = runtime.job_summary(parent_id)["children"][0]["job_id"]
    server.restart()
    state = runtime.wait(parent_id, timeout=60)
    assert state.status == "completed", state.error
    assert [d["result"] for d in state.shared_data["done"]] == [16]
    assert [row["job_id"] for row in children_of(runtime, parent_id)] == [kid]


@pytest.mark.timeout(60)
def test_routilux_status_and_the_jobs_api_link_parent_and_child_both_ways(runtime, settings, start_workers, console,
                                                                         monkeypatch, capsys):
    start_workers(concurrency=2)
    parent_id = start_parent(runtime, "y", x=3)
    runtime.wait(parent_id, timeout=30)
    parent = console.http.get(f"/api/jobs/{parent_id}").json()["summary"]
    [kid] = parent["children"]
    assert (parent["parent"], kid["state"]) == (None, "done")
    child = console.http.get(f"/api/jobs/{kid['job_id']}").json()["summary"]
    assert child["parent"] == {"job_id": parent_id, "activation": kid["activation"], "routine": "sub"}
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    assert main(["status", parent_id]) == 0
    assert f"child:    job {kid['job_id']} (ended)" in capsys.readouterr().out
    assert main(["status", kid["job_id"]]) == 0
    assert f"parent:   job {parent_id} (routine sub, activation {kid['activation']})" in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_the_sweeper_reports_a_child_whose_end_nobody_reported(runtime, start_workers):
    start_workers(concurrency=2)
    parent_id = start_parent(runtime, "y", x=6, sleep_s=1.0)
    wait_until(lambda: runtime.job_summary(parent_id)["children"], timeout=20)
    kid = runtime.job_summary(parent_id)["children"][0]["job_id"]
    meta = runtime.store.keys.job(kid, "meta")
    wait_until(lambda: runtime.store.redis.hget(meta, "parent_job"), timeout=20)
    # As if the worker that ended the child died before telling the parent: hide the link until then.
    runtime.store.redis.hdel(meta, "parent_job")
    assert runtime.wait(kid, timeout=20).status == "completed"
    assert runtime.job_status(parent_id) == "running"
    runtime.store.redis.hset(meta, "parent_job", parent_id)
    state = runtime.wait(parent_id, timeout=30)
    assert state.status == "completed", state.error
    assert [d["result"] for d in state.shared_data["done"]] == [36]
