"""A job's lane (priority, tenant, concurrency key, trace) reaches every activation, whatever path makes or
re-sends it: posts, resumes, forks, retries, sub-flow children and the waiters a freed slot promotes."""

from __future__ import annotations

import uuid
from typing import Any

import msgpack
import pytest

import limit_flows as lf
import priority_flows
import subflow_flows as sf
from waiting import wait_until
from routilux.activation import root_id
from routilux.distributed.protocol.envelope import open_body
from routilux.distributed.protocol.priority import HIGH, NORMAL, REDIS_PRIORITY
from routilux.distributed.protocol.tenants import tenant_list
from routilux.distributed.worker.admission import Admission, job_limit_name

pytestmark = pytest.mark.distributed


def _tag() -> str:
    return f"lane{uuid.uuid4().hex[:8]}"


def _queued(settings: Any, runtime: Any, which: str, tenant: str | None = None) -> int:
    """Messages waiting on the Redis list of band ``which`` (its ``tenant``'s list in it, if given)."""
    plain = runtime.store.keys.broker_prefix + settings.queue
    band_list = plain if which == NORMAL else f"{plain}\x06\x16{REDIS_PRIORITY[which]}"
    return runtime.store.redis.llen(tenant_list(band_list, tenant) if tenant else band_list)


def _kids(runtime: Any, job_id: str, act: str) -> list[dict[str, Any]]:
    """The envelopes of the activations the job's ``act`` entries (submit, resume, post...) created."""
    out = []
    for _, fields in runtime.store.redis.xrange(runtime.store.keys.job(job_id, "log")):
        if fields.get(b"act") == act.encode() and fields.get(b"kids"):
            out += [open_body(body) for body in msgpack.unpackb(fields[b"kids"], raw=True)[1::2]]
    return out


def test_a_post_to_a_priority_9_job_is_queued_in_its_band_on_its_tenants_list(settings, runtime):
    job_id = runtime.submit(priority_flows.nap_flow(), "nap", priority=9, tenant="acme")
    assert _queued(settings, runtime, HIGH, "acme") == 1  # its root, no worker up
    assert runtime.post(job_id, "done", "input", {"x": 1}) == "posted"
    assert _queued(settings, runtime, HIGH, "acme") == 2
    assert _queued(settings, runtime, NORMAL) == 0 and _queued(settings, runtime, HIGH) == 0


@pytest.mark.timeout(120)
def test_a_post_to_a_job_waiting_for_its_concurrency_key_waits_with_it(settings, runtime, start_workers):
    tag, key = _tag(), _tag()
    flow = lf.keyed_flow(settings.redis_url, tag)
    runtime.set_concurrency_limit(key, 1)
    start_workers(pool="threads", concurrency=4)
    first = runtime.submit(flow, "work", {"s": 2.0}, concurrency_key=key)
    wait_until(lambda: lf.running(settings.redis_url, tag) == 1, timeout=30)
    second = runtime.submit(flow, "work", {"s": 0.2}, concurrency_key=key)
    wait_until(lambda: runtime.limits() and any(v["waiting"] for v in runtime.limits()), timeout=30)
    assert runtime.post(second, "work", "poke", {"s": 0.5}) == "posted"
    for job_id in (first, second):
        assert runtime.wait(job_id, timeout=30).status == "completed"  # the post went with the job's slot
    assert lf.most_running(settings.redis_url, tag) == 1
    assert [e.get("ck") for e in _kids(runtime, second, "post")] == [key]


@pytest.mark.timeout(120)
def test_a_paused_job_counts_against_its_key_when_resumed(settings, runtime, start_workers):
    tag, key = _tag(), _tag()
    flow = lf.keyed_flow(settings.redis_url, tag)
    start_workers(pool="threads", concurrency=4)
    # The key has no limit yet: the job holds no slot when it pauses, so its resumed work must take one.
    paused = runtime.submit(flow, "work", {"s": 0.1, "pause": True}, concurrency_key=key, priority=8, tenant="acme")
    wait_until(lambda: runtime.job_status(paused) == "paused", timeout=30)
    runtime.set_concurrency_limit(key, 1)
    holder = runtime.submit(flow, "work", {"s": 2.0}, concurrency_key=key)
    wait_until(lambda: lf.running(settings.redis_url, tag) == 1, timeout=30)
    runtime.resume(paused)
    for job_id in (holder, paused):
        assert runtime.wait(job_id, timeout=30).status == "completed"
    assert lf.most_running(settings.redis_url, tag) == 1
    assert [(e.get("ck"), e.get("pr"), e.get("tn")) for e in _kids(runtime, paused, "resume")] == [(key, 8, "acme")]


