"""Where a running handler finds its execution: the current step, as a ContextVar.

The step runner sets the current step (a :class:`~routilux.step.StepContext`)
around each handler call, so that ``Routine.emit``, ``Slot._data`` and
``get_execution_context`` reach the execution that is running the handler, in
whatever thread or worker it runs. This module sits at the bottom of the core:
it names the step, the flow and the JobState only through the Protocols of
:mod:`routilux.protocols`.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, NamedTuple

from routilux.protocols import ChildJobsLike, FlowLike, StepLike


class ExecutionContext(NamedTuple):
    """The execution a handler runs in: its flow, its JobState and its routine id."""

    flow: FlowLike
    job_state: Any
    routine_id: str


current_step: ContextVar[StepLike | None] = ContextVar("routilux_current_step", default=None)
current_job_state: ContextVar[Any] = ContextVar("routilux_current_job_state", default=None)
current_child_jobs: ContextVar[ChildJobsLike | None] = ContextVar("routilux_current_child_jobs", default=None)
"""The engine's way to start child jobs, set by the engine around each handler (SubFlow uses it)."""
