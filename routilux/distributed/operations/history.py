"""Time travel: a job's JobState as it was after any entry of its stream.

Every commit appends its ops (routine states, shared data, logs, slot buffers),
its history records and the children it created to the job's stream, so the
state after entry N is the fold of entries 1..N. What was still to run at that
point (children created and not yet committed) comes back as the JobState's
``pending_tasks``: :mod:`routilux.distributed.operations.fork` continues them as a new job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgpack

from routilux import codec
from routilux.distributed.operations.events import ms_to_iso
from routilux.distributed.protocol.envelope import from_envelope, open_body
from routilux.distributed.protocol.keys import split_slot_field
from routilux.distributed.store import RedisStore, guarded, log_records, text
from routilux.errors import DecodeError, FlowError
from routilux.job_state import TERMINAL, ExecutionRecord, JobState
from routilux.ops import Op
from routilux.bounds import Limits


@dataclass
class Replay:
    """A job rebuilt up to one stream entry."""

    state: JobState
    position: str                        # the last entry applied
    entries: int                         # how many entries were applied
    outstanding: dict[str, bytes] = field(default_factory=dict)  # activation id -> envelope body
    runs: dict[str, int] = field(default_factory=dict)            # routine id -> committed steps
    errors: dict[str, int] = field(default_factory=dict)          # routine id -> error records
    last_error: dict[str, bool] = field(default_factory=dict)     # routine id -> its last record was an error
    routine_of: dict[str, str] = field(default_factory=dict)      # activation id -> its routine
    inherited: set[str] = field(default_factory=set)              # routines a fork took over as they were

    def routines(self) -> dict[str, dict[str, Any]]:
        """Each routine's status at this point ("pending", "running", "paused", "completed", "failed", or
        "not run" once the job ended), runs and errors; ``inherited`` marks what a fork took over.

        Work left when the job ended (a cancel drops it) runs no more: it does not make a routine "running".
        """
        ended = self.state.status in TERMINAL
        waiting: dict[str, int] = {}
        for act_id in self.outstanding:
            rid = self.routine_of.get(act_id, "")
            waiting[rid] = waiting.get(rid, 0) + 1
        out = {}
        for rid in set(self.runs) | set(waiting) | set(self.errors) | self.inherited:
            if rid.startswith("_"):
                continue  # engine records such as _cancellation are not routines
            own = (self.state.routine_states.get(rid) or {}).get("status")
            if waiting.get(rid) and not ended:
                status = "paused" if self.state.status == "paused" else "running"
            elif own in ("failed", "error") or (self.last_error.get(rid) and self.state.status == "failed"):
                status = "failed"
            elif self.runs.get(rid) or rid in self.inherited:
                status = "completed"
            else:
                status = "not run" if ended else "pending"
            out[rid] = {"status": status, "runs": self.runs.get(rid, 0), "errors": self.errors.get(rid, 0)}
            if rid in self.inherited:
                out[rid]["inherited"] = True
        return out


def _raw_list(blob: bytes | None) -> list[bytes]:
    if not blob:
        return []
    try:  # a flat list of blobs: msgpack bounds every length by the blob's own size
        items = msgpack.unpackb(blob, raw=True)
    except Exception as exc:  # noqa: BLE001 - a damaged stream entry is a DecodeError, not a crash
        raise DecodeError(f"a job stream entry is not a msgpack list: {exc}") from exc
    return list(items) if isinstance(items, (list, tuple)) else []


def _apply_ops(state: JobState, flat: list[bytes], limits: Limits) -> None:
    for i in range(0, len(flat) - 3, 4):
        kind, a, b = text(flat[i]), text(flat[i + 1]), flat[i + 2]
        value = codec.unpackb(b, limits)
        if kind == Op.RS:
            state.routine_states[a] = value
        elif kind == Op.SD:
            state.shared_data[a] = value
        elif kind == Op.SL:
            state.shared_log.append(value)
        elif kind == Op.OUT:
            state.output_log.append(value)
        elif kind == Op.DE:
            state.deferred_events.append(value)
        elif kind == Op.SB:
            rid, slot = split_slot_field(a)
            state.slot_buffers.setdefault(rid, {})[slot] = value


def _apply(replay: Replay, fields: dict[bytes, bytes], limits: Limits) -> None:
    state = replay.state
    if fields.get(b"kind") == b"status":
        status = text(fields.get(b"status", b""))
        state._set_status(status)
        if status in ("failed", "cancelled") and fields.get(b"error"):
            state.error = text(fields[b"error"])
        return
    for r in log_records(fields, limits):
        state.execution_history.append(ExecutionRecord(r[0], r[1], r[2], r[3]))
        replay.last_error[r[0]] = r[1] == "error"
        if r[1] == "error":
            replay.errors[r[0]] = replay.errors.get(r[0], 0) + 1
    if fields.get(b"kind") == b"timeout":
        return
    if fields.get(b"act") == b"fork":
        _take_over(replay, fields, limits)
    _apply_ops(state, _raw_list(fields.get(b"ops")), limits)
    taken = int(fields.get(b"taken") or 0)
    if taken:
        del state.deferred_events[:taken]
    closed = text(fields.get(b"closed", b""))
    if closed:  # a post closed a wait: its timeout will not run
        replay.outstanding.pop(closed, None)
    act = text(fields.get(b"act", b""))
    if act in replay.outstanding:
        rid = replay.routine_of.get(act, "")
        replay.runs[rid] = replay.runs.get(rid, 0) + 1
        if fields.get(b"outcome", b"ok") != b"retry":
            del replay.outstanding[act]
    kids = _raw_list(fields.get(b"kids"))
    for i in range(0, len(kids) - 1, 2):
        act_id = text(kids[i])
        if act_id not in replay.outstanding:
            replay.outstanding[act_id] = kids[i + 1]
            # Shown as stored, signatures unchecked: nothing runs from here (fork checks them).
            replay.routine_of[act_id] = str(open_body(kids[i + 1], limits=limits).get("routine", ""))


def _take_over(replay: Replay, fields: dict[bytes, bytes], limits: Limits) -> None:
    """A fork's first entry: the routines it inherited and how often each had run in the original."""
    runs = codec.unpackb(fields[b"runs"], limits) if fields.get(b"runs") else {}
    for rid, count in dict(runs).items():
        replay.runs[str(rid)] = replay.runs.get(str(rid), 0) + int(count)
    replay.inherited.update(str(r[0]) for r in log_records(fields, limits))
    replay.inherited.update(str(rid) for rid in runs)


