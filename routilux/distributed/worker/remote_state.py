"""The JobState a handler sees on a worker: a thin view of the job in Redis.

Routine states and shared data are read from Redis, with their versions, the
first time the handler touches them; history, shared log and output log start
empty and collect only this step's entries (the getters
``get_execution_history`` and ``get_shared_log`` also read what is already
committed). The step runs as a transaction (routilux.txn): its writes are kept
in the step and committed atomically after the handler returns, if what it
read is unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from routilux.job_state import ExecutionRecord, JobState
from routilux.versioned import RS, SD, VersionedDict

if TYPE_CHECKING:
    from routilux.distributed.store import RedisStore


class RemoteJobState(JobState):
    """A job's state as one step on one worker sees it."""

    _is_view = True

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
        self._shared_data = self._routine_states = None  # type: ignore[assignment]

    def _load(self, part: str) -> VersionedDict:
        values, versions, version = self._store.read_versioned(self.job_id, part)
        return VersionedDict(part, self, values, versions, version)

    @property
    def shared_data(self) -> VersionedDict:
        """The job's shared data, read from Redis on first use."""
        if self._shared_data is None:
            self._shared_data = self._load(SD)
        return self._shared_data

    @property
    def routine_states(self) -> VersionedDict:
        """The job's routine states, read from Redis on first use."""
        if self._routine_states is None:
            self._routine_states = self._load(RS)
        return self._routine_states

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
