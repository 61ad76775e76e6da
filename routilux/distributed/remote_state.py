"""The JobState a handler sees on a worker: a thin view of the job in Redis.

Routine states and shared data are read from Redis the first time the handler
touches them; history, shared log and output log start empty and collect only
this step's entries (the getters ``get_execution_history`` and
``get_shared_log`` also read what is already committed). Writes are recorded
in the step's delta and committed atomically after the handler returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from routilux.job_state import ExecutionRecord, JobState

if TYPE_CHECKING:
    from routilux.distributed.store import RedisStore

_LAZY = {"routine_states": "rs", "shared_data": "sd"}


class RemoteJobState(JobState):
    """A job's state as one step on one worker sees it."""

    def __init__(
        self,
        store: RedisStore,
        job_id: str,
        flow_id: str,
        current_routine_id: str | None,
        slot_buffers: dict[str, dict[str, dict[str, Any]]],
    ) -> None:
        super().__init__(flow_id)
        self._store = store
        self.job_id = job_id
        self.status = "running"
        self.current_routine_id = current_routine_id
        self.slot_buffers = slot_buffers
        del self.routine_states
        del self.shared_data

    def __getattr__(self, name: str) -> Any:
        part = _LAZY.get(name)
        if part is None:
            raise AttributeError(name)
        value = self._store.read_hash(self.job_id, part)
        setattr(self, name, value)
        return value

    def get_execution_history(self, routine_id: str | None = None) -> list[ExecutionRecord]:
        """Return the committed history plus this step's records, oldest first."""
        committed = [ExecutionRecord(r[0], r[1], r[2], r[3]) for r in self._store.read_history(self.job_id)]
        records = committed + self.execution_history
        if routine_id is not None:
            records = [r for r in records if r.routine_id == routine_id]
        return sorted(records, key=lambda r: r.timestamp)

    def get_shared_log(self, filter_func: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        """Return the committed shared log plus this step's entries."""
        entries = self._store.read_list(self.job_id, "sl") + self.shared_log
        return [e for e in entries if filter_func is None or filter_func(e)]
