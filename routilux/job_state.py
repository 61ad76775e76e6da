"""JobState: everything about one execution of a flow, and its ExecutionRecords.

All per-execution state lives here, never on the Flow or Routine objects: status,
routine states, history, shared data and log, output log, deferred events, slot
buffers, pending activations of a paused job. Mutating methods also note what
they changed in the current step's delta, so the distributed engine can commit
exactly the change a handler made. Inside a step that runs a transaction
(:mod:`routilux.txn`) they change nothing: the step keeps its writes and the
engine applies them at the commit, with :meth:`JobState._apply_op`.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
import warnings
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable

from routilux.context import current_step
from routilux.errors import EncodeError, FlowError, FormatVersionError
from routilux.protocols import FlowLike
from routilux.ops import DE, H, OUT, RS, SB, SD, SL
from routilux.registry import register_serializable  # noqa: F401  (upstream 0.10.0 code imports it from here)
from routilux.versioned import APPEND, BLIND, INCREMENT, MISSING, VersionedDict, as_versioned

if TYPE_CHECKING:
    from routilux.execution_tracker import ExecutionTracker
    from routilux.output_handler import OutputHandler

FORMAT_VERSION = 1
STATUSES = ("pending", "running", "paused", "completed", "failed", "cancelled")
TERMINAL = frozenset({"completed", "failed", "cancelled"})
SETTLED = TERMINAL | {"paused"}
FAILED_ROUTINE_STATUSES = frozenset({"failed", "error"})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def pause_point(
    reason: str, checkpoint: Any = None, current_routine_id: str | None = None, pending_count: int = 0
) -> dict[str, Any]:
    """One entry of ``JobState.pause_points``: the one shape every engine records.

    Args:
        reason: why the job was paused.
        checkpoint: the caller's checkpoint data (also kept as ``JobState.checkpoint``).
        current_routine_id: the job's current routine when it paused.
        pending_count: activations waiting to run (not running) when the pause was asked.
    """
    return {"timestamp": datetime.now().isoformat(), "reason": reason, "checkpoint": checkpoint,
            "current_routine_id": current_routine_id, "pending_count": pending_count}


_RECORD_FIELDS = ("routine_id", "event_name", "data", "timestamp")


class ExecutionRecord:
    """One entry of an execution's history: a routine did something at a time."""

    __slots__ = ("routine_id", "event_name", "data", "_at")

    def __init__(
        self,
        routine_id: str = "",
        event_name: str = "",
        data: Any = None,
        timestamp: datetime | float | None = None,
    ) -> None:
        self.routine_id = routine_id
        self.event_name = event_name
        self.data = data if data is not None else {}
        # A Unix time (the default: now) becomes a datetime when first read; a long history
        # keeps 24-byte floats instead of 48-byte datetimes, and time() is 5x cheaper than now().
        self._at: datetime | float = timestamp or time.time()

    @property
    def timestamp(self) -> datetime:
        """When it happened (local time, as ``datetime.now()``)."""
        at = self._at
        if at.__class__ is float:
            at = self._at = datetime.fromtimestamp(at)
        return at  # type: ignore[return-value]

    @timestamp.setter
    def timestamp(self, value: datetime) -> None:
        self._at = value

    def serialize(self) -> dict[str, Any]:
        """Return the record as plain JSON-able data."""
        return {
            "_type": "ExecutionRecord",
            "routine_id": self.routine_id,
            "event_name": self.event_name,
            "data": self.data,
            "timestamp": _iso(self.timestamp),
        }

    def deserialize(self, data: dict[str, Any]) -> ExecutionRecord:
        """Fill this record from :meth:`serialize` output; returns self."""
        self.routine_id = data.get("routine_id", "")
        self.event_name = data.get("event_name", "")
        recorded = data.get("data")
        self.data = recorded if recorded is not None else {}  # keep falsy data ([], 0, "") as recorded
        self.timestamp = _parse_time(data.get("timestamp")) or datetime.now()
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExecutionRecord):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _RECORD_FIELDS)

    def __repr__(self) -> str:
        return f"ExecutionRecord({self.routine_id!r}, {self.event_name!r}, {self.data!r})"


