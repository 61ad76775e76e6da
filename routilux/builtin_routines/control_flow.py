"""Control-flow routines: ConditionalRouter."""

from __future__ import annotations

import inspect
import logging
import threading
from typing import Any, Callable, ClassVar

from routilux.builtin_routines._expressions import compile_condition, evaluate_condition
from routilux.builtin_routines._function_source import NotExpressible
from routilux.builtin_routines.conditions import STORED_TYPES, condition_from_data, condition_to_data, remember
from routilux.errors import EncodeError, ExpressionError
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

    * a string expression, evaluated by the safe evaluator with only
      ``data``, ``config`` (the routine's config), ``stats`` (its statistics)
      and a few builtins and methods (see the README for what it allows and
      its limits);
    * a dict: matches when ``data`` is a dict holding each key with an equal
      value;
    * a callable ``f(data)``, ``f(data, config)`` or ``f(data, config, stats)``.

    ``route_priority`` "first_match" (default) emits only the first matching
    route, "all_matches" emits every one. With no match the ``default_route``
    event is emitted; with no default either, the ``output`` event is emitted
    with ``route="unmatched"``. A condition that raises counts as no match,
    except an expression the safe evaluator refuses or stops at a limit: that
    fails the handler with ExpressionError, so the error strategy sees it.

    Serialization: string and dict conditions are stored as they are. A
    callable is stored by name if it is a registered (``@register_condition``)
    or module-level function, found again only in the registry of the process
    that loads it; a lambda or one-expression function is stored as an
    expression for the safe evaluator. ``serialize()`` raises EncodeError for
    a callable that is neither (say, a lambda calling a helper).
    ``get_config("routes")`` returns the live conditions; ``_config`` holds
    plain data only.
    """

    # Events are normally defined only in __init__; a route configured after a
    # flow started can still need one at run time, from any worker thread.
    _define_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        """Define the ``input`` slot, the ``output`` event and the default config."""
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self._handle_input, merge_strategy="override")
        self.output_event = self.define_event("output", list(ROUTE_PARAMS))
        # One live condition per route, in order: str, dict or callable (restored ones included).
        self._conditions: list[Condition] = []
        self.set_config(routes=[], default_route=None, route_priority="first_match")

    # -- configuration -----------------------------------------------------
    def set_config(self, **kwargs: Any) -> None:
        """Set configuration; ``routes`` are checked, callables kept out of the plain config.

        Raises:
            ValueError: a malformed route; ExpressionError: an expression the
            safe evaluator refuses; UnknownConditionError: a stored named
            condition this process has not registered.
        """
        if "routes" in kwargs:
            pairs = [self._parse_route(r) for r in kwargs["routes"] or []]
            kwargs["routes"] = [[name, stored] for name, stored, _ in pairs]
            self._conditions = [live for _, _, live in pairs]
        super().set_config(**kwargs)
        self._ensure_route_events()

    def get_config(self, key: str, default: Any = None) -> Any:
        """Return one configuration value; ``routes`` as ``[name, condition]`` with live conditions."""
        if key == "routes" and "routes" in self._config:
            return self._live_routes()
        return super().get_config(key, default)

    def config(self) -> dict[str, Any]:
        """Return a copy of the configuration, ``routes`` holding the live conditions."""
        config = super().config()
        if "routes" in config:
            config["routes"] = self._live_routes()
        return config

    def _live_routes(self) -> list[list[Any]]:
        return [[route[0], live] for route, live in zip(self._config.get("routes") or [], self._conditions)]

    def add_route(self, route_name: str, condition: Condition) -> None:
        """Append a route (its event is defined now, so it can be connected)."""
        self.set_config(routes=[*self._live_routes(), (route_name, condition)])

    @staticmethod
    def _parse_route(route: Any) -> tuple[str, Any, Condition]:
        """Validate one ``(name, condition)``; return (name, plain form for _config, live condition)."""
        try:
            name, condition = route
        except (TypeError, ValueError):
            raise ValueError(f"a route must be a (name, condition) pair, not {route!r}") from None
        if not isinstance(name, str) or not name:
            raise ValueError(f"a route must be named by a non-empty string, not {name!r}")
        if callable(condition):
            remember(condition)  # a named function registers on first use
            return name, None, condition
        if isinstance(condition, str):
            compile_condition(condition)  # refuse bad syntax or unsafe constructs now, not mid-flow
            return name, condition, condition
        if isinstance(condition, dict) and condition.get("_type") in STORED_TYPES:
            return name, dict(condition), condition_from_data(condition)
        if isinstance(condition, dict) or condition is None:  # None: a callable lost by older data
            return name, condition, condition
        raise ValueError(f"route {name!r}: a condition must be a str, dict or callable, not {condition!r}")

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
        """Return the router as plain data, callables in their stored forms.

        Raises:
            EncodeError: a callable condition can be neither named nor expressed.
        """
        data = super().serialize()
        routes, problems = [], []
        for name, condition in self._live_routes():
            stored: Any = condition
            if callable(condition):
                try:
                    stored = condition_to_data(condition)
                except NotExpressible as exc:
                    problems.append(f"route {name!r}: {exc}")
            routes.append([name, stored])
        if problems:
            raise EncodeError(
                f"ConditionalRouter {self._id}: callable conditions cannot be stored ({'; '.join(problems)}); "
                "use a lambda the safe evaluator can express, a string expression, or a function "
                "registered with @register_condition"
            )
        data["_config"]["routes"] = routes
        return data

    def deserialize(self, data: dict[str, Any], registry: Any = None) -> ConditionalRouter:
        """Fill this router from :meth:`serialize` output, restoring stored conditions; returns self."""
        super().deserialize(data, registry)
        self.set_config(routes=list(self._config.get("routes") or []))
        return self

    # -- routing -------------------------------------------------------------
    def _matches(self, name: str, condition: Condition, data: Any, config: dict[str, Any]) -> bool:
        """Evaluate one route's condition; its errors count as no match, the evaluator's refusals do not."""
        try:
            if condition is None:
                logger.warning("ConditionalRouter: route %r has no condition (a callable lost in serialization?)", name)
                return False
            if isinstance(condition, dict):
                return _field_match(data, condition)
            if isinstance(condition, str):
                return bool(evaluate_condition(condition, data, config, self.stats()))
            args = (data, config, self.stats())[: _arity(condition)]
            return bool(condition(*args))
        except ExpressionError:
            raise
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
        for name, condition in config.get("routes") or []:
            if self._matches(name, condition, data, config):
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
