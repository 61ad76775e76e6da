"""Fork: continue a job from an earlier point of its history as a new job.

The new job starts with the JobState the original had after that stream entry
(:mod:`routilux.distributed.operations.history`) and runs what was still to run there,
on the flow version the original pinned, in the original's lane (priority,
tenant, concurrency key and trace, see lane.py). The original job is not touched.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import msgpack

from routilux import codec
from routilux.activation import TIMER_SLOT, WAIT_SLOT
from routilux.distributed.operations.history import replay_job
from routilux.distributed.protocol.envelope import open_body, seal
from routilux.distributed.protocol.keys import slot_field
from routilux.distributed.protocol.lane import Lane
from routilux.distributed.store import RedisStore, guarded
from routilux.errors import FlowError
from routilux.job_state import JobState
from routilux.ops import Op

if TYPE_CHECKING:
    from routilux.distributed.protocol.signing import Keyring


class ForkingRuntime(Protocol):
    """What a fork needs of the runtime (DistributedRuntime is one): its store, its keys, and how it sends a new job."""

    store: RedisStore
    keyring: Keyring

    def _check_layout(self) -> None: ...

    def _send_new_job(self, job_id: str, messages: list[tuple[str, bytes]], score: str,
                      priority: int | None = None, tenant: str | None = None) -> None: ...


def state_ops(state: JobState) -> list[bytes | str]:
    """The JobState's contents as commit ops (4 fields each), as the stream stores them."""
    flat: list[bytes | str] = []
    for rid, rs in state.routine_states.items():
        flat += [Op.RS.code, rid, codec.packb(rs), str(rs.get("status", ""))]
    for key, value in state.shared_data.items():
        flat += [Op.SD.code, str(key), codec.packb(value), ""]
    for kind, entries in ((Op.SL, state.shared_log), (Op.OUT, state.output_log), (Op.DE, state.deferred_events)):
        flat += [x for entry in entries for x in (kind.code, "", codec.packb(entry), "")]
    for rid, slots in state.slot_buffers.items():
        flat += [x for slot, buf in slots.items() for x in (Op.SB.code, slot_field(rid, slot), codec.packb(buf), "")]
    return flat


def held_activations(envelopes: dict[str, dict[str, Any]], now_ms: int) -> tuple[dict[str, int], dict[str, str]]:
    """Timers and wait timeouts among a fork's activations: (when each is due, ms; the open waits as meta fields).

    Each stays due when it was (at once if that has passed), and a wait stays open to posts.
    """
    due, waits = {}, {}
    for act_id, envelope in envelopes.items():
        if envelope.get("slot") not in (TIMER_SLOT, WAIT_SLOT):
            continue
        due[act_id] = max(now_ms, int(float(envelope.get("not_before") or 0) * 1000))
        if envelope["slot"] == WAIT_SLOT:
            field = slot_field(envelope["routine"], (envelope.get("payload") or {}).get("slot", ""))
            waits[f"wait:{field}"] = f"{act_id}|{due[act_id]}"
    return due, waits


