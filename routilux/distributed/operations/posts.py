"""DistributedRuntime methods for posting data into a running job (see lua/post.lua)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from routilux import codec
from routilux.activation import Activation, post_activation_id
from routilux.distributed.protocol.envelope import seal
from routilux.distributed.protocol.lane import Lane
from routilux.distributed.protocol.keys import slot_field
from routilux.errors import FlowValidationError, JobNotFoundError, JobNotRunningError

if TYPE_CHECKING:
    from routilux.distributed.dispatch import Dispatcher
    from routilux.distributed.protocol.signing import Keyring
    from routilux.distributed.settings import Settings
    from routilux.distributed.store import RedisStore


class PostsMixin:
    """Posts: outside data delivered to a slot of a running job, once per post id."""

    store: RedisStore
    keyring: Keyring
    settings: Settings
    dispatcher: Dispatcher

    def post(self, job_id: str, routine_id: str, slot_name: str, data: dict[str, Any] | None = None,
             post_id: str | None = None) -> str:
        """Deliver ``data`` to ``routine_id``'s slot ``slot_name`` in a running job, as one activation.

        The same ``post_id`` makes the same activation, so a retried post is a no-op
        (default: a fresh id). The activation is in the job's lane: its priority band,
        tenant and concurrency key (a job still waiting for its key's slot runs it once it
        has one). A paused job holds the post until it is resumed. A post
        to a slot with an open wait closes the wait; one to a slot whose wait already
        timed out is refused as late.

        Returns:
            "posted", "duplicate" (this post id was already delivered, also if the job has ended since)
            or "late" (the slot's wait
            timed out first; nothing was stored).

        Raises:
            JobNotFoundError: no such job.
            JobNotRunningError: the job has ended; nothing was stored.
            FlowValidationError: the job's flow has no such routine or slot; nothing was stored.
            EncodeError: ``data`` cannot be encoded (or is over the limits).
        """
        return self._post(job_id, routine_id, slot_name, data or {}, post_activation_id(post_id or str(uuid.uuid4())))

    def _post(self, job_id: str, routine_id: str, slot_name: str, data: dict[str, Any], act_id: str) -> str:
        """:meth:`post` with the activation id given (another part of the engine derives its own)."""
        meta = self.store.meta(job_id)
        _check_target(self.store.flow_data(meta["flow_hash"]), routine_id, slot_name)
        limits = self.settings.limits.for_values()
        codec.packb(data, root="post data", limits=limits)
        act = Activation(job_id, act_id, routine_id, slot_name, dict(data))
        lane = Lane.of_meta(meta)
        body = seal(lane.envelope(act, meta["flow_hash"]), self.keyring)
        record = {"slot": slot_name, "data": data, "post": act_id}
        history = codec.packb([[routine_id, "post", record, datetime.now()]])
        reply = self.store.post(job_id, act_id, body, slot_field(routine_id, slot_name), history)
        if reply.outcome == "unknown":
            raise JobNotFoundError(f"no job {job_id!r} in this store")
        if reply.outcome == "ended":
            raise JobNotRunningError(f"job {job_id} is {reply.status}; it takes no more posts")
        if reply.outcome != "ok":
            return reply.outcome
        if reply.status == "running":
            score = reply.outbox_score
            self.dispatcher.send_or_leave([(f"{job_id}|{act_id}", body)],
                                          sent=lambda job, ids: self.store.mark_dispatched(job, score, ids),
                                          what=f"post {act_id} of job {job_id}", **lane.route)
        return "posted"


def _check_target(flow_data: dict[str, Any], routine_id: str, slot_name: str) -> None:
    routine = flow_data["routines"].get(routine_id)
    if routine is None:
        raise FlowValidationError(f"flow {flow_data['flow_id']!r} has no routine {routine_id!r} to post to")
    if slot_name not in (routine.get("_slots") or {}):
        raise FlowValidationError(f"routine {routine_id!r} of flow {flow_data['flow_id']!r} has no slot {slot_name!r}")
