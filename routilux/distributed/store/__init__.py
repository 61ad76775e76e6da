"""The Redis state store: every read and atomic write of the distributed protocol, as one facade.

:class:`RedisStore` is composed of one class per concern (see the modules of
this package); multi-key writes go through the Lua scripts of
:mod:`routilux.distributed.protocol`, with typed arguments and replies. Redis
connection failures surface as StoreUnavailableError.
"""

from __future__ import annotations

from routilux.distributed.protocol.constants import SWEEP_BATCH
from routilux.distributed.protocol.replies import text
from routilux.distributed.store.activations import ActivationStore, SameJob
from routilux.distributed.store.base import guarded
from routilux.distributed.store.control import JobControlStore
from routilux.distributed.store.deadletters import DeadLetterStore, stream_position
from routilux.distributed.store.flows import FlowStore
from routilux.distributed.store.listings import ListingStore
from routilux.distributed.store.liveness import LivenessStore
from routilux.distributed.store.reading import JobReadingStore, log_records
from routilux.distributed.store.schedules import ScheduleStore
from routilux.distributed.store.sweeping import SweepingStore

__all__ = ["RedisStore", "SWEEP_BATCH", "SameJob", "ScheduleStore", "guarded", "log_records", "stream_position", "text"]


class RedisStore(ActivationStore, JobControlStore, JobReadingStore, ListingStore, FlowStore, DeadLetterStore,
                 SweepingStore, LivenessStore):
    """Job, flow and activation state of the distributed engine, in Redis."""
