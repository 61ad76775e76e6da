"""Concurrency and rate limits hold across the fleet, through a SIGKILLed holder and a Redis restart."""

from __future__ import annotations

import uuid

import pytest

import limit_flows as lf
from console_helpers import secured_console  # noqa: F401
from conftest import both_brokers
from waiting import wait_until, workers_up

pytestmark = [pytest.mark.distributed]


def _tag() -> str:
    return f"lim{uuid.uuid4().hex[:8]}"


@both_brokers
@pytest.mark.timeout(120)
def test_at_most_two_calls_per_customer_run_at_once_and_every_item_runs(runtime, start_workers, settings):
    tag = _tag()
    start_workers(pool="threads", concurrency=8)
    flow = lf.api_flow(settings.redis_url, tag, sleep_s=0.25, max_running=2)
    job_id = runtime.submit(flow, "fan", {"n": 12, "customers": 2})
    state = runtime.wait(job_id, timeout=60)
    assert state.status == "completed", state.error
    assert sorted(e["i"] for e in state.shared_log) == list(range(12))
    assert lf.high_marks(settings.redis_url, tag) == {"c0": 2, "c1": 2}


@pytest.mark.timeout(120)
def test_without_a_limit_the_same_calls_overlap_more_so_the_limit_is_what_holds_them(runtime, start_workers, settings):
    tag = _tag()
    start_workers(pool="threads", concurrency=8)
    flow = lf.api_flow(settings.redis_url, tag, sleep_s=0.25, max_running=None)
    state = runtime.wait(runtime.submit(flow, "fan", {"n": 12, "customers": 2}), timeout=60)
    assert state.status == "completed", state.error
    assert max(lf.high_marks(settings.redis_url, tag).values()) > 2


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_slot_held_by_a_sigkilled_worker_comes_back_with_its_lease_and_the_limit_still_holds(
        runtime, spawn_worker, settings):
    tag = _tag()
    flow = lf.api_flow(settings.redis_url, tag, sleep_s=0.6, max_running=2)
    runtime.publish(flow)
    doomed = spawn_worker(imports=("limit_flows",), pool="threads", concurrency=4)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    job_id = runtime.submit(flow, "fan", {"n": 8, "customers": 1})
    gauge = f"{tag}:gauge:c0"
    wait_until(lambda: int(runtime.store.redis.get(gauge) or 0) == 2, timeout=60)
    doomed.kill()
    # Both runs died with the only worker: the gauge counts live runs again from here.
    runtime.store.redis.set(gauge, 0)
    runtime.store.redis.delete(f"{tag}:max:c0")
    spawn_worker(imports=("limit_flows",), pool="threads", concurrency=4)
    state = runtime.wait(job_id, timeout=60)
    assert state.status == "completed", state.error
    assert sorted({e["i"] for e in state.shared_log}) == list(range(8))
    assert lf.high_marks(settings.redis_url, tag) == {"c0": 2}
    # The step that ends the job frees its slot just after its commit: soon, well inside a lease (3 s).
    wait_until(lambda: (runtime.limits()[0]["holders"], runtime.limits()[0]["waiting"]) == ([], []), timeout=2)


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_the_limit_holds_and_every_item_runs_across_a_redis_restart(own_redis, redis_server, spawn_worker):
    server, settings, runtime = own_redis
    tag = _tag()
    counter_url = redis_server.url  # the handlers' gauge lives outside the Redis that restarts
    flow = lf.api_flow(counter_url, tag, sleep_s=0.3, max_running=2)
    spawn_worker(imports=("limit_flows",), settings_=settings, pool="threads", concurrency=4)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    job_id = runtime.submit(flow, "fan", {"n": 10, "customers": 1})
    wait_until(lambda: lf.client(counter_url).llen(f"{tag}:starts") >= 3, timeout=60)
    server.restart()
    state = wait_until(lambda: _finished(runtime, job_id), timeout=120)
    assert state.status == "completed", state.error
    assert sorted({e["i"] for e in state.shared_log}) == list(range(10))
    assert lf.high_marks(counter_url, tag) == {"c0": 2}


def _finished(runtime, job_id):
    from routilux.errors import ExecutionTimeout, StoreUnavailableError

    try:
        return runtime.wait(job_id, timeout=5)
    except (ExecutionTimeout, StoreUnavailableError):
        return None


@both_brokers
@pytest.mark.timeout(120)
def test_a_rate_limit_spaces_starts_at_its_rate_fleet_wide_and_never_bursts_past_it(runtime, start_workers, settings):
    tag = _tag()
    start_workers(pool="threads", concurrency=6)
    flow = lf.api_flow(settings.redis_url, tag, sleep_s=0.0, max_running=None, rate="20/s")
    state = runtime.wait(runtime.submit(flow, "fan", {"n": 100, "customers": 1}), timeout=60)
    assert state.status == "completed", state.error
    times = lf.starts(settings.redis_url, tag)
    assert len(times) == 100
    observed = (len(times) - 1) / (times[-1] - times[0])
    assert 18.0 <= observed <= 22.0
    # In any one-second window, at most the rate plus one burst (1) started.
    worst = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
    assert worst <= 21


