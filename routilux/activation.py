"""Activations: one delivery of data to one slot of one routine in one job.

Ids are deterministic: a child's id derives from its parent's id, the event,
the target and its position among the parent's emits. A parent that runs again
(after a crash, or on a retry) produces the same child ids, so a store that
refuses a second commit of an id applies each effect once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

from routilux.connection import apply_mapping

Target = tuple[str, str, "dict[str, str] | None"]
_ID_HASH = hashlib.blake2b(digest_size=12)
"""Copied for each child id: cheaper than setting up a hash with its parameters every time."""


def child_id(parent_id: str, event: str, target: str, slot: str, seq: int) -> str:
    """Return the deterministic id of the ``seq``-th activation a parent emits."""
    digest = _ID_HASH.copy()
    digest.update(f"{parent_id}\x1f{event}\x1f{target}\x1f{slot}\x1f{seq}".encode())
    return digest.hexdigest()


TIMER_SLOT = "__timer__"
"""The slot name of a durable timer's activation: when it runs, its routine emits the timer's event."""

WAIT_SLOT = "__wait__"
"""The slot name of a wait's timeout activation: when it runs, the wait closes and its timeout event goes out."""

INTERNAL_SLOTS = frozenset({TIMER_SLOT, WAIT_SLOT})
"""Slots of the engine's own activations: they run no handler, so no routine limit applies to them."""


def post_activation_id(post_id: str) -> str:
    """Return the activation id of the post ``post_id`` (the same post id always makes the same activation)."""
    return f"post:{post_id}"


def root_id(job_id: str, tag: str = "root") -> str:
    """Return the id of a job's entry activation (or another job-level activation)."""
    return hashlib.blake2b(f"{job_id}\x1f{tag}".encode(), digest_size=12).hexdigest()


class Activation:
    """Data delivered to ``routine_id``'s ``slot`` in job ``job_id``.

    ``attempt`` counts failed attempts so far (0 on first delivery);
    ``not_before`` is a Unix time before which a retry must not run.
    """

    __slots__ = ("job_id", "activation_id", "routine_id", "slot", "payload", "attempt", "source", "not_before")

    def __init__(
        self,
        job_id: str,
        activation_id: str,
        routine_id: str,
        slot: str,
        payload: dict[str, Any],
        attempt: int = 0,
        source: tuple[str, str] | None = None,
        not_before: float = 0.0,
    ) -> None:
        self.job_id = job_id
        self.activation_id = activation_id
        self.routine_id = routine_id
        self.slot = slot
        self.payload = payload
        self.attempt = attempt
        self.source = source
        self.not_before = not_before

    def to_dict(self) -> dict[str, Any]:
        """Return plain data; also carries upstream's pending-task keys for readers of saved states."""
        src_rid, src_event = self.source or (None, None)
        return {
            "activation_id": self.activation_id,
            "job_id": self.job_id,
            "slot_routine_id": self.routine_id,
            "slot_name": self.slot,
            "data": self.payload,
            "connection_source_routine_id": src_rid,
            "connection_source_event_name": src_event,
            "connection_target_routine_id": self.routine_id,
            "connection_target_slot_name": self.slot,
            "retry_count": self.attempt,
            "not_before": self.not_before,
            "created_at": datetime.now().isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Activation:
        """Rebuild an activation from :meth:`to_dict` output."""
        src = data.get("connection_source_routine_id")
        return cls(
            job_id=data["job_id"],
            activation_id=data["activation_id"],
            routine_id=data["slot_routine_id"],
            slot=data["slot_name"],
            payload=dict(data.get("data") or {}),
            attempt=int(data.get("retry_count", 0)),
            source=(src, data.get("connection_source_event_name")) if src else None,
            not_before=float(data.get("not_before", 0.0)),
        )

    def retried(self, not_before: float) -> Activation:
        """Return the next attempt of this activation."""
        return Activation(
            self.job_id, self.activation_id, self.routine_id, self.slot, self.payload,
            self.attempt + 1, self.source, not_before,
        )

    def __repr__(self) -> str:
        return f"Activation({self.routine_id}.{self.slot} id={self.activation_id} attempt={self.attempt})"


def route_emit(
    job_id: str, parent_id: str, routine_id: str, event: str, data: dict[str, Any], targets: Sequence[Target], seq: int
) -> list[Activation]:
    """Turn one emit into an activation per connected slot; ``seq`` numbers the parent's children so far."""
    single = len(targets) == 1
    source = (routine_id, event)  # immutable: one tuple for every child of the emit
    children = []
    for target, slot, mapping in targets:
        payload = apply_mapping(mapping, data) if mapping else (data if single else dict(data))
        digest = _ID_HASH.copy()  # child_id's, inline: a call fewer per delivery
        digest.update(f"{parent_id}\x1f{event}\x1f{target}\x1f{slot}\x1f{seq}".encode())
        children.append(Activation(job_id, digest.hexdigest(), target, slot, payload, 0, source))
        seq += 1
    return children


def deferred_activations(
    job_id: str, pause_count: int, deferred: Iterable[dict[str, Any]], targets_of: Callable[[str, str], Sequence[Target]]
) -> list[Activation]:
    """Activations of a paused job's deferred events, emitted on resume (ids fixed by the pause count)."""
    parent = root_id(job_id, f"deferred-{pause_count}")
    children: list[Activation] = []
    for entry in deferred:
        rid, event = entry["routine_id"], entry["event_name"]
        data = dict(entry.get("data") or {})
        children += route_emit(job_id, parent, rid, event, data, targets_of(rid, event), len(children))
    return children
