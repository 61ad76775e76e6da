"""``async def`` slot handlers on the local engine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine
from routilux.aio import LoopThread


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["i"])

    async def go(self, n: int = 3, **_: Any) -> None:
        for k in range(n):
            await asyncio.sleep(0)
            self.emit("out", i=k)


class Meet(Routine):
    """Each activation waits at a barrier for ``parties`` of them: only overlapping awaits get through."""

    barriers: dict[str, asyncio.Barrier] = {}

    def __init__(self, parties: int = 2) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.set_config(parties=parties)

    async def go(self, i: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        barrier = self.barriers.setdefault(ctx.job_state.job_id, asyncio.Barrier(self.get_config("parties")))
        await asyncio.wait_for(barrier.wait(), timeout=10)
        ctx.job_state.increment_shared_data("met")


class Tally(Routine):
    """Reads a total, awaits, writes it back plus its input: a lost update unless the step is a transaction."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    async def go(self, i: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        total = ctx.job_state.get_shared_data("total") or 0
        await asyncio.sleep(0.01)
        ctx.job_state.update_shared_data("total", total + i)


class Flaky(Routine):
    """Fails the first attempt of each item (sync or async handler, as asked)."""

    def __init__(self, coroutine: bool) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go_async if coroutine else self.go)
        self.define_event("out", ["i"])

    def go(self, i: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        attempts = (ctx.job_state.get_shared_data(f"attempts-{i}") or 0) + 1
        ctx.job_state.update_shared_data(f"attempts-{i}", attempts)
        if attempts == 1 or i == 2:
            raise RuntimeError(f"failure {attempts} of item {i}")
        self.emit("out", i=i)

    async def go_async(self, i: int = 0, **_: Any) -> None:
        await asyncio.sleep(0)
        self.go(i)


def two_step(sink: Routine, mode: str = "sequential", sink_id: str = "sink") -> Flow:
    flow = Flow(flow_id=f"async-{sink_id}", execution_strategy=mode, max_workers=8)
    flow.add_routine(Source(), "source")
    flow.add_routine(sink, sink_id)
    flow.connect("source", "out", sink_id, "input")
    return flow


def test_a_coroutine_handler_emits_and_its_steps_overlap_their_awaits_in_a_concurrent_execution():
    state = two_step(Meet(parties=4), "concurrent").execute("source", {"n": 4})
    assert state.status == "completed", state.error
    assert state.shared_data["met"] == 4
    assert sorted(r.data["i"] for r in state.execution_history if r.event_name == "out") == [0, 1, 2, 3]


@pytest.mark.parametrize("mode", ["sequential", "concurrent"])
def test_coroutine_steps_that_read_then_write_across_an_await_lose_no_update(mode):
    state = two_step(Tally(), mode).execute("source", {"n": 6})
    assert state.status == "completed", state.error
    assert state.shared_data["total"] == sum(range(6))


@pytest.mark.parametrize("strategy", [ErrorStrategy.RETRY, ErrorStrategy.CONTINUE, ErrorStrategy.STOP])
def test_an_async_handlers_errors_meet_its_error_strategy_as_a_sync_handlers_do(strategy):
    def run(coroutine: bool) -> Any:
        flaky = Flaky(coroutine)
        flaky.set_error_handler(ErrorHandler(strategy, max_retries=2, retry_delay=0.01))
        state = two_step(flaky, sink_id="flaky").execute("source", {"n": 3})
        history = [(r.routine_id, r.event_name, r.data.get("error"), r.data.get("attempt"))
                   for r in state.execution_history]
        return state.status, state.error, state.shared_data, history, state.routine_states["flaky"].get("status")

    assert run(coroutine=True) == run(coroutine=False)


def test_a_step_run_on_the_handler_loop_itself_is_refused_instead_of_waiting_forever():
    loop = LoopThread("test-loop")

    async def nested() -> None:
        return None

    async def outer() -> str:
        try:
            loop.run(nested())
        except RuntimeError as exc:
            return str(exc)
        return "ran"

    assert "would wait for itself" in loop.run(outer())
