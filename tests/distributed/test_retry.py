"""Retrying a failed job: a new job with the same input, linked both ways. Real Redis, real in-process worker."""

from __future__ import annotations

import pytest

import ops_flows
from console_helpers import OPERATOR, VIEWER, secured_console  # noqa: F401
from routilux.cli import main
from routilux.errors import FlowError, JobNotFoundError

pytestmark = pytest.mark.distributed


@pytest.fixture
def failing_customer():
    """A customer whose orders fail until the test removes it from FAILING_CUSTOMERS."""
    ops_flows.FAILING_CUSTOMERS.add("zed")
    yield "zed"
    ops_flows.FAILING_CUSTOMERS.discard("zed")


def test_a_retried_failed_job_runs_again_with_the_same_input_and_both_jobs_name_each_other(
        runtime, start_workers, failing_customer):
    start_workers()
    old = runtime.submit(ops_flows.orders_flow("retry-orders"), "order", {"customer": failing_customer, "n": 7},
                         timeout=120)
    assert runtime.wait(old, timeout=30).status == "failed"
    first = runtime.retry(old)
    assert runtime.wait(first, timeout=30).status == "failed"  # still broken: fails again, as a new job
    ops_flows.FAILING_CUSTOMERS.discard(failing_customer)
    second = runtime.retry(old)
    state = runtime.wait(second, timeout=30)
    assert state.status == "completed"
    assert state.shared_data["shipped"] == {"customer": "zed", "n": 7}
    assert runtime.job_summary(old)["retries"] == [first, second]
    assert runtime.job_summary(second)["retried_from"] == old
    assert runtime.store.meta(second)["flow_hash"] == runtime.store.meta(old)["flow_hash"]
    assert float(runtime.store.meta(second)["timeout_s"]) == 120


def test_only_a_failed_or_cancelled_job_can_be_retried(runtime, start_workers):
    start_workers()
    done = runtime.submit(ops_flows.orders_flow("retry-done"), "order", {"customer": "amy"})
    assert runtime.wait(done, timeout=30).status == "completed"
    with pytest.raises(FlowError, match="completed"):
        runtime.retry(done)
    with pytest.raises(JobNotFoundError):
        runtime.retry("no-such-job")
    runtime.pause(paused := runtime.submit(ops_flows.orders_flow("retry-done"), "order", {}))
    runtime.cancel(paused)
    assert runtime.wait(runtime.retry(paused), timeout=30).status == "completed"


def test_retry_over_http_answers_the_new_job_for_an_operator_only(runtime, start_workers, secured_console,
                                                                  failing_customer):
    start_workers()
    old = runtime.submit(ops_flows.orders_flow("retry-http"), "order", {"customer": failing_customer})
    runtime.wait(old, timeout=30)
    assert secured_console.client(VIEWER).post(f"/api/jobs/{old}/retry").status_code == 403
    answer = secured_console.client(OPERATOR).post(f"/api/jobs/{old}/retry")
    assert answer.status_code == 201 and answer.json()["retried_from"] == old
    new_id = answer.json()["job_id"]
    runtime.wait(new_id, timeout=30)
    summary = secured_console.client(VIEWER).get(f"/api/jobs/{new_id}").json()["summary"]
    assert summary["retried_from"] == old
    running = runtime.submit(ops_flows.orders_flow("retry-http"), "order", {"customer": "x"})
    runtime.pause(running)
    assert secured_console.client(OPERATOR).post(f"/api/jobs/{running}/retry").status_code == 409


def test_the_cli_retries_and_waits_for_the_new_job(runtime, settings, start_workers, monkeypatch, capsys,
                                                   failing_customer):
    for key, value in {"ROUTILUX_REDIS_URL": settings.redis_url, "ROUTILUX_KEY_PREFIX": settings.key_prefix,
                       "ROUTILUX_QUEUE": settings.queue}.items():
        monkeypatch.setenv(key, value)
    start_workers()
    old = runtime.submit(ops_flows.orders_flow("retry-cli"), "order", {"customer": failing_customer})
    runtime.wait(old, timeout=30)
    ops_flows.FAILING_CUSTOMERS.discard(failing_customer)
    capsys.readouterr()
    assert main(["retry", old, "--wait"]) == 0
    new_id, status = capsys.readouterr()[0].splitlines()
    assert status == f"job {new_id} completed"
    assert runtime.job_summary(old)["retries"] == [new_id]


def test_a_retried_fork_is_forked_again_from_the_same_point_of_the_original(runtime, start_workers,
                                                                             failing_customer):
    from routilux.distributed.operations.fork import fork_job
    from routilux.distributed.operations.history import positions

    start_workers()
    original = runtime.submit(ops_flows.orders_flow("retry-fork"), "order", {"customer": failing_customer})
    runtime.wait(original, timeout=30)
    first_entry = positions(runtime.store, original)[0]["id"]  # the submit: the order still to run
    forked = fork_job(runtime, original, first_entry)
    assert runtime.wait(forked, timeout=30).status == "failed"
    ops_flows.FAILING_CUSTOMERS.discard(failing_customer)
    again = runtime.retry(forked)
    state = runtime.wait(again, timeout=30)
    assert state.status == "completed" and state.shared_data["shipped"] == {"customer": failing_customer}
    meta = runtime.store.meta(again)
    assert (meta["forked_from"], meta["forked_at"]) == (original, first_entry)
    assert runtime.job_summary(forked)["retries"] == [again]
    assert runtime.job_summary(again)["retried_from"] == forked
