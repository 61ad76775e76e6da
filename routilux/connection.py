"""Connections: an event of one routine wired to a slot of another, with parameter mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routilux.event import Event, wiring_changed

if TYPE_CHECKING:
    from routilux.slot import Slot


def apply_mapping(mapping: dict[str, str] | None, data: dict[str, Any]) -> dict[str, Any]:
    """Rename mapped keys (``{"source": "target"}``); other keys pass through unchanged."""
    if not mapping:
        return data
    out = {k: v for k, v in data.items() if k not in mapping}
    for src, dst in mapping.items():
        if src in data:
            out[dst] = data[src]
    return out


class Connection:
    """A link from ``source_event`` to ``target_slot``.

    In a flow it also knows the routine ids at both ends, which is what its
    serialized form records, so a round trip rewires exactly the same routines.
    """

    def __init__(
        self,
        source_event: Event | None = None,
        target_slot: Slot | None = None,
        param_mapping: dict[str, str] | None = None,
        source_routine_id: str | None = None,
        target_routine_id: str | None = None,
    ) -> None:
        self.source_event = source_event
        self.target_slot = target_slot
        self.param_mapping = dict(param_mapping or {})
        self.source_routine_id = source_routine_id
        self.target_routine_id = target_routine_id
        self._source_event_name = getattr(source_event, "name", None)
        self._target_slot_name = getattr(target_slot, "name", None)
        if source_event is not None and target_slot is not None:
            source_event.connect(target_slot, self.param_mapping)

    @property
    def param_mapping(self) -> dict[str, str]:
        """Source parameter name -> target parameter name (unmapped names pass through)."""
        return self._param_mapping

    @param_mapping.setter
    def param_mapping(self, mapping: dict[str, str]) -> None:
        self._param_mapping = mapping
        wiring_changed()

    def map(self, data: dict[str, Any]) -> dict[str, Any]:
        """Return ``data`` with this connection's parameter mapping applied."""
        return apply_mapping(self.param_mapping, data)

    def activate(self, data: dict[str, Any]) -> None:
        """Deliver ``data`` (mapped) straight to the target slot, outside the engines."""
        if self.target_slot is not None:
            self.target_slot.receive(self.map(data))

    def disconnect(self) -> None:
        """Unlink the event and the slot."""
        if self.source_event is not None and self.target_slot is not None:
            self.source_event.disconnect(self.target_slot)

    @property
    def is_linked(self) -> bool:
        """True while the event and the slot are linked (until :meth:`disconnect`)."""
        event, slot = self.source_event, self.target_slot
        return event is not None and slot is not None and any(s is slot for s in event.connected_slots)

    def serialize(self) -> dict[str, Any]:
        """Return the connection as plain data, naming both routines by their flow ids."""
        return {
            "_type": "Connection",
            "param_mapping": dict(self.param_mapping),
            "_source_routine_id": self.source_routine_id,
            "_source_event_name": self.source_event.name if self.source_event else self._source_event_name,
            "_target_routine_id": self.target_routine_id,
            "_target_slot_name": self.target_slot.name if self.target_slot else self._target_slot_name,
        }

    def deserialize(self, data: dict[str, Any]) -> Connection:
        """Fill this connection from :meth:`serialize` output; returns self.

        Data holds names, not objects: the event and slot are attached by whoever
        owns the routines (``Flow.deserialize`` rewires them by routine id).
        """
        self.param_mapping = dict(data.get("param_mapping") or {})
        self.source_routine_id = data.get("_source_routine_id")
        self.target_routine_id = data.get("_target_routine_id")
        self._source_event_name = data.get("_source_event_name")
        self._target_slot_name = data.get("_target_slot_name")
        return self

    def __repr__(self) -> str:
        return (
            f"Connection({self.source_routine_id}.{getattr(self.source_event, 'name', self._source_event_name)} -> "
            f"{self.target_routine_id}.{getattr(self.target_slot, 'name', self._target_slot_name)})"
        )
