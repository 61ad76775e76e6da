"""Distributed engine: Celery workers on any number of hosts, Redis as broker and state store.

>>> from routilux.distributed import DistributedRuntime
>>> rt = DistributedRuntime("redis://127.0.0.1:6379/0")   # doctest: +SKIP
>>> job_id = rt.submit(flow, "source", entry_params={"value": 10})   # doctest: +SKIP
>>> state = rt.wait(job_id, timeout=60)   # doctest: +SKIP

Needs the ``distributed`` extra (celery, redis, kombu).
"""

from __future__ import annotations

from routilux.distributed.worker.app import create_app
from routilux.distributed.operations.jobfilter import JobFilter
from routilux.distributed.runtime import DistributedRuntime
from routilux.distributed.settings import Settings
from routilux.distributed.worker.scheduler import use_producer

# Workers fire schedule ticks through a producer runtime; the worker side cannot import it (the runtime
# builds its Celery app from the worker side), so it is handed over here, before any worker starts.
use_producer(DistributedRuntime)

__all__ = ["DistributedRuntime", "JobFilter", "Settings", "create_app"]
