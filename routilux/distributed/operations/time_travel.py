"""DistributedRuntime methods for time travel: a job's history positions, its state at one, and fork."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routilux.distributed.operations.fork import fork_job
from routilux.distributed.operations.history import Replay, positions, replay_job

if TYPE_CHECKING:
    from routilux.distributed.store import RedisStore


class TimeTravelMixin:
    """Reads a job's past from its stream, and continues it from there as a new job."""

    store: RedisStore

    def history_positions(self, job_id: str) -> list[dict[str, Any]]:
        """Every entry of the job's stream (id, kind, activation, status), oldest first.

        Raises:
            JobNotFoundError: no such job.
        """
        return positions(self.store, job_id)

    def state_at(self, job_id: str, at: str | None = None) -> Replay:
        """The job rebuilt from its stream up to entry ``at`` (default: its last entry).

        Raises:
            JobNotFoundError: no such job.
            FlowError: ``at`` is not in the job's history.
        """
        return replay_job(self.store, job_id, at)

    def fork(self, job_id: str, at: str | None = None) -> str:
        """Start a new job continuing ``job_id`` from after stream entry ``at``; returns its id.

        Raises:
            JobNotFoundError: no such job.
            FlowError: ``at`` is not in the job's history, or nothing was left to run there.
            BrokerUnavailableError: the broker did not take the new job's activations; it was withdrawn.
        """
        return fork_job(self, job_id, at)  # type: ignore[arg-type]  # the runtime is a ForkingRuntime
