"""Routine: the unit of work. Input slots, output events and a handler per slot.

Subclasses need a no-argument constructor (so a flow can be rebuilt from data),
keep configuration in ``_config`` via :meth:`Routine.set_config`, and keep
per-execution state in the JobState, not on ``self``.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from routilux import registry
from routilux.context import ExecutionContext, current_job_state, current_step
from routilux.error_handler import ErrorHandler, ErrorStrategy
from routilux.errors import FlowError
from routilux.event import Event
from routilux.slot import MergeStrategy, Slot

__all__ = ["Routine", "ExecutionContext", "_current_job_state"]

# Upstream's name for the ContextVar holding the running handler's JobState.
_current_job_state = current_job_state

_BASE_FIELDS = ("_id", "_config", "_stats", "_error_handler", "_slots", "_events")


class Routine:
    """Base class of every routine."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        registry.register(cls)

    def __init__(self) -> None:
        self._id = hex(id(self))
        self._slots: dict[str, Slot] = {}
        self._events: dict[str, Event] = {}
        self._config: dict[str, Any] = {}
        self._stats: dict[str, Any] = {}
        self._error_handler: ErrorHandler | None = None
        self._extra_fields: list[str] = []
        self._stats_lock = threading.Lock()

    # -- definition ------------------------------------------------------
    def define_slot(self, name: str, handler: Callable[..., Any] | None = None, merge_strategy: MergeStrategy = "override") -> Slot:
        """Create an input slot; raises ValueError if the name is taken."""
        if name in self._slots:
            raise FlowError(f"Slot '{name}' already exists in {self!r}")
        slot = Slot(name, self, handler, merge_strategy)
        self._slots[name] = slot
        return slot

    def define_event(self, name: str, output_params: list[str] | None = None) -> Event:
        """Create an output event; raises ValueError if the name is taken."""
        if name in self._events:
            raise FlowError(f"Event '{name}' already exists in {self!r}")
        event = Event(name, self, output_params)
        self._events[name] = event
        return event

    def get_slot(self, name: str) -> Slot | None:
        """Return the slot called ``name``, or None."""
        return self._slots.get(name)

    def get_event(self, name: str) -> Event | None:
        """Return the event called ``name``, or None."""
        return self._events.get(name)

    # -- running ---------------------------------------------------------
    def emit(self, event_name: str, flow: Any = None, **kwargs: Any) -> None:
        """Emit an event with data to every connected slot.

        Inside an execution the deliveries become activations of that execution;
        outside one, connected slots receive the data directly.

        Raises:
            ValueError: the routine has no such event.
        """
        event = self._events.get(event_name)
        if event is None:
            raise FlowError(f"Event '{event_name}' does not exist in {self!r}")
        step = current_step.get()
        if step is not None:
            step.emit(self, event_name, kwargs)
            return
        for slot in list(event.connected_slots):
            slot.receive(dict(kwargs))

    @property
    def _current_flow(self) -> Any:
        """The flow of the execution running this routine's handler, or None (read-only; upstream code reads it)."""
        ctx = self.get_execution_context()
        return ctx.flow if ctx is not None else None

    def get_execution_context(self) -> ExecutionContext | None:
        """Return (flow, job_state, routine_id) of the running execution, or None outside one."""
        step = current_step.get()
        if step is None:
            return None
        routine_id = step.routine_id if step.routine is self else step.flow.routine_id_of(self)
        if routine_id is None:
            return None
        return ExecutionContext(step.flow, step.job_state, routine_id)

    def _require_context(self, what: str) -> ExecutionContext:
        ctx = self.get_execution_context()
        if ctx is None:
            raise RuntimeError(f"{what} can only be called while the routine runs in an execution")
        return ctx

    def emit_after(self, delay_s: float, event_name: str, **data: Any) -> str:
        """Emit ``event_name`` with ``data`` once ``delay_s`` seconds have passed: a durable timer.

        The timer is part of the job (held in Redis on the distributed engine), keeps the
        job open until it fires, is held by a pause and dropped by a cancel. Returns its id.

        Raises:
            FlowError: the routine has no such event, or ``delay_s`` is negative.
            RuntimeError: called outside a handler of an execution.
        """
        step = self._step_for("emit_after")
        if event_name not in self._events:
            raise FlowError(f"Event '{event_name}' does not exist in {self!r}")
        if delay_s < 0:
            raise FlowError(f"emit_after needs a delay of 0 s or more, not {delay_s!r}")
        return step.emit_after(self, float(delay_s), event_name, data)

    def wait_for_post(self, slot_name: str, timeout_s: float, timeout_event: str | None = None,
                      **timeout_data: Any) -> str:
        """Keep the job open until a post reaches ``slot_name`` or ``timeout_s`` passes; returns the wait's id.

        Exactly one of the two happens: a post delivers its data to the slot, or the
        timeout emits ``timeout_event`` with ``timeout_data`` (nothing if it is None);
        a post that comes after the timeout is refused as late.

        Raises:
            FlowError: no such slot or event, or ``timeout_s`` is not positive.
            RuntimeError: called outside a handler of an execution.
        """
        step = self._step_for("wait_for_post")
        if slot_name not in self._slots:
            raise FlowError(f"Slot '{slot_name}' does not exist in {self!r}")
        if timeout_event is not None and timeout_event not in self._events:
            raise FlowError(f"Event '{timeout_event}' does not exist in {self!r}")
        if not timeout_s > 0:
            raise FlowError(f"wait_for_post needs a timeout above 0 s, not {timeout_s!r}")
        return step.wait_for_post(self, slot_name, float(timeout_s), timeout_event, timeout_data)

    def _step_for(self, what: str) -> Any:
        step = current_step.get()
        if step is None or self.get_execution_context() is None:
            raise RuntimeError(f"{what} can only be called while the routine runs in an execution")
        return step

    def emit_deferred_event(self, event_name: str, **kwargs: Any) -> None:
        """Keep an event in the JobState, to be emitted when the job is resumed."""
        ctx = self._require_context("emit_deferred_event")
        if event_name not in self._events:
            raise FlowError(f"Event '{event_name}' does not exist in {self!r}")
        ctx.job_state.add_deferred_event(ctx.routine_id, event_name, kwargs)

    def send_output(self, output_type: str, **data: Any) -> None:
        """Send an output to the execution's output handler and output log."""
        ctx = self._require_context("send_output")
        ctx.job_state.send_output(ctx.routine_id, output_type, data)

    def _extract_input_data(self, data: Any = None, **kwargs: Any) -> Any:
        """Return ``data``, else kwargs['data'], else the sole kwarg, else all kwargs."""
        if data is not None:
            return data
        if "data" in kwargs:
            return kwargs["data"]
        if len(kwargs) == 1:
            return next(iter(kwargs.values()))
        return dict(kwargs)

    def __call__(self, **kwargs: Any) -> None:
        """Deprecated: routines are driven through their slots."""

    # -- configuration ---------------------------------------------------
    def set_config(self, **kwargs: Any) -> None:
        """Set configuration values (serialized with the flow)."""
        self._config.update(kwargs)

    def set_time_limits(self, soft_s: float | None = None, hard_s: float | None = None) -> None:
        """Per-activation time limits of this routine's handlers on the distributed engine.

        Kept in the config keys ``soft_time_limit_s`` and ``hard_time_limit_s``
        (so they travel with the published flow). Past the soft limit
        SoftTimeLimitExceeded is raised inside the handler; past the hard limit the
        attempt is abandoned (see ``Settings.hard_time_limit_s``). ``0`` means no
        limit; None leaves the worker's default (``ROUTILUX_*_TIME_LIMIT_S``).

        Raises:
            ValueError: a limit is negative.
        """
        for key, value in (("soft_time_limit_s", soft_s), ("hard_time_limit_s", hard_s)):
            if value is None:
                continue
            if value < 0:
                raise ValueError(f"{key} must be 0 (none) or positive, not {value!r}")
            self._config[key] = float(value)

    def get_config(self, key: str, default: Any = None) -> Any:
        """Return one configuration value."""
        return self._config.get(key, default)

    def config(self) -> dict[str, Any]:
        """Return a copy of the configuration."""
        return dict(self._config)

    # -- statistics (kept on the routine, serialized in _stats) -----------
    def stats(self) -> dict[str, Any]:
        """Return a copy of the statistics."""
        return dict(self._stats)

    def set_stat(self, key: str, value: Any) -> None:
        """Set one statistic."""
        self._stats[key] = value

    def get_stat(self, key: str, default: Any = None) -> Any:
        """Return one statistic."""
        return self._stats.get(key, default)

    def increment_stat(self, key: str, amount: int | float = 1) -> int | float:
        """Add ``amount`` to a numeric statistic (thread-safe); returns the new value."""
        with self._stats_lock:
            value = self._stats.get(key, 0) + amount
            self._stats[key] = value
            return value

    def reset_stats(self, keys: list[str] | None = None) -> None:
        """Clear all statistics, or only ``keys``."""
        if keys is None:
            self._stats.clear()
        else:
            for key in keys:
                self._stats.pop(key, None)

    # -- error handling --------------------------------------------------
    def set_error_handler(self, handler: ErrorHandler | None) -> None:
        """Set this routine's error handler (it overrides the flow's)."""
        self._error_handler = handler

    def get_error_handler(self) -> ErrorHandler | None:
        """Return this routine's own error handler, or None."""
        return self._error_handler

    def set_as_optional(self, strategy: ErrorStrategy | str = ErrorStrategy.CONTINUE) -> None:
        """Mark the routine optional: its errors do not fail the job (CONTINUE, or SKIP)."""
        self._error_handler = ErrorHandler(strategy=strategy, is_critical=False)

    def set_as_critical(self, max_retries: int = 3, retry_delay: float = 1.0, retry_backoff: float = 2.0) -> None:
        """Mark the routine critical: retried, and the job fails if every retry fails."""
        self._error_handler = ErrorHandler(
            strategy=ErrorStrategy.RETRY,
            max_retries=max_retries,
            retry_delay=retry_delay,
            retry_backoff=retry_backoff,
            is_critical=True,
        )

    # -- serialization ---------------------------------------------------
    def add_serializable_fields(self, fields: list[str]) -> None:
        """Also serialize these attributes (their values must be JSON-able)."""
        for name in fields:
            if name not in _BASE_FIELDS and name not in self._extra_fields:
                self._extra_fields.append(name)

    def serialize(self) -> dict[str, Any]:
        """Return the routine as plain data: class, config, stats, handler, slots, events."""
        data: dict[str, Any] = {
            "_type": type(self).__name__,
            "_class": registry.class_key(type(self)),
            "_id": self._id,
            "_config": dict(self._config),
            "_stats": dict(self._stats),
            "_error_handler": self._error_handler.serialize() if self._error_handler else None,
            "_slots": {name: slot.serialize() for name, slot in self._slots.items()},
            "_events": {name: event.serialize() for name, event in self._events.items()},
        }
        for name in self._extra_fields:
            data[name] = getattr(self, name, None)
        if self._extra_fields:
            data["_serializable_fields"] = list(self._extra_fields)
        return data

    def deserialize(self, data: dict[str, Any], registry: Any = None) -> Routine:
        """Fill this (freshly constructed) routine from :meth:`serialize` output; returns self."""
        self._id = data.get("_id", self._id)
        self._config = dict(data.get("_config") or {})
        self._stats = dict(data.get("_stats") or {})
        handler = data.get("_error_handler")
        self._error_handler = ErrorHandler.from_dict(handler) if handler else None
        for name, event in (data.get("_events") or {}).items():
            if name not in self._events:
                self.define_event(name, event.get("output_params"))
        for name, slot in (data.get("_slots") or {}).items():
            if name not in self._slots:
                self._restore_slot(name, slot)
            elif slot.get("merge_strategy") in ("override", "append"):
                # A strategy changed after construction (a spec's "slots" can do so) is part of the flow.
                self._slots[name].merge_strategy = slot["merge_strategy"]
        for name in data.get("_serializable_fields") or []:
            self.add_serializable_fields([name])
            if name in data:
                setattr(self, name, data[name])
        return self

    def _restore_slot(self, name: str, data: dict[str, Any]) -> None:
        """Recreate a slot the constructor did not define, binding its handler by method name."""
        self.define_slot(name).deserialize(data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}[{self._id}]"


# The base class itself is registered too, so a flow holding a plain Routine() round-trips.
registry.register(Routine)
