"""Published flow structures: stored once under their content hash, never overwritten."""

from __future__ import annotations

import time
from typing import Any

from routilux import codec
from routilux.distributed.protocol.replies import text
from routilux.distributed.store.base import StoreBase, guarded
from routilux.errors import FlowNotPublishedError


class FlowStore(StoreBase):
    """Flows by hash and the latest hash of each flow id."""

    @guarded
    def put_flow(self, flow_hash: str, flow_id: str, data: dict[str, Any]) -> None:
        """Store a flow structure under its hash (never overwritten), point its id at it, and note the version."""
        pipe = self.atomic(self.keys.flow(flow_hash))
        pipe.set(self.keys.flow(flow_hash), codec.packb(data), nx=True)
        pipe.set(self.keys.flow_latest(flow_id), flow_hash)
        pipe.zadd(self.keys.flow_versions(flow_id), {flow_hash: int(time.time() * 1000)}, nx=True)
        pipe.execute()

    @guarded
    def flow_data(self, flow_hash: str) -> dict[str, Any]:
        """Return a published flow structure by hash."""
        raw = self.redis.get(self.keys.flow(flow_hash))
        if raw is None:
            raise FlowNotPublishedError(f"no flow published with hash {flow_hash}")
        return self.decode(raw)

    @guarded
    def latest_hash(self, flow_id: str) -> str:
        """Return the hash most recently published for ``flow_id``."""
        raw = self.redis.get(self.keys.flow_latest(flow_id))
        if raw is None:
            raise FlowNotPublishedError(f"no flow published with id {flow_id!r}; call publish(flow) first")
        return text(raw)
