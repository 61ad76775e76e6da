"""Reading one job: its meta, state parts, history and stored activations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from routilux import codec
from routilux.bounds import DEFAULT_LIMITS, Limits
from routilux.distributed.protocol.replies import text
from routilux.distributed.store.base import StoreBase, guarded
from routilux.errors import JobNotFoundError


def log_records(fields: dict[bytes, Any], limits: Limits = DEFAULT_LIMITS) -> list[list[Any]]:
    """History records ([routine, event, data, timestamp]) of one entry of a job's log stream."""
    if fields.get(b"kind") == b"timeout":
        timeout_s = text(fields.get(b"timeout_s", b""))
        data = {"timeout_s": float(timeout_s) if timeout_s else None, "reason": text(fields[b"reason"])}
        return [[text(fields[b"routine"]), "timeout", data, datetime.fromtimestamp(int(fields[b"ts"]) / 1000)]]
    blob = fields.get(b"h")
    return codec.unpackb(blob, limits) if blob else []


class JobReadingStore(StoreBase):
    """Reads of one job, decoded under the settings' limits."""

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
    def wait_settled(self, job_id: str, timeout_s: float) -> str | None:
        """Block up to ``timeout_s`` for the job to end; returns its final status or None."""
        key = self.keys.job(job_id, "settled")
        # Rotate the marker in place, so every other waiter sees it too and the key keeps its TTL.
        got = self.redis.blmove(key, key, max(0.01, timeout_s), "LEFT", "RIGHT")
        return None if got is None else text(got)
