"""The dead-letter streams: reading them, and recording a message that is no activation at all."""

from __future__ import annotations

from typing import Any

from routilux.distributed.dead_letter_record import write_dead_letter
from routilux.distributed.protocol import args as a
from routilux.distributed.protocol.replies import ReleaseReply, text
from routilux.distributed.store.base import StoreBase, guarded


def stream_position(entry_id: str) -> tuple[int, int]:
    """A stream entry id ("ms-seq") as a sortable pair."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class DeadLetterStore(StoreBase):
    """Dead letters of every bucket."""

    @guarded
    def dead_letters(self, count: int = 100) -> list[dict[str, Any]]:
        """Return the newest dead letters (of every bucket), newest first."""
        replies = self.each_bucket(lambda pipe, b: pipe.xrevrange(self.keys.dead(b), count=count))
        rows = [(stream_position(text(i)), bucket, text(i), f) for bucket, reply in enumerate(replies) for i, f in reply]
        rows.sort(key=lambda row: (row[0], row[1]), reverse=True)
        return [
            {"id": self.keys.dead_id(bucket, i), **{text(k): (v if k == b"body" else text(v)) for k, v in f.items()}}
            for _, bucket, i, f in rows[:count]
        ]

    @guarded
    def dead_letter_message(self, reason: str, body: bytes, content_type: str = "") -> None:
        """Record a message that is not a Routilux activation at all (in bucket 0's stream)."""
        write_dead_letter(self.redis, self.keys.dead(0), reason, body, content_type)

    @guarded
    def replay_dead_letter(self, job_id: str, act_id: str, dead_id: str) -> ReleaseReply:
        """Put a dead letter's activation back into its job (see lua/replay.lua); ``gone`` if there is no such entry."""
        where = self.keys.split_dead_id(dead_id)
        if where is None or where[0] != self.keys.bucket_of(job_id):
            return ReleaseReply("gone")
        return ReleaseReply.parse(self.run(job_id, a.ReplayArgs(job_id, act_id, where[1], self._grace_ms)))
