"""The workers list (pool, uptime, counts, heartbeat age) and a warm shutdown asked through Celery's remote
control, with real worker subprocesses and a real Redis."""

from __future__ import annotations

import pytest

import ops_flows
from conftest import both_brokers, settings_env
from console_helpers import OPERATOR, VIEWER, secured_console  # noqa: F401
from waiting import wait_until
from routilux.cli import main
from routilux.errors import WorkerNotFoundError

pytestmark = pytest.mark.distributed


def counted(runtime, name: str, processed: int):
    """The worker's row once it counts ``processed`` activations and its processes report nothing running."""
    row = runtime.workers()[name]
    return row if row["processed"] == processed and row["running"] == [] else None


def test_a_worker_row_shows_its_pool_uptime_counts_and_heartbeat_age(runtime, spawn_worker):
    worker = spawn_worker(imports=("ops_flows",), pool="prefork", concurrency=2)
    wait_until(lambda: worker.name in runtime.workers(), timeout=30)
    flow = ops_flows.orders_flow("workers-count")
    ids = [runtime.submit(flow, "order", {"customer": c, "fail": c == "bad"}) for c in ("a", "b", "bad")]
    assert [runtime.wait(job_id, timeout=30).status for job_id in ids] == ["completed", "completed", "failed"]
    # two steps per shipped order, one failed step for the bad one; counted by the pool children
    row = wait_until(lambda: counted(runtime, worker.name, 5), timeout=10)
    assert row["failed"] == 1
    assert (row["pool"], row["concurrency"]) == ("prefork", 2)
    assert row["started_at"] and 0 <= row["uptime_s"] < 300 and 0 <= row["heartbeat_age_s"] < 10
    assert row["running"] == []


def test_an_operator_shuts_a_worker_down_warmly_and_its_running_step_still_commits(runtime, spawn_worker,
                                                                                    secured_console):
    worker = spawn_worker(imports=("ops_flows",), pool="prefork", concurrency=2)
    wait_until(lambda: worker.name in runtime.workers(), timeout=30)
    job_id = runtime.submit(ops_flows.orders_flow("workers-stop", sleep_s=2.0), "order", {"customer": "a"})
    wait_until(lambda: [r["routine_id"] for r in runtime.workers()[worker.name]["running"]] == ["ship"], timeout=20)
    viewer, operator = secured_console.client(VIEWER), secured_console.client(OPERATOR)
    assert viewer.post(f"/api/workers/{worker.name}/shutdown").status_code == 403
    assert operator.post("/api/workers/nobody@nowhere/shutdown").status_code == 404
    assert operator.post(f"/api/workers/{worker.name}/shutdown").status_code == 202
    assert worker.proc.wait(timeout=30) == 0
    state = runtime.wait(job_id, timeout=5)  # the step it was running committed before it left
    assert state.status == "completed" and state.shared_data["shipped"] == {"customer": "a"}
    assert worker.name not in runtime.workers()


@both_brokers
def test_the_cli_lists_workers_and_asks_one_to_shut_down(runtime, settings, spawn_worker, monkeypatch, capsys):
    for key, value in settings_env(settings).items():  # the broker's URL too
        monkeypatch.setenv(key, value)
    worker = spawn_worker(imports=("ops_flows",), pool="threads", concurrency=3)
    wait_until(lambda: worker.name in runtime.workers(), timeout=30)
    capsys.readouterr()
    assert main(["workers"]) == 0
    line = next(line for line in capsys.readouterr()[0].splitlines() if line.startswith(worker.name))
    assert "threads x3" in line
    assert main(["workers", "shutdown", worker.name]) == 0
    assert worker.proc.wait(timeout=30) == 0
    assert main(["workers", "shutdown"]) == 2
    with pytest.raises(WorkerNotFoundError):
        runtime.shutdown_worker(worker.name)
