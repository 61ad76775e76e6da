"""DistributedRuntime methods for the dead-letter stream: list, show, replay, discard.

An activation goes to the dead-letter stream when no worker could run it or it
was claimed ``max_attempts`` times without committing; its job fails. The job's
other unfinished work is kept parked (lua/_common.lua ``is_on_hold``), so replaying
the dead letters lets the job resume where it stopped. The stream is capped
(about 100,000 entries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routilux.distributed.operations.events import ms_to_iso, plain
from routilux.distributed.protocol.envelope import open_body
from routilux.distributed.protocol.lane import Lane
from routilux.distributed.store import text
from routilux.errors import DeadLetterNotFoundError, FlowError, JobNotFoundError

if TYPE_CHECKING:
    from routilux.distributed.dispatch import Dispatcher
    from routilux.distributed.operations.store import OpsStore
    from routilux.distributed.store import RedisStore


class DeadLettersMixin:
    """Dead letters as JSON-able dicts, and what an operator can do with them."""

    store: RedisStore
    ops: OpsStore
    dispatcher: Dispatcher

    def dead_letters(self, count: int = 100) -> list[dict[str, Any]]:
        """The newest dead letters, newest first.

        Each: id, job, activation, reason, ts (as stored), time (ISO), routine_id
        and slot (None for a message that is not an activation), and ``body``
        (the raw message bytes).
        """
        return [{**row, **_described(row, payload=False)} for row in self.store.dead_letters(count)]

    def dead_letter(self, dead_id: str) -> dict[str, Any]:
        """One dead letter, JSON-able: its fields and its activation (routine_id, slot, payload, attempt,
        flow_hash), or ``body_size`` for a message that is not an activation.

        Raises:
            DeadLetterNotFoundError: no such entry.
        """
        row = self.ops.dead_letter(dead_id)
        fields = {k: v for k, v in row.items() if k != "body"}
        return {**fields, **_described(row, payload=True)}

    def replay_dead_letter(self, dead_id: str) -> str:
        """Put a dead letter's activation back on its job and remove the entry; returns the job id.

        The job resumes (and the activation runs) once none of its dead letters
        is left; until then the activation waits with the job's other parked work.

        Raises:
            DeadLetterNotFoundError: no such entry.
            JobNotFoundError: its job was deleted (discard the dead letter instead).
            FlowError: it is not an activation, or its job cannot take it back
                (the job also failed because a routine failed, or was not failed by dead letters).
        """
        row = self.ops.dead_letter(dead_id)
        job_id, act_id = text(row.get("job", "")), text(row.get("activation", ""))
        if not job_id or not act_id:
            raise FlowError(f"dead letter {dead_id} is a message that is not an activation; it can only be discarded")
        answer = self.store.replay_dead_letter(job_id, act_id, dead_id)
        if answer.outcome == "gone":
            raise DeadLetterNotFoundError(f"no dead letter {dead_id!r} in the dead-letter stream")
        if answer.outcome == "unknown":
            raise JobNotFoundError(f"job {job_id!r} of dead letter {dead_id} is no longer in this store; discard it")
        if answer.outcome == "refused":
            raise FlowError(f"dead letter {dead_id} cannot be replayed: {answer.status}")
        if answer.dispatch:
            score, meta = answer.outbox_score, self.store.meta(job_id)
            self.dispatcher.send_or_leave(self.store.bodies(job_id, list(answer.dispatch)),
                                          sent=lambda job, sent_ids: self.store.mark_dispatched(job, score, sent_ids),
                                          what=f"the replayed activations of job {job_id}",
                                          **Lane.of_meta(meta).route)
        return job_id

    def discard_dead_letter(self, dead_id: str) -> None:
        """Delete a dead letter for good (its job, if any, stays failed).

        Raises:
            DeadLetterNotFoundError: no such entry.
        """
        if not self.ops.discard_dead_letter(dead_id):
            raise DeadLetterNotFoundError(f"no dead letter {dead_id!r} in the dead-letter stream")


def _described(row: dict[str, Any], payload: bool) -> dict[str, Any]:
    """What a dead letter's body says: the activation's routine and slot (and payload), or its size."""
    # Epoch milliseconds (dead_letter_record.py); ms_to_iso shows an older record's ISO text as it is.
    out: dict[str, Any] = {"time": ms_to_iso(row.get("ts")), "routine_id": None, "slot": None}
    body = row.get("body") or b""
    try:  # for display only: a signed body is shown without checking its signature (a replay sends it as is)
        envelope = open_body(body) if body else None
    except Exception:  # a malformed message: that is why it is here
        envelope = None
    if not isinstance(envelope, dict) or "routine" not in envelope:
        return {**out, "body_size": len(body)} if payload else out
    out.update(routine_id=envelope.get("routine"), slot=envelope.get("slot"))
    if payload:
        out.update(payload=plain(envelope.get("payload")), attempt=envelope.get("attempt", 0),
                   flow_hash=envelope.get("flow"))
    return out
