"""Flows as files: build a Flow from a spec (a plain dict, as read from YAML or JSON), and check one.

The format is upstream Routilux's flow spec, extended::

    flow_id: orders
    entry: source                       # optional: the routine ``routilux run`` starts at
    execution: {timeout: 60, strategy: concurrent, max_workers: 4}
    error_handler: {strategy: continue} # optional: the flow-level handler
    routines:
      source: {class: Source, config: {...}}
      total:
        class: Total
        error_handler: {strategy: retry, max_retries: 3, retry_delay: 0.5}
        slots: {input: {merge_strategy: append}}
    connections:
      - {from: source.output, to: total.input, param_mapping: {value: item}}

``class`` is found only among routine classes this process has imported (by
class name, ``module.QualifiedName``, or a name given with :func:`spec_name`):
a spec never causes an import. Every problem is reported with its path in the
spec (``routines.total.slots.input.merge_strategy``), all at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from routilux import registry
from routilux.error_handler import ErrorHandler, ErrorStrategy
from routilux.errors import RoutiluxError, SpecError
from routilux.flow import STRATEGIES, Flow
from routilux.routine import Routine
from routilux.serialization import check_plain, required_init_params

__all__ = ["SpecReport", "check_spec", "flow_from_spec", "spec_name"]

T = TypeVar("T", bound=type)
MERGE_STRATEGIES = ("override", "append")
TOP_KEYS = {"flow_id", "entry", "execution", "error_handler", "routines", "connections"}
INFO_KEYS = {"name", "description", "version", "metadata"}  # accepted and ignored
ROUTINE_KEYS = {"class", "config", "error_handler", "slots"}
CONNECTION_KEYS = {"from", "to", "param_mapping"}
EXECUTION_KEYS = {"timeout", "strategy", "max_workers"}
HANDLER_KEYS = {"strategy", "max_retries", "retry_delay", "retry_backoff", "is_critical", "retryable_exceptions"}

_aliases: dict[str, type] = {}


def spec_name(name: str) -> Callable[[T], T]:
    """Class decorator: let specs name this routine class ``name`` (as upstream's factory names do)."""

    def register(cls: T) -> T:
        _aliases[name] = cls
        return cls

    return register


def alias_of(cls: type) -> str | None:
    """Return the spec name given to ``cls`` with :func:`spec_name`, if any."""
    return next((name for name, known in _aliases.items() if known is cls), None)


@dataclass
class SpecReport:
    """What checking a spec found: the flow (None if it has errors), errors and warnings, each with its path."""

    flow: Flow | None = None
    entry: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def flow_from_spec(spec: Any, source: str = "flow spec") -> Flow:
    """Build a Flow from a spec dict.

    Raises:
        SpecError: the spec has problems (``.problems`` lists every one with its path).
    """
    report = check_spec(spec)
    if report.errors or report.flow is None:
        raise SpecError(report.errors, source)
    return report.flow


def check_spec(spec: Any) -> SpecReport:
    """Check a spec and build its flow; never raises for a bad spec, reports instead."""
    return _Builder().build(spec)


class _Builder:
    """Builds a flow from a spec, collecting every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.report = SpecReport()
        self.broken: set[str] = set()  # routines declared but not built (already reported)

    def error(self, path: str, message: str) -> None:
        self.report.errors.append(f"{path}: {message}")

    def mapping(self, value: Any, path: str, keys: set[str] | None = None) -> dict[str, Any] | None:
        """Return ``value`` if it is a dict (reporting unknown keys), else report it and return None."""
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping, not {type(value).__name__}")
            return None
        for key in value:
            if keys is not None and key not in keys:
                where = key if path == "spec" else f"{path}.{key}"
                self.error(where, f"unknown key; expected one of {', '.join(sorted(keys))}")
        return value

    def build(self, spec: Any) -> SpecReport:
        spec = self.mapping(spec, "spec", TOP_KEYS | INFO_KEYS)
        if spec is None:
            return self.report
        flow_id = spec.get("flow_id")
        if flow_id is not None and (not isinstance(flow_id, str) or not flow_id):
            self.error("flow_id", "must be a non-empty string")
            flow_id = None
        flow = Flow(flow_id=flow_id)
        self.execution(flow, spec.get("execution"))
        if spec.get("error_handler") is not None:
            flow.error_handler = self.handler(spec["error_handler"], "error_handler")
        self.routines(flow, spec.get("routines"))
        self.connections(flow, spec.get("connections"))
        entry = self.report.entry = self.entry(flow, spec.get("entry"))
        self.reachability(flow, entry)
        if not self.report.errors:
            self.report.flow = flow
        return self.report

    # -- flow settings ------------------------------------------------------------
    def execution(self, flow: Flow, execution: Any) -> None:
        if execution is None or self.mapping(execution, "execution", EXECUTION_KEYS) is None:
            return
        if "timeout" in execution:
            timeout = execution["timeout"]
            if timeout is not None and (not _number(timeout) or timeout <= 0):
                self.error("execution.timeout", f"must be a positive number of seconds or null, not {timeout!r}")
            else:
                flow.execution_timeout = timeout
        strategy = execution.get("strategy", flow.execution_strategy)
        workers = execution.get("max_workers")
        if strategy not in STRATEGIES:
            self.error("execution.strategy", f"unknown execution strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
        elif workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
            self.error("execution.max_workers", f"must be a positive integer, not {workers!r}")
        else:
            flow.set_execution_strategy(strategy, workers)

    def handler(self, value: Any, path: str) -> ErrorHandler | None:
        """An ErrorHandler from ``"continue"`` or ``{strategy: retry, max_retries: 3, ...}``."""
        if isinstance(value, str):
            value = {"strategy": value}
        if self.mapping(value, path, HANDLER_KEYS) is None:
            return None
        strategy = value.get("strategy", "stop")
        names = [s.value for s in ErrorStrategy]
        if not isinstance(strategy, str) or strategy.lower() not in names:
            self.error(f"{path}.strategy", f"unknown error strategy {strategy!r}; use one of {', '.join(names)}")
            return None
        numbers = {k: value[k] for k in ("max_retries", "retry_delay", "retry_backoff") if k in value}
        bad = [k for k, v in numbers.items() if not _number(v) or v < 0]
        for key in bad:
            self.error(f"{path}.{key}", f"must be a number >= 0, not {value[key]!r}")
        exceptions = value.get("retryable_exceptions") or []
        if not isinstance(exceptions, list) or not all(isinstance(e, str) for e in exceptions):
            self.error(f"{path}.retryable_exceptions", "must be a list of exception class names")
            return None
        if bad:
            return None
        data = {"strategy": strategy.lower(), **numbers, "is_critical": bool(value.get("is_critical", False)),
                "retryable_exceptions": exceptions}
        return ErrorHandler.from_dict(data)  # names, never imports, the exception classes

    # -- routines -----------------------------------------------------------------
    def routines(self, flow: Flow, routines: Any) -> None:
        if routines is None:
            self.error("routines", "is missing; a flow needs at least one routine")
            return
        if self.mapping(routines, "routines") is None:
            return
        if not routines:
            self.error("routines", "is empty; a flow needs at least one routine")
        for rid, rspec in routines.items():
            path = f"routines.{rid}"
            if not isinstance(rid, str) or not rid or "." in rid:
                self.error(path, "a routine id must be a non-empty string without dots")
                continue
            routine = self.routine(rspec, path)
            if routine is None:
                self.broken.add(rid)
            else:
                routine._id = rid
                flow.add_routine(routine, rid)

    def routine(self, rspec: Any, path: str) -> Routine | None:
        if self.mapping(rspec, path, ROUTINE_KEYS) is None:
            return None
        cls = self.routine_class(rspec.get("class"), f"{path}.class")
        if cls is None:
            return None
        try:
            routine = cls()
        except Exception as exc:  # a constructor is user code: report it, do not crash the check
            self.error(f"{path}.class", f"constructing {cls.__name__}() failed: {type(exc).__name__}: {exc}")
            return None
        self.configure(routine, rspec.get("config"), f"{path}.config")
        if rspec.get("error_handler") is not None:
            routine.set_error_handler(self.handler(rspec["error_handler"], f"{path}.error_handler"))
        self.slots(routine, rspec.get("slots"), f"{path}.slots")
        return routine

    def routine_class(self, name: Any, path: str) -> type | None:
        if not isinstance(name, str) or not name:
            self.error(path, "is missing; name a routine class this process has imported")
            return None
        cls = _resolve_class(name)
        if isinstance(cls, str):
            self.error(path, cls)
            return None
        missing = required_init_params(cls)
        if missing:
            self.error(path, f"{cls.__name__} needs constructor arguments ({', '.join(missing)}); routines need none")
            return None
        return cls

    def configure(self, routine: Routine, config: Any, path: str) -> None:
        if config is None or self.mapping(config, path) is None:
            return
        try:
            check_plain(config, path)
            routine.set_config(**config)
        except (RoutiluxError, ValueError, TypeError) as exc:
            self.error(path, str(exc))

    def slots(self, routine: Routine, slots: Any, path: str) -> None:
        if slots is None or self.mapping(slots, path) is None:
            return
        for name, sspec in slots.items():
            slot = routine.get_slot(name)
            if slot is None:
                self.error(f"{path}.{name}", f"unknown slot; {type(routine).__name__} has {_names(routine._slots)}")
                continue
            if self.mapping(sspec, f"{path}.{name}", {"merge_strategy"}) is None or "merge_strategy" not in sspec:
                continue
            strategy = sspec["merge_strategy"]
            if strategy not in MERGE_STRATEGIES:
                self.error(f"{path}.{name}.merge_strategy",
                           f"unknown merge strategy {strategy!r}; use one of {', '.join(MERGE_STRATEGIES)}")
            else:
                slot.merge_strategy = strategy

    # -- wiring ---------------------------------------------------------------------
    def connections(self, flow: Flow, connections: Any) -> None:
        if connections is None:
            return
        if not isinstance(connections, list):
            self.error("connections", f"must be a list, not {type(connections).__name__}")
            return
        for index, conn in enumerate(connections):
            path = f"connections[{index}]"
            if self.mapping(conn, path, CONNECTION_KEYS) is None:
                continue
            source = self.end(flow, conn.get("from"), f"{path}.from", "event")
            target = self.end(flow, conn.get("to"), f"{path}.to", "slot")
            mapping = self.param_mapping(flow, source, conn.get("param_mapping"), f"{path}.param_mapping")
            if source and target and mapping is not None:
                flow.connect(source[0], source[1], target[0], target[1], mapping or None)

    def end(self, flow: Flow, text: Any, path: str, kind: str) -> tuple[str, str] | None:
        """Resolve ``"routine.event"`` or ``"routine.slot"``; report what does not exist."""
        if not isinstance(text, str) or text.count(".") < 1:
            self.error(path, f"must be 'routine_id.{kind}_name', not {text!r}")
            return None
        rid, name = text.split(".", 1)
        routine = flow.routines.get(rid)
        if routine is None and rid in self.broken:
            return None
        if routine is None:
            self.error(path, f"unknown routine {rid!r}; the flow has {_names(flow.routines)}")
            return None
        names = routine._events if kind == "event" else routine._slots
        if name not in names:
            self.error(path, f"unknown {kind} {name!r} of routine {rid!r} ({type(routine).__name__}); it has {_names(names)}")
            return None
        return rid, name

    def param_mapping(self, flow: Flow, source: tuple[str, str] | None, mapping: Any, path: str) -> dict[str, str] | None:
        if mapping is None:
            return {}
        if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
            self.error(path, "must map parameter names to parameter names (strings to strings)")
            return None
        if source is not None:
            declared = flow.routines[source[0]].get_event(source[1]).output_params
            unknown = [k for k in mapping if declared and k not in declared]
            if unknown:
                self.error(path, f"maps {', '.join(map(repr, unknown))}, which event {source[1]!r} does not carry; "
                                 f"it carries {', '.join(declared)}")
                return None
        return mapping

    def entry(self, flow: Flow, entry: Any) -> str | None:
        if entry is None or entry in self.broken:
            return None
        if entry not in flow.routines:
            self.error("entry", f"unknown routine {entry!r}; the flow has {_names(flow.routines)}")
            return None
        if flow.routines[entry].get_slot("trigger") is None:
            self.error("entry", f"routine {entry!r} has no 'trigger' slot, so it cannot start the flow")
            return None
        return entry

    def reachability(self, flow: Flow, entry: str | None) -> None:
        """Warn about routines that no entry (a routine with a trigger slot) can reach."""
        if self.broken:
            return  # the graph is incomplete: any warning would mislead
        starts = [entry] if entry else [rid for rid, r in flow.routines.items() if r.get_slot("trigger") is not None]
        seen, todo = set(starts), list(starts)
        while todo:
            rid = todo.pop()
            for conn in flow.connections:
                if conn.source_routine_id == rid and conn.target_routine_id not in seen:
                    seen.add(conn.target_routine_id)
                    todo.append(conn.target_routine_id)
        origin = f"entry {entry!r}" if entry else "any routine with a 'trigger' slot"
        for rid in flow.routines:
            if rid not in seen:
                self.report.warnings.append(f"routines.{rid}: unreachable; nothing connects it to {origin}")


def _resolve_class(name: str) -> type | str:
    """A registered routine class by spec name, ``module.QualifiedName`` or class name; else why not."""
    if name in _aliases:
        return _aliases[name]
    simple = name.rsplit(".", 1)[-1]
    found = [c for c in registry.registered(simple) if "." not in name or registry.class_key(c) == name]
    found = [c for c in found if isinstance(c, type) and issubclass(c, Routine)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        return f"class name {name!r} is ambiguous: {', '.join(registry.class_key(c) for c in found)}; use one of these"
    return (f"unknown routine class {name!r}: classes are found only among those this process imported "
            "(import the module that defines it, e.g. with --import MODULE)")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _names(items: Any) -> str:
    names = sorted(items)
    return ", ".join(repr(n) for n in names) if names else "none"
