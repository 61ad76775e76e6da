"""ExecutionTracker: timings of routine runs and the flow of events in one execution."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from routilux.tracker_log import emits_of, outcome, steps_of, times


class ExecutionTracker:
    """Records when routines ran, how long they took and which events flowed.

    The local engine gives every execution its own (``job_state.execution_tracker``;
    ``flow.execution_tracker`` is the latest execution's) and records each step
    through :meth:`record_step` and each emit through :meth:`record_emit`, which
    only append a flat row (routilux.tracker_log): the dicts are built when
    someone reads them.
    """

    def __init__(self, flow_id: str = "") -> None:
        self.flow_id = flow_id
        self._executions: dict[str, list[dict[str, Any]]] = {}
        self._step_rows: list[Any] = []  # flat rows and their times, see routilux.tracker_log
        self._step_times = times()
        self._events: list[dict[str, Any]] = []
        self._emit_rows: list[Any] = []
        self._emit_times = times()
        self.performance_metrics: dict[str, Any] = {}

    @property
    def routine_executions(self) -> dict[str, list[dict[str, Any]]]:
        """Runs of each routine: start and end times, status, execution time."""
        rows, at, self._step_rows, self._step_times = self._step_rows, self._step_times, [], times()
        for routine_id, started, duration_s, status, error in steps_of(rows, at):
            start = datetime.fromtimestamp(started)
            end = datetime.fromtimestamp(started + duration_s)
            self._executions.setdefault(routine_id, []).append(
                {"routine_id": routine_id, "start_time": start.isoformat(), "end_time": end.isoformat(),
                 "params": {}, "status": status, "error": error, "result": None, "execution_time": duration_s}
            )
        return self._executions

    @property
    def event_flow(self) -> list[dict[str, Any]]:
        """One entry per emit, oldest first: source routine, event, target routine(s), data, time."""
        rows, when, self._emit_rows, self._emit_times = self._emit_rows, self._emit_times, [], times()
        for source, event_name, targets, data, at in emits_of(rows, when):
            self._events.append(
                {
                    "source_routine_id": source,
                    "event_name": event_name,
                    "target_routine_id": targets[0] if len(targets) == 1 else None,
                    "target_routine_ids": list(targets),
                    "data": data,
                    "timestamp": datetime.fromtimestamp(at).isoformat(),
                }
            )
        return self._events

    @event_flow.setter
    def event_flow(self, entries: list[dict[str, Any]]) -> None:
        self._emit_rows, self._emit_times = [], times()
        self._events = list(entries)

    def record_emit(
        self, source_routine_id: str, event_name: str, target_routine_ids: Sequence[str], data: Any, at: float
    ) -> None:
        """Note one emit of an execution (``at`` is a Unix time)."""
        self._emit_rows += (source_routine_id, event_name, target_routine_ids, data)
        self._emit_times.append(at)

    def _record_run(
        self, routine_id: str, started: float, duration_s: float, error: BaseException | None,
        emits: Sequence[tuple[str, str, Any, Sequence[str]]],
    ) -> None:
        """An engine's step in one call: its record_step, then a record_emit per (source, event, data, targets)."""
        self._step_rows += (routine_id, None if error is None else ("failed", str(error)))
        self._step_times.extend((started, duration_s))  # one call: a reader swapping the arrays never splits it
        if emits:
            rows, emit_times = self._emit_rows, self._emit_times
            for source, event_name, data, targets in emits:
                rows += (source, event_name, targets, data)
                emit_times.append(started)

    def record_step(self, routine_id: str, started: float, duration_s: float, status: str, error: str | None = None) -> None:
        """Note one finished run of a routine (``started`` is a Unix time)."""
        self._step_rows += (routine_id, outcome(status, error))
        self._step_times.extend((started, duration_s))

    def record_routine_start(self, routine_id: str, params: dict[str, Any] | None = None) -> None:
        """Note that a routine started."""
        self.routine_executions.setdefault(routine_id, []).append(
            {"routine_id": routine_id, "start_time": datetime.now().isoformat(), "params": params or {}, "status": "running"}
        )

    def record_routine_end(self, routine_id: str, status: str = "completed", result: Any = None, error: str | None = None) -> None:
        """Complete the latest start record of a routine (no-op without one)."""
        runs = self.routine_executions.get(routine_id)
        if not runs:
            return
        run = runs[-1]
        end = datetime.now()
        run.update(end_time=end.isoformat(), status=status, result=result, error=error)
        run["execution_time"] = (end - datetime.fromisoformat(run["start_time"])).total_seconds()

    def record_event(self, source_routine_id: str, event_name: str, target_routine_id: str | None = None, data: Any = None) -> None:
        """Note that an event went from one routine (to another)."""
        self.event_flow.append(
            {
                "source_routine_id": source_routine_id,
                "event_name": event_name,
                "target_routine_id": target_routine_id,
                "data": data,
                "timestamp": datetime.now().isoformat(),
            }
        )

    def get_routine_performance(self, routine_id: str) -> dict[str, Any] | None:
        """Return counts and timings of one routine's runs, or None if it never ran."""
        runs = self.routine_executions.get(routine_id)
        if not runs:
            return None
        times = [r["execution_time"] for r in runs if "execution_time" in r]
        completed = sum(1 for r in runs if r.get("status") == "completed")
        return {
            "total_executions": len(runs),
            "completed": completed,
            "failed": sum(1 for r in runs if r.get("status") == "failed"),
            "success_rate": completed / len(runs),
            "avg_execution_time": sum(times) / len(times) if times else 0.0,
            "min_execution_time": min(times) if times else 0.0,
            "max_execution_time": max(times) if times else 0.0,
        }

    def get_flow_performance(self) -> dict[str, Any]:
        """Return totals over the whole execution."""
        times = [r["execution_time"] for runs in self.routine_executions.values() for r in runs if "execution_time" in r]
        return {
            "total_routines": len(self.routine_executions),
            "total_events": len(self.event_flow),
            "total_execution_time": sum(times),
            "avg_routine_time": sum(times) / len(times) if times else 0.0,
        }

    def serialize(self) -> dict[str, Any]:
        """Return the tracker as plain data."""
        return {
            "_type": "ExecutionTracker",
            "flow_id": self.flow_id,
            "routine_executions": self.routine_executions,
            "event_flow": self.event_flow,
            "performance_metrics": self.performance_metrics,
        }

    def deserialize(self, data: dict[str, Any]) -> ExecutionTracker:
        """Fill this tracker from :meth:`serialize` output; returns self."""
        self.flow_id = data.get("flow_id", self.flow_id)
        self._step_rows, self._step_times = [], times()
        self._executions = {rid: [dict(run) for run in runs] for rid, runs in (data.get("routine_executions") or {}).items()}
        self.event_flow = [dict(entry) for entry in data.get("event_flow") or []]
        self.performance_metrics = dict(data.get("performance_metrics") or {})
        return self
