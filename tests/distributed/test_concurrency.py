"""Concurrent updates are never lost: the same flows on the local engine (concurrent mode) and on
the distributed engine with two worker hosts (subprocesses) end with every update applied once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import concurrency_flows
from conftest import WorkerProcess
from waiting import wait_until, workers_up
from routilux import ErrorHandler, ErrorStrategy, Flow, JobState, Routine
from routilux.distributed import DistributedRuntime, Settings
from routilux.distributed.operations.history import replay_job
from routilux.step import MAX_CONFLICT_RERUNS

pytestmark = pytest.mark.distributed


class Hosts:
    """Two worker hosts (a prefork one and a threads one) and a runtime, shared by this module's tests."""

    def __init__(self, redis_url: str, folder: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.settings = Settings(redis_url=redis_url, key_prefix=f"c{tag}", queue=f"c{tag}", lease_s=5.0,
                                 outbox_grace_s=1.0)
        self.procs = [
            WorkerProcess(self.settings, folder / "host0", ("concurrency_flows",), "prefork", 3, f"host0-{tag}@test"),
            WorkerProcess(self.settings, folder / "host1", ("concurrency_flows",), "threads", 4, f"host1-{tag}@test"),
        ]
        self.runtime = DistributedRuntime(settings=self.settings)
        wait_until(lambda: workers_up(self.runtime, 2), timeout=60)

    def close(self) -> None:
        self.runtime.close()
        for proc in self.procs:
            proc.close()


@pytest.fixture(scope="module")
def hosts(redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    started = Hosts(redis_server.url, tmp_path_factory.mktemp("hosts"))
    yield started
    started.close()


@pytest.fixture(params=["local", "distributed"])
def run(request: pytest.FixtureRequest) -> Any:
    """``run(flow, entry, params)`` on one engine, returning the final JobState."""
    if request.param == "local":
        return lambda flow, entry, params: flow.execute(entry, entry_params=params, timeout=120)
    rt = request.getfixturevalue("hosts").runtime
    return lambda flow, entry, params: rt.wait(rt.submit(flow, entry, params), timeout=120)


def ended(state: JobState) -> JobState:
    assert state.status == "completed", state.error
    return state


@pytest.mark.timeout(180)
@pytest.mark.parametrize("n", [20, 200])
def test_parallel_read_modify_writes_of_shared_data_end_at_exactly_n(run, n, tmp_path):
    path = tmp_path / "trace"
    state = ended(run(concurrency_flows.counter_flow(f"counter-{n}", str(path), sleep_s=0.001), "fan", {"n": n}))
    assert state.shared_data["n"] == n
    attempts = concurrency_flows.traced(str(path))
    # Each committed step saw a different count: 0..n-1; the rest were refused and re-run.
    assert {int(line.split()[1]) for line in attempts} == set(range(n))
    print(f"n={n}: {len(attempts) - n} re-runs")
    if n == 200:
        assert len(attempts) > n  # the contention this test is about did happen


@pytest.mark.timeout(180)
def test_parallel_read_modify_writes_of_one_routine_state_lose_nothing(run):
    state = ended(run(concurrency_flows.state_counter_flow(), "fan", {"n": 100}))
    assert state.routine_states["worker"]["count"] == 100
    assert sorted(state.routine_states["worker"]["seen"]) == list(range(100))


@pytest.mark.timeout(180)
def test_a_shared_list_changed_in_place_and_written_back_by_parallel_steps_keeps_every_item_once(run):
    state = ended(run(concurrency_flows.list_flow(), "fan", {"n": 100}))
    assert sorted(state.shared_data["items"]) == list(range(100))


@pytest.mark.timeout(180)
def test_atomic_increments_and_appends_all_land_once_without_any_re_run(run, tmp_path):
    path = tmp_path / "trace"
    state = ended(run(concurrency_flows.blind_flow("blind", str(path)), "fan", {"n": 200}))
    assert state.shared_data["hits"] == 200
    assert state.shared_data["total"] == sum(range(200))
    assert sorted(state.shared_data["items"]) == list(range(200))
    assert len(concurrency_flows.traced(str(path))) == 200  # blind writes read nothing, so no step ran twice


@pytest.mark.timeout(180)
def test_a_step_whose_read_changed_runs_again_and_its_first_emits_never_appear(run, tmp_path):
    path = tmp_path / "trace"
    state = ended(run(concurrency_flows.stale_read_flow(trace_path=str(path)), "fan", {"n": 1}))
    assert concurrency_flows.traced(str(path)) == ["seen 0", "seen 1"]  # read x=0, refused; read x=1, committed
    assert state.shared_data == {"x": 1, "y": 2}
    assert [e["got"] for e in state.shared_log] == [{"seen": 1}]
    emits = [r.data for r in state.execution_history if r.routine_id == "reader" and r.event_name == "out"]
    assert emits == [{"seen": 1}]


@pytest.mark.timeout(180)
def test_a_blind_op_on_a_value_of_the_wrong_type_fails_inside_the_handler(run):
    state = run(concurrency_flows.wrong_type_flow(), "seed", {})
    assert state.status == "failed"
    assert "TypeError" in state.error and "not a number" in state.error
    assert state.shared_data["hits"] == "many"


def test_reads_inside_a_step_see_the_steps_own_writes_and_helpers(tmp_path):
    seen: dict[str, Any] = {}

    class Probe(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.go)

        def go(self, **_: Any) -> None:
            js = self.get_execution_context().job_state
            js.update_shared_data("a", 1)
            js.increment_shared_data("a", by=2)
            js.increment_shared_data("b", by=0.5)
            js.append_shared_data("c", "x")
            seen.update(a=js.shared_data["a"], b=js.shared_data.get("b"), c=js.get_shared_data("c"),
                        keys=sorted(js.shared_data), has_c="c" in js.shared_data)

    flow = concurrency_flows.fan_flow("probe", Probe())
    state = ended(flow.execute("fan", entry_params={"n": 1}))
    assert seen == {"a": 3, "b": 0.5, "c": ["x"], "keys": ["a", "b", "c"], "has_c": True}
    assert state.shared_data == {"a": 3, "b": 0.5, "c": ["x"]}


def test_a_step_that_never_reads_a_stable_value_gets_a_step_conflict_error_for_its_error_strategy():
    attempts = []

    class Contended(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.go)

        def go(self, **_: Any) -> None:
            js = self.get_execution_context().job_state
            attempts.append(js.shared_data.get("hot", 0))
            # Someone outside the step changes what it read, every time.
            writer = threading.Thread(target=js.update_shared_data, args=("hot", len(attempts)))
            writer.start()
            writer.join()
            js.update_shared_data("mine", True)

    contended = Contended()
    contended.set_error_handler(ErrorHandler(ErrorStrategy.CONTINUE))
    flow = concurrency_flows.fan_flow("contended", contended, max_workers=2)
    state = ended(flow.execute("fan", entry_params={"n": 1}))
    assert len(attempts) == MAX_CONFLICT_RERUNS + 1
    assert "mine" not in state.shared_data
    assert state.routine_states["worker"]["status"] == "error_continued"
    record = [r for r in state.execution_history if r.event_name == "error_continued"][0]
    assert record.data["error_type"] == "StepConflictError"


@pytest.mark.timeout(120)
def test_the_job_stream_replays_blind_writes_as_the_values_they_set(hosts):
    rt = hosts.runtime
    job_id = rt.submit(concurrency_flows.blind_flow("blind-replay"), "fan", {"n": 30})
    final = ended(rt.wait(job_id, timeout=60))
    assert final.shared_data["hits"] == 30
    assert replay_job(rt.store, job_id).state.shared_data == final.shared_data
