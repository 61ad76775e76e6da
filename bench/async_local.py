"""Coroutine handlers on the local engine: what one await hand-off costs, and a flow of async steps beside sync ones.

    PYTHONPATH=. .venv/bin/python bench/async_local.py [--steps 2000]

1. Per coroutine: the engine's choice, one shared loop thread per process
   (``routilux.aio.run_coroutine``), beside ``asyncio.run`` per step (a fresh loop each time).
2. A source emitting ``--steps`` items into one sink, sequential execution: the sink
   ``async def`` (awaiting nothing) beside the same sink as a plain function.
3. Overlap: ``--overlap`` items each awaiting 0.1 s in a concurrent execution
   (max_workers = items), against the same with ``time.sleep`` in sync handlers.

Each figure is the best of ``--runs``; ratios are to the first of each pair.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from routilux import Flow, Routine  # noqa: E402
from routilux.aio import run_coroutine  # noqa: E402


async def nothing() -> None:
    return None


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["i"])

    def go(self, n: int = 1, **_: Any) -> None:
        for k in range(n):
            self.emit("out", i=k)


class Sink(Routine):
    def __init__(self, coroutine: bool, sleep_s: float = 0.0) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go_async if coroutine else self.go)
        self.set_config(sleep_s=sleep_s)

    def go(self, **_: Any) -> None:
        if self.get_config("sleep_s"):
            time.sleep(self.get_config("sleep_s"))

    async def go_async(self, **_: Any) -> None:
        if self.get_config("sleep_s"):
            await asyncio.sleep(self.get_config("sleep_s"))


def best(runs: int, fn: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def flow_run(coroutine: bool, items: int, mode: str, sleep_s: float = 0.0) -> Callable[[], None]:
    def run() -> None:
        flow = Flow(execution_strategy=mode, max_workers=max(1, items) if mode == "concurrent" else 1)
        flow.add_routine(Source(), "source")
        flow.add_routine(Sink(coroutine, sleep_s), "sink")
        flow.connect("source", "out", "sink", "input")
        assert flow.execute("source", {"n": items}).status == "completed"
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--overlap", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n = args.steps
    shared = best(args.runs, lambda: [run_coroutine(nothing()) for _ in range(n)])
    fresh = best(args.runs, lambda: [asyncio.run(nothing()) for _ in range(n)])
    print(f"hand-off per coroutine: shared loop {shared / n * 1e6:.1f} us, asyncio.run {fresh / n * 1e6:.1f} us "
          f"(x{fresh / shared:.2f})")
    sync = best(args.runs, flow_run(False, n, "sequential"))
    coro = best(args.runs, flow_run(True, n, "sequential"))
    print(f"{n} sink steps, sequential: sync {sync / n * 1e6:.1f} us/step, async {coro / n * 1e6:.1f} us/step "
          f"(x{coro / sync:.2f})")
    k = args.overlap
    sync = best(args.runs, flow_run(False, k, "concurrent", 0.1))
    coro = best(args.runs, flow_run(True, k, "concurrent", 0.1))
    print(f"{k} steps waiting 0.1 s, concurrent: time.sleep {sync:.2f} s, await asyncio.sleep {coro:.2f} s "
          f"(x{coro / sync:.2f})")


if __name__ == "__main__":
    main()
