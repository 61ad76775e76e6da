"""Publishing flows by content hash, and loading them on workers (cached by hash)."""

from __future__ import annotations

import threading
import unicodedata
from collections import OrderedDict
from typing import Any

from routilux import codec, registry
from routilux.errors import FlowValidationError, RoutiluxError
from routilux.flow import Flow
from routilux.serialization import flow_from_dict
from routilux.slot import handler_params, handler_signature


MAX_FLOW_ID = 200
# Control, format (bidi overrides, zero-width joiners...), line/paragraph separators, surrogates, private use:
# characters that hide or reorder what an operator reads, or break a URL path and a log line.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co"})


def check_flow_id(flow_id: Any) -> str:
    """``flow_id`` if it can name a published flow: 1 to 200 characters, no ``/``, no control or bidi characters.

    The console's API checks flow ids with this too, so every published flow can be opened there.

    Raises:
        FlowValidationError: it cannot.
    """
    if not isinstance(flow_id, str) or not 0 < len(flow_id) <= MAX_FLOW_ID:
        raise FlowValidationError(f"a flow id must be a string of 1 to {MAX_FLOW_ID} characters")
    bad = next((c for c in flow_id if c == "/" or unicodedata.category(c) in HIDDEN_CATEGORIES), None)
    if bad is not None:
        raise FlowValidationError(f"flow id '{flow_id.encode('unicode_escape').decode()[:80]}' holds "
                                  f"U+{ord(bad):04X}: no '/', control or bidi characters in a flow id")
    return flow_id


def publishable(flow: Flow) -> dict[str, Any]:
    """Return the flow's structure without per-process ids, ready to hash and store.

    Raises the serialization errors of ``Flow.serialize`` and FlowValidationError (also for a flow
    id :func:`check_flow_id` refuses).
    """
    check_flow_id(flow.flow_id)
    flow.validate()
    data = flow.serialize()
    for routine in data["routines"].values():
        routine.pop("_id", None)
    return data


def entry_params(flow: Flow | str, routine_id: str, routine_data: dict[str, Any]) -> frozenset[str] | None:
    """The parameter names the entry routine's trigger handler takes, or None when it takes any or when
    this process cannot know (the routine's class was not imported here).

    From the Flow object when one is given, else from the published routine's class in the registry.
    """
    handler, unbound = _trigger_handler(flow, routine_id, routine_data)
    return handler_params(handler, unbound) if handler is not None else None


def entry_signature(routine_data: dict[str, Any]) -> dict[str, Any] | None:
    """A published entry routine's ``{"params": [names], "accepts_any": bool}``, or None when this process
    cannot know it (no trigger slot, or its class was not imported here)."""
    handler, unbound = _trigger_handler("", "", routine_data)
    signature = handler_signature(handler, unbound) if handler is not None else None
    return None if signature is None else {"params": signature[0], "accepts_any": signature[1]}


def _trigger_handler(flow: Flow | str, routine_id: str, routine_data: dict[str, Any]) -> tuple[Any, bool]:
    """The trigger slot's handler (bound, or a class's function: then True) or (None, False)."""
    if isinstance(flow, Flow):
        slot = flow.routines[routine_id].get_slot("trigger")
        return (slot.handler if slot is not None else None), False
    described = ((routine_data.get("_slots") or {}).get("trigger") or {}).get("handler") or {}
    if described.get("callable_type") != "method":
        return None, False
    try:
        cls = registry.lookup(str(routine_data.get("_type", "")), routine_data.get("_class"))
    except RoutiluxError:
        return None, False
    func = getattr(cls, str(described.get("name", "")), None)
    return (func, True) if callable(func) else (None, False)


def flow_hash(data: dict[str, Any]) -> str:
    """Content hash of a publishable flow structure."""
    return codec.content_hash(data)


def routes(data: dict[str, Any]) -> dict[tuple[str, str], list[tuple[str, str, dict[str, str] | None]]]:
    """Event routing of a flow structure, without instantiating its routines."""
    table: dict[tuple[str, str], list[tuple[str, str, dict[str, str] | None]]] = {}
    for conn in data.get("connections") or []:
        key = (conn["_source_routine_id"], conn["_source_event_name"])
        targets = table.setdefault(key, [])
        dst = (conn["_target_routine_id"], conn["_target_slot_name"])
        targets[:] = [t for t in targets if t[:2] != dst]
        targets.append((*dst, conn.get("param_mapping") or None))
    return table


class FlowCache:
    """Flows loaded from the store, by hash; a flow is rebuilt once per process."""

    def __init__(self, load: Any, size: int = 64, make_engine: Any = None) -> None:
        self._load = load
        self._size = size
        self._make_engine = make_engine
        self._flows: OrderedDict[str, Flow] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, flow_hash: str) -> Flow:
        """Return the flow published as ``flow_hash`` (raises if unknown or a class is missing)."""
        with self._lock:
            flow = self._flows.get(flow_hash)
            if flow is not None:
                self._flows.move_to_end(flow_hash)
                return flow
        flow = Flow()
        flow_from_dict(flow, self._load(flow_hash))
        if self._make_engine is not None:
            flow._engine = self._make_engine(flow)
        with self._lock:
            self._flows[flow_hash] = flow
            while len(self._flows) > self._size:
                self._flows.popitem(last=False)
        return flow
