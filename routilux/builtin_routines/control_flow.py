"""Control-flow routines: ConditionalRouter."""

from __future__ import annotations

import inspect
import logging
import threading
from typing import Any, Callable, ClassVar

from routilux.builtin_routines._expressions import compile_condition, evaluate_condition
from routilux.errors import EncodeError
from routilux.routine import Routine

__all__ = ["ConditionalRouter"]

logger = logging.getLogger(__name__)

Condition = Any  # str expression, dict field match, or callable
ROUTE_PRIORITIES = ("first_match", "all_matches")
ROUTE_PARAMS = ["data", "route"]


def _arity(fn: Callable[..., Any]) -> int:
    """Return how many of (data, config, stats) a callable condition takes positionally."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: assume (data)
        return 1
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 3
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return max(1, min(3, len(positional)))


def _field_match(data: Any, expected: dict[str, Any]) -> bool:
    """Tell whether dict ``data`` has every key of ``expected`` with an equal value."""
    return isinstance(data, dict) and all(k in data and data[k] == v for k, v in expected.items())


class ConditionalRouter(Routine):
    """Route data to a named event chosen by the first (or every) matching condition.

    Slot ``input`` takes ``data``. Config ``routes`` is a list of
    ``(route_name, condition)``; each route gets its own event, defined when
    the route is configured, carrying ``data`` and ``route``. A condition is:

    * a string expression, evaluated with only ``data``, ``config`` (the
      routine's config), ``stats`` (its statistics) and a few safe builtins
      (len, isinstance, str, int, float, bool, dict, list, min, max, any,
      all, ...); names and attributes starting with ``_`` are refused;
    * a dict: matches when ``data`` is a dict holding each key with an equal
      value;
    * a callable ``f(data)``, ``f(data, config)`` or ``f(data, config, stats)``.

    ``route_priority`` "first_match" (default) emits only the first matching
    route, "all_matches" emits every one. With no match the ``default_route``
    event is emitted; with no default either, the ``output`` event is emitted
    with ``route="unmatched"``. A condition that raises counts as no match.

    Serialization: string and dict conditions are kept in the config and
    survive ``serialize``/``deserialize``. Callable conditions are kept on
    the instance only (the config holds ``None`` in their place), so a router
    holding one is NOT serializable: ``serialize()`` raises EncodeError.
    Use string or dict conditions for flows that are saved or distributed.
    """

    # Events are normally defined only in __init__; a route configured after a
    # flow started can still need one at run time, from any worker thread.
    _define_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        """Define the ``input`` slot, the ``output`` event and the default config."""
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self._handle_input, merge_strategy="override")
        self.output_event = self.define_event("output", list(ROUTE_PARAMS))
        # route index in config["routes"] -> callable condition (kept out of _config on purpose)
        self._callable_conditions: dict[int, Callable[..., Any]] = {}
        self.set_config(routes=[], default_route=None, route_priority="first_match")

    # -- configuration -----------------------------------------------------
    def set_config(self, **kwargs: Any) -> None:
        """Set configuration; ``routes`` are checked, callables moved out of the config."""
        if "routes" in kwargs:
            callables: dict[int, Callable[..., Any]] = {}
            routes = [self._store_route(i, r, callables) for i, r in enumerate(kwargs["routes"] or [])]
            kwargs["routes"] = routes
            self._callable_conditions = callables
        super().set_config(**kwargs)
        self._ensure_route_events()

    def add_route(self, route_name: str, condition: Condition) -> None:
        """Append a route (its event is defined now, so it can be connected)."""
        routes = list(self.get_config("routes", []) or [])
        routes.append(self._store_route(len(routes), (route_name, condition), self._callable_conditions))
        super().set_config(routes=routes)
        self._ensure_route_events()

    @staticmethod
    def _store_route(index: int, route: Any, callables: dict[int, Callable[..., Any]]) -> list[Any]:
        """Validate one ``(name, condition)`` and return its config form ``[name, condition]``."""
        try:
            name, condition = route
        except (TypeError, ValueError):
            raise ValueError(f"a route must be a (name, condition) pair, not {route!r}") from None
        if not isinstance(name, str) or not name:
            raise ValueError(f"a route name must be a non-empty string, not {name!r}")
        if callable(condition):
            callables[index] = condition
            return [name, None]
        if isinstance(condition, str):
            compile_condition(condition)  # refuse bad syntax or unsafe names now, not mid-flow
        elif not isinstance(condition, dict):
            raise ValueError(f"route {name!r}: a condition must be a str, dict or callable, not {condition!r}")
        return [name, condition]

    def _ensure_route_events(self) -> None:
        """Define an event for every route name and the default route that lacks one."""
        names = [route[0] for route in self.get_config("routes", []) or []]
        default = self.get_config("default_route")
        for name in names + ([default] if default else []):
            self._ensure_event(name)

    def _ensure_event(self, name: str) -> None:
        """Define the event ``name`` if it does not exist yet (thread-safe)."""
        if self.get_event(name) is None:
            with self._define_lock:
                if self.get_event(name) is None:
                    self.define_event(name, list(ROUTE_PARAMS))

    def serialize(self) -> dict[str, Any]:
        """Return the router as plain data; raises EncodeError if a route has a callable condition."""
        if self._callable_conditions:
            names = [self.get_config("routes")[i][0] for i in sorted(self._callable_conditions)]
            raise EncodeError(
                f"ConditionalRouter {self._id}: routes {names} have callable conditions, which cannot "
                "be serialized; use string expressions or dict conditions instead"
            )
        return super().serialize()

    # -- routing -------------------------------------------------------------
    def _matches(self, index: int, name: str, condition: Condition, data: Any, config: dict[str, Any]) -> bool:
        """Evaluate route ``index``'s condition; errors count as no match."""
        try:
            if condition is None:
                fn = self._callable_conditions.get(index)
                if fn is None:
                    logger.warning("ConditionalRouter: route %r has no condition (a callable lost in serialization?)", name)
                    return False
                args = (data, config, self.stats())[: _arity(fn)]
                return bool(fn(*args))
            if isinstance(condition, dict):
                return _field_match(data, condition)
            return bool(evaluate_condition(condition, data, config, self.stats()))
        except Exception as exc:  # a condition is user code: a failure just means "not this route"
            logger.warning("ConditionalRouter: condition of route %r failed: %s", name, exc)
            return False

    def route(self, data: Any) -> list[str]:
        """Return the names of the routes ``data`` matches, honouring ``route_priority``."""
        config = self.config()
        priority = config.get("route_priority", "first_match")
        if priority not in ROUTE_PRIORITIES:
            raise ValueError(f"route_priority must be one of {ROUTE_PRIORITIES}, not {priority!r}")
        matched: list[str] = []
        for index, (name, condition) in enumerate(config.get("routes") or []):
            if self._matches(index, name, condition, data, config):
                matched.append(name)
                if priority == "first_match":
                    break
        return matched

    def _handle_input(self, data: Any = None, **kwargs: Any) -> None:
        """Route the received data: emit each matched route's event, else the default or ``output``."""
        data = self._extract_input_data(data, **kwargs)
        matched = self.route(data)
        if not matched:
            default = self.get_config("default_route")
            if not default:
                self.emit("output", data=data, route="unmatched")
                return
            matched = [default]
        for name in matched:
            self._ensure_event(name)
            self.emit(name, data=data, route=name)
