"""Fair share across tenants on the Redis broker: a backlog of one tenant does not hold up another's job,
and tenants with work waiting progress in the ratio of their weights."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgpack
import pytest

import tenant_flows
from console_helpers import console  # noqa: F401
from test_cli import cli  # noqa: F401
from waiting import wait_until, workers_up
from routilux.distributed.protocol.envelope import open_body
from routilux.distributed.protocol.tenants import FairOrder, tenant_list
from routilux.errors import BulkSubmitError, FlowError, InvalidTenantError

pytestmark = pytest.mark.distributed


def _jobs(runtime: Any, count: int, nap_s: float, tenant: str | None) -> list[str]:
    return runtime.submit_many([{"flow": tenant_flows.solo_flow(), "entry": "nap", "params": {"s": nap_s},
                                 "tenant": tenant}] * count)


def _finished_ms(runtime: Any, job_id: str) -> int:
    return int(runtime.store.meta(job_id)["finished_at"])


def _all_done(runtime: Any, job_ids: list[str]) -> None:
    for job_id in job_ids:
        assert runtime.wait(job_id, timeout=120).status == "completed"


def test_fair_order_serves_backlogged_tenants_in_the_ratio_of_their_weights():
    fair, weights, served = FairOrder(), {"a": 1, "b": 3}, {"a": 0, "b": 0}
    for _ in range(400):
        first = fair.order(["a", "b"])[0]
        fair.served(first, weights[first])
        served[first] += 1
    assert served == {"a": 100, "b": 300}


def test_fair_order_reads_a_new_tenant_next_and_lets_an_idle_one_bank_no_credit():
    fair = FairOrder()
    for _ in range(50):
        fair.served("a", 1)
    assert fair.order(["a", "new"])[0] == "new"
    fair.served("new", 1)
    picks = []
    for _ in range(10):  # "new" had no work for 50 reads: it gets its share from now on, not 50 reads in a row
        first = fair.order(["a", "new"])[0]
        fair.served(first, 1)
        picks.append(first)
    assert picks.count("new") == 5


@pytest.mark.timeout(180)
def test_another_tenants_new_job_overtakes_one_tenants_backlog(runtime, start_workers):
    backlog = _jobs(runtime, 300, 0.02, "acme")
    start_workers(concurrency=2)
    wait_until(lambda: runtime.job_status(backlog[10]) == "completed", timeout=60)
    other = runtime.submit(tenant_flows.solo_flow(), "nap", {"s": 0.0}, tenant="globex")
    _all_done(runtime, [other, *backlog])
    done_at = _finished_ms(runtime, other)
    assert sum(_finished_ms(runtime, j) > done_at for j in backlog) / len(backlog) >= 0.8
    assert runtime.job_summary(other)["tenant"] == "globex" and runtime.job_summary(backlog[0])["tenant"] == "acme"


@pytest.mark.timeout(180)
def test_two_backlogged_tenants_progress_in_the_ratio_of_their_weights(runtime, start_workers):
    runtime.set_tenant_weight("acme", 1)
    runtime.set_tenant_weight("globex", 3)
    acme, globex = _jobs(runtime, 200, 0.005, "acme"), _jobs(runtime, 200, 0.005, "globex")
    start_workers(concurrency=2)
    _all_done(runtime, acme + globex)
    ends = sorted([(_finished_ms(runtime, j), "acme") for j in acme] + [(_finished_ms(runtime, j), "globex")
                                                                        for j in globex])
    first = [tenant for _, tenant in ends[:160]]  # both still have work waiting: globex's 200 last 267 reads
    assert 2.0 <= first.count("globex") / first.count("acme") <= 4.5


@pytest.mark.timeout(120)
def test_jobs_without_a_tenant_share_the_workers_with_a_tenants_backlog(runtime, start_workers):
    backlog = _jobs(runtime, 300, 0.02, "acme")
    start_workers(concurrency=2)
    wait_until(lambda: runtime.job_status(backlog[10]) == "completed", timeout=60)
    plain = runtime.submit(tenant_flows.solo_flow(), "nap", {"s": 0.0})
    _all_done(runtime, [plain, *backlog])
    done_at = _finished_ms(runtime, plain)
    assert sum(_finished_ms(runtime, j) > done_at for j in backlog) / len(backlog) >= 0.8
    assert runtime.job_summary(plain)["tenant"] is None


@pytest.mark.timeout(120)
def test_every_activation_of_a_job_carries_its_tenant(runtime, start_workers):
    from priority_flows import nap_flow

    job_id = runtime.submit(nap_flow(), "nap", {"s": 0.0}, tenant="acme", priority=8)
    start_workers()
    assert runtime.wait(job_id, timeout=60).status == "completed"
    bodies = []
    for _, fields in runtime.store.redis.xrange(runtime.store.keys.job(job_id, "log")):
        if fields.get(b"kids"):
            bodies += msgpack.unpackb(fields[b"kids"], raw=True)[1::2]
    assert [(open_body(b).get("tn"), open_body(b).get("pr")) for b in bodies] == [("acme", 8), ("acme", 8)]
    assert runtime.store.meta(job_id)["tenant"] == "acme"


def test_a_bad_tenant_or_weight_is_refused_before_anything_is_written(runtime):
    for bad in ("", "a b", "x" * 65, "t\x06\x16", 7):
        with pytest.raises(InvalidTenantError, match="tenant"):
            runtime.submit(tenant_flows.solo_flow(), "nap", tenant=bad)
    with pytest.raises(BulkSubmitError) as refused:
        runtime.submit_many([{"flow": tenant_flows.solo_flow(), "entry": "nap", "tenant": "ok"},
                             {"flow": tenant_flows.solo_flow(), "entry": "nap", "tenant": "not ok"}])
    assert refused.value.index == 1 and isinstance(refused.value.__cause__, InvalidTenantError)
    for weight in (0, 1001, 2.5, True, "3"):
        with pytest.raises(InvalidTenantError, match="weight"):
            runtime.set_tenant_weight("acme", weight)
    assert runtime.job_page(limit=10)["jobs"] == []


@pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)
def test_on_rabbitmq_a_tenant_weight_is_refused_with_the_reason(runtime):
    with pytest.raises(FlowError, match="Redis broker"):
        runtime.set_tenant_weight("acme", 2)


# The killed worker's message goes back onto its tenant's list, not the plain one (the sweeper restores what
# the worker fetched, and its backstop re-sends the activation), and is read before most of the other
# tenant's backlog queued since.
@pytest.mark.timeout(240)
def test_a_job_whose_worker_was_killed_goes_back_to_its_tenants_list(settings, runtime, spawn_worker):
    doomed = spawn_worker(imports=("tenant_flows",), pool="solo", concurrency=1)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    job_id = runtime.submit(tenant_flows.solo_flow(), "nap", {"s": 2.0}, tenant="globex")
    wait_until(lambda: runtime.job_summary(job_id)["started_at"], timeout=30)
    doomed.kill()
    backlog = _jobs(runtime, 150, 0.05, "acme")
    # A worker of another queue sweeps: the message is seen back on its tenant's list before anyone reads it.
    spawn_worker(imports=("tenant_flows",), pool="solo", concurrency=1,
                 settings_=dataclasses.replace(settings, queues=(f"{settings.queue}-other",)))
    globex_list = runtime.store.keys.broker_prefix + tenant_list(settings.queue, "globex")
    wait_until(lambda: runtime.store.redis.llen(globex_list) >= 1, timeout=60)
    spawn_worker(imports=("tenant_flows",), pool="solo", concurrency=1)
    _all_done(runtime, [job_id, *backlog])
    done_at = _finished_ms(runtime, job_id)
    assert sum(_finished_ms(runtime, j) > done_at for j in backlog) / len(backlog) >= 0.8


def test_the_cli_and_post_jobs_take_a_tenant_and_the_console_shows_it(runtime, cli, console):
    runtime.publish(tenant_flows.solo_flow())
    code, out, err = cli("submit", "solo-nap", "nap", "--tenant", "acme")
    assert code == 0, err
    assert runtime.job_summary(out.strip())["tenant"] == "acme"
    answer = console.http.post("/api/jobs", json={"flow": "solo-nap", "entry": "nap", "tenant": "globex"})
    assert answer.status_code == 201, answer.text
    assert console.http.get(f"/api/jobs/{answer.json()['job_id']}").json()["summary"]["tenant"] == "globex"
    refused = console.http.post("/api/jobs", json={"flow": "solo-nap", "entry": "nap", "tenant": "not ok"})
    assert refused.status_code == 422 and "tenant" in refused.json()["error"]["message"]
