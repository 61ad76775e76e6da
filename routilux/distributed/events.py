"""The public path of :class:`JobEvent` (``routilux.distributed.events.JobEvent``, as documented).

Reading a job's events is an operation: see :mod:`routilux.distributed.operations.events`.
"""

from __future__ import annotations

from routilux.distributed.operations.events import JobEvent

__all__ = ["JobEvent"]
