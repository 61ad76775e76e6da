"""Where a flow's events go, worked out once per change of wiring instead of on every emit.

An event reaches the slots its flow connected it to (``Flow.connect``, from the
routine id the connection was made for) and the slots linked to it directly
(``event.connect(slot)``, under their own routine's id). Working that out
walks the connections; a step asks for every emit. :func:`route` keeps the
answer per (routine id, event) in the flow and checks on each use that the routine is the
same object, that nothing was rewired in this process since
(:class:`~routilux.event.Wiring`), and that the event's slot list is unchanged
(it is a public list: code may change it by hand).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from routilux.activation import Target
from routilux.connection import Connection
from routilux.event import Event, Wiring


class WiredFlow(Protocol):
    """What routing reads of a Flow (this module sits below routilux.flow)."""

    routines: dict[str, Any]
    _routes: dict[tuple[str, str], list[Connection]]
    _wired_by_flow: dict[int, set[int]]
    _route_cache: dict[tuple[str, str], Route]

    def routine_id_of(self, routine: Any) -> str | None:
        """The id under which ``routine`` was added, or None."""


class Route(NamedTuple):
    """Where one event of a flow goes, as worked out at one version of the wiring."""

    routine: Any
    event: Event | None
    version: int
    linked: list[Any]
    targets: tuple[Target, ...]
    """(routine id, slot name, param mapping or None) per slot reached."""
    ids: tuple[str, ...]
    """The routine ids of ``targets``."""


NOWHERE = Route(None, None, -1, [], (), ())


def route(flow: WiredFlow, routine_id: str, event_name: str) -> Route:
    """Where ``routine_id``'s event goes in ``flow`` now (kept in ``flow._route_cache`` while it holds)."""
    routine = flow.routines.get(routine_id)
    cached = flow._route_cache.get((routine_id, event_name))
    if (cached is not None and cached.routine is routine and cached.version == Wiring.version
            and cached.linked == cached.event.connected_slots):
        return cached
    event = routine._events.get(event_name) if routine is not None else None
    if event is None or not event.connected_slots:
        return NOWHERE
    version = Wiring.version  # read first: a change while this runs leaves the entry stale, not wrong
    linked = list(event.connected_slots)
    targets = live_targets(flow, routine_id, event_name, event, linked)
    cached = Route(routine, event, version, linked, targets, tuple([t[0] for t in targets]))
    flow._route_cache[(routine_id, event_name)] = cached
    return cached


def live_targets(
    flow: WiredFlow, routine_id: str, event_name: str, event: Event, linked: list[Any]
) -> tuple[Target, ...]:
    """Walk ``flow``'s wiring: the slots in ``linked`` that ``routine_id``'s ``event_name`` reaches."""
    linked_ids = {id(slot) for slot in linked}  # by identity, as the event links them
    out = [
        (c.target_routine_id, c.target_slot.name, c.param_mapping or None)
        for c in flow._routes.get((routine_id, event_name), ())
        if id(c.target_slot) in linked_ids
    ]
    by_flow = flow._wired_by_flow.get(id(event), ())
    for slot in linked:
        if id(slot) not in by_flow and slot.routine is not None:
            target_id = flow.routine_id_of(slot.routine)
            if target_id is not None:
                out.append((target_id, slot.name, None))
    return tuple(out)
