"""Routilux: an event-driven workflow engine.

Routines (input slots, output events, a handler per slot) are wired into a
:class:`Flow`; each execution is tracked by a :class:`JobState`. Flows run in
this process on the local engine (``flow.execute(...)``), or across many hosts
with ``routilux.distributed`` (an install extra: importing ``routilux`` loads no
Celery or Redis).
"""

from __future__ import annotations

from routilux import formats as _formats  # noqa: F401  (installs Flow's serialize/deserialize/spec methods)
from routilux import local as _local  # noqa: F401  (installs the local engine)
from routilux.builtin_routines import (
    ConditionalRouter,
    DataFlattener,
    DataTransformer,
    DataValidator,
    ResultExtractor,
    SubFlow,
    TextClipper,
    TextRenderer,
    TimeProvider,
    WaitForPost,
    register_condition,
)
from routilux.connection import Connection
from routilux.context import ExecutionContext
from routilux.error_handler import ErrorHandler, ErrorStrategy
from routilux.errors import RoutiluxError
from routilux.event import Event
from routilux.execution_tracker import ExecutionTracker
from routilux.flow import Flow
from routilux.job_state import ExecutionRecord, JobState
from routilux.output_handler import CallbackOutputHandler, NullOutputHandler, OutputHandler, QueueOutputHandler
from routilux.registry import register_serializable
from routilux.routine import Routine
from routilux.slot import Slot

__version__ = "0.10.0"

__all__ = [
    "CallbackOutputHandler",
    "ConditionalRouter",
    "Connection",
    "DataFlattener",
    "DataTransformer",
    "DataValidator",
    "ErrorHandler",
    "ErrorStrategy",
    "Event",
    "ExecutionContext",
    "ExecutionRecord",
    "ExecutionTracker",
    "Flow",
    "JobState",
    "NullOutputHandler",
    "OutputHandler",
    "QueueOutputHandler",
    "ResultExtractor",
    "Routine",
    "RoutiluxError",
    "Slot",
    "SubFlow",
    "TextClipper",
    "TextRenderer",
    "TimeProvider",
    "WaitForPost",
    "__version__",
    "register_condition",
    "register_serializable",
]
