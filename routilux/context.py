"""Where a running handler finds its execution: the current step, as a ContextVar.

The step runner sets the current :class:`StepContext` around each handler call,
so that ``Routine.emit``, ``Slot._data`` and ``get_execution_context`` reach the
execution that is running the handler, in whatever thread or worker it runs.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from routilux.flow import Flow
    from routilux.job_state import JobState
    from routilux.step import StepContext


class ExecutionContext(NamedTuple):
    """The execution a handler runs in: its flow, its JobState and its routine id."""

    flow: Flow
    job_state: JobState
    routine_id: str


current_step: ContextVar[StepContext | None] = ContextVar("routilux_current_step", default=None)
current_job_state: ContextVar[Any] = ContextVar("routilux_current_job_state", default=None)
