"""Local-engine benchmark that runs unchanged on this Routilux and on upstream 0.10.0.

Only the public API both share is used: ``Flow``, ``Routine`` (``define_slot``,
``define_event``, ``emit``), ``flow.execute(entry_id, entry_params=...)`` and
``JobState.wait_for_completion(flow, job_state, timeout=...)``. Upstream's
``execute`` returns while work is still queued and its wait polls; ours returns
when the execution is over and the wait returns at once. Timing always spans
both calls, so each implementation is measured to the point where the caller
knows the job is done.

Scenarios:
  throughput  chain of 10 routines; the source emits N items that each pass
              through the 9 downstream routines; slot invocations per second.
  latency     3-routine chain, one event; wall time from execute() to "done".
  history     a source emitting N events into one sink, for a small and a large
              N; the cost per step should not grow with the history's length.

Prints one JSON line (the last line of stdout) with all figures.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import resource
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import routilux
from routilux import Flow, JobState, Routine

# --------------------------------------------------------------------------- counting
# Upstream 0.10.0 has no per-routine stats API, so handlers bump a plain
# module-level counter. Both engines run a sequential flow's handlers one at
# a time, so the unlocked increment cannot lose updates.


@dataclass
class _Counter:
    """Slot invocations so far, when the last sink invocation happened, and timing marks."""

    calls: int = 0
    last_sink_at: float = 0.0
    mark_every: int = 0  # if > 0, the sink notes the time every this many invocations
    marks: list[float] = field(default_factory=list)


COUNTER = _Counter()


def _reset_counter(mark_every: int = 0) -> None:
    """Zero the counter before a run."""
    COUNTER.calls = 0
    COUNTER.last_sink_at = 0.0
    COUNTER.mark_every = mark_every
    COUNTER.marks = []


# --------------------------------------------------------------------------- routines


class Source(Routine):
    """Entry routine: its trigger emits ``count`` items on ``output``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.fire)
        self.define_event("output", ["item"])

    def fire(self, **kwargs: Any) -> None:
        """Emit ``count`` events."""
        COUNTER.calls += 1
        for item in range(kwargs.get("count", 1)):
            self.emit("output", item=item)


class Relay(Routine):
    """Passes what it receives on to its ``output`` event."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.relay)
        self.define_event("output", ["item"])

    def relay(self, **kwargs: Any) -> None:
        """Count the call and re-emit the data."""
        COUNTER.calls += 1
        self.emit("output", **kwargs)


class Sink(Routine):
    """End of a chain: counts the call and notes when it happened."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, **kwargs: Any) -> None:
        """Count the call."""
        COUNTER.calls += 1
        COUNTER.last_sink_at = now = time.perf_counter()
        if COUNTER.mark_every and COUNTER.calls % COUNTER.mark_every == 0:
            COUNTER.marks.append(now)


STRATEGY = {"name": "sequential", "max_workers": 1}  # set from the command line


def build_chain(length: int) -> tuple[Flow, str]:
    """A flow Source -> Relay x (length - 2) -> Sink; returns it and its entry id."""
    flow = Flow()
    if STRATEGY["name"] != "sequential":
        flow.set_execution_strategy(STRATEGY["name"], STRATEGY["max_workers"])
    ids = [flow.add_routine(Source(), "r0")]
    for index in range(1, length - 1):
        ids.append(flow.add_routine(Relay(), f"r{index}"))
    ids.append(flow.add_routine(Sink(), f"r{length - 1}"))
    for source, target in zip(ids, ids[1:]):
        flow.connect(source, "output", target, "input")
    return flow, ids[0]


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    """What one timed execution did."""

    seconds: float  # execute() until the wait returned
    busy_seconds: float  # execute() until the last sink invocation
    calls: int
    status: str
    finished: bool  # False if the wait timed out
    marks: list[float] = field(default_factory=list)  # sink times every mark_every calls
    cpu_seconds: float = 0.0  # CPU time of the whole process (every thread) over the same span


