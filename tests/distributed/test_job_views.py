"""What the summary, the API and ``routilux status`` say about a job: cancelled and forked jobs read
consistently, against a real Redis, real workers and a real console server."""

from __future__ import annotations

import uuid

import pytest

import cli_flows
import basic_flows
from console_helpers import console  # noqa: F401
from routilux.cli.jobs import format_status
from routilux.distributed.operations.fork import fork_job
from routilux.distributed.operations.history import positions, replay_job

pytestmark = pytest.mark.distributed


def test_a_cancelled_jobs_routines_agree_in_the_summary_and_the_api_and_none_runs_for_ever(
        runtime, start_workers, console):
    start_workers()
    name = uuid.uuid4().hex
    entered, release = cli_flows.gate(name)
    job_id = runtime.submit(cli_flows.make_flow(), "start", {"gate": name})
    assert entered.wait(10)
    runtime.cancel(job_id, reason="not needed")
    release.set()
    runtime.wait(job_id, timeout=10)
    body = console.http.get(f"/api/jobs/{job_id}").json()
    summary, routines = body["summary"], body["routines"]
    assert summary["status"] == "cancelled"
    assert "_cancellation" not in summary["routines"] and "_cancellation" not in routines
    assert all(r["status"] != "running" for r in routines.values()), routines
    for rid, view in routines.items():
        assert view["status"] == summary["routines"][rid]["status"], (rid, view, summary["routines"][rid])
    assert summary["routines"]["held"]["status"] == "not run"
    assert "_cancellation" not in format_status(runtime.get_job(job_id))


def test_a_forked_job_says_where_it_came_from_and_its_inherited_routines_keep_their_state(
        runtime, start_workers, console):
    start_workers()
    job_id = runtime.submit(basic_flows.chain_flow("chain-forked-from"), "source", {"n": 3})
    runtime.wait(job_id, timeout=30)
    middle = next(p["id"] for p in positions(runtime.store, job_id)
                  if len(replay_job(runtime.store, job_id, p["id"]).state.shared_log) == 1)
    new_id = fork_job(runtime, job_id, middle)
    assert runtime.wait(new_id, timeout=30).status == "completed"

    summary = runtime.job_summary(new_id)
    assert summary["forked_from"] == {"job_id": job_id, "at": middle}
    assert runtime.job_summary(job_id)["forked_from"] is None
    assert summary["routines"]["source"] == {"status": "completed", "runs": 1, "errors": 0}
    assert runtime.get_job(new_id).metadata["forked_from"] == {"job_id": job_id, "at": middle}
    assert f"forked:   from job {job_id} at {middle}" in format_status(runtime.get_job(new_id))

    body = console.http.get(f"/api/jobs/{new_id}").json()
    assert body["summary"]["forked_from"]["job_id"] == job_id
    assert body["job"]["metadata"]["forked_from"]["at"] == middle
    assert body["routines"]["source"]["status"] == "completed" and body["routines"]["source"]["inherited"]
    # Right after the fork, before anything of it ran, the inherited entry routine is not "pending".
    first = replay_job(runtime.store, new_id, positions(runtime.store, new_id)[0]["id"]).routines()
    assert first["source"]["status"] == "completed" and first["source"]["runs"] == 1


