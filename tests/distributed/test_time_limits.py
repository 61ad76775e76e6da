"""Per-activation soft and hard time limits, and poison work that freezes or kills its process."""

from __future__ import annotations

import pytest

import basic_flows
import time_limit_flows
from waiting import wait_until, workers_up
from routilux import ErrorStrategy
from routilux.distributed.worker.limits import TimeLimits

pytestmark = pytest.mark.distributed


def dead_letters_of(runtime, job_id: str) -> list[dict]:
    return [d for d in runtime.dead_letters() if d.get("job") == job_id]


def test_a_routines_limits_override_the_settings_defaults():
    routine = time_limit_flows.Sleepy()
    assert TimeLimits.of(routine, 5.0, 60.0) == TimeLimits(5.0, 60.0)
    routine.set_time_limits(hard_s=0)
    assert TimeLimits.of(routine, 5.0, 60.0) == TimeLimits(5.0, 0.0)
    routine.set_time_limits(soft_s=1.5)
    assert routine.get_config("soft_time_limit_s") == 1.5
    with pytest.raises(ValueError):
        routine.set_time_limits(soft_s=-1)


@pytest.mark.parametrize(
    ("strategy", "status", "event"),
    [(ErrorStrategy.STOP, "failed", "error"), (ErrorStrategy.RETRY, "failed", "retry"),
     (ErrorStrategy.CONTINUE, "completed", "error_continued"), (ErrorStrategy.SKIP, "completed", None)],
)
def test_the_soft_limit_raises_in_the_handler_and_its_error_strategy_applies(
    runtime, start_workers, strategy, status, event
):
    start_workers()
    flow = time_limit_flows.sleepy_flow(sleep_s=5.0, strategy=None if strategy is ErrorStrategy.STOP else strategy,
                               soft_s=0.3)
    state = runtime.wait(runtime.submit(flow, "source", {"n": 1}), timeout=30)
    assert state.status == status
    records = [r for r in state.execution_history if r.routine_id == "sleepy"]
    if event is not None:
        assert records[0].event_name == event
        assert records[0].data["error_type"] == "SoftTimeLimitExceeded"
    else:
        assert state.routine_states["sleepy"]["status"] == "skipped"
    assert state.shared_log == []


def test_a_handler_that_ignores_its_soft_limit_loses_its_lease_at_the_hard_limit_and_is_dead_lettered(
    runtime, start_workers, settings
):
    start_workers(concurrency=3, settings_=settings.with_(max_attempts=2))
    flow = time_limit_flows.sleepy_flow(sleep_s=2.0, stubborn=True, soft_s=0.2, hard_s=0.6)
    job = runtime.submit(flow, "source", {"n": 1})
    state = runtime.wait(job, timeout=30)
    assert state.status == "failed"
    [dead] = dead_letters_of(runtime, job)
    assert "gave up after 2 attempts" in dead["reason"]
    assert "ran past its hard time limit of 0.6 s" in dead["reason"]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_poison_work_that_freezes_or_kills_its_process_is_dead_lettered_and_other_jobs_run(
    runtime, spawn_worker, settings
):
    poisoned = settings.with_(lease_s=2.0, max_attempts=2)
    runtime.store.settings = poisoned
    for _ in range(2):
        spawn_worker(imports=("basic_flows", "time_limit_flows"), pool="prefork", concurrency=2, settings_=poisoned)
    wait_until(lambda: workers_up(runtime, 2), timeout=30)
    freeze, kill = time_limit_flows.poison_flow("freeze"), time_limit_flows.poison_flow("kill")
    freeze.routines["poison"].set_time_limits(hard_s=1.0)
    stubborn = time_limit_flows.sleepy_flow(sleep_s=2.0, stubborn=True, soft_s=0.3, hard_s=1.0)
    poison = [runtime.submit(f, "source", {"n": 1}) for f in (freeze, kill, stubborn)]
    soft = runtime.submit(time_limit_flows.sleepy_flow(sleep_s=5.0, soft_s=0.3), "source", {"n": 1})
    healthy = [runtime.submit(basic_flows.chain_flow(), "source", {"n": 3}) for _ in range(6)]
    for job in healthy:
        assert runtime.wait(job, timeout=60).status == "completed"
    state = runtime.wait(soft, timeout=30)
    assert state.status == "failed" and "SoftTimeLimitExceeded" in state.error
    for job in poison:
        state = runtime.wait(job, timeout=60)
        assert state.status == "failed"
        [dead] = dead_letters_of(runtime, job)
        assert "gave up after 2 attempts" in dead["reason"], dead["reason"]
    for job in (poison[0], poison[2]):  # frozen (its lease ran out past the limit) and stubborn (handed back)
        assert "hard time limit of 1.0 s" in dead_letters_of(runtime, job)[0]["reason"]
    after = runtime.submit(basic_flows.chain_flow(), "source", {"n": 2})
    assert runtime.wait(after, timeout=30).status == "completed"  # the pools replaced their killed children


def test_the_new_settings_read_their_environment_variables_and_refuse_negative_values():
    from routilux.distributed import Settings

    env = {"ROUTILUX_SOFT_TIME_LIMIT_S": "5", "ROUTILUX_HARD_TIME_LIMIT_S": "60",
           "ROUTILUX_COMPLETED_TTL_S": "0", "ROUTILUX_FAILED_TTL_S": "86400"}
    s = Settings.from_env(env)
    assert (s.soft_time_limit_s, s.hard_time_limit_s, s.completed_ttl_s, s.failed_ttl_s) == (5.0, 60.0, 0.0, 86400.0)
    defaults = Settings.from_env({})
    assert (defaults.soft_time_limit_s, defaults.hard_time_limit_s) == (0.0, 1800.0)
    assert (defaults.completed_ttl_s, defaults.failed_ttl_s) == (7 * 86400.0, 30 * 86400.0)
    with pytest.raises(ValueError):
        Settings(hard_time_limit_s=-1)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_a_solo_worker_applies_its_default_soft_limit_and_hands_back_work_past_the_hard_limit_without_dying(
    runtime, spawn_worker, settings
):
    solo = settings.with_(soft_time_limit_s=0.3, hard_time_limit_s=0.0, max_attempts=2)
    worker = spawn_worker(imports=("basic_flows", "time_limit_flows"), pool="solo", concurrency=1, settings_=solo)
    wait_until(lambda: workers_up(runtime, 1), timeout=30)
    state = runtime.wait(runtime.submit(time_limit_flows.sleepy_flow(sleep_s=5.0), "source", {"n": 1}), timeout=30)
    assert state.status == "failed" and "SoftTimeLimitExceeded" in state.error  # the worker's default applies
    stubborn = runtime.submit(time_limit_flows.sleepy_flow(sleep_s=1.0, stubborn=True, hard_s=0.8), "source", {"n": 1})
    assert runtime.wait(stubborn, timeout=60).status == "failed"
    assert "ran past its hard time limit of 0.8 s" in dead_letters_of(runtime, stubborn)[0]["reason"]
    assert runtime.wait(runtime.submit(basic_flows.chain_flow(), "source", {"n": 1}), timeout=30).status == "completed"
    assert worker.proc.poll() is None
