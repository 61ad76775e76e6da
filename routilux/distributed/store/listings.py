"""Walking every job: ids, summaries, the ended ones, the unfinished bodies."""

from __future__ import annotations

from typing import Iterator

from routilux.distributed.protocol.constants import JOB_BATCH
from routilux.distributed.protocol.replies import text
from routilux.distributed.store.base import StoreBase, guarded


class ListingStore(StoreBase):
    """Reads across every job of every bucket."""

    @guarded
    def job_ids(self) -> list[str]:
        """Return every known job id, oldest first."""
        replies = self.each_bucket(lambda pipe, b: pipe.zrange(self.keys.jobs(b), 0, -1, withscores=True))
        rows = sorted((score, text(j)) for reply in replies for j, score in reply)
        return [job_id for _, job_id in rows]

    def job_id_batches(self, size: int = JOB_BATCH) -> Iterator[list[str]]:
        """Every known job id, in batches; safe while jobs are deleted (ZSCAN: a job may come twice)."""
        for bucket in self.keys.all_buckets:
            cursor = 0
            while True:
                cursor, ids = self._job_page(bucket, cursor, size)
                if ids:
                    yield ids
                if cursor == 0:
                    break

    @guarded
    def _job_page(self, bucket: int, cursor: int, size: int) -> tuple[int, list[str]]:
        cursor, rows = self.redis.zscan(self.keys.jobs(bucket), cursor, count=size)
        return int(cursor), [text(member) for member, _ in rows]

    @guarded
    def summaries(self, job_ids: list[str]) -> list[dict[str, str]]:
        """Return meta fields of many jobs in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        fields = ("status", "flow_id", "flow_hash", "created_at", "updated_at", "error")
        for job_id in job_ids:
            pipe.hmget(self.keys.job(job_id, "meta"), *fields)
        out = []
        for job_id, values in zip(job_ids, pipe.execute()):
            if values[0] is None:
                continue
            row = {f: (text(v) if v is not None else None) for f, v in zip(fields, values)}
            out.append({"job_id": job_id, **row})
        return out

    @guarded
    def ended_jobs(self, job_ids: list[str]) -> list[tuple[str, str, int]]:
        """(job id, status, finished at in Redis ms) of the ended jobs among ``job_ids``."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(self.keys.job(job_id, "meta"), "status", "finished_at", "updated_at")
        out = []
        for job_id, (status, finished, updated) in zip(job_ids, pipe.execute()):
            if status in (b"completed", b"failed", b"cancelled"):
                out.append((job_id, text(status), int(finished or updated or 0)))
        return out

    @guarded
    def unfinished_bodies(self) -> list[bytes]:
        """The stored bodies of every activation not yet finished, of every job."""
        bodies: list[bytes] = []
        job_ids = self.job_ids()
        for start in range(0, len(job_ids), JOB_BATCH):
            pipe = self.redis.pipeline(transaction=False)
            for job_id in job_ids[start:start + JOB_BATCH]:
                pipe.hvals(self.keys.job(job_id, "acts"))
            for values in pipe.execute():
                bodies.extend(values)
        return bodies
