"""Flow: routines wired by connections, and the API to run, pause, resume and cancel executions.

A Flow is the workflow's definition. Each execution has its own JobState; the
Flow only keeps an index of them (``get_execution``). Running is delegated to an
engine: the local engine by default (``routilux.local``), installed when the
``routilux`` package is imported, so this module never imports an engine. The
same holds for the layers above the flow: ``serialize``, ``deserialize`` and the
spec methods call the :class:`FlowFormats` that :mod:`routilux.formats` installs.
"""

from __future__ import annotations

import functools
import os
import uuid
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from routilux.activation import Activation, Target, post_activation_id, root_id
from routilux.connection import Connection
from routilux.error_handler import ErrorHandler
from routilux.execution_tracker import ExecutionTracker
from routilux.errors import FlowError, FlowValidationError
from routilux.event import wiring_changed
from routilux.job_state import JobState
from routilux.routine import Routine
from routilux.routing import Route, route
from routilux.slot import check_entry_params

STRATEGIES = ("sequential", "concurrent")
DEFAULT_TIMEOUT_S = 300.0


class Engine(Protocol):
    """What a Flow needs from the engine that runs it in this process."""

    def start(self, job_state: JobState, root: Activation, timeout: float | None, max_workers: int | None = None) -> None: ...
    def pause(self, job_state: JobState, reason: str, checkpoint: Any) -> None: ...
    def resume(self, job_state: JobState, timeout: float | None) -> None: ...
    def cancel(self, job_state: JobState, reason: str) -> None: ...
    def post(self, job_state: JobState, act: Activation) -> str: ...
    def shutdown(self, wait: bool, timeout: float | None) -> None: ...


_engine_factory: Callable[[Flow], Engine] | None = None


def set_engine_factory(factory: Callable[[Flow], Engine]) -> None:
    """Install the engine that runs flows in this process (the local engine does this)."""
    global _engine_factory
    _engine_factory = factory


@dataclass(frozen=True)
class FlowFormats:
    """How a flow turns into data and back: the serialization and spec layers above this module."""

    to_dict: Callable[[Flow], dict[str, Any]]
    from_dict: Callable[[Flow, dict[str, Any]], None]
    from_spec: Callable[[dict[str, Any]], Flow]
    load_spec: Callable[[str | os.PathLike[str]], Flow]
    to_spec: Callable[[Flow], dict[str, Any]]


_formats: FlowFormats | None = None


def set_flow_formats(formats: FlowFormats) -> None:
    """Install the flow's data and spec formats (routilux.formats does this on ``import routilux``)."""
    global _formats
    _formats = formats


def _installed_formats() -> FlowFormats:
    if _formats is None:
        raise FlowError("no flow formats installed; import routilux to install them")
    return _formats


