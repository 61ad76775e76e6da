"""What the sweeper reads and runs: expired leases, due activations, deadlines, expiries, Redis restarts."""

from __future__ import annotations

from typing import Callable

import redis

from routilux.distributed.protocol import args as a
from routilux.distributed.protocol.constants import SWEEP_BATCH, SWEEPER_LOCK_MIN_MS, SWEEPER_LOCK_SHARE
from routilux.distributed.protocol.replies import SweepReply, text
from routilux.distributed.store.base import StoreBase, guarded


class SweepingStore(StoreBase):
    """The sweeper's side of the protocol."""

    @guarded
    def take_sweeper_lock(self, owner: str) -> bool:
        """Become the sweeper for one interval (any worker may, one at a time)."""
        ttl_ms = max(SWEEPER_LOCK_MIN_MS, int(self.settings.sweep_interval_s * 1000 * SWEEPER_LOCK_SHARE))
        return bool(self.redis.set(self.keys.sweeper_lock, owner, nx=True, px=ttl_ms))

    def _past(self, index: Callable[[int], str], limit: int) -> list[str]:
        """Members of one index in every bucket scored up to now (Redis's clock), ``limit`` per bucket."""
        now = self.now_ms()
        replies = self.each_bucket(lambda pipe, b: pipe.zrangebyscore(index(b), "-inf", now, start=0, num=limit))
        return [text(m) for reply in replies for m in reply]

    @guarded
    def expired(self, limit: int = SWEEP_BATCH) -> tuple[list[str], list[str]]:
        """Return members whose lease expired, and members that are due, as of Redis's clock."""
        return self._past(self.keys.leases, limit), self._past(self.keys.due, limit)

    @guarded
    def timed_out_jobs(self, limit: int = SWEEP_BATCH) -> list[str]:
        """Jobs whose deadline has passed, as of Redis's clock."""
        return self._past(self.keys.deadlines, limit)

    @guarded
    def time_out(self, job_id: str) -> str:
        """Fail a job that is past its deadline (see lua/timeout.lua); returns what happened."""
        return text(self.run(job_id, a.TimeoutArgs(job_id)))

    @guarded
    def trim_jobs_index(self, limit: int = SWEEP_BATCH) -> int:
        """Drop expired jobs from the jobs index (their keys expired on their own); returns how many."""
        k = self.keys
        gone = self._past(k.expiries, limit)
        by_bucket: dict[int, list[str]] = {}
        for job_id in gone:
            by_bucket.setdefault(k.bucket_of(job_id), []).append(job_id)
        for bucket, ids in by_bucket.items():
            pipe = self.atomic(k.jobs(bucket))
            pipe.zrem(k.jobs(bucket), *ids)
            pipe.zrem(k.expiries(bucket), *ids)
            pipe.execute()
        return len(gone)

    @guarded
    def next_deadline_s(self) -> float | None:
        """Seconds until the earliest due activation, lease expiry or job deadline (None if there is none)."""
        k = self.keys
        now = self.now_ms()
        replies = self.each_bucket(lambda pipe, b: [pipe.zrange(index(b), 0, 0, withscores=True)
                                                     for index in (k.due, k.leases, k.deadlines)])
        scores = [row[0][1] for row in replies if row]
        if not scores:
            return None
        return (min(scores) - now) / 1000

    def expire(self, member: str) -> bytes | None:
        """Handle one expired lease; returns the stored body to send again, if any."""
        return self._sweep_one(a.SweepArgs, member)

    def requeue_due(self, member: str) -> bytes | None:
        """Handle one due activation (outbox, retry timer, backstop); returns the stored body to send, if any."""
        return self._sweep_one(a.RedueArgs, member)

    @guarded
    def _sweep_one(self, build: type[a.SweepArgs], member: str) -> bytes | None:
        job_id, act_id = member.split("|", 1)
        return SweepReply.parse(self.run(job_id, build(job_id, act_id, self._backstop_ms))).body

    @guarded
    def redis_run(self) -> tuple[str | None, str | None]:
        """(run id of the Redis server now, the one :meth:`saw_redis_run` last recorded); they differ after a restart.

        On Redis Cluster the run id is every primary's, sorted and joined: a restart of any changes it.
        The first is None when this ACL user may not run INFO (it is in ``@dangerous``).
        """
        try:
            if self.cluster:
                infos = self.redis.info("server", target_nodes=self.redis.PRIMARIES)
                current = ",".join(sorted(info["run_id"] for info in infos.values()))
            else:
                current = self.redis.info("server")["run_id"]
        except redis.exceptions.NoPermissionError:
            return None, None
        previous = self.redis.get(self.keys.redis_run)
        return current, text(previous) if previous is not None else None

    @guarded
    def saw_redis_run(self, run_id: str) -> None:
        """Record the run id of the Redis server (after any recovery its restart needed is done)."""
        self.redis.set(self.keys.redis_run, run_id)

    @guarded
    def rescue_dispatched(self) -> int:
        """After a restart: make every activation that waits only on the queue backstop due now; returns how many."""
        rescued = 0
        for bucket in self.keys.all_buckets:
            offset = 0
            while True:
                members = self.redis.zrangebyscore(self.keys.due(bucket), f"({self.now_ms()}", "+inf",
                                                   start=offset, num=SWEEP_BATCH)
                moved = 0
                for member in map(text, members):
                    job_id, act_id = member.split("|", 1)
                    moved += int(self.run(job_id, a.RescueArgs(job_id, act_id)))
                rescued += moved
                if len(members) < SWEEP_BATCH:
                    break
                offset += len(members) - moved  # the moved ones left the range
        return rescued