def test_a_failed_handlers_stack_trace_is_kept_shown_folded_and_logged_by_the_worker(runtime, spawn_worker, settings):
    from test_cli import clean_env, run_python, settings_env
    from waiting import wait_until

    worker = spawn_worker()
    job_id = runtime.submit(basic_flows.strategy_flow("default", "strategy-trace"), "source", {"n": 1})
    assert runtime.wait(job_id, timeout=60).status == "failed"
    (record,) = [r for r in runtime.get_job(job_id).execution_history if r.event_name == "error"]
    assert record.data["traceback"].startswith("Traceback (most recent call last):")
    assert "in go" in record.data["traceback"] and "RuntimeError: transient failure 1" in record.data["traceback"]

    env = clean_env(**settings_env(settings))
    status = run_python("-m", "routilux.cli", "status", job_id[:8], env=env)
    assert status.returncode == 0, status.stderr
    assert "trace:    flaky (error, RuntimeError):" in status.stdout
    assert "    RuntimeError: transient failure 1" in status.stdout
    events = run_python("-m", "routilux.cli", "events", job_id, env=env)
    lines = events.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "error: transient failure 1" in line)
    assert lines[at + 1].startswith("    ") and any("in go" in line for line in lines[at + 1:at + 10])
    assert '"traceback"' not in events.stdout  # folded under its line, not inside the JSON payload

    log = worker.folder / "worker.log"
    wait_until(lambda: "RuntimeError: transient failure 1" in log.read_text(), timeout=10)
    text = log.read_text()
    assert "ERROR" in text and "routine 'flaky' slot 'input' of job " + job_id in text
    assert "Traceback (most recent call last):" in text


@pytest.mark.timeout(180)
def test_a_dead_letter_keeps_the_stack_trace_of_the_error_that_put_it_there(runtime, spawn_worker, settings):
    import extra_flows
    from waiting import wait_until
    from test_cli import clean_env, run_python, settings_env

    strict = settings.with_(max_attempts=2)
    spawn_worker(imports=("basic_flows",), pool="solo", concurrency=1, settings_=strict)
    job_id = runtime.submit(extra_flows.extra_flow(), "source", {"n": 1})
    assert runtime.wait(job_id, timeout=120).status == "failed"
    letter = wait_until(lambda: runtime.dead_letters(), timeout=10)[0]
    assert letter["job"] == job_id
    assert letter["trace"].startswith("Traceback (most recent call last):")
    assert "extra_flows.Extra" in letter["trace"]
    shown = run_python("-m", "routilux.cli", "dead-letters", "show", letter["id"], env=clean_env(**settings_env(settings)))
    assert shown.returncode == 0, shown.stderr
    assert "\ntrace:\n" in shown.stdout and "extra_flows.Extra" in shown.stdout.split("\ntrace:\n")[1]


def test_a_misspelt_entry_parameter_is_refused_at_submit_by_runtime_cli_and_api(runtime, settings, console):
    from examples import orders
    from routilux.errors import EntryParamsError
    from test_cli import clean_env, run_python, settings_env

    flow = orders.make_flow()
    with pytest.raises(EntryParamsError, match="it takes orders"):
        runtime.submit(flow, "source", {"ordres": []})
    runtime.publish(flow)
    with pytest.raises(EntryParamsError, match="it takes orders"):
        runtime.submit("orders", "source", {"ordres": []})  # by id: the class is imported here
    cli = run_python("-m", "routilux.cli", "submit", "orders", "source", "--import", "examples.orders",
                     "--params", '{"ordres": []}', env=clean_env(**settings_env(settings)))
    assert cli.returncode == 1 and cli.stdout == ""
    assert "takes no parameter 'ordres'; it takes orders" in cli.stderr and "Traceback" not in cli.stderr
    answer = console.http.post("/api/jobs", json={"flow": "orders", "entry": "source", "params": {"ordres": []}})
    assert answer.status_code == 422 and answer.json()["error"]["type"] == "EntryParamsError"
    assert runtime.jobs() == []  # nothing was started
    assert runtime.submit("orders", "source", {"orders": []})


def test_a_flows_description_says_which_params_its_entry_takes_where_this_process_knows(runtime, console):
    from examples import orders

    runtime.publish(orders.make_flow())
    runtime.publish(basic_flows.chain_flow("chain-entry-params"))
    assert runtime.flow_info("orders")["routines"]["source"]["entry_params"] == \
        {"params": ["orders"], "accepts_any": False}
    assert runtime.flow_info("chain-entry-params")["routines"]["source"]["entry_params"] == \
        {"params": ["n"], "accepts_any": True}  # go(self, n=3, **_): n is named, anything else is taken too
    assert "entry_params" not in runtime.flow_info("orders")["routines"]["validator"]
