"""Output handlers: where ``Routine.send_output`` delivers, besides the JobState's output log."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, Callable


class OutputHandler(ABC):
    """Receives the outputs routines send during an execution."""

    @abstractmethod
    def handle(
        self,
        job_id: str,
        routine_id: str,
        output_type: str,
        data: Any,
        timestamp: datetime | None = None,
    ) -> None:
        """Deliver one output."""


class QueueOutputHandler(OutputHandler):
    """Puts each output as a dict on a queue (``queue.Queue`` or anything with ``put``)."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def handle(self, job_id: str, routine_id: str, output_type: str, data: Any, timestamp: datetime | None = None) -> None:
        """Put the output on the queue."""
        self.queue.put(
            {
                "job_id": job_id,
                "routine_id": routine_id,
                "output_type": output_type,
                "data": data,
                "timestamp": (timestamp or datetime.now()).isoformat(),
            }
        )


class CallbackOutputHandler(OutputHandler):
    """Calls ``callback(job_id, routine_id, output_type, data, timestamp)`` for each output."""

    def __init__(self, callback: Callable[..., Any]) -> None:
        self.callback = callback

    def handle(self, job_id: str, routine_id: str, output_type: str, data: Any, timestamp: datetime | None = None) -> None:
        """Call the callback."""
        self.callback(job_id, routine_id, output_type, data, timestamp)


class NullOutputHandler(OutputHandler):
    """Discards outputs (they still reach the JobState's output log)."""

    def handle(self, job_id: str, routine_id: str, output_type: str, data: Any, timestamp: datetime | None = None) -> None:
        """Do nothing."""
