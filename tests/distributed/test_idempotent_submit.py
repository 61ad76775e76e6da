"""Idempotent submit: one job per idempotency key while that job is stored, also when producers race."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import basic_flows
from conftest import HERE, ROOT, settings_env
from console_helpers import console  # noqa: F401
from test_cli import cli  # noqa: F401
from waiting import wait_until
from routilux.distributed import DistributedRuntime
from routilux.errors import IdempotencyKeyError

pytestmark = [pytest.mark.distributed]


def test_a_retried_submit_with_the_same_key_returns_the_same_job_and_makes_no_second(runtime):
    flow = basic_flows.chain_flow()
    first = runtime.submit(flow, "source", {"n": 1}, idempotency_key="order-123")
    again = runtime.submit(flow, "source", {"n": 1}, idempotency_key="order-123")
    assert again == first
    assert runtime.store.job_ids() == [first]
    assert runtime.store.meta(first)["idempotency_key"] == "order-123"


def test_a_key_reused_with_other_parameters_returns_the_existing_job_untouched(runtime):
    flow = basic_flows.chain_flow()
    first = runtime.submit(flow, "source", {"n": 1}, idempotency_key="k")
    reused = runtime.submit_once(basic_flows.slow_flow(), "source", {"n": 9}, idempotency_key="k")
    assert reused == (first, False)
    assert runtime.store.meta(first)["flow_id"] == "chain"
    assert runtime.ops.job_start(first)[1] == {"n": 1}
    assert runtime.submit_once(flow, "source", {"n": 1}, idempotency_key="other").created


def test_submits_without_a_key_or_with_different_keys_make_different_jobs(runtime):
    flow = basic_flows.chain_flow()
    ids = {runtime.submit(flow, "source"), runtime.submit(flow, "source"),
           runtime.submit(flow, "source", idempotency_key="a"), runtime.submit(flow, "source", idempotency_key="b")}
    assert len(ids) == 4


@pytest.mark.parametrize("key", ["", "x" * 257, 42])
def test_an_empty_overlong_or_non_text_key_is_refused_and_nothing_is_made(runtime, key):
    with pytest.raises(IdempotencyKeyError):
        runtime.submit(basic_flows.chain_flow(), "source", idempotency_key=key)
    assert runtime.store.job_ids() == []


@pytest.mark.parametrize("buckets", [1, 8])
@pytest.mark.timeout(120)
def test_eight_producer_processes_racing_with_one_key_make_one_job(settings, buckets, tmp_path):
    racing = settings.with_(key_buckets=buckets)
    with DistributedRuntime(settings=racing) as runtime:
        runtime.publish(basic_flows.chain_flow())
        env = {**os.environ, **settings_env(racing), "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
        start_at = time.time() + 4.0
        procs = [subprocess.Popen([sys.executable, "-m", "submit_race", "order-77", str(start_at)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path) for _ in range(8)]
        answers = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err.decode()[-2000:] for _, err in answers]
        ids = {out.decode().strip() for out, _ in answers}
        assert len(ids) == 1
        assert runtime.store.job_ids() == list(ids)


@pytest.mark.timeout(120)
def test_deleting_the_job_frees_its_key_so_the_next_submit_makes_a_new_job(runtime, start_workers):
    start_workers()
    flow = basic_flows.chain_flow()
    first = runtime.submit(flow, "source", {"n": 1}, idempotency_key="nightly")
    runtime.wait(first, timeout=30)
    runtime.delete_job(first)
    assert runtime.store.redis.exists(runtime.store.keys.idempotency("nightly")) == 0
    second = runtime.submit(flow, "source", {"n": 1}, idempotency_key="nightly")
    assert second != first and runtime.store.job_ids() == [second]
    runtime.wait(second, timeout=30)
    assert runtime.prune() == 1
    assert runtime.submit(flow, "source", {"n": 1}, idempotency_key="nightly") not in (first, second)


@pytest.mark.timeout(120)
def test_the_key_expires_with_its_job_by_retention(settings, start_workers):
    short = settings.with_(completed_ttl_s=1.5)
    start_workers(settings_=short)
    with DistributedRuntime(settings=short) as runtime:
        flow = basic_flows.chain_flow()
        first = runtime.submit(flow, "source", {"n": 1}, idempotency_key="hourly")
        runtime.wait(first, timeout=30)
        record = runtime.store.keys.idempotency("hourly")
        assert 0 < runtime.store.redis.pttl(record) <= 1500
        assert runtime.submit(flow, "source", idempotency_key="hourly") == first
        wait_until(lambda: runtime.store.redis.exists(record) == 0, timeout=10)
        assert runtime.submit(flow, "source", idempotency_key="hourly") != first


@pytest.mark.timeout(120)
def test_the_key_survives_a_redis_restart_on_aof(own_redis):
    server, _, runtime = own_redis
    flow = basic_flows.chain_flow()
    first = runtime.submit(flow, "source", {"n": 1}, idempotency_key="invoice-9")
    server.restart()
    assert wait_until(lambda: _try_submit(runtime, flow, "invoice-9"), timeout=30) == first
    assert len(runtime.store.job_ids()) == 1


def _try_submit(runtime, flow, key):
    try:
        return runtime.submit(flow, "source", {"n": 1}, idempotency_key=key)
    except Exception:  # noqa: BLE001 - Redis still coming back
        return None


def test_an_http_submit_with_an_idempotency_key_header_answers_200_with_the_same_job_the_second_time(runtime, console):
    runtime.publish(basic_flows.chain_flow())
    body = {"flow": "chain", "entry": "source", "params": {"n": 1}}
    first = console.http.post("/api/jobs", json=body, headers={"Idempotency-Key": "web-1"})
    again = console.http.post("/api/jobs", json=body, headers={"Idempotency-Key": "web-1"})
    assert first.status_code == 201 and first.json()["created"] is True
    assert again.status_code == 200 and again.json() == {"job_id": first.json()["job_id"], "created": False}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert console.http.post("/api/jobs", json=body).status_code == 201
    assert len(runtime.store.job_ids()) == 2


def test_the_cli_submit_with_an_idempotency_key_prints_the_same_job_id_twice(runtime, cli):
    runtime.publish(basic_flows.chain_flow())
    outs = [cli("submit", "chain", "source", "--params", '{"n": 1}', "--idempotency-key", "cli-1") for _ in range(2)]
    assert [code for code, _, _ in outs] == [0, 0]
    assert outs[0][1] == outs[1][1] and runtime.store.job_ids() == [outs[0][1].strip()]
