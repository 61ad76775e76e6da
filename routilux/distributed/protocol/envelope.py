"""Activation envelopes: what a task message and the store carry for one activation.

An envelope is a plain dict, versioned, encoded with Routilux's msgpack codec
and, with signing keys, signed (:mod:`signing`): :func:`seal` makes the body that
is both stored in Redis and sent as the task's one argument, :func:`open_body`
checks the signature, then decodes under the size and shape limits. A message
that is not a well-formed envelope raises MalformedMessageError (SignatureError
for a signature problem) and goes to the dead-letter stream; it never crashes a
worker.
"""

from __future__ import annotations

from typing import Any

from routilux import codec
from routilux.activation import Activation
from routilux.distributed.protocol.priority import carried
from routilux.distributed.protocol.signing import NO_KEYS, Keyring
from routilux.errors import DecodeError, MalformedMessageError
from routilux.bounds import DEFAULT_LIMITS, Limits

VERSION = 1
_REQUIRED = {"job": str, "id": str, "flow": str, "routine": str, "slot": str, "payload": dict}


def to_envelope(act: Activation, flow_hash: str, cause: dict[str, Any] | None = None,
                trace: dict[str, str] | None = None, job_key: str = "", priority: int | None = None,
                tenant: str | None = None) -> dict[str, Any]:
    """Return the envelope of an activation of the flow published as ``flow_hash``.

    ``cause`` is the slice of the parent's JobState delta that produced it (the
    parent activation and the routine-state and shared-data changes it committed);
    ``trace`` is the job's trace context (W3C headers, see tracing.py), kept as ``tc``;
    ``job_key`` the job's concurrency key (``submit(concurrency_key=...)``), kept as ``ck``.
    ``priority`` the job's priority, kept as ``pr`` unless it is the default (see priority.py);
    ``tenant`` the job's tenant, kept as ``tn`` if it has one (see tenants.py).
    """
    envelope = {
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
    if trace:
        envelope["tc"] = trace
    if job_key:
        envelope["ck"] = job_key
    if carried(priority) is not None:
        envelope["pr"] = priority
    if tenant is not None:
        envelope["tn"] = tenant
    return envelope


def job_key_of(envelope: dict[str, Any]) -> str:
    """The job concurrency key an envelope carries ("" for none, or one that is not text)."""
    key = envelope.get("ck")
    return key if isinstance(key, str) else ""


def from_envelope(envelope: Any) -> tuple[Activation, str]:
    """Validate an envelope and return (activation, flow hash).

    Raises:
        MalformedMessageError: it is not a Routilux activation envelope.
    """
    if isinstance(envelope, (bytes, bytearray)):
        envelope = open_body(envelope)
    if not isinstance(envelope, dict):
        raise MalformedMessageError(f"activation body is a {type(envelope).__name__}, not a map")
    version = envelope.get("v")
    if version != VERSION:
        raise MalformedMessageError(f"activation envelope version {version!r} is not {VERSION}")
    for key, kind in _REQUIRED.items():
        if not isinstance(envelope.get(key), kind):
            raise MalformedMessageError(f"activation envelope field {key!r} is missing or not a {kind.__name__}")
    if not all(isinstance(k, str) for k in envelope["payload"]):
        raise MalformedMessageError("activation payload has a key that is not a string")
    source = envelope.get("source")
    try:
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
    except (TypeError, ValueError, OverflowError) as exc:
        raise MalformedMessageError(f"activation envelope has a malformed field: {exc}") from exc
    return act, envelope["flow"]


def seal(envelope: dict[str, Any], keyring: Keyring = NO_KEYS) -> bytes:
    """Encode an envelope and sign it with the keyring's signing key (if it has one)."""
    return keyring.seal(codec.packb(envelope))


def open_body(body: Any, keyring: Keyring = NO_KEYS, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Check a body's signature, then decode it under ``limits``; returns the envelope (not yet validated).

    A worker with keys refuses an unsigned or badly signed body before decoding
    any of it. A map (an unsigned envelope kombu already decoded) is returned as it is.

    Raises:
        SignatureError: the keyring has keys and the body is not signed by one of them.
        MalformedMessageError: the body is not Routilux msgpack, or is over a limit.
    """
    body = keyring.open(body)
    if not isinstance(body, (bytes, bytearray)):
        return body
    try:
        return codec.unpackb(bytes(body), limits)
    except DecodeError as exc:
        raise MalformedMessageError(f"activation body is not Routilux msgpack within the limits: {exc}") from exc
