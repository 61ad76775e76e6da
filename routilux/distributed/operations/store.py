"""The store's reads and writes for operations (events, listings, summaries, dead letters, running work).

Kept apart from :class:`RedisStore`, which holds the protocol every activation
goes through; this module serves operators and front-ends. Key names come from
:mod:`keys`; connection failures surface as StoreUnavailableError.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from routilux import codec
from routilux.distributed.store import RedisStore, guarded, log_records, stream_position, text
from routilux.errors import DeadLetterNotFoundError

Rows = list[tuple[Any, dict[bytes, Any]]]

# The store's connections time out reads after 5 s (redis-py applies socket_connect_timeout to reads
# too), so one blocking read waits at most this long; callers that follow a stream simply read again.
MAX_BLOCK_MS = 2000
# On Redis Cluster streams in several slots cannot be read in one blocking XREAD: they are polled, first
# after the shorter pause, then less and less often while nothing comes, up to the longer one.
CLUSTER_POLL_S = (0.02, 0.25)


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
        """Entries after each job's cursor, from many jobs' log streams (one XREAD on a single Redis)."""
        keys = {self.keys.job(job_id, "log"): job_id for job_id in cursors}
        reply = self._xread({key: cursors[job_id] for key, job_id in keys.items()}, count, block_ms)
        return {keys[key]: rows for key, rows in reply.items()}

    def _xread(self, streams: dict[str, str], count: int, block_ms: int | None) -> dict[str, Rows]:
        """XREAD of several streams, blocking up to ``block_ms``; only streams with entries are in the answer.

        On Redis Cluster, streams of several buckets sit in different slots: they are
        read one by one without blocking (pipelined), every CLUSTER_POLL_S, until the block ends.
        """
        buckets = {key.split("{", 1)[1].split("}", 1)[0] for key in streams}
        if not self.store.cluster or len(buckets) <= 1:
            reply = self.redis.xread(streams, count=count, block=_block(block_ms))
            return {text(key): rows for key, rows in reply or [] if rows}
        until = time.monotonic() + (_block(block_ms) or 0) / 1000
        pause, longest = CLUSTER_POLL_S
        while True:
            pipe = self.redis.pipeline(transaction=False)
            for key, after in streams.items():
                pipe.xread({key: after}, count=count)
            found = {text(reply[0][0]): reply[0][1] for reply in pipe.execute() if reply and reply[0][1]}
            if found or time.monotonic() >= until:
                return found
            time.sleep(min(pause, max(0.0, until - time.monotonic())))
            pause = min(pause * 2, longest)

    @guarded
    def last_status_event_ids(self) -> list[str]:
        """The id of the newest entry of each bucket's status stream ("0-0" where it is empty)."""
        replies = self.store.each_bucket(lambda pipe, b: pipe.xrevrange(self.keys.events(b), count=1))
        return [text(rows[0][0]) if rows else "0-0" for rows in replies]

    @guarded
    def read_status_events(self, after: list[str], count: int, block_ms: int) -> list[tuple[int, str, dict[bytes, Any]]]:
        """(bucket, entry id, fields) of the status streams' entries after each bucket's ``after``, oldest first.

        Blocks up to ``block_ms`` for the first; at most ``count`` are returned.
        """
        keys = [self.keys.events(b) for b in self.keys.all_buckets]
        reply = self._xread(dict(zip(keys, after)), count, block_ms)
        rows = [(stream_position(text(i)), bucket, text(i), fields)
                for bucket, key in enumerate(keys) for i, fields in reply.get(key, [])]
        rows.sort(key=lambda row: (row[0], row[1]))
        return [(bucket, entry_id, fields) for _, bucket, entry_id, fields in rows[:count]]

    @guarded
    def status_events_since(self, since_ms: int) -> list[dict[str, str]]:
        """Every status change the capped status streams still hold from ``since_ms`` on (fields as text)."""
        replies = self.store.each_bucket(lambda pipe, b: pipe.xrange(self.keys.events(b), f"{since_ms}-0", "+"))
        return [{text(k): text(v) for k, v in fields.items()} for reply in replies for _, fields in reply]

    @guarded
    def step_times(self, job_ids: list[str], per_job: int) -> list[tuple[str, int, bool]]:
        """(routine, ms from handler start to commit, whether it raised) of each job's first ``per_job`` commits."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.xrange(self.keys.job(job_id, "log"), "-", "+", count=per_job)
        steps = []
        for reply in pipe.execute():
            for _, fields in reply:
                if fields.get(b"ms") not in (None, b"") and b"routine" in fields:
                    steps.append((text(fields[b"routine"]), int(fields[b"ms"]), fields.get(b"raised") == b"1"))
        return steps

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
    def jobs_before(self, score: float | str, count: int, low: float | str = "-inf") -> list[tuple[str, float]]:
        """Up to ``count`` (job id, created ms) of the jobs indexes, newest first, from ``score`` down to ``low``."""
        replies = self.store.each_bucket(
            lambda pipe, b: pipe.zrevrangebyscore(self.keys.jobs(b), score, low, start=0, num=count, withscores=True))
        rows = sorted(((float(s), text(job_id)) for reply in replies for job_id, s in reply), reverse=True)
        return [(job_id, s) for s, job_id in rows[:count]]

    @guarded
    def job_fields(self, job_ids: list[str], fields: tuple[str, ...]) -> list[dict[str, str]]:
        """The given meta fields of each job ({} for a job that is gone), in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(self.keys.job(job_id, "meta"), *fields)
        rows = []
        for values in pipe.execute():
            row = {f: text(v) for f, v in zip(fields, values) if v is not None}
            rows.append(row if row.get("status") else {})
        return rows

    @guarded
    def entry_and_shared(self, job_ids: list[str], keys: list[str]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Each job's entry parameters (from the first entry of its log) and the shared-data ``keys`` it has."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.xrange(self.keys.job(job_id, "log"), "-", "+", count=1)
            if keys:
                pipe.hmget(self.keys.job(job_id, "sd"), *keys)
        replies = iter(pipe.execute())
        out = []
        for _ in job_ids:
            first = next(replies)
            values = next(replies) if keys else []
            shared = {k: self.store.decode(v) for k, v in zip(keys, values) if v is not None}
            out.append((_entry_params(first, self.store), shared))
        return out

    @guarded
    def job_start(self, job_id: str) -> tuple[str, dict[str, Any]] | None:
        """(entry routine, entry parameters) a job was submitted with; None if its first log entry is not a submit."""
        first = self.redis.xrange(self.keys.job(job_id, "log"), "-", "+", count=1)
        if not first or first[0][1].get(b"act") != b"submit":
            return None
        start = _start_record(first, self.store)
        return (str(start[0]), dict(start[2])) if start else None

    @guarded
    def link_retry(self, old_id: str, new_id: str) -> None:
        """Note that ``new_id`` retries ``old_id``: ``retried_from`` on the new job, added to the old one's ``retries``."""
        self.redis.hset(self.keys.job(new_id, "meta"), "retried_from", old_id)
        old_meta = self.keys.job(old_id, "meta")
        while True:  # WATCH: two retries of one job at once both end up listed
            pipe = self.store.atomic(old_meta)
            try:
                pipe.watch(old_meta)
                if not pipe.exists(old_meta):
                    return  # the old job was deleted meanwhile: nothing to list its retries on
                listed = text(pipe.hget(old_meta, "retries") or b"")
                pipe.multi()
                pipe.hset(old_meta, "retries", f"{listed},{new_id}" if listed else new_id)
                pipe.execute()
                return
            except redis.exceptions.WatchError:
                continue
            finally:
                pipe.reset()

    @guarded
    def summary_parts(self, job_id: str) -> tuple[dict[str, str], dict[str, Any], int, float | None]:
        """A job's meta hash, decoded routine states, activations applied and created ms, in one round trip."""
        pipe = self.store.atomic(self.keys.job(job_id, "meta"))
        pipe.hgetall(self.keys.job(job_id, "meta"))
        pipe.hgetall(self.keys.job(job_id, "rs"))
        pipe.scard(self.keys.job(job_id, "applied"))
        pipe.zscore(self.keys.jobs(self.keys.bucket_of(job_id)), job_id)
        meta, states, applied, created = pipe.execute()
        return ({text(k): text(v) for k, v in meta.items()},
                {text(k): codec.unpackb(v) for k, v in states.items()}, int(applied), created)

    # -- dead letters ----------------------------------------------------
    @guarded
    def dead_letter(self, dead_id: str) -> dict[str, Any]:
        """One dead-letter entry (raw fields; ``body`` as bytes).

        Raises:
            DeadLetterNotFoundError: no such entry (bad id, replayed, discarded or trimmed).
        """
        where = self.keys.split_dead_id(dead_id)
        rows = []
        if where is not None:
            try:
                rows = self.redis.xrange(self.keys.dead(where[0]), where[1], where[1])
            except redis.exceptions.ResponseError:  # not a stream id at all
                rows = []
        if not rows:
            raise DeadLetterNotFoundError(f"no dead letter {dead_id!r} in the dead-letter stream")
        entry_id, fields = rows[0]
        return {"id": self.keys.dead_id(where[0], text(entry_id)),
                **{text(k): (v if k == b"body" else text(v)) for k, v in fields.items()}}

    @guarded
    def discard_dead_letter(self, dead_id: str) -> bool:
        """Delete a dead-letter entry; False if there was none."""
        where = self.keys.split_dead_id(dead_id)
        if where is None:
            return False
        try:
            return bool(self.redis.xdel(self.keys.dead(where[0]), where[1]))
        except redis.exceptions.ResponseError:  # not a stream id at all
            return False

    # -- workers ---------------------------------------------------------
    @guarded
    def worker_counts(self, names: list[str]) -> list[tuple[int, int]]:
        """(processed, failed) activations of each worker, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hmget(self.keys.worker_counts(name), "processed", "failed")
        return [(int(p or 0), int(f or 0)) for p, f in pipe.execute()]

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


def _entry_params(first: Rows, store: RedisStore) -> dict[str, Any]:
    """The parameters of the "start" record in a job's first log entry ({} if there is none)."""
    start = _start_record(first, store)
    return start[2] if start else {}


def _start_record(first: Rows, store: RedisStore) -> list[Any] | None:
    """The "start" record ([entry routine, "start", params, time]) in a job's first log entry, if it has one."""
    if not first:
        return None
    for record in log_records(first[0][1], store.limits):
        if record[1] == "start" and isinstance(record[2], dict):
            return record
    return None
