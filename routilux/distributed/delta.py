"""Turn a step's result into the arguments of the commit script (lua/commit.lua).

Values are encoded here, one msgpack blob each; the script only moves blobs.
"""

from __future__ import annotations

import time
from typing import Any

from routilux import codec
from routilux.distributed.envelope import seal, to_envelope
from routilux.distributed.signing import NO_KEYS, Keyring
from routilux.distributed.keys import slot_field
from routilux.step import StepResult
from routilux.txn import StepTxn

def cause_of(result: StepResult) -> dict[str, Any]:
    """The slice of a step's delta its children carry: parent id and state changes."""
    changes = [[op[0], op[1], op[2]] for op in result.ops if op[0] in ("rs", "sd", "si", "sa")]
    return {"parent": result.activation.activation_id, "routine": result.activation.routine_id, "delta": changes}


def encode_ops(ops: list[tuple[Any, ...]]) -> tuple[list[Any], int, bytes | str]:
    """Return (flat op fields, op count, history blob) for the commit script."""
    flat: list[Any] = []
    history: list[list[Any]] = []
    count = 0
    for op in ops:
        kind = op[0]
        if kind == "h":
            history.append([op[1], op[2], op[3], op[4]])
            continue
        if kind == "rs":
            flat += ["rs", op[1], codec.packb(op[2]), str(op[2].get("status", ""))]
        elif kind in ("sd", "si", "sa"):
            flat += [kind, str(op[1]), codec.packb(op[2]), ""]
        elif kind in ("sl", "o", "de"):
            flat += [kind, "", codec.packb(op[1]), ""]
        elif kind == "sb":
            flat += ["sb", slot_field(op[1], op[2]), codec.packb(op[3]), ""]
        else:
            continue
        count += 1
    return flat, count, (codec.packb(history) if history else "")


def encode_reads(txn: StepTxn | None) -> list[Any]:
    """Return [count, then (version field, version) per read] for the commit script."""
    if txn is None:
        return [0]
    flat: list[Any] = []
    for (part, key), version in txn.reads.items():
        flat += [f"{part}:{key}", version]
    for part, version in txn.reads_all.items():
        flat += [f"*{part}", version]
    return [len(flat) // 2, *flat]


def commit_args(
    result: StepResult, flow_hash: str, lock_key: str, grace_ms: int, inline_id: str = "", lease_ms: int = 0,
    keyring: Keyring = NO_KEYS, step_ms: int = 0, trace: dict[str, str] | None = None, priority: int | None = None,
) -> tuple[list[Any], dict[str, bytes]]:
    """Return (ARGV from [4] on, child bodies by id) for committing ``result``.

    ``inline_id`` names a child the committing worker will run itself next;
    child and retry bodies are signed with ``keyring``'s signing key and carry the
    job's ``trace`` context and ``priority``; ``step_ms`` is the time from the handler's start to this commit.
    """
    flat, count, history = encode_ops(result.ops)
    children: dict[str, bytes] = {}
    if result.children:
        cause = cause_of(result)
        children = {c.activation_id: seal(to_envelope(c, flow_hash, cause, trace, priority), keyring) for c in result.children}
    outcome = result.action if result.action in ("retry", "fail") else "ok"
    retry_body: bytes | str = ""
    retry_ms = 0
    if outcome == "retry":
        retry_ms = int(result.delay_s * 1000)
        retry_body = seal(to_envelope(result.activation.retried(time.time() + result.delay_s), flow_hash, None, trace,
                                       priority), keyring)
    tail: list[Any] = [
        outcome, lock_key, grace_ms, retry_ms, retry_body, result.reason or "", history, count, inline_id, lease_ms,
        result.activation.routine_id, result.activation.slot, "1" if result.error is not None else "", step_ms,
        *encode_reads(result.txn), *flat,
    ]
    for child_id, body in children.items():
        tail += [child_id, body]
    return tail, children
