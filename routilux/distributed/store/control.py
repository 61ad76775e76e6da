"""Pause, resume, cancel and delete a job."""

from __future__ import annotations

from typing import Any

from routilux import codec
from routilux.distributed.protocol import args as a
from routilux.distributed.protocol.replies import ReleaseReply, StatusReply, text
from routilux.distributed.store.activations import timeout_args
from routilux.distributed.store.base import StoreBase, guarded
from routilux.job_state import pause_point


class JobControlStore(StoreBase):
    """What an operator does to a whole job."""

    @guarded
    def pause(self, job_id: str, reason: str, checkpoint: Any = None) -> StatusReply:
        """Pause a running job, recording its pause point (the shape of :func:`pause_point`)."""
        pipe = self.atomic(self.keys.job(job_id, "meta"))
        pipe.hget(self.keys.job(job_id, "meta"), "current_routine_id")
        pipe.hlen(self.keys.job(job_id, "acts"))
        pipe.hlen(self.keys.job(job_id, "lease"))
        current, outstanding, running = pipe.execute()
        point = pause_point(reason, checkpoint, text(current) if current else None, max(0, outstanding - running))
        return StatusReply.parse(self.run(job_id, a.PauseArgs(reason, codec.packb(point))))

    @guarded
    def resume(self, job_id: str, n_deferred: int, history: bytes, children: list[tuple[str, bytes]],
               timeout_s: float | None = None) -> ReleaseReply:
        """Resume a paused job: ``ok`` with what to dispatch, or ``not-paused`` (see lua/resume.lua).

        Its deadline is armed again: ``timeout_s`` from now, or the job's own timeout if None.
        """
        timeout_ms, timeout_text = ("", "") if timeout_s is None else timeout_args(timeout_s)
        args = a.ResumeArgs(job_id, self._grace_ms, n_deferred, history, timeout_ms, timeout_text, tuple(children))
        return ReleaseReply.parse(self.run(job_id, args))

    @guarded
    def cancel(self, job_id: str, reason: str) -> StatusReply:
        """Cancel a job for good: ``ok``, ``unknown`` or ``final`` (it had ended, with ``status``)."""
        state = codec.packb({"reason": reason}) if reason else b""
        return StatusReply.parse(self.run(job_id, a.CancelArgs(job_id, reason, state)))

    @guarded
    def delete_job(self, job_id: str) -> bool:
        """Delete every key of a finished job, slot-wait lists included; False if it is not finished (or unknown)."""
        return bool(self.run(job_id, a.DeleteArgs(job_id)))
