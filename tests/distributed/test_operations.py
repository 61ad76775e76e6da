"""The operations front-ends share (DistributedRuntime): events, flows, job pages and summaries, dead letters,
workers. Against a real Redis and real workers; the dead-letter protocol cases play the worker themselves."""

from __future__ import annotations

import json
import threading
import uuid

import pytest

import cli_flows
import basic_flows
from waiting import wait_until
from routilux import codec
from routilux.distributed.protocol.envelope import from_envelope
from routilux.errors import DeadLetterNotFoundError, FlowError, FlowNotPublishedError, JobNotFoundError, NotFoundError

pytestmark = pytest.mark.distributed


def held_job(runtime):
    """A cli_flows chain whose middle step waits at a fresh gate; returns (job id, release event)."""
    name = uuid.uuid4().hex
    entered, release = cli_flows.gate(name)
    job_id = runtime.submit(cli_flows.make_flow(), "start", {"gate": name})
    assert entered.wait(10), "the held step never started"
    return job_id, release


def kill_by_expiry(runtime, settings, job_id: str, act_id: str) -> None:
    """Claim an activation ``max_attempts`` times, each worker "dying" (its lease expired); the next claim
    sends it to the dead-letter stream."""
    for _ in range(settings.max_attempts):
        assert runtime.store.claim(job_id, act_id, "").outcome == "ok"
        runtime.store.redis.zadd(runtime.store.keys.leases(runtime.store.keys.bucket_of(job_id)), {f"{job_id}|{act_id}": 0})
    assert runtime.store.claim(job_id, act_id, "").outcome == "dead"


def only_act(runtime, job_id: str):
    acts = runtime.store.redis.hgetall(runtime.store.keys.job(job_id, "acts"))
    assert len(acts) == 1
    return from_envelope(codec.unpackb(next(iter(acts.values()))))[0]


