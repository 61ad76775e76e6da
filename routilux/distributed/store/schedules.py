"""The store's reads and writes for schedules: specs, next fire times, tick records and the firing lock.

Every schedule key shares the ``{schedules}`` hash tag (see :mod:`~routilux.distributed.protocol.keys`), so each
write is one transaction or one script (``lua/advance_schedule.lua``), on Redis
Cluster too. Connection failures surface as StoreUnavailableError.
"""

from __future__ import annotations

from typing import Any

import redis

from routilux import codec
from routilux.distributed.protocol.args import AdvanceScheduleArgs
from routilux.distributed.protocol.constants import TICK_RECORDS_KEPT
from routilux.distributed.protocol.replies import text
from routilux.distributed.schedule_spec import ScheduleSpec
from routilux.distributed.store.base import StoreBase, guarded
from routilux.errors import ScheduleNotFoundError


class ScheduleStore:
    """Schedules in Redis, beside a :class:`~routilux.distributed.store.RedisStore` (same connection pool)."""

    def __init__(self, store: StoreBase) -> None:
        self.store = store
        self.redis = store.redis
        self.keys = store.keys

    @guarded
    def put(self, spec: ScheduleSpec, next_ms: int | None) -> None:
        """Create or replace a schedule (its counts and tick records are kept), due at ``next_ms``."""
        k, sid = self.keys, spec.schedule_id
        pipe = self.store.atomic(k.schedule(sid))
        pipe.hset(k.schedule(sid), mapping={"spec": spec.to_blob(), "next_ms": next_ms or "", "paused": 0})
        pipe.sadd(k.schedule_ids, sid)
        if next_ms:
            pipe.zadd(k.schedules_due, {sid: next_ms})
        else:
            pipe.zrem(k.schedules_due, sid)
        pipe.execute()

    @guarded
    def read(self, schedule_id: str) -> tuple[ScheduleSpec, dict[str, str]]:
        """A schedule's spec and its state fields (next_ms, paused, last_job, counts; raises ScheduleNotFoundError)."""
        raw = self.redis.hgetall(self.keys.schedule(schedule_id))
        if not raw or b"spec" not in raw:
            raise ScheduleNotFoundError(f"no schedule {schedule_id!r} in this store")
        spec = ScheduleSpec.from_blob(raw.pop(b"spec"), self.store.limits)
        return spec, {text(f): text(v) for f, v in raw.items()}

    @guarded
    def ids(self) -> list[str]:
        """Every schedule id, sorted."""
        return sorted(text(s) for s in self.redis.smembers(self.keys.schedule_ids))

    @guarded
    def ticks(self, schedule_id: str, count: int = TICK_RECORDS_KEPT) -> list[dict[str, Any]]:
        """A schedule's latest tick records, newest first."""
        raw = self.redis.lrange(self.keys.schedule_ticks(schedule_id), 0, count - 1)
        return [codec.unpackb(r, self.store.limits) for r in raw]

    @guarded
    def set_paused(self, schedule_id: str, paused: bool, next_ms: int | None = None) -> None:
        """Pause (out of the due index) or resume (due at ``next_ms``) a schedule."""
        k = self.keys
        pipe = self.store.atomic(k.schedule(schedule_id))
        pipe.hset(k.schedule(schedule_id), "paused", int(paused))
        if paused or not next_ms:
            pipe.zrem(k.schedules_due, schedule_id)
        else:
            pipe.hset(k.schedule(schedule_id), "next_ms", next_ms)
            pipe.zadd(k.schedules_due, {schedule_id: next_ms})
        pipe.execute()

    @guarded
    def delete(self, schedule_id: str) -> bool:
        """Forget a schedule and its tick records (its jobs stay); False if there was none."""
        k = self.keys
        pipe = self.store.atomic(k.schedule(schedule_id))
        pipe.delete(k.schedule(schedule_id), k.schedule_ticks(schedule_id))
        pipe.zrem(k.schedules_due, schedule_id)
        pipe.srem(k.schedule_ids, schedule_id)
        return bool(pipe.execute()[0])

    @guarded
    def advance(self, schedule_id: str, tick_ms: int, next_ms: int | None, record: dict[str, Any],
                counter: str, job_id: str = "", count: int = 1) -> bool:
        """Record a handled tick and move the schedule on, if it is still at that tick (lua/advance_schedule.lua)."""
        k = self.keys
        keys = [k.schedule(schedule_id), k.schedules_due, k.schedule_ticks(schedule_id)]
        args = AdvanceScheduleArgs(schedule_id, tick_ms, next_ms or 0, codec.packb(record), counter, job_id, count)
        return bool(self.store.scripts.run(keys, args))

    @guarded
    def note_trigger(self, schedule_id: str, record: dict[str, Any], job_id: str) -> None:
        """Record a run started by hand: it counts as the schedule's latest job (for ``overlap``)."""
        k = self.keys
        pipe = self.store.atomic(k.schedule(schedule_id))
        pipe.hset(k.schedule(schedule_id), "last_job", job_id)
        pipe.hincrby(k.schedule(schedule_id), "triggered", 1)
        pipe.lpush(k.schedule_ticks(schedule_id), codec.packb(record))
        pipe.ltrim(k.schedule_ticks(schedule_id), 0, TICK_RECORDS_KEPT - 1)
        pipe.execute()

    @guarded
    def due(self, now_ms: int, limit: int = 100) -> list[str]:
        """Ids of active schedules whose next tick is at or before ``now_ms``."""
        return [text(s) for s in self.redis.zrangebyscore(self.keys.schedules_due, "-inf", now_ms, start=0, num=limit)]

    @guarded
    def next_due_ms(self) -> int | None:
        """The earliest next tick of any active schedule (None if none)."""
        first = self.redis.zrange(self.keys.schedules_due, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    @guarded
    def take_lock(self, owner: str, ttl_ms: int) -> bool:
        """Become the one worker firing schedules for up to ``ttl_ms``."""
        return bool(self.redis.set(self.keys.schedule_lock, owner, nx=True, px=ttl_ms))

    @guarded
    def release_lock(self, owner: str) -> None:
        """Give the firing lock back, if this owner still holds it."""
        key = self.keys.schedule_lock
        pipe = self.store.atomic(key)
        pipe.watch(key)
        if pipe.get(key) == owner.encode():
            pipe.multi()
            pipe.delete(key)
            try:
                pipe.execute()
            except redis.exceptions.WatchError:  # it changed hands meanwhile: nothing to give back
                pass
        pipe.reset()