@guarded
def replay_job(store: RedisStore, job_id: str, position: str | None = None) -> Replay:
    """Rebuild a job's JobState after stream entry ``position`` (default: the last).

    Raises:
        JobNotFoundError: no such job.
        FlowError: ``position`` is not an entry of the job's stream.
    """
    meta = store.meta(job_id)
    state = JobState(meta.get("flow_id", ""))
    state.job_id = job_id
    state.metadata = {"flow_hash": meta.get("flow_hash"), "engine": "distributed", "replayed": True}
    created = meta.get("created_at")
    state.created_at = datetime.fromisoformat(created) if created else state.created_at
    state._set_status("running")
    replay = Replay(state, "0", 0)
    entries = store.redis.xrange(store.keys.job(job_id, "log"), "-", position or "+")
    if position and (not entries or text(entries[-1][0]) != position):
        raise FlowError(f"{position!r} is not an entry of job {job_id}'s history")
    for entry_id, fields in entries:
        try:
            _apply(replay, fields, store.limits)
        except DecodeError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise DecodeError(f"entry {text(entry_id)} of job {job_id}'s stream is malformed: {exc}") from exc
        replay.position, replay.entries = text(entry_id), replay.entries + 1
    # Shown as stored, signatures unchecked: nothing runs from here (fork checks them).
    bodies = replay.outstanding.values()
    state.pending_tasks = [from_envelope(open_body(b, limits=store.limits))[0].to_dict() for b in bodies]
    return replay


@guarded
def positions(store: RedisStore, job_id: str) -> list[dict[str, Any]]:
    """Every entry of a job's stream, briefly, in commit order.

    Each: ``{"id", "kind", "act", "status", "routine", "slot", "time", "done", "known", "duration_ms"}``:
    what happened (a routine's slot ran, or the job's status changed), when (ISO), and for a step the
    job's activations done and known right after it and its time from handler start to commit (None
    where an entry does not say).
    """
    store.meta(job_id)  # JobNotFoundError
    return [_position(text(entry_id), fields) for entry_id, fields in store.redis.xrange(store.keys.job(job_id, "log"))]


def _position(entry_id: str, fields: dict[bytes, Any]) -> dict[str, Any]:
    def get(name: bytes) -> str | None:
        return text(fields[name]) if name in fields else None

    stamp = get(b"ts") or entry_id.split("-")[0]
    return {"id": entry_id, "kind": get(b"kind") or "", "act": get(b"act") or None, "status": get(b"status"),
            "routine": get(b"routine") or None, "slot": get(b"slot") or None, "time": ms_to_iso(stamp),
            "done": int(fields[b"done"]) if b"done" in fields else None,
            "known": int(fields[b"known"]) if b"known" in fields else None, "duration_ms": step_ms(fields)}


def step_ms(fields: dict[bytes, Any]) -> int | None:
    """A commit entry's time from handler start to commit (ms); None for other entries and older commits."""
    raw = fields.get(b"ms")
    return int(raw) if raw not in (None, b"") else None