class JobState:
    """The state of one execution of a flow; serializable, savable and resumable."""

    # A per-step view (the distributed engine's) keeps the entries a step appends to its
    # lists itself; the live JobState must not show them before the step commits.
    _is_view = False

    def __init__(self, flow_id: str = "") -> None:
        now = datetime.now()
        self.flow_id = flow_id
        self.job_id = str(uuid.uuid4())
        self.status = "pending"
        self.current_routine_id: str | None = None
        self._routine_states = VersionedDict(RS, self)
        self.execution_history: list[ExecutionRecord] = []
        self.pending_tasks: list[dict[str, Any]] = []
        self.pause_points: list[dict[str, Any]] = []
        self.deferred_events: list[dict[str, Any]] = []
        self._shared_data = VersionedDict(SD, self)
        self.shared_log: list[dict[str, Any]] = []
        self.output_log: list[dict[str, Any]] = []
        self.slot_buffers: dict[str, dict[str, dict[str, Any]]] = {}
        self.metadata: dict[str, Any] = {}
        self.checkpoint: Any = None
        self.error: str | None = None
        self.created_at = now
        self.updated_at = now
        self.output_handler: OutputHandler | None = None
        self.execution_tracker: ExecutionTracker | None = None  # set by the local engine; not serialized
        self._settled = threading.Event()
        self._lock = threading.RLock()

    # -- versioned parts -------------------------------------------------
    @property
    def shared_data(self) -> VersionedDict:
        """Execution-wide shared values (reads inside a step are tracked, see routilux.txn)."""
        return self._shared_data

    @shared_data.setter
    def shared_data(self, value: dict[str, Any]) -> None:
        self._shared_data = as_versioned(SD, self, value)

    @property
    def routine_states(self) -> VersionedDict:
        """State of each routine in this execution, by routine id (reads inside a step are tracked)."""
        return self._routine_states

    @routine_states.setter
    def routine_states(self, value: dict[str, dict[str, Any]]) -> None:
        self._routine_states = as_versioned(RS, self, value)

    # -- recording -------------------------------------------------------
    def _note(self, *op: Any) -> bool:
        """Add ``op`` to the delta of the step running in this job, if any.

        Returns True if the step keeps the change itself (it runs a transaction
        and the change waits for its commit): the caller must not apply it.
        """
        step = current_step.get()
        if step is None or step.job_state is not self:
            return False
        if step.check is not None:
            step.check(op[1:])
        if step.ops is not None:
            step.ops.append(op)
        txn = step.txn
        if txn is None:
            return False
        kind = op[0]
        if kind == RS or kind == SD:
            txn.set(kind, op[1], op[2])
            return True
        if kind == SB:
            txn.buffers[(op[1], op[2])] = op[3]
            return True
        if kind in BLIND:
            return True
        return not self._is_view

    def _apply_op(self, op: tuple[Any, ...]) -> None:
        """Apply one committed op of a step's delta (blind ops already resolved to SD)."""
        kind = op[0]
        if kind == RS:
            self.routine_states.put(op[1], op[2])
            self.updated_at = datetime.now()
        elif kind == SD:
            self.shared_data.put(op[1], op[2])
            self.updated_at = datetime.now()
        elif kind == H:
            self.execution_history.append(ExecutionRecord(op[1], op[2], op[3], op[4]))
        elif kind == SL:
            self.shared_log.append(op[1])
        elif kind == OUT:
            self.output_log.append(op[1])
        elif kind == DE:
            self.deferred_events.append(op[1])
        elif kind == SB:
            self.slot_buffers.setdefault(op[1], {})[op[2]] = op[3]

    # -- status ----------------------------------------------------------
    def _set_status(self, status: str) -> None:
        """Change the status; engines call :meth:`_settle` once nothing more runs."""
        self.status = status
        self.updated_at = datetime.now()
        if status not in SETTLED:
            self._settled.clear()

    def _settle(self) -> None:
        """Wake everyone waiting for this job to end or pause."""
        self._settled.set()

    @property
    def is_terminal(self) -> bool:
        """True once the job is completed, failed or cancelled."""
        return self.status in TERMINAL

    # -- routine states --------------------------------------------------
    def update_routine_state(self, routine_id: str, state: dict[str, Any]) -> None:
        """Replace the state of one routine with a copy of ``state``."""
        state = dict(state)
        if not self._note(RS, routine_id, state):
            self.routine_states.put(routine_id, state)
            self.updated_at = datetime.now()

    def get_routine_state(self, routine_id: str) -> dict[str, Any] | None:
        """Return the state of one routine, or None."""
        return self.routine_states.get(routine_id)

    # -- history ---------------------------------------------------------
    def record_execution(self, routine_id: str, event_name: str, data: Any = None) -> None:
        """Append an ExecutionRecord to the history."""
        data = data if data is not None else {}
        timestamp = datetime.now()
        if not self._note(H, routine_id, event_name, data, timestamp):
            self.execution_history.append(ExecutionRecord(routine_id, event_name, data, timestamp))

    def _append_emits(self, emits: Iterable[tuple[Any, ...]]) -> None:
        """``record_execution`` of each (routine id, event name, data, ...) for a caller that knows
        no step records or holds these changes."""
        append, at = self.execution_history.append, time.time()  # one step's emits: one time
        for emit in emits:
            append(ExecutionRecord(emit[0], emit[1], emit[2], at))

    def get_execution_history(self, routine_id: str | None = None) -> list[ExecutionRecord]:
        """Return the history (of one routine, if given), oldest first."""
        records = self.execution_history
        if routine_id is not None:
            records = [r for r in records if r.routine_id == routine_id]
        return sorted(records, key=lambda r: r.timestamp)

    # -- shared data and log ---------------------------------------------
    def update_shared_data(self, key: str, value: Any) -> None:
        """Set one execution-wide shared value."""
        if not self._note(SD, key, value):
            self.shared_data.put(key, value)
            self.updated_at = datetime.now()

    def increment_shared_data(self, key: str, by: int | float = 1) -> None:
        """Add ``by`` to a shared number atomically (a missing key counts as 0).

        A blind write: inside a step it notes no read, so concurrent increments
        never make each other re-run, and none is lost. Integers stay exact
        within ±(2**53-1).

        Raises:
            TypeError: ``by`` or the stored value is not an int or float.
            OverflowError: an integer leaves ±(2**53-1).
        """
        self._blind(INCREMENT, key, by)

    def append_shared_data(self, key: str, item: Any) -> None:
        """Append ``item`` to a shared list atomically (a missing key counts as []).

        A blind write like :meth:`increment_shared_data`: concurrent appends all land,
        each once, and never make a step re-run.

        Raises:
            TypeError: the stored value is not a list.
        """
        self._blind(APPEND, key, item)

    def _blind(self, kind: str, key: str, arg: Any) -> None:
        step = current_step.get()
        if step is not None and step.job_state is self and step.txn is not None:
            txn = step.txn
            result = BLIND[kind](key, txn.peek(self.shared_data, key), arg)  # raises now if it cannot apply
            self._note(kind, key, arg)
            txn.blind(kind, key, arg, result)
            return
        with self._lock:  # outside a transaction (sequential steps, or code outside any step)
            value = BLIND[kind](key, dict.get(self.shared_data, key, MISSING), arg)
            self._note(kind, key, arg)
            self.shared_data.put(key, value)
            self.updated_at = datetime.now()

    def get_shared_data(self, key: str, default: Any = None) -> Any:
        """Return one execution-wide shared value."""
        return self.shared_data.get(key, default)

    def append_to_shared_log(self, entry: dict[str, Any]) -> None:
        """Append a dict to the shared log, stamping it with a timestamp if it has none."""
        if not isinstance(entry, dict):
            raise ValueError("shared log entries must be dicts")
        entry = dict(entry)
        entry.setdefault("timestamp", datetime.now().isoformat())
        if not self._note(SL, entry):
            self.shared_log.append(entry)

    def get_shared_log(self, filter_func: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        """Return a copy of the shared log, optionally filtered."""
        if filter_func is None:
            return list(self.shared_log)
        return [e for e in self.shared_log if filter_func(e)]

    # -- deferred events and outputs -------------------------------------
    def add_deferred_event(self, routine_id: str, event_name: str, data: dict[str, Any]) -> None:
        """Keep an event to be emitted when the job is resumed."""
        entry = {
            "routine_id": routine_id,
            "event_name": event_name,
            "data": dict(data),
            "timestamp": datetime.now().isoformat(),
        }
        if not self._note(DE, entry):
            self.deferred_events.append(entry)

    def set_output_handler(self, handler: OutputHandler | None) -> None:
        """Send this job's outputs to ``handler`` as well as to the output log."""
        self.output_handler = handler

    def send_output(self, routine_id: str, output_type: str, data: dict[str, Any]) -> None:
        """Log an output of a routine and hand it to the output handler."""
        timestamp = datetime.now()
        entry = {
            "routine_id": routine_id,
            "output_type": output_type,
            "data": data,
            "timestamp": timestamp.isoformat(),
        }
        if not self._note(OUT, entry):
            self.output_log.append(entry)
        if self.output_handler is not None:
            try:
                self.output_handler.handle(
                    job_id=self.job_id,
                    routine_id=routine_id,
                    output_type=output_type,
                    data=data,
                    timestamp=timestamp,
                )
            except Exception as exc:  # a broken sink must not fail the routine
                warnings.warn(f"output handler failed: {exc!r}", RuntimeWarning, stacklevel=2)

    # -- slot buffers ----------------------------------------------------
    def get_slot_buffer(self, routine_id: str, slot_name: str) -> dict[str, Any]:
        """Return the merge buffer of one slot in this execution."""
        step = current_step.get()
        if step is not None and step.txn is not None and step.job_state is self:
            written = step.txn.buffers.get((routine_id, slot_name))
            if written is not None:
                return written
        return self.slot_buffers.get(routine_id, {}).get(slot_name, {})

    def _swap_slot_buffer(self, routine_id: str, slot_name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Replace a slot's buffer and return the old one, for a step that records no ops and runs no transaction."""
        buffers = self.slot_buffers.get(routine_id)
        if buffers is None:
            buffers = self.slot_buffers[routine_id] = {}
        before = buffers.get(slot_name, {})
        buffers[slot_name] = data
        return before

    def set_slot_buffer(self, routine_id: str, slot_name: str, data: dict[str, Any]) -> None:
        """Replace the merge buffer of one slot in this execution."""
        if not self._note(SB, routine_id, slot_name, data):
            self.slot_buffers.setdefault(routine_id, {})[slot_name] = data

    # -- waiting ---------------------------------------------------------
    @staticmethod
    def wait_for_completion(flow: FlowLike, job_state: JobState, timeout: float | None = None, **_: Any) -> bool:
        """Block until the job is completed, failed, cancelled or paused; False on timeout.

        Kept for code written against upstream Routilux; ``Flow.execute`` already
        returns when the execution has ended. Extra polling arguments are ignored:
        nothing polls, completion is signalled.
        """
        if job_state.flow_id and flow.flow_id != job_state.flow_id:
            raise FlowError(
                f"job {job_state.job_id} belongs to flow {job_state.flow_id!r}, which does not match flow {flow.flow_id!r}"
            )
        return job_state.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until this job settles (completed, failed, cancelled or paused).

        Returns at once for a job already completed, failed or cancelled, also when
        that status was assigned directly; a pausing job is waited for until its
        running handlers have returned.
        """
        if self.status in TERMINAL:
            return True
        return self._settled.wait(timeout)

    # -- serialization ---------------------------------------------------
    def serialize(self) -> dict[str, Any]:
        """Return the whole state as plain JSON-able data (upstream-compatible keys).

        Safe while the job runs: each container is copied in one step before it is
        iterated, so handlers adding entries meanwhile cannot break the iteration.
        """
        return {
            "_type": "JobState",
            "format_version": FORMAT_VERSION,
            "flow_id": self.flow_id,
            "job_id": self.job_id,
            "status": self.status,
            "current_routine_id": self.current_routine_id,
            "routine_states": {k: dict(v) for k, v in self.routine_states.plain().items()},
            "execution_history": [r.serialize() for r in list(self.execution_history)],
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "pause_points": list(self.pause_points),
            "pending_tasks": list(self.pending_tasks),
            "deferred_events": list(self.deferred_events),
            "shared_data": self.shared_data.plain(),
            "shared_log": list(self.shared_log),
            "output_log": list(self.output_log),
            "slot_buffers": {r: dict(s) for r, s in dict(self.slot_buffers).items()},
            "metadata": dict(self.metadata),
            "checkpoint": self.checkpoint,
            "error": self.error,
        }

    def deserialize(self, data: dict[str, Any]) -> JobState:
        """Fill this JobState from :meth:`serialize` output; returns self.

        Raises:
            FormatVersionError: the data is not a JobState, or comes from a newer format.
        """
        check_format(data, "JobState")
        self.flow_id = data.get("flow_id", "")
        self.job_id = data.get("job_id") or self.job_id
        self.current_routine_id = data.get("current_routine_id")
        self.routine_states = {k: dict(v) for k, v in (data.get("routine_states") or {}).items()}
        self.execution_history = [ExecutionRecord().deserialize(r) for r in data.get("execution_history") or []]
        self.created_at = _parse_time(data.get("created_at")) or self.created_at
        self.pause_points = list(data.get("pause_points") or [])
        self.pending_tasks = list(data.get("pending_tasks") or [])
        self.deferred_events = list(data.get("deferred_events") or [])
        self.shared_data = dict(data.get("shared_data") or {})
        self.shared_log = list(data.get("shared_log") or [])
        self.output_log = list(data.get("output_log") or [])
        self.slot_buffers = {r: dict(s) for r, s in (data.get("slot_buffers") or {}).items()}
        self.metadata = dict(data.get("metadata") or {})
        self.checkpoint = data.get("checkpoint")
        self.error = data.get("error")
        self._set_status(data.get("status", "pending"))
        if self.status in SETTLED:
            self._settle()
        self.updated_at = _parse_time(data.get("updated_at")) or self.updated_at
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        """Build a new JobState from :meth:`serialize` output."""
        return cls().deserialize(data)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state to ``path`` as JSON, creating parent folders.

        Raises:
            EncodeError: some value in the state is not JSON-representable.
        """
        try:
            text = json.dumps(self.serialize(), indent=2, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise EncodeError(f"JobState {self.job_id} cannot be written as JSON: {exc}") from exc
        folder = os.path.dirname(os.fspath(path))
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> JobState:
        """Read a JobState written by :meth:`save`.

        Raises:
            FileNotFoundError: no such file.
            FormatVersionError: the file does not hold a JobState this version can read.
        """
        with open(path, encoding="utf-8") as handle:
            try:
                data = json.load(handle)
            except json.JSONDecodeError as exc:
                raise FormatVersionError(f"Invalid JobState file format: {exc}") from exc
        if not isinstance(data, dict) or data.get("_type") != "JobState":
            raise FormatVersionError("Invalid JobState file format: no JobState in it")
        return cls.from_dict(data)

    def __repr__(self) -> str:
        return f"JobState(job_id={self.job_id!r}, flow_id={self.flow_id!r}, status={self.status!r})"


def check_format(data: Any, expected_type: str) -> None:
    """Raise FormatVersionError unless ``data`` is a dict of ``expected_type`` this version reads."""
    if not isinstance(data, dict) or data.get("_type") != expected_type:
        found = data.get("_type") if isinstance(data, dict) else type(data).__name__
        raise FormatVersionError(f"expected serialized {expected_type}, got {found!r}")
    version = data.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise FormatVersionError(
            f"{expected_type} data has format version {version!r}; this Routilux reads up to {FORMAT_VERSION}"
        )