def run_once(length: int, count: int, timeout: float, mark_every: int = 0) -> Run:
    """Build a chain, execute it once with ``count`` items, and time it."""
    flow, entry = build_chain(length)
    _reset_counter(mark_every)
    cpu_started, started = time.process_time(), time.perf_counter()
    job_state = flow.execute(entry, entry_params={"count": count})
    finished = JobState.wait_for_completion(flow, job_state, timeout=timeout)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    busy = (COUNTER.last_sink_at - started) if COUNTER.last_sink_at else seconds
    run = Run(seconds, busy, COUNTER.calls, str(job_state.status), bool(finished), COUNTER.marks, cpu)
    _dispose(flow, job_state, finished)
    return run


def _dispose(flow: Flow, job_state: Any, finished: bool) -> None:
    """Release the flow's threads (outside the timed region)."""
    if not finished:
        flow.cancel(job_state, reason="benchmark time budget exceeded")
    flow.shutdown(wait=finished, timeout=5.0)


def _check(run: Run, expected_calls: int) -> str | None:
    """Describe what went wrong in a run, or None if it did what it should."""
    if not run.finished:
        return None  # reported separately as a time-budget cut
    if run.status != "completed":
        return f"job status {run.status!r}, expected 'completed'"
    if run.calls != expected_calls:
        return f"{run.calls} slot invocations, expected {expected_calls}"
    return None


# --------------------------------------------------------------------------- scenarios


def scenario_throughput(items: int, repeats: int, timeout: float) -> dict[str, Any]:
    """Chain of 10: slot invocations per second, best of ``repeats``."""
    expected = 1 + 9 * items  # the trigger, then each item through 9 routines
    runs = [run_once(10, items, timeout) for _ in range(repeats)]
    problems = [p for p in (_check(r, expected) for r in runs) if p]
    best = min(runs, key=lambda r: r.seconds)
    best_busy = min(runs, key=lambda r: r.busy_seconds)
    best_cpu = min(runs, key=lambda r: r.cpu_seconds)
    return {
        "routines": 10,
        "items": items,
        "events_emitted": items * 9,
        "slot_invocations": best.calls,
        "repeats": repeats,
        "invocations_per_s": best.calls / best.seconds,
        "invocations_per_s_busy": best_busy.calls / best_busy.busy_seconds,
        # CPU time instead of wall time: what other work on the machine disturbs least.
        "invocations_per_cpu_s": best_cpu.calls / max(best_cpu.cpu_seconds, 1e-9),
        "best_seconds": best.seconds,
        "all_seconds": [round(r.seconds, 4) for r in runs],
        "error": "; ".join(problems) or None,
    }


def scenario_latency(runs: int, timeout: float) -> dict[str, Any]:
    """3-routine chain, one event: execute() to done, median and p95 in ms."""
    results = [run_once(3, 1, timeout) for _ in range(runs)]
    problems = [p for p in (_check(r, 3) for r in results) if p]
    millis = sorted(r.seconds * 1000.0 for r in results)
    return {
        "routines": 3,
        "runs": runs,
        "median_ms": statistics.median(millis),
        "p95_ms": _percentile(millis, 95),
        "min_ms": millis[0],
        "max_ms": millis[-1],
        "error": "; ".join(sorted(set(problems))) or None,
    }


