"""Flow <-> plain data. The wire format stays compatible with upstream Routilux.

Routine classes are recreated through the registry (never by importing a module
named in the data) with their no-argument constructors; connections are rebuilt
between the exact routine ids they were made between.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from routilux import registry
from routilux.error_handler import ErrorHandler
from routilux.errors import NotConstructibleError, SerializationError
from routilux.job_state import FORMAT_VERSION, check_format

if TYPE_CHECKING:
    from routilux.flow import Flow
    from routilux.routine import Routine

_PLAIN = (str, int, float, bool, type(None))


def required_init_params(cls: type) -> list[str]:
    """Return the names of constructor parameters that have no default."""
    try:
        params = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in list(params)[1:]
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def check_plain(value: Any, where: str) -> None:
    """Raise SerializationError unless ``value`` is JSON-able plain data (names the path)."""
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(f"{where} has a non-string key {key!r}; keys must be strings")
            check_plain(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_plain(item, f"{where}[{index}]")
        return
    raise SerializationError(f"{where} holds a {type(value).__name__}, which is not JSON-serializable")


def routine_to_dict(routine_id: str, routine: Routine) -> dict[str, Any]:
    """Serialize one routine, checking it can be rebuilt from the data."""
    missing = required_init_params(type(routine))
    if missing:
        raise NotConstructibleError(
            f"In field 'routines[\"{routine_id}\"]' of Flow: Found non-constructable class "
            f"{type(routine).__name__}: its constructor requires parameters: {', '.join(missing)}. "
            "Routines need a no-argument constructor; put settings in set_config()."
        )
    data = routine.serialize()
    for name in ("_config", "_stats", *data.get("_serializable_fields", ())):
        check_plain(data.get(name), f"routines[{routine_id!r}].{name}")
    return data


def flow_to_dict(flow: Flow) -> dict[str, Any]:
    """Serialize a flow's structure (never its executions)."""
    return {
        "_type": "Flow",
        "format_version": FORMAT_VERSION,
        "flow_id": flow.flow_id,
        "_paused": False,
        "execution_strategy": flow.execution_strategy,
        "max_workers": flow.max_workers,
        "execution_timeout": flow.execution_timeout,
        "error_handler": flow.error_handler.serialize() if flow.error_handler else None,
        "routines": {rid: routine_to_dict(rid, r) for rid, r in flow.routines.items()},
        "connections": [c.serialize() for c in flow.connections if c.is_linked],
    }


def flow_from_dict(flow: Flow, data: dict[str, Any]) -> None:
    """Fill ``flow`` from :func:`flow_to_dict` output, replacing its routines and connections.

    Raises:
        FormatVersionError: not Flow data, or from a newer format.
        UnknownRoutineClassError / AmbiguousClassError: a routine class cannot be found.
        SerializationError: a connection names a routine, event or slot the data lacks.
    """
    check_format(data, "Flow")
    flow._clear_structure()
    flow.flow_id = data.get("flow_id") or flow.flow_id
    strategy = data.get("execution_strategy", "sequential")
    flow.set_execution_strategy(strategy, data.get("max_workers"))
    if "execution_timeout" in data:
        flow.execution_timeout = data["execution_timeout"]
    handler = data.get("error_handler")
    flow.error_handler = ErrorHandler.from_dict(handler) if handler else None
    for rid, rdata in (data.get("routines") or {}).items():
        cls = registry.lookup(rdata.get("_type", ""), rdata.get("_class"))
        try:
            routine = cls()
        except TypeError as exc:
            raise NotConstructibleError(f"cannot construct {cls.__name__} for routine {rid!r}: {exc}") from exc
        routine.deserialize(rdata)
        flow.add_routine(routine, rid)
    for index, cdata in enumerate(data.get("connections") or []):
        src, tgt = _connection_ends(flow, cdata)
        event, slot = cdata.get("_source_event_name"), cdata.get("_target_slot_name")
        where = f"connections[{index}] ({src}.{event} -> {tgt}.{slot})"
        for rid in (src, tgt):
            if rid not in flow.routines:
                raise SerializationError(f"{where} names routine {rid!r}, which the data does not hold")
        if flow.routines[src].get_event(event or "") is None:
            raise SerializationError(f"{where}: routine {src!r} has no event {event!r}")
        if flow.routines[tgt].get_slot(slot or "") is None:
            raise SerializationError(f"{where}: routine {tgt!r} has no slot {slot!r}")
        flow.connect(src, event, tgt, slot, cdata.get("param_mapping") or None)
    if data.get("job_state"):
        # Written by serialize(include_execution_state=True): track it, so resume() can continue it.
        from routilux.job_state import JobState

        job_state = JobState.from_dict(dict(data["job_state"]))
        flow._active_executions[job_state.job_id] = job_state
        flow._latest = job_state


def _connection_ends(flow: Flow, cdata: dict[str, Any]) -> tuple[str, str]:
    """Return the routine ids of a serialized connection (older data names only event and slot)."""
    src, tgt = cdata.get("_source_routine_id"), cdata.get("_target_routine_id")
    if src and tgt:
        return src, tgt
    sources = [rid for rid, r in flow.routines.items() if cdata.get("_source_event_name") in r._events]
    targets = [rid for rid, r in flow.routines.items() if cdata.get("_target_slot_name") in r._slots]
    if len(sources) != 1 or len(targets) != 1:
        raise SerializationError(
            f"connection {cdata.get('_source_event_name')!r} -> {cdata.get('_target_slot_name')!r} "
            "names no routine ids and its event or slot name is not unique in the flow"
        )
    return sources[0], targets[0]