@guarded
def _write_job(store: RedisStore, job_id: str, meta: dict[str, Any], state: JobState,
               bodies: dict[str, bytes], held: dict[str, int] | None = None) -> str:
    """Create the new job in one MULTI (its keys and its bucket's indexes share one slot); returns the outbox score."""
    k = store.keys
    bucket = k.bucket_of(job_id)
    now_s, now_us = store.redis.time()
    now_ms = now_s * 1000 + now_us // 1000
    score = now_ms + int(store.settings.outbox_grace_s * 1000)
    pipe = store.atomic(k.job(job_id, "meta"))
    pipe.hset(k.job(job_id, "meta"), mapping={**meta, "pending": len(bodies), "fence": 0, "updated_at": now_ms})
    if meta.get("timeout_ms"):  # the fork gets the whole timeout of the job it continues
        deadline = now_ms + int(meta["timeout_ms"])
        pipe.hset(k.job(job_id, "meta"), "deadline", deadline)
        pipe.zadd(k.deadlines(bucket), {job_id: deadline})
    pipe.hset(k.job(job_id, "acts"), mapping=bodies)
    if state.routine_states:
        pipe.hset(k.job(job_id, "rs"), mapping={r: codec.packb(v) for r, v in state.routine_states.items()})
        failed = [r for r, v in state.routine_states.items() if v.get("status") in ("failed", "error")]
        if failed:
            pipe.sadd(k.job(job_id, "failedrs"), *failed)
    if state.shared_data:
        pipe.hset(k.job(job_id, "sd"), mapping={str(x): codec.packb(v) for x, v in state.shared_data.items()})
    for part, entries in (("sl", state.shared_log), ("out", state.output_log), ("de", state.deferred_events)):
        if entries:
            pipe.rpush(k.job(job_id, part), *(codec.packb(e) for e in entries))
    buffers = {slot_field(r, s): codec.packb(b) for r, slots in state.slot_buffers.items() for s, b in slots.items()}
    if buffers:
        pipe.hset(k.job(job_id, "sb"), mapping=buffers)
    history = [[r.routine_id, r.event_name, r.data, r.timestamp] for r in state.execution_history]
    kids = [x for pair in bodies.items() for x in pair]
    runs = {f[5:]: int(v) for f, v in meta.items() if f.startswith("runs:")}
    pipe.xadd(k.job(job_id, "log"), {"kind": "delta", "act": "fork", "h": codec.packb(history) if history else "",
                                     "ops": msgpack.packb(state_ops(state)), "kids": msgpack.packb(kids),
                                     "runs": codec.packb(runs)})
    pipe.zadd(k.due(bucket), {f"{job_id}|{a}": (held or {}).get(a, score) for a in bodies})
    if held:
        pipe.hset(k.job(job_id, "tries"), mapping={a: 0 for a in held})  # waiting on a timer, not the queue
    pipe.zadd(k.jobs(bucket), {job_id: now_ms})
    pipe.execute()
    return str(score)


def fork_job(runtime: ForkingRuntime, job_id: str, position: str | None = None) -> str:
    """Start a new job continuing ``job_id`` from after stream entry ``position``; returns its id.

    Raises:
        JobNotFoundError: no such job.
        FlowError: ``position`` is not in the job's history, or nothing was left to run there.
        BrokerUnavailableError: the broker did not take the new job's activations; it was withdrawn.
    """
    store = runtime.store
    runtime._check_layout()
    replay = replay_job(store, job_id, position)
    if not replay.outstanding:
        raise FlowError(f"nothing was left to run in job {job_id} after {replay.position}; there is nothing to fork")
    meta = store.meta(job_id)
    new_id = str(uuid.uuid4())
    envelopes = {}
    for act_id, body in replay.outstanding.items():
        # Checked with this producer's keys, then signed again by it for the new job.
        envelope = open_body(body, runtime.keyring, store.limits)
        envelope["job"] = new_id
        envelope["attempt"] = 0
        envelopes[act_id] = envelope
    bodies = {act_id: seal(envelope, runtime.keyring) for act_id, envelope in envelopes.items()}
    held, waits = held_activations(envelopes, store.now_ms())
    fields = {"status": "running", "flow_id": meta.get("flow_id", ""), "flow_hash": meta.get("flow_hash", ""),
              "current_routine_id": meta.get("current_routine_id", ""), "created_at": datetime.now().isoformat(),
              "forked_from": job_id, "forked_at": replay.position, **store.retention_meta()}
    if meta.get("timeout_ms"):
        fields.update(timeout_ms=meta["timeout_ms"], timeout_s=meta.get("timeout_s", ""))
    # What the inherited routines had done at that point: the summary counts it as theirs.
    fields.update({f"runs:{rid}": n for rid, n in replay.runs.items()})
    fields.update({f"errors:{rid}": n for rid, n in replay.errors.items()})
    fields.update(waits)
    lane = Lane.of_meta(meta)  # the job's lane (the envelopes, copied, carry it too)
    fields.update(lane.meta_fields())
    score = _write_job(store, new_id, fields, replay.state, bodies, held)
    runtime._send_new_job(new_id, [(f"{new_id}|{a}", body) for a, body in bodies.items() if a not in held], score,
                          **lane.route)
    return new_id