@pytest.mark.timeout(120)
def test_a_forked_job_keeps_its_lane_and_counts_against_its_key(settings, runtime, start_workers):
    tag, key = _tag(), _tag()
    flow = lf.keyed_flow(settings.redis_url, tag)
    runtime.set_concurrency_limit(key, 1)
    start_workers(pool="threads", concurrency=4)
    done = runtime.submit(flow, "work", {"s": 0.5}, concurrency_key=key, priority=2, tenant="acme")
    assert runtime.wait(done, timeout=30).status == "completed"
    holder = runtime.submit(flow, "work", {"s": 2.0}, concurrency_key=key)
    wait_until(lambda: lf.running(settings.redis_url, tag) == 1, timeout=30)
    fork = runtime.fork(done, runtime.history_positions(done)[0]["id"])
    for job_id in (holder, fork):
        assert runtime.wait(job_id, timeout=30).status == "completed"
    assert lf.most_running(settings.redis_url, tag) == 1
    meta = runtime.store.meta(fork)
    assert (meta.get("concurrency_key"), meta.get("priority"), meta.get("tenant")) == (key, "2", "acme")


@pytest.mark.timeout(120)
def test_a_retried_job_keeps_its_lane_and_counts_against_its_key(settings, runtime, start_workers):
    tag, key = _tag(), _tag()
    flow = lf.keyed_flow(settings.redis_url, tag)
    runtime.set_concurrency_limit(key, 1)
    cancelled = runtime.submit(flow, "work", {"s": 0.5}, concurrency_key=key, priority=8, tenant="acme")
    runtime.cancel(cancelled)
    start_workers(pool="threads", concurrency=4)
    holder = runtime.submit(flow, "work", {"s": 2.0}, concurrency_key=key)
    wait_until(lambda: lf.running(settings.redis_url, tag) == 1, timeout=30)
    retried = runtime.retry(cancelled)
    for job_id in (holder, retried):
        assert runtime.wait(job_id, timeout=30).status == "completed"
    assert lf.most_running(settings.redis_url, tag) == 1
    meta = runtime.store.meta(retried)
    assert (meta.get("concurrency_key"), meta.get("priority"), meta.get("tenant")) == (key, "8", "acme")


def test_a_waiter_of_a_priority_9_job_is_sent_again_in_its_band_when_a_slot_frees(settings, runtime):
    key = _tag()
    runtime.set_concurrency_limit(key, 1)
    job_id = runtime.submit(priority_flows.nap_flow(), "nap", priority=9, tenant="acme", concurrency_key=key)
    runtime.store.redis.delete(runtime.store.keys.broker_prefix + tenant_list(
        f"{settings.queue}\x06\x16{REDIS_PRIORITY[HIGH]}", "acme"))  # as a worker that took it and parked it
    store, name = runtime.store, job_limit_name(key)
    assert store.admit_job(name, "other-job", "other-job|a").outcome == "ok"
    assert store.admit_job(name, job_id, f"{job_id}|{root_id(job_id)}").outcome == "wait"
    assert Admission(store, runtime.dispatcher).send(store.free_slot(name, "other-job", -1)) == 1
    assert _queued(settings, runtime, HIGH, "acme") == 1
    assert _queued(settings, runtime, NORMAL) == 0 and _queued(settings, runtime, HIGH) == 0


@pytest.mark.timeout(60)
def test_a_child_job_runs_in_its_parents_priority_and_tenant_but_not_under_its_key(runtime, start_workers):
    start_workers(concurrency=2)
    runtime.publish(sf.child_flow(0.0))
    key = _tag()
    runtime.set_concurrency_limit(key, 1)  # the child must not wait for the slot its parent holds
    parent = runtime.submit(sf.parent_flow("square-child", "output"), "sub", {"x": 3}, priority=8, tenant="acme",
                            concurrency_key=key)
    assert runtime.wait(parent, timeout=30).status == "completed"
    [kid] = runtime.job_summary(parent)["children"]
    child = runtime.store.meta(kid["job_id"])
    assert (child.get("priority"), child.get("tenant"), child.get("concurrency_key")) == ("8", "acme", None)
    assert [(e.get("pr"), e.get("tn"), e.get("ck")) for e in _kids(runtime, kid["job_id"], "submit")] == [
        (8, "acme", None)]
    assert [(e.get("pr"), e.get("tn"), e.get("ck")) for e in _kids(runtime, parent, "post")] == [(8, "acme", key)]