def _percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, min(len(sorted_values), round(pct / 100.0 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def scenario_history(sizes: list[int], repeats: int, budget: float) -> dict[str, Any]:
    """Source emitting N events into one sink: µs per step for each N, and their ratio."""
    out: dict[str, Any] = {"sizes": sizes, "budget_s": budget, "by_size": {}}
    for size in sizes:
        out["by_size"][str(size)] = _history_size(size, repeats, budget)
    small, large = (out["by_size"][str(s)] for s in (min(sizes), max(sizes)))
    out["ratio_large_over_small"] = large["us_per_step_busy"] / small["us_per_step_busy"]
    out["ratio_large_over_small_end_to_end"] = large["us_per_step"] / small["us_per_step"]
    out["complete"] = all(v["finished"] for v in out["by_size"].values())
    return out


def _history_size(size: int, repeats: int, budget: float) -> dict[str, Any]:
    """Time up to ``repeats`` executions of a size-``size`` source -> sink run; keep the best."""
    runs: list[Run] = []
    while len(runs) < repeats and (not runs or runs[-1].finished):  # no retry after a cut
        runs.append(run_once(2, size, budget, mark_every=max(size // 10, 1)))
    best = min(runs, key=lambda r: r.busy_seconds)
    steps = max(best.calls, 1)
    return {
        "repeats": len(runs),
        "events": size,
        "steps_done": best.calls,
        "finished": best.finished,
        # Busy time excludes completion detection (a fixed cost, see latency),
        # so this is the per-step cost whose growth the scenario looks for.
        "us_per_step_busy": best.busy_seconds / steps * 1e6,
        "us_per_step": best.seconds / steps * 1e6,
        "seconds": best.seconds,
        "sink_us_per_step_by_decile": _decile_costs(best.marks, size // 10),
        "error": _check(best, size + 1),
    }


def _decile_costs(marks: list[float], per_mark: int) -> list[float]:
    """µs per sink invocation between consecutive marks (2nd..last tenth of the run).

    Within one execution the history only grows, so a rising list means the
    step cost depends on the history's length. (On upstream the first tenths
    overlap with the source still emitting on another thread.)
    """
    return [round((b - a) / per_mark * 1e6, 3) for a, b in zip(marks, marks[1:])] if per_mark else []


# --------------------------------------------------------------------------- main


def _guarded(name: str, func: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a scenario; on an exception, return its traceback instead of figures."""
    try:
        return func()
    except Exception:  # noqa: BLE001 - the report must say exactly what failed
        return {"error": f"{name} raised:\n{traceback.format_exc()}"}


def _implementation_name() -> str:
    """'upstream' for the PyPI package, 'this-repo' for ours (both say version 0.10.0)."""
    # Upstream has no msgpack codec module; ours does.
    return "this-repo" if importlib.util.find_spec("routilux.codec") else "upstream"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="throughput,latency,history")
    parser.add_argument("--label", default=None, help="name to report (default: detected)")
    parser.add_argument("--items", type=int, default=1000, help="items per throughput run")
    parser.add_argument("--repeats", type=int, default=3, help="throughput/history repeats")
    parser.add_argument("--latency-runs", type=int, default=50)
    parser.add_argument("--history-sizes", default="1000,100000")
    parser.add_argument(
        "--history-budget", type=float, default=600.0,
        help="seconds one history execution may take before it is cut short",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="wait timeout per run")
    parser.add_argument("--strategy", choices=("sequential", "concurrent"), default="sequential",
                        help="execution strategy of every flow")
    parser.add_argument("--max-workers", type=int, default=4, help="handlers at once with --strategy concurrent")
    parser.add_argument(
        "--no-gc", action="store_true",
        help="disable Python's cyclic GC, to tell GC cost apart from engine cost",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios and print one JSON line."""
    args = parse_args(argv)
    wanted = set(args.scenarios.split(","))
    if args.no_gc:
        gc.disable()
    STRATEGY.update(name=args.strategy, max_workers=args.max_workers)
    run_once(3, 10, args.timeout)  # warm-up: imports, caches, thread pools
    gc.collect()
    result: dict[str, Any] = {
        "implementation": args.label or _implementation_name(),
        "version": getattr(routilux, "__version__", "unknown"),
        "module": os.path.dirname(os.path.abspath(routilux.__file__)),
        "python": platform.python_version(),
        "gc": "off" if args.no_gc else "on",
        "strategy": args.strategy,
    }
    if "throughput" in wanted:
        result["throughput"] = _guarded(
            "throughput", lambda: scenario_throughput(args.items, args.repeats, args.timeout)
        )
    if "latency" in wanted:
        result["latency"] = _guarded("latency", lambda: scenario_latency(args.latency_runs, args.timeout))
    if "history" in wanted:
        sizes = [int(s) for s in args.history_sizes.split(",")]
        result["history"] = _guarded(
            "history", lambda: scenario_history(sizes, args.repeats, args.history_budget)
        )
    # Linux reports kilobytes: the process's high-water mark over every scenario it ran.
    result["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result), flush=True)
    if result.get("history", {}).get("complete") is False:
        # A cut-short upstream execution leaves non-daemon pool threads
        # draining its queue; they would keep this process alive for minutes.
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
