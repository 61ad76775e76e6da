"""A flow's shape as plain data: routines (class, slots, events, config) and connections.

Built from a flow's serialized form (``Flow.serialize()``, or a published flow),
so it needs none of the routine classes: an operator's terminal or a web console
can describe a flow that only the workers can run.
"""

from __future__ import annotations

from typing import Any

from routilux.errors import SerializationError


def describe_flow(data: dict[str, Any]) -> dict[str, Any]:
    """Return ``{"flow_id", "routines": {id: {...}}, "connections": [...]}`` for a serialized flow.

    Each routine: ``{"class", "slots": [{"name", "merge_strategy"}], "events":
    [{"name", "params"}], "config"}``; each connection: ``{"from": "a.event",
    "to": "b.slot", "param_mapping": {...} or None}``.

    Raises:
        SerializationError: ``data`` is not a serialized flow.
    """
    if not isinstance(data, dict) or not isinstance(data.get("routines"), dict):
        raise SerializationError("not a serialized flow: it has no 'routines' mapping")
    routines = {str(rid): _routine(r) for rid, r in data["routines"].items()}
    connections = [_connection(c) for c in data.get("connections") or []]
    return {"flow_id": data.get("flow_id"), "routines": routines, "connections": connections}


def _routine(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise SerializationError("not a serialized flow: a routine is not a mapping")
    slots = [{"name": str(name), "merge_strategy": (s or {}).get("merge_strategy", "override")}
             for name, s in (data.get("_slots") or {}).items()]
    events = [{"name": str(name), "params": list((e or {}).get("output_params") or [])}
              for name, e in (data.get("_events") or {}).items()]
    return {"class": data.get("_class") or data.get("_type"), "slots": slots, "events": events,
            "config": data.get("_config") or {}}


def _connection(data: Any) -> dict[str, Any]:
    try:
        source = f"{data['_source_routine_id']}.{data['_source_event_name']}"
        target = f"{data['_target_routine_id']}.{data['_target_slot_name']}"
    except (KeyError, TypeError) as exc:
        raise SerializationError(f"not a serialized flow: a connection lacks {exc}") from exc
    return {"from": source, "to": target, "param_mapping": data.get("param_mapping") or None}
