"""Turn a step's result into the arguments of the commit script (lua/commit.lua).

Values are encoded here, one msgpack blob each; the script only moves blobs.
"""

from __future__ import annotations

import time
from typing import Any

from routilux import codec
from routilux.distributed.protocol.args import CommitArgs
from routilux.distributed.protocol.envelope import seal, to_envelope
from routilux.distributed.protocol.keys import slot_field
from routilux.distributed.protocol.signing import NO_KEYS, Keyring
from routilux.ops import VALUE_OPS, Op
from routilux.step import StepResult
from routilux.txn import StepTxn

Flat = tuple[str, str, Any, str]
_VALUE_KINDS = frozenset({Op.SD, Op.SI, Op.SA})       # (kind, key, value)
_ENTRY_KINDS = frozenset({Op.SL, Op.OUT, Op.DE})      # (kind, entry): appended to a list


def cause_of(result: StepResult) -> dict[str, Any]:
    """The slice of a step's delta its children carry: parent id and state changes."""
    changes = [[str(op[0]), op[1], op[2]] for op in result.ops if op[0] in VALUE_OPS]
    return {"parent": result.activation.activation_id, "routine": result.activation.routine_id, "delta": changes}


def _flat_op(op: tuple[Any, ...]) -> Flat | None:
    """One op as the commit script's (kind, a, b, c); None for ops it does not take.

    ``str()`` of an op, an :class:`Op` or its code, is the plain code.
    """
    kind = op[0]
    if kind == Op.RS:
        return str(kind), op[1], codec.packb(op[2]), str(op[2].get("status", ""))
    if kind in _VALUE_KINDS:
        return str(kind), str(op[1]), codec.packb(op[2]), ""
    if kind in _ENTRY_KINDS:
        return str(kind), "", codec.packb(op[1]), ""
    if kind == Op.SB:
        return str(kind), slot_field(op[1], op[2]), codec.packb(op[3]), ""
    return None


def _held_op(op: tuple[Any, ...]) -> Flat:
    """A timer's or a wait's op as the commit script takes it: TM (id, ms), WO and WC (slot field, wait id)."""
    if op[0] == Op.TM:
        delay_ms = max(0, int(op[2] * 1000))
        return str(op[0]), op[1], codec.packb(delay_ms), str(delay_ms)
    return str(op[0]), slot_field(op[1], op[2]), codec.packb(op[3]), op[3]


def encode_ops(ops: list[tuple[Any, ...]]) -> tuple[tuple[Flat, ...], bytes | str]:
    """Return (the ops as the commit script takes them, history blob) of a step's ops."""
    flat: list[Flat] = []
    history: list[list[Any]] = []
    for op in ops:
        if op[0] == Op.H:
            history.append([op[1], op[2], op[3], op[4]])
            continue
        encoded = _flat_op(op)
        if encoded is not None:
            flat.append(encoded)
    return tuple(flat), (codec.packb(history) if history else "")


def encode_reads(txn: StepTxn | None) -> tuple[tuple[str, int], ...]:
    """Return (version field, version seen) per read of the step, for the commit script."""
    if txn is None:
        return ()
    reads = [(f"{part}:{key}", version) for (part, key), version in txn.reads.items()]
    reads += [(f"*{part}", version) for part, version in txn.reads_all.items()]
    return tuple(reads)


def commit_args(
    result: StepResult, token: str, flow_hash: str, lock_key: str, grace_ms: int, inline_id: str = "",
    lease_ms: int = 0, keyring: Keyring = NO_KEYS, step_ms: int = 0, trace: dict[str, str] | None = None,
    job_key: str = "", priority: int | None = None, tenant: str | None = None,
) -> tuple[CommitArgs, dict[str, bytes]]:
    """Return (the commit script's arguments, child bodies by id) for committing ``result`` under ``token``.

    ``inline_id`` names a child the committing worker will run itself next;
    child and retry bodies are signed with ``keyring``'s signing key and carry the
    job's ``trace`` context, concurrency key (``job_key``), ``priority`` and ``tenant``; ``step_ms`` is the time
    from the handler's start to this commit.
    """
    ops, history = encode_ops(result.ops)
    ops += tuple(_held_op(op) for op in result.held)
    act = result.activation
    children: dict[str, bytes] = {}
    if result.children or result.timers:
        cause = cause_of(result)
        children = {c.activation_id: seal(to_envelope(c, flow_hash, cause, trace, job_key, priority, tenant), keyring)
                    for c in (*result.children, *result.timers)}
    outcome = result.action if result.action in ("retry", "fail") else "ok"
    retry_body: bytes | str = ""
    retry_ms = 0
    if outcome == "retry":
        retry_ms = int(result.delay_s * 1000)
        retried = act.retried(time.time() + result.delay_s)
        retry_body = seal(to_envelope(retried, flow_hash, None, trace, job_key, priority, tenant), keyring)
    args = CommitArgs(
        act.job_id, act.activation_id, token, outcome, lock_key, grace_ms, retry_ms, retry_body, result.reason or "",
        history, inline_id, lease_ms, act.routine_id, act.slot, "1" if result.error is not None else "", step_ms,
        encode_reads(result.txn), ops, tuple(children.items()),
    )
    return args, children
