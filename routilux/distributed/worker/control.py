"""Lets a handler on a worker pause or cancel its own job, as it would locally."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routilux.errors import FlowError

if TYPE_CHECKING:
    from routilux.activation import Activation
    from routilux.distributed.store import RedisStore
    from routilux.flow import Flow
    from routilux.job_state import JobState


class StoreControl:
    """The engine of a flow loaded on a worker: pause and cancel go to the store."""

    def __init__(self, store: RedisStore, flow: Flow) -> None:
        self.store = store
        self.flow = flow

    def start(self, job_state: JobState, root: Activation, timeout: float | None) -> None:
        """Not available on a worker: submit jobs with DistributedRuntime."""
        raise FlowError("a flow loaded on a worker cannot start executions; use DistributedRuntime.submit")

    def pause(self, job_state: JobState, reason: str, checkpoint: Any) -> None:
        """Pause the job in the store; this step's children are held."""
        self.store.pause(job_state.job_id, reason, checkpoint)

    def resume(self, job_state: JobState, timeout: float | None) -> None:
        """Not available on a worker: resume with DistributedRuntime.resume."""
        raise FlowError("resume a distributed job with DistributedRuntime.resume(job_id)")

    def cancel(self, job_state: JobState, reason: str) -> None:
        """Cancel the job in the store."""
        self.store.cancel(job_state.job_id, reason)

    def post(self, job_state: JobState, act: Activation) -> str:
        """Not available on a worker: post with DistributedRuntime.post."""
        raise FlowError("post to a distributed job with DistributedRuntime.post(job_id, routine_id, slot, data)")

    def shutdown(self, wait: bool, timeout: float | None) -> None:
        """Nothing to stop."""
