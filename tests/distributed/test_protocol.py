"""The Redis protocol itself, step by step against a real Redis: claim, commit, fencing, parking, dead letters.

No worker runs here: the test plays the workers, so each race is set up exactly.
"""

from __future__ import annotations

import pytest

import basic_flows
from routilux import codec
from routilux.activation import Activation
from routilux.distributed.delta import commit_args
from routilux.distributed.protocol.keys import slot_field
from routilux.distributed.protocol.envelope import from_envelope
from routilux.step import StepResult

pytestmark = pytest.mark.distributed


def root_of(runtime, job_id: str) -> Activation:
    acts = runtime.store.redis.hgetall(runtime.store.keys.job(job_id, "acts"))
    assert len(acts) == 1
    act, _ = from_envelope(codec.unpackb(next(iter(acts.values()))))
    return act


def expire_lease(runtime, job_id: str, act_id: str) -> None:
    """What the clock does to a worker that stops heartbeating."""
    runtime.store.redis.zadd(runtime.store.keys.leases(runtime.store.keys.bucket_of(job_id)), {f"{job_id}|{act_id}": 0})


def commit(runtime, act: Activation, token: str, flow_hash: str = "h", lock: str = "", children=()):
    result = StepResult(act, [("sd", "who", token)], list(children))
    args, _ = commit_args(result, token, flow_hash, lock, 1000)
    return runtime.store.commit(args)


def test_an_activation_commits_once_and_a_second_commit_is_refused(runtime):
    job_id = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    act = root_of(runtime, job_id)
    claim = runtime.store.claim(job_id, act.activation_id, "")
    assert claim.outcome == "ok"
    token = claim.token
    assert commit(runtime, act, token).outcome == "ok"
    assert commit(runtime, act, token).outcome == "duplicate"
    assert runtime.store.claim(job_id, act.activation_id, "").outcome == "applied"


def test_a_commit_with_a_stale_fencing_token_is_refused(runtime):
    job_id = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    act = root_of(runtime, job_id)
    first = runtime.store.claim(job_id, act.activation_id, "").token
    expire_lease(runtime, job_id, act.activation_id)
    second = runtime.store.claim(job_id, act.activation_id, "").token
    assert int(second) > int(first)
    assert commit(runtime, act, first).outcome == "stale"
    assert commit(runtime, act, second).outcome == "ok"
    assert runtime.get_job(job_id).shared_data["who"] == second


def test_a_live_lease_keeps_a_duplicate_delivery_from_running(runtime):
    job_id = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    act = root_of(runtime, job_id)
    assert runtime.store.claim(job_id, act.activation_id, "").outcome == "ok"
    assert runtime.store.claim(job_id, act.activation_id, "").outcome == "busy"


def test_claims_of_a_paused_job_are_parked_and_resume_sends_them_again(runtime):
    job_id = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    act = root_of(runtime, job_id)
    runtime.pause(job_id, reason="hold")
    assert runtime.store.claim(job_id, act.activation_id, "").outcome == "parked"
    state = runtime.get_job(job_id)
    assert [t["activation_id"] for t in state.pending_tasks] == [act.activation_id]
    runtime.resume(job_id)
    assert runtime.get_job(job_id).pending_tasks == []
    assert runtime.store.claim(job_id, act.activation_id, "").outcome == "ok"


def test_an_activation_whose_workers_keep_dying_goes_to_the_dead_letter_stream(runtime, settings):
    job_id = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    act = root_of(runtime, job_id)
    for _ in range(settings.max_attempts):
        assert runtime.store.claim(job_id, act.activation_id, "").outcome == "ok"
        expire_lease(runtime, job_id, act.activation_id)
    assert runtime.store.claim(job_id, act.activation_id, "").outcome == "dead"
    state = runtime.get_job(job_id)
    assert state.status == "failed"
    letter = runtime.dead_letters()[0]
    assert letter["activation"] == act.activation_id
    assert f"after {settings.max_attempts} attempts" in letter["reason"]


def test_a_slot_that_merges_is_held_by_one_activation_and_handed_to_the_next(runtime):
    job_id = runtime.submit(basic_flows.fan_in_flow(expected=2), "source", {"n": 2})
    root = root_of(runtime, job_id)
    token = runtime.store.claim(job_id, root.activation_id, "").token
    kids = [Activation(job_id, f"kid{i}", "total", "input", {"i": i}, 0, ("double", "out")) for i in range(2)]
    assert commit(runtime, root, token, children=kids).outcome == "ok"
    lock = slot_field("total", "input")
    first = runtime.store.claim(job_id, "kid0", lock)
    assert first.outcome == "ok"
    assert runtime.store.claim(job_id, "kid1", lock).outcome == "wait"
    answer = commit(runtime, kids[0], first.token, lock=lock)
    assert answer.outcome == "ok"
    assert answer.waiter == "kid1"  # the slot goes to the waiter
    assert runtime.store.claim(job_id, "kid1", lock).outcome == "ok"


def test_a_job_completes_when_its_last_activation_commits(runtime):
    job_id = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    act = root_of(runtime, job_id)
    token = runtime.store.claim(job_id, act.activation_id, "").token
    answer = commit(runtime, act, token)
    assert answer.status == "completed"
    assert runtime.wait(job_id, timeout=1).status == "completed"
