"""Events: a routine's named outputs, delivered to every connected slot."""

from __future__ import annotations

from typing import Any

from routilux.protocols import EmitterLike, SlotLike


class Wiring:
    """Counts changes to how events reach slots in this process; a cache of routes compares it.

    Linking or unlinking an event and a slot, remapping a connection and
    adding a routine or a connection to a flow each call :func:`wiring_changed`.
    """

    version = 0


def wiring_changed() -> None:
    """Note that some event now reaches other slots (or the same ones differently)."""
    Wiring.version += 1


class Event:
    """A named output of a routine.

    Args:
        name: the event's name, unique within its routine.
        routine: the routine that owns it.
        output_params: names of the parameters it carries (documentation only).
    """

    def __init__(self, name: str = "", routine: EmitterLike | None = None, output_params: list[str] | None = None) -> None:
        self.name = name
        self.routine = routine
        self.output_params = list(output_params or [])
        self.connected_slots: list[SlotLike] = []

    def connect(self, slot: SlotLike, param_mapping: dict[str, str] | None = None) -> None:
        """Link this event and ``slot`` both ways (idempotent)."""
        slot.connect(self, param_mapping)

    def disconnect(self, slot: SlotLike) -> None:
        """Unlink this event and ``slot`` (safe to repeat)."""
        slot.disconnect(self)

    def emit(self, flow: Any = None, **kwargs: Any) -> None:
        """Emit through the owning routine (inside an execution), else deliver directly."""
        if self.routine is not None:
            self.routine.emit(self.name, **kwargs)
            return
        for slot in list(self.connected_slots):
            slot.receive(dict(kwargs))

    def serialize(self) -> dict[str, Any]:
        """Return the event as plain data."""
        return {"_type": "Event", "name": self.name, "output_params": list(self.output_params)}

    def __repr__(self) -> str:
        owner = getattr(self.routine, "_id", None)
        return f"Event[{owner}.{self.name}]"
