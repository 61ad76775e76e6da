"""Build a JobState from what the store holds about a job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from routilux import codec
from routilux.distributed.protocol.envelope import from_envelope, open_body
from routilux.distributed.protocol.keys import split_slot_field
from routilux.distributed.store import log_records, text
from routilux.errors import DecodeError
from routilux.job_state import SETTLED, ExecutionRecord, JobState
from routilux.bounds import DEFAULT_LIMITS, Limits

def _ms_time(value: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000) if value else None
    except ValueError:
        return datetime.fromisoformat(value) if value else None


def job_state_from_parts(job_id: str, parts: dict[str, Any], limits: Limits = DEFAULT_LIMITS) -> JobState:
    """Turn :meth:`RedisStore.read_job` output into a JobState like the local engine's.

    Every blob is decoded under ``limits``; pending activations are shown as
    stored, their signatures unchecked (nothing runs from here).

    Raises:
        DecodeError: a part is not Routilux msgpack, is over the limits, or has the wrong shape.
    """
    try:
        return _assemble(job_id, parts, limits)
    except DecodeError:
        raise
    except _SHAPE_ERRORS as exc:
        raise DecodeError(f"job {job_id} in the store is malformed: {type(exc).__name__}: {exc}") from exc


# What reading well-formed msgpack of the wrong shape raises (a list where a map belongs...).
_SHAPE_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError)


def _assemble(job_id: str, parts: dict[str, Any], limits: Limits) -> JobState:
    def decode(raw: bytes) -> Any:
        return codec.unpackb(raw, limits)

    meta = {text(k): text(v) for k, v in parts["meta"].items()}
    state = JobState(meta.get("flow_id", ""))
    state.job_id = job_id
    state.current_routine_id = meta.get("current_routine_id") or None
    state.routine_states = {text(k): decode(v) for k, v in parts["rs"].items()}
    state.shared_data = {text(k): decode(v) for k, v in parts["sd"].items()}
    state.shared_log = [decode(v) for v in parts["sl"]]
    state.output_log = [decode(v) for v in parts["out"]]
    state.deferred_events = [decode(v) for v in parts["de"]]
    state.pause_points = [decode(v) for v in parts["pp"]]
    state.checkpoint = state.pause_points[-1]["checkpoint"] if state.pause_points else None
    for field, raw in parts["sb"].items():
        rid, slot = split_slot_field(text(field))
        state.slot_buffers.setdefault(rid, {})[slot] = decode(raw)
    history = []
    for _, fields in parts["log"]:
        history.extend(ExecutionRecord(r[0], r[1], r[2], r[3]) for r in log_records(fields, limits))
    state.execution_history = history
    acts = parts["acts"]
    pending = []
    for act_id in sorted(text(a) for a in parts["parked"]):
        body = acts.get(act_id.encode())
        if body is not None:
            act, _ = from_envelope(open_body(body, limits=limits))
            pending.append(act.to_dict())
    state.pending_tasks = pending
    state.metadata = {"flow_hash": meta.get("flow_hash"), "engine": "distributed"}
    if meta.get("forked_from"):
        state.metadata["forked_from"] = {"job_id": meta["forked_from"], "at": meta.get("forked_at", "")}
    state.error = meta.get("error") or None
    created = meta.get("created_at")
    state.created_at = datetime.fromisoformat(created) if created else state.created_at
    state._set_status(meta.get("status", "pending"))
    state.updated_at = _ms_time(meta.get("updated_at")) or state.updated_at
    if state.status in SETTLED:
        state._settle()
    return state
