"""The Redis state store: every read and atomic write of the distributed protocol.

Multi-key writes go through the Lua scripts in ``lua/`` (their KEYS and ARGV
are documented at the top of each file); key names come from :mod:`keys`.
Redis connection failures surface as StoreUnavailableError.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime
from typing import Any, Callable, Iterator, TypeVar

import logging

import redis

from routilux import codec
from routilux.distributed.dead_letter_record import write_dead_letter
from routilux.distributed.keys import Keys
from routilux.distributed.redis_options import connect, describe_refusal, is_cluster
from routilux.distributed.scripts import Scripts
from routilux.distributed.settings import Settings
from routilux.errors import (FlowNotPublishedError, JobNotFoundError, KeyLayoutError, StoreAccessDeniedError,
                             StoreUnavailableError)
from routilux.bounds import DEFAULT_LIMITS, Limits
from routilux.job_state import pause_point

F = TypeVar("F", bound=Callable[..., Any])
# Redis Cluster's ways of saying "not now": down, slots moving or uncovered, redirections exhausted, or
# a MOVED/ASK to a transaction sent to a node that no longer owns the slot (after a failover: the cluster
# client learns the new owner from the MOVED of its next command for that slot, such as a claim or commit).
_CLUSTER_UNAVAILABLE = (redis.exceptions.ClusterError, redis.exceptions.TryAgainError,
                        redis.exceptions.SlotNotCoveredError, redis.exceptions.AskError)
log = logging.getLogger("routilux.distributed")
SWEEP_BATCH = 200  # members the sweeper takes from each index per round
WORKER_COUNTS_TTL_MS = 7 * 86400 * 1000  # a worker's run/failed counts outlive it this long (then a new name starts at 0)


def text(value: Any) -> str:
    """A Redis reply as text (replies come as bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def guarded(func: F) -> F:
    """Turn Redis connection failures into StoreUnavailableError (StoreAccessDeniedError when refused).

    On Redis Cluster, a cluster that is down (a master lost, its slots not yet
    failed over) or still moving slots counts as unavailable too.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                redis.exceptions.NoPermissionError, redis.exceptions.AuthenticationError) as exc:
            refusal = describe_refusal(exc)
            if refusal is not None:
                raise StoreAccessDeniedError(refusal) from exc
            raise StoreUnavailableError(f"Redis is unreachable: {exc}") from exc
        except _CLUSTER_UNAVAILABLE as exc:
            raise StoreUnavailableError(f"the Redis Cluster is unavailable: {type(exc).__name__}: {exc}") from exc
        except redis.exceptions.ResponseError as exc:
            if str(exc).startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
                raise StoreAccessDeniedError(f"Redis refused this client: {exc}") from exc
            raise

    return wrapper  # type: ignore[return-value]


def _timeout_args(timeout_s: float | None) -> list[Any]:
    """ARGV of a job deadline: ms (0: none) and the seconds as text, for the reason."""
    if not timeout_s or timeout_s <= 0:
        return [0, ""]
    return [max(1, int(timeout_s * 1000)), str(timeout_s)]


def stream_position(entry_id: str) -> tuple[int, int]:
    """A stream entry id ("ms-seq") as a sortable pair."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def log_records(fields: dict[bytes, Any], limits: Limits = DEFAULT_LIMITS) -> list[list[Any]]:
    """History records ([routine, event, data, timestamp]) of one entry of a job's log stream."""
    if fields.get(b"kind") == b"timeout":
        timeout_s = text(fields.get(b"timeout_s", b""))
        data = {"timeout_s": float(timeout_s) if timeout_s else None, "reason": text(fields[b"reason"])}
        return [[text(fields[b"routine"]), "timeout", data, datetime.fromtimestamp(int(fields[b"ts"]) / 1000)]]
    blob = fields.get(b"h")
    return codec.unpackb(blob, limits) if blob else []


class RedisStore:
    """Job, flow and activation state of the distributed engine, in Redis."""

    def __init__(self, settings: Settings, client: redis.Redis | None = None) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix, settings.key_buckets)
        self.redis = client or connect(settings, socket_keepalive=True, health_check_interval=15,
                                       socket_connect_timeout=5)
        # Redis Cluster: scripts cannot be pipelined, and multi-key reads stay within one slot.
        self.cluster = is_cluster(settings.redis_url)
        self.scripts = Scripts(self.redis)
        self.limits = settings.limits

    def decode(self, raw: bytes) -> Any:
        """Decode a blob read from Redis under the settings' size and shape limits."""
        return codec.unpackb(raw, self.limits)

    def job_keys(self, job_id: str, slot_key: str = "") -> list[str]:
        """KEYS for a job script (see lua/_common.lua)."""
        return self.keys.script_keys(job_id, slot_key)

    def atomic(self, key: str) -> Any:
        """A MULTI/EXEC pipeline for keys in ``key``'s hash slot (on Redis Cluster: on the node that owns it).

        On a cluster it is the owning node's own client: redis-py's cluster
        transactions skip reply parsing for some commands (XRANGE, SMEMBERS).
        """
        if not self.cluster:
            return self.redis.pipeline(transaction=True)
        return self.redis.get_node_from_key(key).redis_connection.pipeline(transaction=True)

    def each_bucket(self, read: Callable[[Any, int], Any]) -> list[Any]:
        """Run ``read(pipe, bucket)`` for every bucket in one pipeline; the replies, in order."""
        pipe = self.redis.pipeline(transaction=False)
        for bucket in self.keys.all_buckets:
            read(pipe, bucket)
        return pipe.execute()

    @property
    def _grace_ms(self) -> int:
        return int(self.settings.outbox_grace_s * 1000)

    @property
    def _backstop_ms(self) -> int:
        return int(self.settings.redispatch_s * 1000)

    # -- flows -----------------------------------------------------------
    @guarded
    def put_flow(self, flow_hash: str, flow_id: str, data: dict[str, Any]) -> None:
        """Store a flow structure under its hash (never overwritten), point its id at it, and note the version."""
        pipe = self.atomic(self.keys.flow(flow_hash))
        pipe.set(self.keys.flow(flow_hash), codec.packb(data), nx=True)
        pipe.set(self.keys.flow_latest(flow_id), flow_hash)
        pipe.zadd(self.keys.flow_versions(flow_id), {flow_hash: int(time.time() * 1000)}, nx=True)
        pipe.execute()

    @guarded
    def flow_data(self, flow_hash: str) -> dict[str, Any]:
        """Return a published flow structure by hash."""
        raw = self.redis.get(self.keys.flow(flow_hash))
        if raw is None:
            raise FlowNotPublishedError(f"no flow published with hash {flow_hash}")
        return self.decode(raw)

    @guarded
    def latest_hash(self, flow_id: str) -> str:
        """Return the hash most recently published for ``flow_id``."""
        raw = self.redis.get(self.keys.flow_latest(flow_id))
        if raw is None:
            raise FlowNotPublishedError(f"no flow published with id {flow_id!r}; call publish(flow) first")
        return text(raw)

    # -- jobs ------------------------------------------------------------
    @guarded
    def create_job(self, job_id: str, flow_id: str, flow_hash: str, entry: str, root_id: str,
                   root_body: bytes, history: bytes, created_at: str, timeout_s: float | None = None,
                   priority: int | None = None) -> str:
        """Create a job with its root activation in the outbox; returns the outbox score.

        The job keeps the retention of these settings, a deadline ``timeout_s``
        from now (None or 0: none) and its ``priority`` (None: the default).
        """
        res = self._replicated(self.scripts.submit, self.job_keys(job_id),
                               self.submit_args(job_id, flow_id, flow_hash, entry, root_id, root_body, history,
                                                created_at, timeout_s, priority))
        if text(res[0]) != "ok":
            raise ValueError(f"job {job_id} already exists")
        return text(res[1])

    @guarded
    def create_jobs(self, jobs: list[tuple[Any, ...]]) -> list[str]:
        """Create several jobs (each :meth:`create_job`'s arguments) in one round trip; returns their outbox scores.

        Raises:
            ValueError: a job id already exists (the others were created).
        """
        if self.cluster:  # redis-py cannot pipeline scripts across a cluster
            return [self.create_job(*job) for job in jobs]
        pipe = self.redis.pipeline(transaction=False)
        for job in jobs:
            self.scripts.submit(self.job_keys(job[0]), self.submit_args(*job), client=pipe)
        if self.settings.commit_wait_replicas:
            pipe.wait(self.settings.commit_wait_replicas, max(1, int(self.settings.commit_wait_timeout_s * 1000)))
        answers = pipe.execute()[:len(jobs)]
        for job, res in zip(jobs, answers):
            if text(res[0]) != "ok":
                raise ValueError(f"job {job[0]} already exists")
        return [text(res[1]) for res in answers]

    def submit_args(self, job_id: str, flow_id: str, flow_hash: str, entry: str, root_id: str, root_body: bytes,
                    history: bytes, created_at: str, timeout_s: float | None, priority: int | None) -> list[Any]:
        """ARGV of lua/submit.lua for a new job (see :meth:`create_job`)."""
        s = self.settings
        return [job_id, flow_id, flow_hash, entry, root_id, root_body, history, self._grace_ms, created_at,
                int(s.completed_ttl_s * 1000), int(s.failed_ttl_s * 1000), *_timeout_args(timeout_s),
                "" if priority is None else priority]

    def retention_meta(self) -> dict[str, int]:
        """Meta fields giving a new job this store's retention (see lua/_common.lua ``finish_job``)."""
        s = self.settings
        return {"ttl_ok": int(s.completed_ttl_s * 1000), "ttl_fail": int(s.failed_ttl_s * 1000)}

    @guarded
    def claim(self, job_id: str, act_id: str, slot_key: str, hard_s: float = 0.0) -> list[Any]:
        """Take the lease of an activation (see lua/claim.lua for the answers); ``hard_s``: its hard time limit."""
        s = self.settings
        res = self.scripts.claim(
            self.job_keys(job_id, slot_key),
            [job_id, act_id, int(s.lease_s * 1000), s.max_attempts, slot_key, self._backstop_ms,
             int(hard_s * 1000), str(hard_s) if hard_s else ""],
        )
        return [text(res[0]), *res[1:]]

    @guarded
    def commit(self, job_id: str, act_id: str, token: str, slot_key: str, argv_tail: list[Any]) -> list[Any]:
        """Apply a step's delta (see lua/commit.lua); ``argv_tail`` starts at ARGV[4]."""
        res = self._replicated(self.scripts.commit, self.job_keys(job_id, slot_key), [job_id, act_id, token, *argv_tail])
        return [text(res[0]), *res[1:]]

    def _replicated(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Run a writing script; with ``commit_wait_replicas``, WAIT for replicas on the same connection."""
        wanted = self.settings.commit_wait_replicas
        if not wanted:
            return script(keys, args)
        # On Redis Cluster the WAIT must reach the node that ran the script: the key's node.
        client = self.redis.get_node_from_key(keys[0]).redis_connection if self.cluster else self.redis
        pipe = client.pipeline(transaction=False)
        script(keys, args, client=pipe)
        pipe.wait(wanted, max(1, int(self.settings.commit_wait_timeout_s * 1000)))
        res, acked = pipe.execute()
        if int(acked) < wanted:
            log.warning("a write reached %s of %s replicas within %s s; a failover now could lose it",
                        acked, wanted, self.settings.commit_wait_timeout_s)
        return res

    @guarded
    def renew(self, job_id: str, act_id: str, token: str) -> bool:
        """Extend a lease this worker holds; False if it was lost."""
        lease_ms = int(self.settings.lease_s * 1000)
        return bool(self.scripts.renew(self.job_keys(job_id), [job_id, act_id, token, lease_ms]))

    @guarded
    def abandon(self, job_id: str, act_id: str, token: str, reason: str) -> bool:
        """End a lease this worker holds at once, noting why, so the activation runs again (see lua/abandon.lua)."""
        return bool(self.scripts.abandon(self.job_keys(job_id), [job_id, act_id, token, reason]))

    @guarded
    def bounce(self, job_id: str, act_id: str, reason: str, delay_s: float, worker: str) -> str:
        """Hand an activation back for another worker (or the dead-letter stream)."""
        res = self.scripts.bounce(
            self.job_keys(job_id), [job_id, act_id, reason, int(delay_s * 1000), self.settings.max_attempts, worker]
        )
        return text(res[0])

    @guarded
    def mark_dispatched(self, job_id: str, outbox_score: str, act_ids: list[str]) -> None:
        """Move just-dispatched outbox entries to the queue backstop."""
        if act_ids:
            self.scripts.mark(self.job_keys(job_id), [job_id, outbox_score, self._backstop_ms, *act_ids])

    @guarded
    def mark_many(self, batch: list[tuple[str, str, list[str]]]) -> None:
        """Mark several commits' dispatched children in one round trip (one per commit on Redis Cluster)."""
        if self.cluster:  # redis-py cannot pipeline scripts across a cluster
            for job_id, outbox_score, act_ids in batch:
                self.mark_dispatched(job_id, outbox_score, act_ids)
            return
        pipe = self.redis.pipeline(transaction=False)
        for job_id, outbox_score, act_ids in batch:
            self.scripts.mark(self.job_keys(job_id), [job_id, outbox_score, self._backstop_ms, *act_ids], client=pipe)
        pipe.execute()

    @guarded
    def pause(self, job_id: str, reason: str, checkpoint: Any = None) -> list[Any]:
        """Pause a running job, recording its pause point (the shape of :func:`pause_point`)."""
        pipe = self.atomic(self.keys.job(job_id, "meta"))
        pipe.hget(self.keys.job(job_id, "meta"), "current_routine_id")
        pipe.hlen(self.keys.job(job_id, "acts"))
        pipe.hlen(self.keys.job(job_id, "lease"))
        current, outstanding, running = pipe.execute()
        point = pause_point(reason, checkpoint, text(current) if current else None, max(0, outstanding - running))
        res = self.scripts.pause(self.job_keys(job_id), [reason, codec.packb(point)])
        return [text(x) for x in res]

    @guarded
    def resume(self, job_id: str, n_deferred: int, history: bytes, children: list[tuple[str, bytes]],
               timeout_s: float | None = None) -> list[Any]:
        """Resume a paused job; returns ['ok', status, outbox score, ids to dispatch] or a refusal.

        Its deadline is armed again: ``timeout_s`` from now, or the job's own timeout if None.
        """
        flat: list[Any] = [x for pair in children for x in pair]
        timeout = ["", ""] if timeout_s is None else _timeout_args(timeout_s)
        res = self.scripts.resume(
            self.job_keys(job_id), [job_id, self._grace_ms, n_deferred, history, *timeout, *flat]
        )
        return [text(res[0]), *res[1:]]

    @guarded
    def cancel(self, job_id: str, reason: str) -> list[str]:
        """Cancel a job for good."""
        state = codec.packb({"reason": reason}) if reason else b""
        return [text(x) for x in self.scripts.cancel(self.job_keys(job_id), [job_id, reason, state])]

    # -- reading ---------------------------------------------------------
    @guarded
    def meta(self, job_id: str) -> dict[str, str]:
        """Return a job's meta hash (raises JobNotFoundError)."""
        raw = self.redis.hgetall(self.keys.job(job_id, "meta"))
        if not raw:
            raise JobNotFoundError(f"no job {job_id!r} in this store")
        return {text(k): text(v) for k, v in raw.items()}

    @guarded
    def status(self, job_id: str) -> str:
        """Return a job's status (raises JobNotFoundError)."""
        raw = self.redis.hget(self.keys.job(job_id, "meta"), "status")
        if raw is None:
            raise JobNotFoundError(f"no job {job_id!r} in this store")
        return text(raw)

    @guarded
    def read_job(self, job_id: str) -> dict[str, Any]:
        """Read every part of a job in one round trip (raw values, decoded later)."""
        k = self.keys
        pipe = self.atomic(k.job(job_id, "meta"))
        pipe.hgetall(k.job(job_id, "meta"))
        pipe.hgetall(k.job(job_id, "rs"))
        pipe.hgetall(k.job(job_id, "sd"))
        pipe.lrange(k.job(job_id, "sl"), 0, -1)
        pipe.lrange(k.job(job_id, "out"), 0, -1)
        pipe.lrange(k.job(job_id, "de"), 0, -1)
        pipe.hgetall(k.job(job_id, "sb"))
        pipe.xrange(k.job(job_id, "log"))
        pipe.lrange(k.job(job_id, "pp"), 0, -1)
        pipe.smembers(k.job(job_id, "parked"))
        pipe.hgetall(k.job(job_id, "acts"))
        names = ("meta", "rs", "sd", "sl", "out", "de", "sb", "log", "pp", "parked", "acts")
        parts = dict(zip(names, pipe.execute()))
        if not parts["meta"]:
            raise JobNotFoundError(f"no job {job_id!r} in this store")
        return parts

    @guarded
    def read_hash(self, job_id: str, part: str) -> dict[str, Any]:
        """Decode one of a job's hashes (rs, sd)."""
        raw = self.redis.hgetall(self.keys.job(job_id, part))
        return {text(k): self.decode(v) for k, v in raw.items()}

    @guarded
    def read_versioned(self, job_id: str, part: str) -> tuple[dict[str, Any], dict[str, int], int]:
        """Decode one of a job's versioned hashes (rs, sd) with the versions of its entries, atomically.

        Returns (values, version of each key, version of the whole hash).
        """
        pipe = self.atomic(self.keys.job(job_id, part))
        pipe.hgetall(self.keys.job(job_id, part))
        pipe.hgetall(self.keys.job(job_id, "ver"))
        raw, versions = pipe.execute()
        prefix = f"{part}:".encode()
        known = {text(k[len(prefix):]): int(v) for k, v in versions.items() if k.startswith(prefix)}
        return {text(k): self.decode(v) for k, v in raw.items()}, known, int(versions.get(f"*{part}".encode(), 0))

    @guarded
    def read_list(self, job_id: str, part: str) -> list[Any]:
        """Decode one of a job's lists (sl, out, de)."""
        return [self.decode(v) for v in self.redis.lrange(self.keys.job(job_id, part), 0, -1)]

    @guarded
    def read_history(self, job_id: str) -> list[list[Any]]:
        """Decode a job's history records from its delta log."""
        records: list[list[Any]] = []
        for _, fields in self.redis.xrange(self.keys.job(job_id, "log")):
            records.extend(log_records(fields, self.limits))
        return records

    @guarded
    def bodies(self, job_id: str, act_ids: list[str]) -> list[tuple[str, bytes]]:
        """Return ("job|activation", stored body) of unfinished activations (finished ones are skipped).

        Bodies are returned as stored (signed, if they were): they are sent again verbatim.
        """
        if not act_ids:
            return []
        raw = self.redis.hmget(self.keys.job(job_id, "acts"), act_ids)
        return [(f"{job_id}|{a}", body) for a, body in zip(act_ids, raw) if body is not None]

    @guarded
    def unfinished_bodies(self) -> list[bytes]:
        """The stored bodies of every activation not yet finished, of every job."""
        bodies: list[bytes] = []
        job_ids = self.job_ids()
        for start in range(0, len(job_ids), 500):
            pipe = self.redis.pipeline(transaction=False)
            for job_id in job_ids[start:start + 500]:
                pipe.hvals(self.keys.job(job_id, "acts"))
            for values in pipe.execute():
                bodies.extend(values)
        return bodies

    @guarded
    def check_layout(self) -> None:
        """Record this deployment's key-bucket count in Redis, or refuse a process set to another one.

        Every process sharing a key prefix must spread jobs over the same buckets:
        one with another count would look for a job's keys under other names.

        Raises:
            KeyLayoutError: Redis already holds data laid out in a different number of buckets.
        """
        key, mine = self.keys.layout, self.keys.buckets
        if self.redis.set(key, mine, nx=True):
            return
        stored = self.redis.get(key)
        if stored is not None and int(stored) != mine:
            raise KeyLayoutError(
                f"the data under key prefix {self.keys.prefix!r} is laid out in {int(stored)} key buckets but this "
                f"process uses {mine}: set ROUTILUX_KEY_BUCKETS={int(stored)} on every producer and worker "
                "(the count is fixed for the life of the data)")

    @guarded
    def ping(self) -> None:
        """Check that Redis answers and accepts this client (raises StoreAccessDeniedError if not)."""
        self.redis.ping()

    def close(self) -> None:
        """Release the connection pool."""
        self.redis.close()

    @guarded
    def delete_job(self, job_id: str) -> bool:
        """Delete every key of a finished job, slot-wait lists included; False if it is not finished (or unknown)."""
        return bool(self.scripts.delete(self.job_keys(job_id), [job_id]))

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
    def now_ms(self) -> int:
        """Redis's clock, in ms (the clock every script uses)."""
        now_s, now_us = self.redis.time()
        return now_s * 1000 + now_us // 1000

    @guarded
    def job_ids(self) -> list[str]:
        """Return every known job id, oldest first."""
        replies = self.each_bucket(lambda pipe, b: pipe.zrange(self.keys.jobs(b), 0, -1, withscores=True))
        rows = sorted((score, text(j)) for reply in replies for j, score in reply)
        return [job_id for _, job_id in rows]

    def job_id_batches(self, size: int = 500) -> Iterator[list[str]]:
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
    def wait_settled(self, job_id: str, timeout_s: float) -> str | None:
        """Block up to ``timeout_s`` for the job to end; returns its final status or None."""
        key = self.keys.job(job_id, "settled")
        # Rotate the marker in place, so every other waiter sees it too and the key keeps its TTL.
        got = self.redis.blmove(key, key, max(0.01, timeout_s), "LEFT", "RIGHT")
        return None if got is None else text(got)

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

    # -- sweeping --------------------------------------------------------
    @guarded
    def take_sweeper_lock(self, owner: str) -> bool:
        """Become the sweeper for one interval (any worker may, one at a time)."""
        ttl_ms = max(10, int(self.settings.sweep_interval_s * 500))
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
        return text(self.scripts.timeout(self.job_keys(job_id), [job_id]))

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
        return self._sweep_one(self.scripts.expire, member)

    def requeue_due(self, member: str) -> bytes | None:
        """Handle one due activation (outbox, retry timer, backstop); returns the stored body to send, if any."""
        return self._sweep_one(self.scripts.redue, member)

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
                    moved += int(self.scripts.rescue(self.job_keys(job_id), [job_id, act_id]))
                rescued += moved
                if len(members) < SWEEP_BATCH:
                    break
                offset += len(members) - moved  # the moved ones left the range
        return rescued

    @guarded
    def _sweep_one(self, script: Any, member: str) -> bytes | None:
        job_id, act_id = member.split("|", 1)
        res = script(self.job_keys(job_id), [job_id, act_id, self._backstop_ms])
        return res[1] if text(res[0]) == "dispatch" and len(res) > 1 else None

    @guarded
    def reject(self, job_id: str, act_id: str, reason: str) -> str:
        """Dead-letter a stored activation whose body fails its signature or limits; the job fails."""
        return text(self.scripts.reject(self.job_keys(job_id), [job_id, act_id, reason])[0])

    # -- workers ---------------------------------------------------------
    @guarded
    def record_worker(self, name: str, info: dict[str, Any], ttl_s: float) -> None:
        """Write a worker's liveness record, expiring after ``ttl_s``."""
        pipe = self.atomic(self.keys.worker(name))
        pipe.set(self.keys.worker(name), codec.packb(info), px=int(ttl_s * 1000))
        pipe.sadd(self.keys.workers_known, name)
        pipe.execute()

    @guarded
    def forget_worker(self, name: str) -> None:
        """Remove a worker's liveness record (it is shutting down)."""
        pipe = self.atomic(self.keys.worker(name))
        pipe.delete(self.keys.worker(name))
        pipe.srem(self.keys.workers_known, name)
        pipe.execute()

    @guarded
    def lost_workers(self) -> list[str]:
        """Workers whose liveness record lapsed without a clean shutdown (they died, froze or were cut off)."""
        names = sorted(text(n) for n in self.redis.smembers(self.keys.workers_known))
        if not names:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.exists(self.keys.worker(name))
        return [name for name, alive in zip(names, pipe.execute()) if not alive]

    @guarded
    def drop_lost_workers(self, names: list[str]) -> None:
        """Stop tracking workers found lost (one that comes back is tracked again by its next record)."""
        if names:
            self.redis.srem(self.keys.workers_known, *names)

    @guarded
    def record_running(self, worker: str, pid: int, running: list[dict[str, Any]], ttl_s: float) -> None:
        """Write what one worker process runs now (an empty list removes the record)."""
        key = self.keys.running(worker, pid)
        if running:
            self.redis.set(key, codec.packb({"worker": worker, "pid": pid, "running": running}), px=int(ttl_s * 1000))
        else:
            self.redis.delete(key)

    @guarded
    def add_worker_counts(self, worker: str, processed: int, failed: int) -> None:
        """Add to a worker's counts of activations run and failed (kept a week past the last addition)."""
        key = self.keys.worker_counts(worker)
        pipe = self.atomic(key)
        pipe.hincrby(key, "processed", processed)
        pipe.hincrby(key, "failed", failed)
        pipe.pexpire(key, WORKER_COUNTS_TTL_MS)
        pipe.execute()

    @guarded
    def worker_record(self, name: str) -> dict[str, Any] | None:
        """Return a worker's liveness record, or None if it expired."""
        raw = self.redis.get(self.keys.worker(name))
        return self.decode(raw) if raw is not None else None

    @guarded
    def workers(self) -> dict[str, dict[str, Any]]:
        """Return every live worker's record."""
        out = {}
        prefix = self.keys.worker("")
        for key in self.redis.scan_iter(match=self.keys.workers_pattern, count=100):
            raw = self.redis.get(key)
            if raw is not None:
                out[text(key)[len(prefix):]] = self.decode(raw)
        return out