def test_a_freed_job_key_slot_goes_to_the_next_job_with_all_its_waiters_and_leaves_no_waiter_listed(runtime):
    key = f"k{uuid.uuid4().hex[:8]}"
    runtime.set_concurrency_limit(key, 1)
    name, store = job_limit_name(key), runtime.store
    assert store.admit_job(name, "A", "A|a1").outcome == "ok"
    assert [store.admit_job(name, "B", f"B|b{i}").outcome for i in (1, 2, 3)] == ["wait"] * 3
    assert store.admit_job(name, "C", "C|c1").outcome == "wait"
    assert store.admit_job(name, "D", "D|d1").outcome == "wait"
    # B's first waiter and D's only one get slots of their own once the limit grows.
    runtime.set_concurrency_limit(key, 3)
    assert store.admit_job(name, "B", "B|b1").outcome == "ok"
    assert store.admit_job(name, "D", "D|d1").outcome == "ok"
    runtime.set_concurrency_limit(key, 1)
    assert store.free_slot(name, "D", -1) == [] and store.free_slot(name, "B", -1) == []  # A holds the slot
    assert sorted(store.free_slot(name, "A", -1)) == ["B|b2", "B|b3"]  # B's two waiters go together
    assert store.free_slot(name, "B", -1) == ["C|c1"]
    (view,) = [v for v in runtime.limits() if v["name"] == name]
    assert ([h["holder"] for h in view["holders"]], view["waiting"]) == (["C"], [])
    assert store.redis.hlen(store.keys.limit("jobwaiters", name)) == 0


@pytest.mark.timeout(120)
def test_jobs_started_by_submit_many_submit_once_and_a_schedule_keep_their_lane_and_hold_their_key(
        settings, runtime, start_workers):
    tag, key, sid = _tag(), _tag(), _tag()
    flow = lf.keyed_flow(settings.redis_url, tag)
    runtime.publish(flow)
    runtime.set_concurrency_limit(key, 1)
    start_workers(pool="threads", concurrency=4)
    lane = {"priority": 7, "tenant": "acme", "concurrency_key": key}
    jobs = runtime.submit_many([{"flow": flow.flow_id, "entry": "work", "params": {"s": 0.3}, **lane}] * 2)
    jobs.append(runtime.submit_once(flow.flow_id, "work", {"s": 0.3}, idempotency_key=_tag(), **lane).job_id)
    runtime.schedule(sid, flow.flow_id, "work", {"s": 0.3}, every_s=1, overlap="allow", **lane)
    jobs.append(runtime.trigger_schedule(sid))
    last_job = wait_until(lambda: runtime.get_schedule(sid)["last_job"] not in (None, jobs[-1])
                          and runtime.get_schedule(sid)["last_job"], timeout=30)
    runtime.delete_schedule(sid)
    jobs.append(last_job)
    for job_id in jobs:
        assert runtime.wait(job_id, timeout=30).status == "completed"
        summary = runtime.job_summary(job_id)
        assert (summary["priority"], summary["tenant"], summary["concurrency_key"]) == (7, "acme", key), job_id
    assert lf.most_running(settings.redis_url, tag) == 1  # five jobs, one slot: one at a time


def test_a_schedule_refuses_a_bad_priority_tenant_or_concurrency_key_and_lists_the_lane_it_keeps(runtime):
    from routilux.errors import InvalidPriorityError, InvalidTenantError, LimitError

    flow = priority_flows.nap_flow()
    for bad, error in (({"priority": 10}, InvalidPriorityError), ({"tenant": "a b"}, InvalidTenantError),
                       ({"concurrency_key": " "}, LimitError)):
        with pytest.raises(error):
            runtime.schedule("lane-bad", flow, "nap", every_s=60, **bad)
    assert runtime.schedules() == []
    info = runtime.schedule("lane-ok", flow, "nap", every_s=60, priority=2, tenant="acme", concurrency_key="nightly")
    assert (info["priority"], info["tenant"], info["concurrency_key"]) == (2, "acme", "nightly")
    info = runtime.schedule("lane-default", flow, "nap", every_s=60)
    assert (info["priority"], info["tenant"], info["concurrency_key"]) == (None, None, None)
