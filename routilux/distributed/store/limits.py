"""Concurrency and rate limits in Redis: admit, free, renew, release due waiters, list (see lua/admit.lua)."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from routilux.distributed.protocol import args as a
from routilux.distributed.protocol.constants import RATE_LEAD_MS
from routilux.distributed.protocol.replies import text
from routilux.distributed.store.base import StoreBase, guarded


class Admission(NamedTuple):
    """lua/admit.lua's answer: ``ok`` (``fresh`` if this call took the slot or token) or ``wait``."""

    outcome: str
    fresh: bool = False
    holders: int = 0
    start_ms: int = 0      # a rate waiter: when it may start (Redis time, ms)


def _spec(kind: str, amount: float, burst: int) -> str:
    return f"{kind} {amount:g} {burst}"


class LimitStore(StoreBase):
    """Fleet-wide limits: slots as leases in a ZSET per limit, rates as a token bucket per limit."""

    def _limit_keys(self, name: str, kind: str) -> list[str]:
        first = "held" if kind == "concurrency" else "bucket"
        return [self.keys.limit(first, name), self.keys.limit("waiting", name), self.keys.limits_index(),
                self.keys.limit("jobwaiters", name)]

    @guarded
    def admit(self, name: str, holder: str, kind: str, amount: float, burst: int = 1) -> Admission:
        """Take a slot or token of limit ``name`` for ``holder`` ("job|activation"), or park it."""
        lease_ms = int(self.settings.lease_s * 1000)
        args = a.AdmitArgs(name, holder, holder, kind, amount, burst, lease_ms, _spec(kind, amount, burst))
        return self._admission(self.scripts.run(self._limit_keys(name, kind), args))

    @guarded
    def admit_job(self, name: str, job_id: str, waiter: str) -> Admission:
        """Take a slot of a job concurrency key (its size as the operator set it) for ``job_id``, or park
        ``waiter`` ("job|activation")."""
        args = a.AdmitArgs(name, job_id, waiter, "concurrency", -1, 1, self.job_slot_lease_ms, "")
        return self._admission(self.scripts.run(self._limit_keys(name, "concurrency"), args))

    @property
    def job_slot_lease_ms(self) -> int:
        """A job's slot is renewed by the sweeper while the job lives: a few sweeps' worth of lease."""
        return int(3 * self.settings.lease_s * 1000)

    @guarded
    def set_job_limit(self, name: str, max_running: int) -> None:
        """Let at most ``max_running`` jobs hold the concurrency key ``name`` at once."""
        self.redis.hset(self.keys.limits_index(), name, _spec("concurrency", max_running, 1))

    @staticmethod
    def _admission(raw: list[Any]) -> Admission:
        if text(raw[0]) == "ok":
            return Admission("ok", text(raw[1]) == "1")
        holders, start = text(raw[1]), text(raw[2])
        return Admission("wait", False, int(holders or 0), int(float(start)) if start else 0)

    @guarded
    def free_slot(self, name: str, holder: str, amount: int) -> list[str]:
        """Free ``holder``'s slot ("" for lapsed ones only); the waiters promoted to a slot, to send.
        A job concurrency key (``amount`` -1) hands each freed slot to the waiter's job."""
        per_job = amount < 0
        lease_ms = self.job_slot_lease_ms if per_job else int(self.settings.lease_s * 1000)
        args = a.FreeArgs(name, holder, amount, lease_ms, "1" if per_job else "")
        return [text(m) for m in self.scripts.run(self._limit_keys(name, "concurrency"), args)]

    @guarded
    def renew_jobs(self, name: str) -> list[str]:
        """Renew the slots of a job concurrency key held by jobs still alive; returns the holders that ended."""
        held = [text(m) for m in self.redis.zrange(self.keys.limit("held", name), 0, -1)]
        if not held:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for job_id in held:
            pipe.hget(self.keys.job(job_id, "meta"), "status")
        statuses = [text(s) if s is not None else None for s in pipe.execute()]
        alive = {j: time.time() * 1000 + self.job_slot_lease_ms for j, s in zip(held, statuses)
                 if s is not None and s not in ("completed", "failed", "cancelled")}
        if alive:
            self.redis.zadd(self.keys.limit("held", name), alive, xx=True)
        return [j for j in held if j not in alive]

    @guarded
    def renew_slots(self, names: list[str], holder: str) -> None:
        """Extend ``holder``'s slot leases (the heartbeat of a limited activation)."""
        expiry = int(time.time() * 1000 + self.settings.lease_s * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.zadd(self.keys.limit("held", name), {holder: expiry}, xx=True)
        pipe.execute()

    @guarded
    def release_rate_waiter(self, name: str, holder: str) -> bool:
        """Mark a rate waiter due within RATE_LEAD_MS released (its score negated); True if the caller should
        send it (the worker that gets it holds it the last few ms, see lua/admit.lua)."""
        key = self.keys.limit("waiting", name)
        score = self.redis.zscore(key, holder)
        if score is None or score <= 0 or score > time.time() * 1000 + RATE_LEAD_MS:
            return False
        return bool(self.redis.zadd(key, {holder: -score}, xx=True, ch=True))

    @guarded
    def park_rate_waiter(self, name: str, holder: str, start_ms: int) -> None:
        """Park a rate waiter its worker stops holding: a timer or the sweeper sends it at ``start_ms``."""
        self.redis.zadd(self.keys.limit("waiting", name), {holder: start_ms}, xx=True)

    @guarded
    def limit_specs(self) -> dict[str, tuple[str, float, int]]:
        """Every limit seen: name -> (kind, amount, burst)."""
        out = {}
        for name, spec in self.redis.hgetall(self.keys.limits_index()).items():
            kind, amount, burst = text(spec).split(" ")
            out[text(name)] = (kind, float(amount), int(burst))
        return out

    @guarded
    def due_rate_waiters(self, name: str) -> list[str]:
        """Rate waiters of ``name`` whose start time is (within RATE_LEAD_MS) due and that are not yet released."""
        due_ms = time.time() * 1000 + RATE_LEAD_MS
        return [text(m) for m in self.redis.zrangebyscore(self.keys.limit("waiting", name), 0, due_ms)]

    @guarded
    def limit_view(self, name: str) -> dict[str, Any]:
        """One limit's holders (with lease expiry, ms) and waiting work (arrival or start time, ms)."""
        kind, amount, burst = self.limit_specs().get(name, ("concurrency", 0, 1))
        held = self.redis.zrange(self.keys.limit("held", name), 0, -1, withscores=True) if kind == "concurrency" else []
        waiting = self.redis.zrange(self.keys.limit("waiting", name), 0, -1, withscores=True)
        view: dict[str, Any] = {
            "name": name, "kind": kind, "limit": amount if kind == "rate" else int(amount),
            "holders": [{"holder": text(m), "until_ms": int(s)} for m, s in held],
            "waiting": [{"holder": text(m), "since_ms" if kind == "concurrency" else "start_ms": int(abs(s))}
                        for m, s in waiting],
        }
        if kind == "rate":
            tokens = self.redis.hget(self.keys.limit("bucket", name), "tokens")
            view["burst"] = burst
            view["tokens"] = float(text(tokens)) if tokens is not None else float(burst)
        return view

    @guarded
    def waits_of(self, job_id: str) -> list[dict[str, Any]]:
        """The activations of one job parked by a limit: {activation, limit, kind, since_ms | start_ms}."""
        found = []
        for name, (kind, _, _) in self.limit_specs().items():
            key = self.keys.limit("waiting", name)
            for member, score in self.redis.zscan_iter(key, match=f"{job_id}|*"):
                when = "since_ms" if kind == "concurrency" else "start_ms"
                found.append({"activation": text(member).split("|", 1)[1], "limit": name, "kind": kind,
                              when: int(abs(score))})
        return found
