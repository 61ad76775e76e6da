"""Flow-control views: every limit's holders and waiting work, and why one job's work is waiting."""

from __future__ import annotations

from typing import Any

from routilux.distributed.store import RedisStore


class LimitsMixin:
    """Listings of concurrency and rate limits (for ``routilux limits``, ``/api/limits`` and the console)."""

    store: RedisStore

    def limits(self) -> list[dict[str, Any]]:
        """Every limit the workers have admitted work under, by name: its kind, its limit (slots, or starts
        per second), current holders ("job|activation" and lease expiry, ms) and waiting work."""
        return [self.store.limit_view(name) for name in sorted(self.store.limit_specs())]

    def waiting_on(self, job_id: str) -> list[dict[str, Any]]:
        """Why a job's work waits: one entry per activation parked by a concurrency slot or a rate bucket."""
        return self.store.waits_of(job_id)
