"""SubFlow: run another flow as a child job, once per activation, and report how it ended."""

from __future__ import annotations

from typing import Any

from routilux.context import current_child_jobs, current_step
from routilux.errors import FlowError
from routilux.routine import Routine

__all__ = ["SubFlow", "RESULT_MODES", "child_result"]

RESULT_MODES = ("output", "shared_data")
"""``result`` modes besides naming one shared-data key: the child's output log, or all its shared data."""


def child_result(mode: str, shared_data: dict[str, Any], output: list[Any]) -> Any:
    """What ``done`` carries as ``result`` for a child that completed with this shared data and output log."""
    if mode == "output":
        return list(output)
    if mode == "shared_data":
        return dict(shared_data)
    return shared_data.get(mode)


class SubFlow(Routine):
    """Start a child job of another flow per activation; emit ``done`` or ``failed`` when it ends.

    Config: ``flow`` (distributed: a published flow id or content hash; local: the
    id of a flow registered with ``routilux.local.register_flow``), ``entry`` (the
    child's entry routine) and ``result``: "output" (the child's output log, the
    default), "shared_data" (all of it) or the name of one shared-data key. The
    data received in ``trigger`` becomes the child's entry parameters.

    Events: ``done`` (``result``, ``child_job_id``) when the child completed;
    ``failed`` (``error``, ``status``, ``child_job_id``) when it failed or was
    cancelled. The parent job stays open while its child runs; cancelling the
    parent cancels the child. The distributed engine starts one child per
    activation even when a worker dies right after starting it (the child's job
    id derives from the parent's job and activation ids).
    """

    def __init__(self) -> None:
        """Define slots ``trigger`` and ``child_ended``, events ``done`` and ``failed``, and the default config."""
        super().__init__()
        self.trigger_slot = self.define_slot("trigger", handler=self._start)
        self.define_slot("child_ended", handler=self._ended)
        self.define_event("done", ["result", "child_job_id"])
        self.define_event("failed", ["error", "status", "child_job_id"])
        self.set_config(flow="", entry="", result="output")

    def _start(self, **params: Any) -> None:
        config = self.config()
        if not config.get("flow") or not config.get("entry"):
            raise FlowError("SubFlow needs config 'flow' (a flow id or hash) and 'entry' (its entry routine)")
        host, step = current_child_jobs.get(), current_step.get()
        if host is None or step is None:
            raise FlowError("SubFlow starts child jobs only while its flow runs on an engine")
        act = step.activation
        ended = host.start_child(act.job_id, act.activation_id, step.routine_id, config, params)
        if ended is not None:
            self._ended(**ended)

    def _ended(self, child_job_id: str = "", status: str = "", error: str | None = None, result: Any = None,
               **_: Any) -> None:
        if status == "completed":
            self.emit("done", result=result, child_job_id=child_job_id)
        else:
            reason = error or f"child job {child_job_id} was {status}"
            self.emit("failed", error=reason, status=status, child_job_id=child_job_id)
