"""A flow's shape as plain data: routines (class, slots, events, config) and connections.

Built from a flow's serialized form (``Flow.serialize()``, or a published flow),
so it needs none of the routine classes: an operator's terminal or a web console
can describe a flow that only the workers can run. Only the parameters a slot's
handler takes come from its class, when this process imported it (the registry).
"""

from __future__ import annotations

import inspect
from typing import Any

from routilux import registry
from routilux.errors import RoutiluxError, SerializationError


def describe_flow(data: dict[str, Any]) -> dict[str, Any]:
    """Return ``{"flow_id", "routines": {id: {...}}, "connections": [...]}`` for a serialized flow.

    Each routine: ``{"class", "slots": [{"name", "merge_strategy", "params"}], "events":
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
    slots = [{"name": str(name), "merge_strategy": (s or {}).get("merge_strategy", "override"),
              "params": _handler_params(data, s)}
             for name, s in (data.get("_slots") or {}).items()]
    events = [{"name": str(name), "params": list((e or {}).get("output_params") or [])}
              for name, e in (data.get("_events") or {}).items()]
    return {"class": data.get("_class") or data.get("_type"), "slots": slots, "events": events,
            "config": data.get("_config") or {}}


def _handler_params(routine: dict[str, Any], slot: Any) -> dict[str, Any] | None:
    """``{"names": [...], "any": bool}``: the parameters a slot's handler takes (``any``: it takes ``**kwargs``
    too); None when this process has not imported the routine's class, or the handler is not its method."""
    handler = (slot or {}).get("handler") if isinstance(slot, dict) else None
    if not isinstance(handler, dict) or handler.get("callable_type") != "method":
        return None
    try:
        cls = registry.lookup(str(routine.get("_type") or ""), routine.get("_class"))
        params = list(inspect.signature(getattr(cls, str(handler.get("name")))).parameters.values())[1:]
    except (RoutiluxError, AttributeError, TypeError, ValueError):
        return None
    named = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return {"names": named, "any": any(p.kind is p.VAR_KEYWORD for p in params)}


def _connection(data: Any) -> dict[str, Any]:
    try:
        source = f"{data['_source_routine_id']}.{data['_source_event_name']}"
        target = f"{data['_target_routine_id']}.{data['_target_slot_name']}"
    except (KeyError, TypeError) as exc:
        raise SerializationError(f"not a serialized flow: a connection lacks {exc}") from exc
    return {"from": source, "to": target, "param_mapping": data.get("param_mapping") or None}
