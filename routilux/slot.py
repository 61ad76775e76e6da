"""Slots: a routine's named inputs, with a handler and a merge strategy.

Inside an execution a slot's buffer (``_data``) belongs to that execution's
JobState; outside one (a routine used on its own) it is kept on the slot.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any, Callable, Union

from routilux.context import current_step
from routilux.errors import EntryParamsError
from routilux.event import wiring_changed
from routilux.protocols import EmitterLike

if TYPE_CHECKING:
    from routilux.event import Event

log = logging.getLogger("routilux")

MergeStrategy = Union[str, Callable[[dict, dict], Any]]


def merge(strategy: MergeStrategy, old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge ``new`` data into a slot buffer.

    Returns:
        (the new buffer, the data the handler receives).
    """
    if strategy == "append":
        stored = dict(old)
        for key, value in new.items():
            prior = stored.get(key, _MISSING)
            if prior is _MISSING:
                stored[key] = [value]
            elif isinstance(prior, list):
                stored[key] = [*prior, value]
            else:
                stored[key] = [prior, value]
        return stored, {key: stored[key] for key in new}
    if callable(strategy):
        merged = strategy(dict(old), dict(new))
        return (dict(merged) if isinstance(merged, dict) else {}), merged
    return new, new


_MISSING = object()

# How a handler wants its data, worked out once per function.
_KWARGS, _DATA, _SINGLE, _MULTI, _NONE = range(5)
_dispatch_cache: dict[Any, tuple[int, Any]] = {}


def _plan(handler: Callable[..., Any]) -> tuple[int, Any]:
    func = getattr(handler, "__func__", handler)
    plan = _dispatch_cache.get(func)
    if plan is not None:
        return plan
    try:
        params = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        params = []
        plan = (_KWARGS, None)
    if any(p.kind is p.VAR_KEYWORD for p in params):
        plan = (_KWARGS, None)
    else:
        names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY, p.POSITIONAL_ONLY)]
        if not names:
            plan = (_NONE, None)
        elif len(names) == 1:
            plan = (_DATA, None) if names[0] == "data" else (_SINGLE, names[0])
        else:
            plan = (_MULTI, frozenset(names))
    _dispatch_cache[func] = plan
    return plan


def call_handler(handler: Callable[..., Any], data: Any) -> Any:
    """Call ``handler`` with ``data`` the way its signature asks for it."""
    plan = _dispatch_cache.get(getattr(handler, "__func__", handler))
    mode, arg = plan if plan is not None else _plan(handler)
    if not isinstance(data, dict):
        return handler(data) if mode != _NONE else handler()
    if mode == _KWARGS:
        return handler(**data)
    if mode == _DATA:
        return handler(data)
    if mode == _SINGLE:
        return handler(data[arg]) if arg in data else handler(data)
    if mode == _MULTI:
        matching = {k: v for k, v in data.items() if k in arg}
        return handler(**matching) if matching else handler(data)
    return handler()


def handler_signature(handler: Callable[..., Any], unbound: bool = False) -> tuple[list[str], bool] | None:
    """A handler's parameter names and whether it takes any other name too (``**kwargs``, or a lone ``data``
    that gets the whole dict); None when its signature cannot be read.

    ``unbound``: ``handler`` is a class's function, whose first parameter is the instance.
    """
    try:
        params = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        return None
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY, p.POSITIONAL_ONLY)]
    names = names[1:] if unbound else names
    return names, any(p.kind is p.VAR_KEYWORD for p in params) or names == ["data"]


def handler_params(handler: Callable[..., Any], unbound: bool = False) -> frozenset[str] | None:
    """The names a handler takes from a slot's data, or None when it takes any (see :func:`handler_signature`)."""
    signature = handler_signature(handler, unbound)
    return None if signature is None or signature[1] else frozenset(signature[0])


def check_entry_params(routine_id: str, accepted: frozenset[str] | None, params: dict[str, Any]) -> None:
    """Refuse entry parameters the entry handler does not take (nothing is refused when it takes any).

    Raises:
        EntryParamsError: a parameter's name is not one of ``accepted``.
    """
    unknown = sorted(str(k) for k in params if k not in accepted) if accepted is not None else []
    if unknown:
        raise EntryParamsError(routine_id, unknown, sorted(accepted or ()))


