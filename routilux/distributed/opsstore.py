"""The store's reads and writes for operations (events, listings, summaries, dead letters, running work).

Kept apart from :class:`RedisStore`, which holds the protocol every activation
goes through; this module serves operators and front-ends. Key names come from
:mod:`keys`; connection failures surface as StoreUnavailableError.
"""

from __future__ import annotations

from typing import Any

import redis

from routilux import codec
from routilux.distributed.store import RedisStore, guarded, text
from routilux.errors import DeadLetterNotFoundError

Rows = list[tuple[Any, dict[bytes, Any]]]

# The store's connections time out reads after 5 s (redis-py applies socket_connect_timeout to reads
# too), so one blocking read waits at most this long; callers that follow a stream simply read again.
MAX_BLOCK_MS = 2000


def _block(block_ms: int | None) -> int | None:
    return None if block_ms is None else min(block_ms, MAX_BLOCK_MS)


class OpsStore:
    """Operations' view of a :class:`RedisStore` (same connection pool)."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.redis = store.redis
        self.keys = store.keys

    # -- events ----------------------------------------------------------
    @guarded
    def log_range(self, job_id: str, first: str, last: str) -> Rows:
        """Entries of a job's log stream from ``first`` to ``last`` (inclusive)."""
        return self.redis.xrange(self.keys.job(job_id, "log"), first, last)

    @guarded
    def read_log(self, job_id: str, after: str, count: int, block_ms: int | None) -> Rows:
        """Entries of a job's log stream after ``after`` (XREAD, blocking up to ``block_ms``)."""
        key = self.keys.job(job_id, "log")
        reply = self.redis.xread({key: after}, count=count, block=_block(block_ms))
        return reply[0][1] if reply else []

    @guarded
    def read_logs(self, cursors: dict[str, str], count: int, block_ms: int | None) -> dict[str, Rows]:
        """Entries after each job's cursor, from many jobs' log streams in one XREAD."""
        keys = {self.keys.job(job_id, "log"): job_id for job_id in cursors}
        reply = self.redis.xread({key: cursors[job_id] for key, job_id in keys.items()}, count=count,
                                 block=_block(block_ms))
        return {keys[text(key)]: rows for key, rows in reply or []}

    @guarded
    def last_status_event_id(self) -> str:
        """The id of the newest entry of the global status stream ("0-0" if it is empty)."""
        rows = self.redis.xrevrange(self.keys.events, count=1)
        return text(rows[0][0]) if rows else "0-0"

    @guarded
    def read_status_events(self, after: str, count: int, block_ms: int) -> Rows:
        """Entries of the global status stream after ``after``, blocking up to ``block_ms``."""
        reply = self.redis.xread({self.keys.events: after}, count=count, block=_block(block_ms))
        return reply[0][1] if reply else []

    # -- flows -----------------------------------------------------------
    @guarded
    def flows(self) -> list[tuple[str, str, list[tuple[str, float]]]]:
        """Every published flow id with its latest hash and its (hash, published ms) versions."""
        prefix = self.keys.flow_latest("")
        ids = sorted(text(k)[len(prefix):] for k in self.redis.scan_iter(match=self.keys.flow_ids_pattern, count=500))
        pipe = self.redis.pipeline(transaction=False)
        for flow_id in ids:
            pipe.get(self.keys.flow_latest(flow_id))
            pipe.zrange(self.keys.flow_versions(flow_id), 0, -1, withscores=True)
        replies = pipe.execute()
        out = []
        for n, flow_id in enumerate(ids):
            latest, versions = replies[2 * n], replies[2 * n + 1]
            if latest is not None:
                out.append((flow_id, text(latest), [(text(h), float(score)) for h, score in versions]))
        return out

    # -- jobs ------------------------------------------------------------
    @guarded
    def jobs_before(self, score: float | str, count: int) -> list[tuple[str, float]]:
        """Up to ``count`` (job id, created ms) of the jobs index, newest first, from ``score`` down."""
        rows = self.redis.zrevrangebyscore(self.keys.jobs, score, "-inf", start=0, num=count, withscores=True)
        return [(text(job_id), float(s)) for job_id, s in rows]

    @guarded
    def metas(self, job_ids: list[str]) -> list[dict[str, str]]:
        """The meta hash of each job ({} for a job that is gone), in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self.keys.job(job_id, "meta"))
        return [{text(k): text(v) for k, v in raw.items()} for raw in pipe.execute()]

    @guarded
    def summary_parts(self, job_id: str) -> tuple[dict[str, str], dict[str, Any], int]:
        """A job's meta hash, decoded routine states, and activations applied, in one round trip."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(self.keys.job(job_id, "meta"))
        pipe.hgetall(self.keys.job(job_id, "rs"))
        pipe.scard(self.keys.job(job_id, "applied"))
        meta, states, applied = pipe.execute()
        return ({text(k): text(v) for k, v in meta.items()},
                {text(k): codec.unpackb(v) for k, v in states.items()}, int(applied))

    # -- dead letters ----------------------------------------------------
    @guarded
    def dead_letter(self, dead_id: str) -> dict[str, Any]:
        """One dead-letter entry (raw fields; ``body`` as bytes).

        Raises:
            DeadLetterNotFoundError: no such entry (bad id, replayed, discarded or trimmed).
        """
        try:
            rows = self.redis.xrange(self.keys.dead, dead_id, dead_id)
        except redis.exceptions.ResponseError:  # not a stream id at all
            rows = []
        if not rows:
            raise DeadLetterNotFoundError(f"no dead letter {dead_id!r} in the dead-letter stream")
        entry_id, fields = rows[0]
        return {"id": text(entry_id), **{text(k): (v if k == b"body" else text(v)) for k, v in fields.items()}}

    @guarded
    def replay_dead_letter(self, job_id: str, act_id: str, dead_id: str) -> list[Any]:
        """Run lua/replay.lua; returns its answer with the first element as text."""
        grace_ms = int(self.store.settings.outbox_grace_s * 1000)
        res = self.store.scripts.replay(self.store.job_keys(job_id), [job_id, act_id, dead_id, grace_ms])
        return [text(res[0]), *res[1:]]

    @guarded
    def discard_dead_letter(self, dead_id: str) -> bool:
        """Delete a dead-letter entry; False if there was none."""
        try:
            return bool(self.redis.xdel(self.keys.dead, dead_id))
        except redis.exceptions.ResponseError:  # not a stream id at all
            return False

    # -- running work ----------------------------------------------------
    @guarded
    def running(self) -> dict[str, list[dict[str, Any]]]:
        """What every worker process reports running now, by worker name."""
        out: dict[str, list[dict[str, Any]]] = {}
        for key in self.redis.scan_iter(match=self.keys.running_pattern, count=200):
            raw = self.redis.get(key)
            if raw is None:
                continue
            record = codec.unpackb(raw)
            out.setdefault(str(record.get("worker", "")), []).extend(record.get("running") or [])
        return out
