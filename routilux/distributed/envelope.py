"""Activation envelopes: what a task message and the store carry for one activation.

An envelope is a plain dict, versioned, encoded with Routilux's msgpack codec.
A message that is not a well-formed envelope raises MalformedMessageError and
goes to the dead-letter stream; it never crashes a worker.
"""

from __future__ import annotations

from typing import Any

from routilux import codec
from routilux.activation import Activation
from routilux.errors import DecodeError, MalformedMessageError

VERSION = 1
_REQUIRED = {"job": str, "id": str, "flow": str, "routine": str, "slot": str, "payload": dict}


def to_envelope(act: Activation, flow_hash: str, cause: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the envelope of an activation of the flow published as ``flow_hash``.

    ``cause`` is the slice of the parent's JobState delta that produced it (the
    parent activation and the routine-state and shared-data changes it committed).
    """
    return {
        "v": VERSION,
        "job": act.job_id,
        "id": act.activation_id,
        "flow": flow_hash,
        "routine": act.routine_id,
        "slot": act.slot,
        "payload": act.payload,
        "attempt": act.attempt,
        "source": list(act.source) if act.source else None,
        "not_before": act.not_before,
        "cause": cause or {},
    }


def from_envelope(envelope: Any) -> tuple[Activation, str]:
    """Validate an envelope and return (activation, flow hash).

    Raises:
        MalformedMessageError: it is not a Routilux activation envelope.
    """
    if isinstance(envelope, (bytes, bytearray)):
        try:
            envelope = codec.unpackb(bytes(envelope))
        except DecodeError as exc:
            raise MalformedMessageError(f"activation body is not Routilux msgpack: {exc}") from exc
    if not isinstance(envelope, dict):
        raise MalformedMessageError(f"activation body is a {type(envelope).__name__}, not a map")
    version = envelope.get("v")
    if version != VERSION:
        raise MalformedMessageError(f"activation envelope version {version!r} is not {VERSION}")
    for key, kind in _REQUIRED.items():
        if not isinstance(envelope.get(key), kind):
            raise MalformedMessageError(f"activation envelope field {key!r} is missing or not a {kind.__name__}")
    source = envelope.get("source")
    act = Activation(
        envelope["job"],
        envelope["id"],
        envelope["routine"],
        envelope["slot"],
        envelope["payload"],
        int(envelope.get("attempt") or 0),
        (source[0], source[1]) if isinstance(source, (list, tuple)) and len(source) == 2 else None,
        float(envelope.get("not_before") or 0.0),
    )
    return act, envelope["flow"]


def pack(envelope: dict[str, Any]) -> bytes:
    """Encode an envelope for the store."""
    return codec.packb(envelope)
