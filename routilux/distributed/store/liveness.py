"""Worker liveness records: who is up, who was lost, what each process runs now."""

from __future__ import annotations

from typing import Any

from routilux import codec
from routilux.distributed.protocol.constants import SCAN_COUNT, WORKER_COUNTS_TTL_MS
from routilux.distributed.protocol.replies import text
from routilux.distributed.store.base import StoreBase, guarded


class LivenessStore(StoreBase):
    """Workers' liveness and running records."""

    @guarded
    def record_worker(self, name: str, info: dict[str, Any], ttl_s: float) -> None:
        """Write a worker's liveness record, expiring after ``ttl_s``."""
        pipe = self.atomic(self.keys.worker(name))
        pipe.set(self.keys.worker(name), codec.packb(info), px=int(ttl_s * 1000))
        pipe.sadd(self.keys.workers_known, name)
        pipe.execute()

    @guarded
    def forget_worker(self, name: str) -> None:
        """Remove a worker's liveness record (it is shutting down)."""
        pipe = self.atomic(self.keys.worker(name))
        pipe.delete(self.keys.worker(name))
        pipe.srem(self.keys.workers_known, name)
        pipe.execute()

    @guarded
    def lost_workers(self) -> list[str]:
        """Workers whose liveness record lapsed without a clean shutdown (they died, froze or were cut off)."""
        names = sorted(text(n) for n in self.redis.smembers(self.keys.workers_known))
        if not names:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.exists(self.keys.worker(name))
        return [name for name, alive in zip(names, pipe.execute()) if not alive]

    @guarded
    def drop_lost_workers(self, names: list[str]) -> None:
        """Stop tracking workers found lost (one that comes back is tracked again by its next record)."""
        if names:
            self.redis.srem(self.keys.workers_known, *names)

    @guarded
    def record_running(self, worker: str, pid: int, running: list[dict[str, Any]], ttl_s: float) -> None:
        """Write what one worker process runs now (an empty list removes the record)."""
        key = self.keys.running(worker, pid)
        if running:
            self.redis.set(key, codec.packb({"worker": worker, "pid": pid, "running": running}), px=int(ttl_s * 1000))
        else:
            self.redis.delete(key)

    @guarded
    def add_worker_counts(self, worker: str, processed: int, failed: int) -> None:
        """Add to a worker's counts of activations run and failed (kept a week past the last addition)."""
        key = self.keys.worker_counts(worker)
        pipe = self.atomic(key)
        pipe.hincrby(key, "processed", processed)
        pipe.hincrby(key, "failed", failed)
        pipe.pexpire(key, WORKER_COUNTS_TTL_MS)
        pipe.execute()

    @guarded
    def worker_record(self, name: str) -> dict[str, Any] | None:
        """Return a worker's liveness record, or None if it expired."""
        raw = self.redis.get(self.keys.worker(name))
        return self.decode(raw) if raw is not None else None

    @guarded
    def workers(self) -> dict[str, dict[str, Any]]:
        """Return every live worker's record."""
        out = {}
        prefix = self.keys.worker("")
        for key in self.redis.scan_iter(match=self.keys.workers_pattern, count=SCAN_COUNT):
            raw = self.redis.get(key)
            if raw is not None:
                out[text(key)[len(prefix):]] = self.decode(raw)
        return out