@pytest.mark.timeout(120)
def test_waiting_work_is_listed_by_runtime_cli_and_api_with_the_limit_it_waits_for(
        runtime, start_workers, settings, secured_console, monkeypatch, capsys):
    from conftest import settings_env
    from console_helpers import VIEWER
    from routilux.cli import main

    tag = _tag()
    start_workers(pool="threads", concurrency=4)
    flow = lf.api_flow(settings.redis_url, tag, sleep_s=1.5, max_running=1)
    job_id = runtime.submit(flow, "fan", {"n": 4, "customers": 1})
    name = f"concurrency:{flow.flow_id}/api[c0]"
    wait_until(lambda: [(len(v["holders"]), len(v["waiting"])) for v in runtime.limits()] == [(1, 3)], timeout=30)
    (view,) = runtime.limits()
    assert (view["name"], view["kind"], view["limit"]) == (name, "concurrency", 1)
    assert view["holders"][0]["holder"].startswith(f"{job_id}|")
    waits = runtime.waiting_on(job_id)
    assert len(waits) == 3 and {(w["limit"], w["kind"]) for w in waits} == {(name, "concurrency")}

    viewer = secured_console.client(VIEWER)
    listed = viewer.get("/api/limits").json()["limits"]
    assert [(v["name"], len(v["holders"])) for v in listed] == [(name, 1)]
    summary = viewer.get(f"/api/jobs/{job_id}").json()["summary"]
    assert {w["limit"] for w in summary["waiting_on"]} == {name}

    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    assert main(["limits"]) == 0
    row = next(line for line in capsys.readouterr()[0].splitlines() if line.startswith(name))
    assert row.split()[1:3] == ["concurrency", "1"]
    assert main(["status", job_id]) == 0
    assert f"on concurrency limit {name} (for a free slot)" in capsys.readouterr()[0]
    assert runtime.wait(job_id, timeout=60).status == "completed"
    assert runtime.waiting_on(job_id) == []


@pytest.mark.timeout(60)
def test_a_rate_waiter_is_listed_with_the_time_it_may_start(runtime, start_workers, settings):
    tag = _tag()
    start_workers(pool="threads", concurrency=4)
    flow = lf.api_flow(settings.redis_url, tag, sleep_s=0.0, max_running=None, rate="1/s")
    job_id = runtime.submit(flow, "fan", {"n": 3, "customers": 1})
    wait_until(lambda: len(runtime.waiting_on(job_id)) == 2, timeout=30)
    starts = sorted(w["start_ms"] for w in runtime.waiting_on(job_id))
    assert 900 <= starts[1] - starts[0] <= 1100
    assert runtime.wait(job_id, timeout=30).status == "completed"


def _overlap(intervals: list[tuple[int, int]]) -> int:
    """The most intervals open at one instant."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


@pytest.mark.timeout(120)
def test_at_most_two_jobs_of_a_concurrency_key_run_at_once_and_the_rest_wait_in_turn(
        runtime, start_workers, settings, monkeypatch, capsys):
    from conftest import settings_env
    from routilux.cli import main

    tag = _tag()
    start_workers(pool="threads", concurrency=8)
    runtime.set_concurrency_limit(f"acme-{tag}", 2)
    flow = lf.api_flow(settings.redis_url, tag, sleep_s=0.3, max_running=None)
    jobs = [runtime.submit(flow, "fan", {"n": 2}, concurrency_key=f"acme-{tag}") for _ in range(5)]
    other = runtime.submit(flow, "fan", {"n": 2})  # no key: it does not wait for the key's slots
    name = f"job:acme-{tag}"
    wait_until(lambda: [len(v["holders"]) for v in runtime.limits() if v["name"] == name] == [2], timeout=30)
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    assert main(["limits"]) == 0
    row = next(line for line in capsys.readouterr()[0].splitlines() if line.startswith(name))
    assert row.split()[1:4] == ["concurrency", "2", "2"]
    for job_id in [*jobs, other]:
        assert runtime.wait(job_id, timeout=60).status == "completed"
    spans = []
    for job_id in jobs:
        started, finished = runtime.store.redis.hmget(runtime.store.keys.job(job_id, "meta"), "started_at",
                                                      "finished_at")
        spans.append((int(started), int(finished)))
    assert _overlap(spans) == 2
    # The step that ends a job frees the key's slot just after its commit.
    wait_until(lambda: [(v["limit"], v["holders"], v["waiting"]) for v in runtime.limits()
                        if v["name"] == f"job:acme-{tag}"] == [(2, [], [])], timeout=2)


def test_a_bad_concurrency_key_or_limit_is_refused_with_a_typed_error(runtime):
    from routilux.flow_control import LimitError

    with pytest.raises(LimitError):
        runtime.set_concurrency_limit("", 2)
    with pytest.raises(LimitError):
        runtime.set_concurrency_limit("acme", 0)
    with pytest.raises(LimitError):
        runtime.submit("nope", "fan", {}, concurrency_key="")
