"""The activation protocol: create a job, claim, commit, renew, abandon or hand back an activation."""

from __future__ import annotations

import uuid
from typing import Any

from routilux.distributed.protocol import args as a
from routilux.distributed.protocol.replies import ClaimReply, CommitReply, PostReply, SubmitReply, text
from routilux.distributed.store.base import StoreBase, guarded


class SameJob(Exception):
    """A submit's idempotency key already names a stored job (``job_id``); nothing was made."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


def timeout_args(timeout_s: float | None) -> tuple[int, str]:
    """A job deadline as (ms, the seconds as text for the reason); (0, "") for none."""
    if not timeout_s or timeout_s <= 0:
        return 0, ""
    return max(1, int(timeout_s * 1000)), str(timeout_s)


class ActivationStore(StoreBase):
    """The scripts a worker runs around each activation."""

    @guarded
    def create_job(self, job_id: str, flow_id: str, flow_hash: str, entry: str, root_id: str,
                   root_body: bytes, history: bytes, created_at: str, timeout_s: float | None = None,
                   idempotency_key: str = "", priority: int | None = None, tenant: str | None = None,
                   job_key: str = "", trace: str = "") -> str:
        """Create a job with its root activation in the outbox; returns the outbox score.

        The job keeps the retention of these settings, a deadline ``timeout_s``
        from now (None or 0: none), and its lane (see lane.py): ``priority`` (None: the
        default), ``tenant``, concurrency key (``job_key``) and ``trace`` context (JSON). With an
        ``idempotency_key`` (``job_id`` must be in its bucket: :meth:`job_id_for_key`),
        a key that already names a stored job makes nothing and raises :class:`SameJob`
        with that job's id.
        """
        args = self.submit_args(job_id, flow_id, flow_hash, entry, root_id, root_body, history, created_at,
                                timeout_s, idempotency_key, priority, tenant, job_key, trace)
        record = (self.keys.idempotency(idempotency_key),) if idempotency_key else ()
        reply = SubmitReply.parse(self.run_replicated(job_id, args, extra_keys=record))
        if reply.outcome == "same":
            raise SameJob(reply.same_job)
        if reply.outcome != "ok":
            raise ValueError(f"job {job_id} already exists")
        return reply.outbox_score

    @guarded
    def create_jobs(self, jobs: list[tuple[Any, ...]]) -> list[str]:
        """Create several jobs (each :meth:`create_job`'s arguments, without an idempotency key) in one round
        trip; returns their outbox scores.

        Raises:
            ValueError: a job id already exists (the others were created).
        """
        if self.cluster:  # redis-py cannot pipeline scripts across a cluster
            return [self.create_job(*job) for job in jobs]
        pipe = self.redis.pipeline(transaction=False)
        for job in jobs:
            self.scripts.run(self.job_keys(job[0]), self.submit_args(*job), client=pipe)
        if self.settings.commit_wait_replicas:
            pipe.wait(self.settings.commit_wait_replicas, max(1, int(self.settings.commit_wait_timeout_s * 1000)))
        replies = [SubmitReply.parse(raw) for raw in pipe.execute()[:len(jobs)]]
        for job, reply in zip(jobs, replies):
            if reply.outcome != "ok":
                raise ValueError(f"job {job[0]} already exists")
        return [reply.outbox_score for reply in replies]

    def submit_args(self, job_id: str, flow_id: str, flow_hash: str, entry: str, root_id: str, root_body: bytes,
                    history: bytes, created_at: str, timeout_s: float | None = None, idempotency_key: str = "",
                    priority: int | None = None, tenant: str | None = None, job_key: str = "",
                    trace: str = "") -> a.SubmitArgs:
        """The arguments of lua/submit.lua for a new job (see :meth:`create_job`)."""
        retention = self.retention_meta()
        timeout_ms, timeout_text = timeout_args(timeout_s)
        return a.SubmitArgs(job_id, flow_id, flow_hash, entry, root_id, root_body, history, self._grace_ms, created_at,
                            retention["ttl_ok"], retention["ttl_fail"], timeout_ms, timeout_text,
                            idempotency_key, "" if priority is None else priority, tenant or "", job_key, trace)

    def job_id_for_key(self, idempotency_key: str) -> str:
        """A new random job id in the bucket of ``idempotency_key`` (so one script holds both)."""
        bucket = self.keys.bucket_of(idempotency_key)
        while True:  # about `buckets` tries on average: a CRC-32 per try
            job_id = str(uuid.uuid4())
            if self.keys.bucket_of(job_id) == bucket:
                return job_id

    @guarded
    def job_of_key(self, idempotency_key: str) -> str | None:
        """The id of the stored job an idempotency key names, or None."""
        job_id = self.redis.get(self.keys.idempotency(idempotency_key))
        if job_id is None or not self.redis.exists(self.keys.job(text(job_id), "meta")):
            return None
        return text(job_id)

    def retention_meta(self) -> dict[str, int]:
        """Meta fields giving a new job this store's retention (see lua/_common.lua ``finish_job``)."""
        s = self.settings
        return {"ttl_ok": int(s.completed_ttl_s * 1000), "ttl_fail": int(s.failed_ttl_s * 1000)}

    @guarded
    def post(self, job_id: str, act_id: str, body: bytes, field: str, history: bytes) -> PostReply:
        """Store a post as one activation of a slot, once per id (see lua/post.lua for the answers)."""
        args = a.PostArgs(job_id, act_id, body, field, history, int(self.settings.outbox_grace_s * 1000))
        return PostReply.parse(self.run_replicated(job_id, args))

    @guarded
    def claim(self, job_id: str, act_id: str, slot_key: str, hard_s: float = 0.0) -> ClaimReply:
        """Take the lease of an activation (see lua/claim.lua for the answers); ``hard_s``: its hard time limit."""
        s = self.settings
        args = a.ClaimArgs(job_id, act_id, int(s.lease_s * 1000), s.max_attempts, slot_key, self._backstop_ms,
                           int(hard_s * 1000), str(hard_s) if hard_s else "")
        return ClaimReply.parse(self.run(job_id, args, slot_key))

    @guarded
    def commit(self, args: a.CommitArgs) -> CommitReply:
        """Apply a step's delta (see lua/commit.lua and :func:`routilux.distributed.delta.commit_args`)."""
        return CommitReply.parse(self.run_replicated(args.job, args, args.slot_key))

    @guarded
    def renew(self, job_id: str, act_id: str, token: str) -> bool:
        """Extend a lease this worker holds; False if it was lost."""
        return bool(self.run(job_id, a.RenewArgs(job_id, act_id, token, int(self.settings.lease_s * 1000))))

    @guarded
    def abandon(self, job_id: str, act_id: str, token: str, reason: str) -> bool:
        """End a lease this worker holds at once, noting why, so the activation runs again (see lua/abandon.lua)."""
        return bool(self.run(job_id, a.AbandonArgs(job_id, act_id, token, reason)))

    @guarded
    def bounce(self, job_id: str, act_id: str, reason: str, delay_s: float, worker: str, trace: str = "") -> str:
        """Hand an activation back for another worker (or the dead-letter stream, with ``trace`` if given); what
        happened (lua/bounce.lua)."""
        args = a.BounceArgs(job_id, act_id, reason, int(delay_s * 1000), self.settings.max_attempts, worker, trace)
        return text(self.run(job_id, args)[0])

    def _mark_args(self, job_id: str, outbox_score: str, act_ids: list[str]) -> a.MarkArgs:
        return a.MarkArgs(job_id, outbox_score, self._backstop_ms, tuple(act_ids))

    @guarded
    def mark_dispatched(self, job_id: str, outbox_score: str, act_ids: list[str]) -> None:
        """Move just-dispatched outbox entries to the queue backstop."""
        if act_ids:
            self.run(job_id, self._mark_args(job_id, outbox_score, act_ids))

    @guarded
    def mark_many(self, batch: list[tuple[str, str, list[str]]]) -> None:
        """Mark several commits' dispatched children in one round trip (one per commit on Redis Cluster)."""
        if self.cluster:  # redis-py cannot pipeline scripts across a cluster
            for job_id, outbox_score, act_ids in batch:
                self.mark_dispatched(job_id, outbox_score, act_ids)
            return
        pipe = self.redis.pipeline(transaction=False)
        for job_id, outbox_score, act_ids in batch:
            self.scripts.run(self.job_keys(job_id), self._mark_args(job_id, outbox_score, act_ids), client=pipe)
        pipe.execute()

    @guarded
    def reject(self, job_id: str, act_id: str, reason: str) -> str:
        """Dead-letter a stored activation whose body fails its signature or limits; the job fails."""
        return text(self.run(job_id, a.RejectArgs(job_id, act_id, reason))[0])
