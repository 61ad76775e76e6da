"""Sub-flows on the local engine: a SubFlow routine runs its child flow here, in this process.

A published flow id means nothing without Redis, so the local engine finds a
SubFlow's ``flow`` among the flows registered with :func:`register_flow` (by
flow id). The SubFlow handler starts the child execution on the child flow's own
engine and waits for it to end, so the parent stays open while it runs; then the
routine emits ``done`` or ``failed`` as on the distributed engine. A parent that
ends other than completed (cancelled, failed, past its deadline) cancels its
running children. Each JobState names its links in ``metadata``: the child's
``parent`` ({job_id, activation, routine}) and the parent's ``children`` (job ids).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from routilux.builtin_routines.subflow import child_result
from routilux.context import current_step
from routilux.errors import FlowError
from routilux.job_state import TERMINAL

if TYPE_CHECKING:
    from routilux.flow import Flow
    from routilux.job_state import JobState

_flows: dict[str, Flow] = {}
_running: dict[str, list[tuple[Flow, JobState]]] = {}
_lock = threading.Lock()


def register_flow(flow: Flow) -> Flow:
    """Let SubFlow routines on the local engine run ``flow`` by its flow id; returns it."""
    with _lock:
        _flows[flow.flow_id] = flow
    return flow


def registered_flow(flow_id: str) -> Flow:
    """The flow registered under ``flow_id`` (FlowError if none)."""
    with _lock:
        flow = _flows.get(flow_id)
    if flow is None:
        raise FlowError(f"SubFlow: no local flow {flow_id!r}; register it with routilux.local.register_flow(flow)")
    return flow


def cancel_children(job_id: str, reason: str) -> None:
    """Cancel the running child executions of a parent that ended."""
    with _lock:
        children = list(_running.get(job_id, ()))
    for flow, state in children:
        if state.status not in TERMINAL:
            flow.cancel(state, reason)


class LocalChildJobs:
    """The local engine's side of ``ChildJobsLike``: run the child to its end, then report it."""

    def start_child(self, parent_job_id: str, activation_id: str, routine_id: str, config: dict[str, Any],
                    params: dict[str, Any]) -> dict[str, Any]:
        """Run the child flow from ``config["entry"]`` with ``params``; returns how it ended."""
        flow = registered_flow(str(config["flow"]))
        parent = current_step.get().job_state  # type: ignore[union-attr]  (SubFlow checked there is a step)
        child = flow.start(str(config["entry"]), dict(params))
        child.metadata["parent"] = {"job_id": parent_job_id, "activation": activation_id, "routine": routine_id}
        parent.metadata.setdefault("children", []).append(child.job_id)
        with _lock:
            _running.setdefault(parent_job_id, []).append((flow, child))
        try:
            if parent.status in TERMINAL:
                flow.cancel(child, f"parent job {parent_job_id} ended")
            child.wait()
        finally:
            with _lock:
                kids = _running.get(parent_job_id, [])
                kids.remove((flow, child))
                if not kids:
                    _running.pop(parent_job_id, None)
        return self._ended(child, str(config.get("result") or "output"))

    @staticmethod
    def _ended(child: JobState, mode: str) -> dict[str, Any]:
        result = child_result(mode, dict(child.shared_data), child.output_log) if child.status == "completed" else None
        return {"child_job_id": child.job_id, "status": child.status, "error": child.error, "result": result}


LOCAL_CHILD_JOBS = LocalChildJobs()
