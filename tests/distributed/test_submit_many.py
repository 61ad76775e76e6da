"""Bulk submit: DistributedRuntime.submit_many, ``routilux submit --params-file`` and ``POST /api/jobs/batch``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import priority_flows
from console_helpers import OPERATOR, VIEWER, console, secured_console  # noqa: F401
from test_cli import cli  # noqa: F401
from routilux.errors import BulkSubmitError, EncodeError, FlowNotPublishedError, FlowValidationError

pytestmark = pytest.mark.distributed


def _item(s: float = 0.0, **extra: Any) -> dict[str, Any]:
    return {"flow": "nap", "entry": "nap", "params": {"s": s}, **extra}


def _entry_params(runtime: Any, job_id: str) -> dict[str, Any]:
    return runtime.get_job(job_id).execution_history[0].data


def _job_count(runtime: Any) -> int:
    return len(runtime.job_page(limit=500)["jobs"])


@pytest.mark.timeout(120)
def test_submit_many_starts_a_job_per_item_in_order_and_each_runs_once(runtime, start_workers):
    runtime.publish(priority_flows.nap_flow())
    items = [_item(k / 1000) for k in range(25)] + [_item(priority=8, timeout=30)]
    ids = runtime.submit_many(items, chunk_size=10)
    start_workers()
    assert len(set(ids)) == 26
    for k, job_id in enumerate(ids):
        state = runtime.wait(job_id, timeout=60)
        assert state.status == "completed" and _entry_params(runtime, job_id) == items[k]["params"]
        assert runtime.job_summary(job_id)["routines"]["done"]["runs"] == 1
    assert runtime.job_summary(ids[-1])["priority"] == 8 and runtime.store.meta(ids[-1])["timeout_s"] == "30"
    assert runtime.job_summary(ids[0])["priority"] == 5


@pytest.mark.parametrize("bad, cause", [
    ({"flow": "no-such-flow", "entry": "nap"}, FlowNotPublishedError),
    ({"flow": "nap", "entry": "no-such-routine"}, FlowValidationError),
    ({"flow": "nap", "entry": "nap", "params": {"s": object()}}, EncodeError),
    ({"flow": "nap", "entry": "nap", "timeout": -1}, ValueError),
    ({"flow": "nap", "entry": "nap", "tennant": "acme"}, ValueError),
    (["nap", "nap"], TypeError),
])
def test_a_refused_item_is_named_by_its_index_and_nothing_of_its_chunk_is_written(runtime, bad, cause):
    runtime.publish(priority_flows.nap_flow())
    with pytest.raises(BulkSubmitError) as refused:
        runtime.submit_many([_item(), _item(), bad, _item()])
    assert refused.value.index == 2 and refused.value.submitted == [] and "item 2" in str(refused.value)
    assert isinstance(refused.value.__cause__, cause)
    assert _job_count(runtime) == 0


def test_the_chunks_before_a_refused_item_stand_and_are_listed(runtime):
    runtime.publish(priority_flows.nap_flow())
    with pytest.raises(BulkSubmitError) as refused:
        runtime.submit_many([_item(), _item(), _item(), {"flow": "nap", "entry": "nope"}], chunk_size=2)
    assert refused.value.index == 3 and len(refused.value.submitted) == 2
    assert sorted(j["job_id"] for j in runtime.job_page(limit=10)["jobs"]) == sorted(refused.value.submitted)


@pytest.mark.timeout(120)
def test_submit_with_a_params_file_starts_a_job_per_line_and_prints_their_ids(runtime, start_workers, cli, tmp_path):
    runtime.publish(priority_flows.nap_flow())
    lines = tmp_path / "jobs.jsonl"
    lines.write_text('{"s": 0.001}\n\n{"s": 0.002}\n{"s": 0.003}\n')
    code, out, err = cli("submit", "nap", "--entry", "nap", "--params-file", str(lines), "--priority", "7")
    assert code == 0, err
    ids = out.split()
    start_workers()
    assert [_entry_params(runtime, j) for j in ids] == [{"s": 0.001}, {"s": 0.002}, {"s": 0.003}]
    assert all(runtime.wait(j, timeout=60).status == "completed" for j in ids)
    assert {runtime.job_summary(j)["priority"] for j in ids} == {7}
    code, out, _ = cli("status", ids[0])
    assert code == 0 and "priority: 7" in out


def test_a_params_file_line_that_is_refused_is_named_and_nothing_of_it_is_started(runtime, cli, tmp_path):
    runtime.publish(priority_flows.nap_flow())
    lines = tmp_path / "jobs.jsonl"
    lines.write_text('{"s": 0}\n[1, 2]\n')
    code, _, err = cli("submit", "nap", "--entry", "nap", "--params-file", str(lines))
    assert code == 2 and "line 2" in err
    lines.write_text('{"s": 0}\n\n{"s": 0}\n')
    code, _, err = cli("submit", "nap", "--entry", "no-such-routine", "--params-file", str(lines))
    assert code == 2 and "line 1" in err
    assert _job_count(runtime) == 0


def test_post_jobs_batch_starts_the_jobs_and_answers_their_ids_in_order(runtime, console):
    runtime.publish(priority_flows.nap_flow())
    answer = console.http.post("/api/jobs/batch", json={"items": [_item(0.5), _item(0.25, priority=9)]})
    assert answer.status_code == 201, answer.text
    ids = answer.json()["job_ids"]
    assert [_entry_params(runtime, j) for j in ids] == [{"s": 0.5}, {"s": 0.25}]
    assert console.http.get(f"/api/jobs/{ids[1]}").json()["summary"]["priority"] == 9


def test_post_jobs_batch_refuses_a_bad_item_by_index_too_many_items_and_a_viewer(runtime, secured_console):
    runtime.publish(priority_flows.nap_flow())
    with secured_console.client(OPERATOR) as operator, secured_console.client(VIEWER) as viewer:
        refused = operator.post("/api/jobs/batch", json={"items": [_item(), {"flow": "nap", "entry": "nope"}]})
        assert refused.status_code == 422 and "item 1" in refused.json()["error"]["message"]
        assert operator.post("/api/jobs/batch", json={"items": [_item()] * 1001}).status_code == 422
        assert operator.post("/api/jobs/batch", json={"items": [_item(priority=10)]}).status_code == 422
        assert viewer.post("/api/jobs/batch", json={"items": [_item()]}).status_code == 403
    assert _job_count(runtime) == 0