class Slot:
    """A named input of a routine: incoming data is merged, then handed to the handler.

    Args:
        name: the slot's name, unique within its routine.
        routine: the routine that owns it.
        handler: called with the merged data.
        merge_strategy: "override" (the handler gets the new data), "append" (each
            key accumulates a list), or a callable ``f(old, new) -> merged``.
    """

    def __init__(
        self,
        name: str = "",
        routine: EmitterLike | None = None,
        handler: Callable[..., Any] | None = None,
        merge_strategy: MergeStrategy = "override",
    ) -> None:
        self.name = name
        self.routine = routine
        self.handler = handler
        self.merge_strategy = merge_strategy
        self.connected_events: list[Event] = []
        self._local_data: dict[str, Any] = {}
        self._accepted: tuple[Any, frozenset[str] | None] | None = None  # (handler, its handler_params)

    def accepted_params(self) -> frozenset[str] | None:
        """:func:`handler_params` of the handler, worked out once per handler (each execute checks them)."""
        handler, cached = self.handler, self._accepted
        if cached is None or cached[0] is not handler:
            cached = self._accepted = (handler, handler_params(handler))
        return cached[1]

    @property
    def _data(self) -> dict[str, Any]:
        """The merge buffer: the running execution's, or this slot's own outside one."""
        step = current_step.get()
        if step is not None and step.routine is self.routine:
            return step.job_state.get_slot_buffer(step.routine_id, self.name)
        return self._local_data

    @_data.setter
    def _data(self, value: dict[str, Any]) -> None:
        step = current_step.get()
        if step is not None and step.routine is self.routine:
            step.job_state.set_slot_buffer(step.routine_id, self.name, dict(value))
        else:
            self._local_data = dict(value)

    def connect(self, event: Event, param_mapping: dict[str, str] | None = None) -> None:
        """Link this slot and ``event`` both ways (idempotent)."""
        if event not in self.connected_events:
            self.connected_events.append(event)
        if self not in event.connected_slots:
            event.connected_slots.append(self)
        wiring_changed()

    def disconnect(self, event: Event) -> None:
        """Unlink this slot and ``event`` (safe to repeat)."""
        if event in self.connected_events:
            self.connected_events.remove(event)
        if self in event.connected_slots:
            event.connected_slots.remove(self)
        wiring_changed()

    def _merge_data(self, data: dict[str, Any]) -> Any:
        """Merge ``data`` into this slot's own buffer (outside any execution); return what the handler gets."""
        stored, handler_data = merge(self.merge_strategy, self._local_data, data)
        self._local_data = stored
        return handler_data

    def call_handler(self, data: dict[str, Any], propagate_exceptions: bool = False) -> None:
        """Merge ``data`` into this slot's own buffer and call the handler (outside any execution)."""
        handler_data = self._merge_data(data)
        if self.handler is None:
            return
        try:
            call_handler(self.handler, handler_data)
        except Exception:
            if propagate_exceptions:
                raise
            log.exception("handler of slot %r failed", self.name)

    def receive(self, data: dict[str, Any], job_state: Any = None, flow: Any = None) -> None:
        """Deliver ``data`` directly, outside the engines; handler errors are logged, not raised."""
        self.call_handler(data)

    def serialize(self) -> dict[str, Any]:
        """Return the slot as plain data (handler and merge strategy by name only)."""
        return {
            "_type": "Slot",
            "name": self.name,
            "handler": _describe(self.handler),
            "merge_strategy": self.merge_strategy if isinstance(self.merge_strategy, str) else _describe(self.merge_strategy),
        }

    def deserialize(self, data: dict[str, Any]) -> Slot:
        """Fill this slot from :meth:`serialize` output; returns self.

        A handler named as a method is bound to this slot's routine by name (never
        imported); a callable merge strategy cannot come from data, so it stays as is.
        """
        self.name = data.get("name", self.name)
        wiring_changed()
        strategy = data.get("merge_strategy")
        if isinstance(strategy, str):
            self.merge_strategy = strategy
        described = data.get("handler") or {}
        if self.routine is not None and described.get("callable_type") == "method":
            handler = getattr(self.routine, described.get("name", ""), None)
            if callable(handler):
                self.handler = handler
        return self

    def __repr__(self) -> str:
        owner = getattr(self.routine, "_id", None)
        return f"Slot[{owner}.{self.name}]"


def _describe(func: Any) -> dict[str, Any] | None:
    """Name a callable without making it importable from data."""
    if func is None:
        return None
    owner = getattr(func, "__self__", None)
    kind = "method" if owner is not None and not inspect.isclass(owner) else "function"
    return {"_type": "callable", "callable_type": kind, "name": getattr(func, "__name__", repr(func))}