# -- events ------------------------------------------------------------------------
def test_events_of_a_finished_job_come_in_commit_order_ending_with_its_status(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(cli_flows.make_flow(), "start", {"value": 5})
    runtime.wait(job_id, timeout=20)
    events = list(runtime.events(job_id))
    assert [(e.kind, e.routine_id, e.event_name, e.status) for e in events] == [
        ("record", "start", "start", None),
        ("status", None, None, "running"),
        ("record", "start", "output", None),
        ("record", "held", "output", None),
        ("status", None, None, "completed"),
    ]
    assert events[0].data == {"value": 5}
    assert all(e.job_id == job_id for e in events)
    json.dumps([e.to_dict() for e in events])  # JSON-able for the console


def test_each_event_id_is_a_cursor_that_resumes_right_after_that_event(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(basic_flows.chain_flow(n_double=2), "source", {"n": 3})
    runtime.wait(job_id, timeout=20)
    everything = runtime.read_events(job_id, steps=True)
    assert len(everything) > 8
    for n, event in enumerate(everything):
        assert runtime.read_events(job_id, cursor=event.id, steps=True) == everything[n + 1:]
    steps = [e for e in everything if e.kind == "step"]
    assert steps[-1].data["done"] == steps[-1].data["known"] == len(steps)


def test_following_a_job_streams_its_events_live_until_it_ends(runtime, start_workers):
    start_workers()
    job_id, release = held_job(runtime)
    seen: list = []
    follower = threading.Thread(target=lambda: seen.extend(runtime.events(job_id, follow=True, block_s=1.0)))
    follower.start()
    wait_until(lambda: any(e.event_name == "output" for e in seen), timeout=10)
    assert follower.is_alive() and seen[-1].kind == "record"  # still following: the job has not ended
    release.set()
    follower.join(20)
    assert not follower.is_alive()
    assert seen[-1].status == "completed"
    assert seen == list(runtime.events(job_id))


def test_following_ends_on_the_terminal_status_even_when_the_job_ends_just_after_a_read_that_found_nothing(
        runtime, start_workers):
    # Reads that block for 1 ms find nothing most of the time, so a job often ends between such a read and
    # the status check that follows it; the follower must still deliver the job's last events.
    start_workers(concurrency=4)
    for _ in range(150):
        job_id = runtime.submit(basic_flows.chain_flow(), "source", {"n": 2})
        seen = list(runtime.events(job_id, follow=True, block_s=0.001))
        assert seen[-1].kind == "status" and seen[-1].status == "completed", seen[-3:]


def test_all_events_streams_status_changes_of_every_job(runtime, start_workers):
    start_workers()
    stream = runtime.all_events(block_s=0.5)
    first = runtime.submit(cli_flows.make_flow(), "start", {})
    second = runtime.submit(cli_flows.make_flow(), "start", {})
    for job_id in (first, second):
        runtime.wait(job_id, timeout=20)
    seen = []
    while len(seen) < 4:
        seen.append(next(stream))
    assert sorted((e.job_id, e.status) for e in seen) == sorted(
        [(first, "running"), (first, "completed"), (second, "running"), (second, "completed")])
    assert seen[0].data == {"flow_id": "cli-chain"}


def test_a_blocking_read_past_the_end_returns_nothing_once_its_wait_is_over(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(cli_flows.make_flow(), "start", {})
    runtime.wait(job_id, timeout=20)
    last = runtime.read_events(job_id)[-1]
    assert runtime.read_events(job_id, cursor=last.id, block_s=6.0) == []  # longer than a socket read may take
    assert list(runtime.events(job_id, cursor=last.id, follow=True)) == []  # the job is over: nothing to wait for


def test_a_job_past_its_deadline_shows_a_timeout_error_then_its_failed_status(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(basic_flows.slow_flow(sleep_s=1.5), "source", {"n": 1}, timeout=0.5)
    assert runtime.wait(job_id, timeout=20).status == "failed"
    last_two = list(runtime.events(job_id))[-2:]
    assert (last_two[0].kind, last_two[0].event_name) == ("error", "timeout")
    assert "timeout of 0.5 s" in last_two[0].error
    assert (last_two[1].kind, last_two[1].status) == ("status", "failed")


def test_events_of_an_unknown_job_raise_job_not_found(runtime):
    with pytest.raises(JobNotFoundError):
        runtime.read_events("no-such-job")
    with pytest.raises(NotFoundError):
        list(runtime.events("no-such-job", follow=True, block_s=0.1))


# -- flows -------------------------------------------------------------------------
def test_flows_lists_every_published_version_and_the_latest(runtime):
    first = runtime.publish(basic_flows.chain_flow("pipeline", n_double=1))
    second = runtime.publish(basic_flows.chain_flow("pipeline", n_double=2))
    other = runtime.publish(basic_flows.fan_in_flow("fanin"))
    flows = {f["flow_id"]: f for f in runtime.flows()}
    assert set(flows) == {"pipeline", "fanin"}
    assert flows["pipeline"]["latest"] == second
    assert [v["hash"] for v in flows["pipeline"]["versions"]] == [first, second]
    assert all(v["published_at"] for v in flows["pipeline"]["versions"])
    assert flows["fanin"]["versions"][0]["hash"] == other


def test_flow_info_describes_routines_slots_events_and_connections(runtime):
    digest = runtime.publish(basic_flows.fan_in_flow("fanin", expected=2))
    info = runtime.flow_info("fanin")
    assert info == runtime.flow_info(digest)
    assert info["hash"] == digest and info["flow_id"] == "fanin"
    total = info["routines"]["total"]
    assert total["class"].endswith("basic_flows.Total")
    assert total["slots"] == [{"name": "input", "merge_strategy": "append", "params": {"names": ["i"], "any": True}}]
    assert total["events"] == [{"name": "done", "params": ["total", "count"]}]
    assert total["config"] == {"expected": 2}
    assert {"from": "double.out", "to": "total.input", "param_mapping": None} in info["connections"]
    with pytest.raises(FlowNotPublishedError):
        runtime.flow_info("nothing-here")


# -- jobs --------------------------------------------------------------------------
def test_job_pages_go_newest_first_and_filter_by_status_and_flow(runtime, start_workers):
    runtime.publish(cli_flows.make_flow())
    queued = [runtime.submit("cli-chain", "start", {}) for _ in range(5)]  # no worker yet: they wait
    pages, cursor = [], None
    while True:
        page = runtime.job_page(limit=2, cursor=cursor)
        pages.append([row["job_id"] for row in page["jobs"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [j for p in pages for j in p] == queued[::-1]
    start_workers()
    for job_id in queued[:2]:
        runtime.wait(job_id, timeout=20)
    wait_until(lambda: len(runtime.job_page(status="completed")["jobs"]) == 5, timeout=20)
    assert runtime.job_page(flow="cli-chain", limit=10)["jobs"][0]["ended_at"]
    assert runtime.job_page(flow="other")["jobs"] == []


def test_a_job_summary_counts_runs_errors_and_activations(runtime, start_workers):
    start_workers()
    job_id = runtime.submit(basic_flows.retry_flow(fail_times=1), "source", {"n": 2})
    runtime.wait(job_id, timeout=30)
    summary = runtime.job_summary(job_id)
    assert summary["status"] == "completed" and summary["ended_at"]
    routines = summary["routines"]
    assert list(routines) == list(runtime.flow_info(summary["flow_hash"])["routines"])
    assert routines["source"] == {"status": "completed", "runs": 1, "errors": 0}
    assert routines["flaky"]["runs"] == 4 and routines["flaky"]["errors"] == 2
    assert summary["activations"]["done"] == summary["activations"]["known"] == 1 + 2 + 2
    with pytest.raises(JobNotFoundError):
        runtime.job_summary("no-such-job")


# -- workers -----------------------------------------------------------------------
def test_workers_report_what_each_one_runs_now(runtime, start_workers):
    start_workers()
    job_id, release = held_job(runtime)
    def running():
        return [(r["job_id"], r["routine_id"], r["slot"]) for w in runtime.workers().values() for r in w["running"]]

    try:
        wait_until(lambda: running() == [(job_id, "held", "input")], timeout=10)
    finally:
        release.set()
    worker = next(iter(runtime.workers().values()))
    assert worker["concurrency"] == 2 and worker["last_renewed"] and worker["name"].endswith("@test")
    runtime.wait(job_id, timeout=20)
    wait_until(lambda: not any(w["running"] for w in runtime.workers().values()), timeout=10)


# -- dead letters ------------------------------------------------------------------
def test_a_replayed_dead_letter_resumes_its_job_which_completes_exactly(runtime, settings, start_workers):
    job_id = runtime.submit(basic_flows.chain_flow(n_double=1), "source", {"n": 3})
    root = only_act(runtime, job_id)
    kill_by_expiry(runtime, settings, job_id, root.activation_id)
    assert runtime.get_job(job_id).status == "failed"
    letter = runtime.dead_letters()[0]
    shown = runtime.dead_letter(letter["id"])
    assert (shown["job"], shown["routine_id"], shown["slot"]) == (job_id, "source", "trigger")
    assert shown["payload"] == {"n": 3} and "attempts" in shown["reason"]
    json.dumps(shown)

    start_workers()
    assert runtime.replay_dead_letter(letter["id"]) == job_id
    state = runtime.wait(job_id, timeout=20)
    assert state.status == "completed" and state.error is None
    assert sorted(e["got"]["i"] for e in state.shared_log) == [0, 2, 4]
    assert runtime.dead_letters() == []
    statuses = [e.status for e in runtime.events(job_id) if e.kind == "status"]
    assert statuses == ["running", "failed", "running", "completed"]


def test_a_dead_letter_keeps_the_jobs_other_work_parked_and_its_replay_sends_it_all_again(runtime, settings):
    job_id = runtime.submit(basic_flows.chain_flow(n_double=1), "source", {"n": 3})
    root = only_act(runtime, job_id)
    from routilux.activation import Activation
    from routilux.distributed.delta import commit_args
    from routilux.step import StepResult

    kids = [Activation(job_id, f"kid{i}", "double1", "input", {"i": i}, 0, ("source", "out")) for i in range(3)]
    token = runtime.store.claim(job_id, root.activation_id, "").token
    args, _ = commit_args(StepResult(root, [], kids), token, "h", "", 1000)
    assert runtime.store.commit(args).outcome == "ok"
    running = runtime.store.claim(job_id, "kid1", "").token  # a worker is running kid1
    kill_by_expiry(runtime, settings, job_id, "kid0")
    assert runtime.store.status(job_id) == "failed"
    assert runtime.store.claim(job_id, "kid2", "").outcome == "parked"  # kept, not dropped
    grandchild = Activation(job_id, "grandchild", "record", "input", {"i": 1}, 0, ("double1", "out"))
    args, _ = commit_args(StepResult(kids[1], [], [grandchild]), running, "h", "", 1000)
    assert runtime.store.commit(args).outcome == "ok"  # its commit is kept too

    dead_id = runtime.dead_letters()[0]["id"]
    assert runtime.replay_dead_letter(dead_id) == job_id
    assert runtime.store.status(job_id) == "running"
    for act_id in ("kid0", "kid2", "grandchild"):
        assert runtime.store.claim(job_id, act_id, "").outcome == "ok"
    assert runtime.job_summary(job_id)["activations"] == {"done": 2, "known": 5}
    with pytest.raises(DeadLetterNotFoundError):
        runtime.replay_dead_letter(dead_id)


def test_discarding_a_dead_letter_removes_it_and_unknown_ids_are_not_found(runtime, settings):
    job_id = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    kill_by_expiry(runtime, settings, job_id, only_act(runtime, job_id).activation_id)
    dead_id = runtime.dead_letters()[0]["id"]
    runtime.discard_dead_letter(dead_id)
    assert runtime.dead_letters() == []
    assert runtime.get_job(job_id).status == "failed"
    for call in (runtime.dead_letter, runtime.discard_dead_letter, runtime.replay_dead_letter):
        with pytest.raises(DeadLetterNotFoundError):
            call(dead_id)
        with pytest.raises(NotFoundError):
            call("not-an-id")


def test_a_dead_letter_of_a_job_that_also_had_a_routine_fail_is_not_replayed(runtime, settings):
    runtime.store.dead_letter_message("not an activation", b"\x00junk")
    junk = runtime.dead_letters()[0]
    assert runtime.dead_letter(junk["id"])["body_size"] == 5
    with pytest.raises(FlowError, match="can only be discarded"):
        runtime.replay_dead_letter(junk["id"])
    job_id = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    kill_by_expiry(runtime, settings, job_id, only_act(runtime, job_id).activation_id)
    runtime.store.redis.sadd(runtime.store.keys.job(job_id, "failedrs"), "double1")  # as a failed routine leaves it
    with pytest.raises(FlowError, match="routine failed"):
        runtime.replay_dead_letter(runtime.dead_letters()[0]["id"])
    runtime.delete_job(job_id)
    with pytest.raises(JobNotFoundError):
        runtime.replay_dead_letter(runtime.dead_letters()[0]["id"])