class _ClassOrInstance:
    """Lets ``deserialize`` be called on the class (returns a new Flow) or on an instance (fills it)."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __get__(self, obj: Any, cls: type) -> Callable[..., Any]:
        if obj is not None:
            return functools.partial(self.func, obj)

        def build(data: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            flow = cls()
            self.func(flow, data, *args, **kwargs)
            return flow

        return build


class Flow:
    """A workflow: routines by id, connections between them, and how to run them.

    Args:
        flow_id: the flow's id (a uuid4 if omitted).
        execution_strategy: "sequential" (one handler at a time per execution) or "concurrent".
        max_workers: handlers that may run at once in one execution ("concurrent" only).
        execution_timeout: seconds an execution may run before it is failed (None: no limit).
    """

    def __init__(
        self,
        flow_id: str | None = None,
        execution_strategy: str = "sequential",
        max_workers: int = 5,
        execution_timeout: float | None = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.flow_id = flow_id or str(uuid.uuid4())
        self.routines: dict[str, Routine] = {}
        self.connections: list[Connection] = []
        self.error_handler: ErrorHandler | None = None
        self.execution_timeout = execution_timeout
        self.execution_tracker: ExecutionTracker | None = None
        self._routes: dict[tuple[str, str], list[Connection]] = {}
        self._wired_by_flow: dict[int, set[int]] = {}  # id(event) -> ids of slots flow.connect() linked it to
        self._ids_by_object: dict[int, str] = {}
        self._route_cache: dict[tuple[str, str], Route] = {}
        self._active_executions: dict[str, JobState] = {}
        self._latest: JobState | None = None
        self._engine: Engine | None = None
        self.execution_strategy = "sequential"
        self.max_workers = 1
        self._apply_strategy(execution_strategy, max_workers)

    # -- building --------------------------------------------------------
    def add_routine(self, routine: Routine, routine_id: str | None = None) -> str:
        """Add a routine under ``routine_id`` (its ``_id`` if omitted); returns the id."""
        routine_id = routine_id or routine._id
        if routine_id in self.routines:
            raise FlowError(f"Routine ID '{routine_id}' already exists in flow")
        self.routines[routine_id] = routine
        self._ids_by_object.setdefault(id(routine), routine_id)
        wiring_changed()
        return routine_id

    def connect(
        self,
        source_routine_id: str,
        source_event: str,
        target_routine_id: str,
        target_slot: str,
        param_mapping: dict[str, str] | None = None,
    ) -> Connection:
        """Wire an event of one routine to a slot of another; returns the Connection."""
        source = self.routines.get(source_routine_id)
        if source is None:
            raise FlowError(f"Source routine '{source_routine_id}' not found in flow")
        event = source.get_event(source_event)
        if event is None:
            raise FlowError(f"Event '{source_event}' not found in routine '{source_routine_id}'")
        target = self.routines.get(target_routine_id)
        if target is None:
            raise FlowError(f"Target routine '{target_routine_id}' not found in flow")
        slot = target.get_slot(target_slot)
        if slot is None:
            raise FlowError(f"Slot '{target_slot}' not found in routine '{target_routine_id}'")
        connection = Connection(event, slot, param_mapping, source_routine_id, target_routine_id)
        self.connections.append(connection)
        routes = self._routes.setdefault((source_routine_id, source_event), [])
        routes[:] = [c for c in routes if (c.target_routine_id, c.target_slot.name) != (target_routine_id, target_slot)]
        routes.append(connection)
        self._wired_by_flow.setdefault(id(event), set()).add(id(slot))
        wiring_changed()
        return connection

    def targets(self, routine_id: str, event_name: str) -> tuple[Target, ...]:
        """Return (routine id, slot name, param mapping) for each slot an event is wired to now.

        Connections made with :meth:`connect` deliver from the routine id they were made
        for (one routine object may be added under several ids) until
        ``Connection.disconnect()``; a slot linked directly with ``event.connect(slot)``
        receives from every id of the routine, under its own routine's id in this flow.
        Worked out once per change of wiring (see :mod:`routilux.routing`).
        """
        return route(self, routine_id, event_name).targets

    def _find_connection(self, event: Any, slot: Any) -> Connection | None:
        """Return the connection of this flow that links ``event`` to ``slot`` now, or None."""
        for conn in self.connections:
            if conn.source_event is event and conn.target_slot is slot and conn.is_linked:
                return conn
        return None

    def routine_id_of(self, routine: Routine) -> str | None:
        """Return the id under which ``routine`` was added, or None."""
        return self._ids_by_object.get(id(routine))

    def set_error_handler(self, error_handler: ErrorHandler | None) -> None:
        """Set the flow-level error handler (routine-level handlers override it)."""
        self.error_handler = error_handler

    def get_error_handler(self) -> ErrorHandler | None:
        """Return the flow-level error handler, or None."""
        return self.error_handler

    def set_execution_strategy(self, strategy: str, max_workers: int | None = None) -> None:
        """Choose "sequential" or "concurrent" (with ``max_workers``) for later executions."""
        self._apply_strategy(strategy, max_workers)

    def _apply_strategy(self, strategy: str, max_workers: int | None) -> None:
        if strategy not in STRATEGIES:
            raise FlowError(f"Invalid execution strategy {strategy!r}; use one of {STRATEGIES}")
        self.execution_strategy = strategy
        self.max_workers = 1 if strategy == "sequential" else max(1, max_workers or 5)

    def validate(self, entry_routine_id: str | None = None) -> None:
        """Check the flow can run; raises FlowValidationError saying what is wrong."""
        for conn in self.connections:
            if conn.source_routine_id not in self.routines or conn.target_routine_id not in self.routines:
                raise FlowValidationError(f"{conn!r} names a routine that is not in the flow")
        if entry_routine_id is not None:
            routine = self.routines.get(entry_routine_id)
            if routine is None:
                raise FlowValidationError(f"Entry routine '{entry_routine_id}' not found in flow")
            if routine.get_slot("trigger") is None:
                raise FlowValidationError(
                    f"Entry routine '{entry_routine_id}' has no 'trigger' slot; define_slot('trigger', handler=...)"
                )

    # -- running ---------------------------------------------------------
    def _get_engine(self) -> Engine:
        if self._engine is None:
            if _engine_factory is None:
                raise FlowError("no execution engine installed; import routilux to install the local engine")
            self._engine = _engine_factory(self)
        return self._engine

    def start(
        self,
        entry_routine_id: str,
        entry_params: dict[str, Any] | None = None,
        timeout: float | None = None,
        execution_strategy: str | None = None,
        max_workers: int | None = None,
    ) -> JobState:
        """Start an execution and return its JobState at once (status "running").

        ``execution_strategy`` and ``max_workers`` override the flow's settings for
        this execution only.
        """
        self.validate(entry_routine_id)
        params = dict(entry_params or {})
        trigger = self.routines[entry_routine_id].get_slot("trigger")
        if trigger is not None and trigger.handler is not None:
            check_entry_params(entry_routine_id, trigger.accepted_params(), params)
        limit = self._worker_limit(execution_strategy, max_workers)
        job_state = JobState(self.flow_id)
        job_state.current_routine_id = entry_routine_id
        job_state._set_status("running")
        job_state.record_execution(entry_routine_id, "start", params)
        self._active_executions[job_state.job_id] = job_state
        self._latest = job_state
        root = Activation(job_state.job_id, root_id(job_state.job_id), entry_routine_id, "trigger", params)
        self._get_engine().start(job_state, root, self._timeout(timeout), limit)
        return job_state

    def execute(
        self,
        entry_routine_id: str,
        entry_params: dict[str, Any] | None = None,
        execution_strategy: str | None = None,
        timeout: float | None = None,
        max_workers: int | None = None,
    ) -> JobState:
        """Run an execution and return its JobState once it has ended.

        It ends completed, failed (also when it overruns its timeout), paused or
        cancelled. ``execution_strategy`` and ``max_workers`` apply to this execution
        only. Raises ValueError (FlowError) for an unknown entry routine.
        """
        job_state = self.start(entry_routine_id, entry_params, timeout, execution_strategy, max_workers)
        job_state.wait()
        return job_state

    def _worker_limit(self, strategy: str | None, max_workers: int | None) -> int:
        """Handlers one execution may run at once, from the flow's settings and per-execution overrides."""
        strategy = strategy or self.execution_strategy
        if strategy not in STRATEGIES:
            raise FlowError(f"Invalid execution strategy {strategy!r}; use one of {STRATEGIES}")
        if strategy == "sequential":
            return 1
        if max_workers is not None:
            return max(1, max_workers)
        return self.max_workers if self.execution_strategy == "concurrent" else 5

    def _timeout(self, timeout: float | None) -> float | None:
        return timeout if timeout is not None else self.execution_timeout

    def _check_job(self, job_state: JobState) -> None:
        if job_state.flow_id != self.flow_id:
            raise FlowError(
                f"job {job_state.job_id} belongs to flow {job_state.flow_id!r}, which does not match this flow {self.flow_id!r}"
            )

    def pause(self, job_state: JobState, reason: str = "", checkpoint: Any = None) -> JobState:
        """Pause an execution: running handlers finish, everything else waits in the JobState.

        An execution that already ended is left as it is (a finished job is never
        marked paused); returns the JobState either way.
        """
        self._check_job(job_state)
        if not job_state.is_terminal:
            self._get_engine().pause(job_state, reason, checkpoint)
        return job_state

    def resume(self, job_state: JobState, timeout: float | None = None, wait: bool = True) -> JobState:
        """Continue a paused execution (also one loaded from a file); returns its JobState.

        With ``wait`` (the default) it returns once the execution has ended again.
        An execution that already ended is returned unchanged.
        """
        self._check_job(job_state)
        if job_state.is_terminal:
            return job_state
        if job_state.current_routine_id is not None and job_state.current_routine_id not in self.routines:
            raise FlowError(f"routine {job_state.current_routine_id!r} of job {job_state.job_id} is not in this flow")
        self._active_executions[job_state.job_id] = job_state
        self._latest = job_state
        self._get_engine().resume(job_state, self._timeout(timeout))
        if wait:
            job_state.wait()
        return job_state

    def cancel(self, job_state: JobState, reason: str = "") -> None:
        """Cancel an execution for good: nothing of it runs afterwards."""
        self._check_job(job_state)
        self._get_engine().cancel(job_state, reason)

    def post(self, job_state: JobState, routine_id: str, slot_name: str, data: dict[str, Any] | None = None,
             post_id: str | None = None) -> str:
        """Deliver ``data`` to ``routine_id``'s slot ``slot_name`` in a running (or paused) execution.

        The data becomes one activation of that slot, once per ``post_id`` (default: a
        fresh id); a paused execution holds it until resume. A post to a slot with an
        open wait (:meth:`Routine.wait_for_post`) closes the wait. Start the execution
        with :meth:`start` (``execute`` returns only once it has ended), post, then
        :meth:`wait` for it.

        Returns:
            "posted", "duplicate" (this post id was delivered before) or "late" (the slot's
            wait timed out first; nothing was delivered).

        Raises:
            FlowValidationError: no such routine or slot.
            JobNotRunningError: the execution has ended.
        """
        self._check_job(job_state)
        routine = self.routines.get(routine_id)
        if routine is None:
            raise FlowValidationError(f"flow {self.flow_id!r} has no routine {routine_id!r} to post to")
        if slot_name not in routine._slots:
            raise FlowValidationError(f"routine {routine_id!r} of flow {self.flow_id!r} has no slot {slot_name!r}")
        act_id = post_activation_id(post_id or str(uuid.uuid4()))
        act = Activation(job_state.job_id, act_id, routine_id, slot_name, dict(data or {}))
        return self._get_engine().post(job_state, act)

    def wait(self, job_state: JobState, timeout: float | None = None) -> bool:
        """Block until an execution settles; False on timeout."""
        return job_state.wait(timeout)

    def wait_for_completion(self, timeout: float | None = None, job_state: JobState | None = None) -> bool:
        """Deprecated (as upstream deprecates it): use ``job_state.wait()`` or ``flow.wait(job_state)``.

        Waits for one execution (or all this flow knows); False on timeout.
        """
        warnings.warn(
            "Flow.wait_for_completion() is deprecated; use job_state.wait(timeout) or "
            "JobState.wait_for_completion(flow, job_state, timeout)",
            DeprecationWarning,
            stacklevel=2,
        )
        jobs = [job_state] if job_state is not None else list(self._active_executions.values())
        return all(j.wait(timeout) for j in jobs)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop this flow's engine threads."""
        if self._engine is not None:
            self._engine.shutdown(wait, timeout)
            self._engine = None

    # -- executions index ------------------------------------------------
    @property
    def job_state(self) -> JobState | None:
        """The JobState of the latest execution started or resumed here.

        Assigning a JobState makes it the latest execution (tracked by
        :meth:`get_execution`), e.g. to serialize the flow with a loaded state.
        """
        return self._latest

    @job_state.setter
    def job_state(self, job_state: JobState | None) -> None:
        if job_state is not None:
            self._active_executions[job_state.job_id] = job_state
        self._latest = job_state

    def get_execution(self, job_id: str) -> JobState | None:
        """Return a tracked execution by job id."""
        return self._active_executions.get(job_id)

    def get_all_executions(self) -> list[JobState]:
        """Return every tracked execution."""
        return list(self._active_executions.values())

    def cleanup_completed_executions(self) -> int:
        """Forget executions that completed, failed or were cancelled; returns how many."""
        done = [jid for jid, js in self._active_executions.items() if js.is_terminal]
        for jid in done:
            del self._active_executions[jid]
        return len(done)

    # -- serialization ---------------------------------------------------
    def _clear_structure(self) -> None:
        """Forget every routine and connection (before :meth:`deserialize` refills the flow).

        The old routine objects keep their links: they may be wired in another flow too.
        """
        self.routines = {}
        self.connections = []
        self._routes = {}
        self._wired_by_flow = {}
        self._ids_by_object = {}
        self._route_cache = {}
        wiring_changed()

    def serialize(self, include_execution_state: bool = False) -> dict[str, Any]:
        """Return the flow structure as JSON-able data; the execution state only if asked."""
        data = _installed_formats().to_dict(self)
        if include_execution_state and self._latest is not None:
            data["job_state"] = self._latest.serialize()
        return data

    @_ClassOrInstance
    def deserialize(self, data: dict[str, Any]) -> None:
        """Rebuild a flow from :meth:`serialize` output: ``Flow.deserialize(d)`` or ``flow.deserialize(d)``."""
        _installed_formats().from_dict(self, data)

    # -- flows as files (see routilux.spec) --------------------------------
    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Flow:
        """Build a flow from a spec dict (``flow_id``, ``routines``, ``connections``, ``execution``...).

        Raises:
            SpecError: every problem in the spec, each with its path.
        """
        return _installed_formats().from_spec(spec)

    @classmethod
    def load_spec(cls, path: str | os.PathLike[str]) -> Flow:
        """Build a flow from a JSON or YAML spec file; raises SpecError listing every problem."""
        return _installed_formats().load_spec(path)

    def to_spec(self) -> dict[str, Any]:
        """Return this flow as a spec dict that :meth:`from_spec` turns back into the same flow."""
        return _installed_formats().to_spec(self)

    def __repr__(self) -> str:
        return f"Flow(flow_id={self.flow_id!r}, routines={len(self.routines)})"
