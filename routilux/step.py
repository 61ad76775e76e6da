"""The one step both engines run: an activation in, a StateDelta out.

``run_step`` merges the payload into the slot's buffer (kept in the JobState),
calls the handler, and returns what changed (state ops, in order) and the child
activations the handler's emits produced. The local engine runs it against the
live JobState; the distributed engine runs it against a snapshot and commits the
delta to Redis. Emits of a failed attempt are discarded; state the handler wrote
before it raised is kept, like output it already sent.

With a :class:`~routilux.txn.StepTxn` the step is a transaction: the JobState
changes nothing while it runs, the step reads its own writes back, and the
engine commits the delta only if what the step read is unchanged; otherwise it
runs the step again (:func:`rerun_delay_s`), up to :data:`MAX_CONFLICT_RERUNS`
times, and then feeds a :class:`StepConflictError` to the error strategy
(:func:`run_conflicted`).
"""

from __future__ import annotations

import inspect
import random
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from routilux import routing
from routilux.aio import Awaiter, run_coroutine
from routilux.activation import Activation, route_emit
from routilux.context import current_job_state, current_step
from routilux.error_handler import Decision, ErrorHandler
from routilux.errors import FlowError, StepConflictError
from routilux.ops import Op
from routilux.slot import call_handler, merge
from routilux.txn import StepTxn

if TYPE_CHECKING:
    from routilux.flow import Flow
    from routilux.job_state import JobState
    from routilux.routine import Routine

_DEFAULT_HANDLER = ErrorHandler()

Emit = tuple[str, str, dict[str, Any], tuple[str, ...]]
"""One emit of a step: (routine id, event name, data, the routine ids it was delivered to)."""

MAX_CONFLICT_RERUNS = 50
"""Re-runs of one step whose reads changed, before the engine gives up on it (see run_conflicted)."""

MAX_TRACEBACK_CHARS = 16 * 1024
"""A handler error's stack trace is kept up to this size in its history record (the head and the tail)."""


def bounded_traceback(exc: BaseException, limit: int = MAX_TRACEBACK_CHARS) -> str:
    """``exc``'s full stack trace as text, at most ``limit`` characters: beyond that the first quarter
    and the last three quarters are kept (where it was called from, and where it raised) around a note."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    if len(text) <= limit:
        return text
    note = f"\n... ({len(text) - limit} characters cut) ...\n"
    head = max(0, (limit - len(note)) // 4)
    return text[:head] + note + text[-(limit - len(note) - head):]


def rerun_delay_s(reruns: int) -> float:
    """Pause before re-run number ``reruns`` (1-based): none at first, then a short random backoff.

    Steps that keep colliding spread out instead of colliding again in lockstep.
    """
    if reruns < 3:
        return 0.0
    return random.uniform(0, min(0.05, 0.0005 * 2 ** (reruns - 3)))


class StepContext:
    """What a handler's emits and state changes are recorded into while it runs."""

    __slots__ = ("flow", "job_state", "routine", "routine_id", "activation", "ops", "children", "emits", "check", "txn")

    def __init__(
        self,
        flow: Flow,
        job_state: JobState,
        routine: Routine,
        activation: Activation,
        check: Callable[[Any], None] | None = None,
        record: bool = True,
        txn: StepTxn | None = None,
    ) -> None:
        self.flow = flow
        self.job_state = job_state
        self.routine = routine
        self.routine_id = activation.routine_id
        self.activation = activation
        # None when nobody reads the delta's ops (the local engine applies changes live).
        self.ops: list[tuple[Any, ...]] | None = [] if record else None
        self.children: list[Activation] = []
        self.emits: list[Emit] = []
        self.check = check
        self.txn = txn

    def emit(self, routine: Routine, event_name: str, data: dict[str, Any]) -> None:
        """Turn one emit into child activations, one per connected slot."""
        rid = self.routine_id if routine is self.routine else self.flow.routine_id_of(routine)
        if rid is None:
            raise FlowError(f"{routine!r} emitted {event_name!r} but is not part of flow {self.flow.flow_id!r}")
        if self.check is not None:
            self.check(data)
        route = routing.route(self.flow, rid, event_name)
        self.emits.append((rid, event_name, data, route.ids))
        act = self.activation
        self.children += route_emit(
            act.job_id, act.activation_id, rid, event_name, data, route.targets, len(self.children)
        )


@dataclass(slots=True)
class StepResult:
    """The outcome of one step: the delta (ops and children) and what the job must do next.

    ``action`` is None (carry on), "fail" (the job fails now, ``reason`` says why)
    or "retry" (run the activation again after ``delay_s``). ``txn`` holds what
    the step read, when it ran as a transaction: the engine commits ``ops`` only
    if those reads still hold.
    """

    activation: Activation
    ops: list[tuple[Any, ...]] = field(default_factory=list)
    children: list[Activation] = field(default_factory=list)
    action: str | None = None
    delay_s: float = 0.0
    reason: str | None = None
    error: BaseException | None = None
    emits: list[Emit] = field(default_factory=list)  # kept emits
    txn: StepTxn | None = None


def error_handler_for(flow: Flow, routine: Routine) -> ErrorHandler:
    """Routine-level handler, else flow-level, else STOP."""
    return routine._error_handler or flow.error_handler or _DEFAULT_HANDLER


def run_step(
    flow: Flow,
    job_state: JobState,
    act: Activation,
    check: Callable[[Any], None] | None = None,
    record: bool = True,
    reraise: tuple[type[BaseException], ...] = (),
    txn: StepTxn | None = None,
    awaiter: Awaiter = run_coroutine,
) -> StepResult:
    """Run one activation against ``job_state`` and return its delta.

    ``check``, if given, is called on every emitted payload and every value the
    handler writes to the JobState, and may raise (the distributed engine checks
    that they can be encoded, so the error reaches the handler's error strategy).
    Without ``record`` the result carries no ops (for an engine that applies
    changes to the live JobState and needs no delta to commit). Exceptions of the
    ``reraise`` types are the engine's own (its store went away, say): they escape
    instead of reaching the error strategy. With ``txn`` the step runs as a
    transaction (see the module's docstring); it needs ``record``. An ``async def``
    handler's coroutine is run to its end by ``awaiter`` (see :mod:`routilux.aio`);
    its errors reach the error strategy as a sync handler's do.
    """
    routine = flow.routines.get(act.routine_id)
    slot = routine._slots.get(act.slot) if routine is not None else None
    if routine is None or slot is None:
        return _broken_target(flow, job_state, act)
    ctx = StepContext(flow, job_state, routine, act, check, record or txn is not None, txn)
    step_token = current_step.set(ctx)
    state_token = current_job_state.set(job_state)
    try:
        # A copy: the handler may mutate its data, but the payload is re-run by a retry and is
        # the very dict the upstream emit recorded in the history.
        payload = dict(act.payload)
        if ctx.ops is None and txn is None and check is None and slot.merge_strategy == "override":
            before = job_state._swap_slot_buffer(act.routine_id, act.slot, payload)  # live: as get + set would
            handler_data = payload
        else:
            before = job_state.get_slot_buffer(act.routine_id, act.slot)
            stored, handler_data = merge(slot.merge_strategy, before, payload)
            job_state.set_slot_buffer(act.routine_id, act.slot, stored)
        started = time.perf_counter() if act.attempt else 0.0  # only a retried step records its time
        try:
            if slot.handler is not None:
                returned = call_handler(slot.handler, handler_data)
                if inspect.iscoroutine(returned):
                    awaiter(returned)
        except reraise:
            raise  # not the handler's fault: the engine runs the activation again later
        except Exception as exc:  # the handler's error is data for its error strategy
            return _failed(ctx, exc, before)
        return _succeeded(ctx, started)
    finally:
        current_job_state.reset(state_token)
        current_step.reset(step_token)


def run_conflicted(flow: Flow, job_state: JobState, act: Activation, reruns: int, txn: StepTxn | None) -> StepResult:
    """The step of an activation re-run ``reruns`` times without committing: its error strategy decides.

    The handler does not run again; a :class:`StepConflictError` takes its place,
    so a retry strategy tries later (counted as a retry), and stop fails the job.
    """
    routine = flow.routines[act.routine_id]
    ctx = StepContext(flow, job_state, routine, act, None, True, txn)
    step_token = current_step.set(ctx)
    try:
        before = job_state.get_slot_buffer(act.routine_id, act.slot)
        stored, _ = merge(routine._slots[act.slot].merge_strategy, before, dict(act.payload))
        job_state.set_slot_buffer(act.routine_id, act.slot, stored)  # as if the handler had run and raised
        exc = StepConflictError(
            f"routine {act.routine_id!r} slot {act.slot!r}: what the step read changed before every one of "
            f"its {reruns + 1} attempts to commit"
        )
        return _failed(ctx, exc, before)
    finally:
        current_step.reset(step_token)


def _succeeded(ctx: StepContext, started: float) -> StepResult:
    job_state, act = ctx.job_state, ctx.activation
    if ctx.ops is None and ctx.txn is None and ctx.check is None:
        job_state._append_emits(ctx.emits)  # nothing records or checks the step's ops: written live
    else:
        for rid, event_name, data, _ in ctx.emits:
            job_state.record_execution(rid, event_name, data)
    if act.attempt:
        elapsed_s = time.perf_counter() - started
        job_state.update_routine_state(
            act.routine_id, {"status": "completed", "execution_time": elapsed_s, "retry_count": act.attempt}
        )
        job_state.record_execution(act.routine_id, "completed", {"execution_time": elapsed_s, "retried": True})
    elif act.source is None and act.slot == "trigger":
        state = dict(job_state.routine_states.get(act.routine_id) or {})
        state["status"] = "completed"
        job_state.update_routine_state(act.routine_id, state)
    return StepResult(act, ctx.ops or [], ctx.children, emits=ctx.emits, txn=ctx.txn)


def _failed(ctx: StepContext, exc: Exception, before: dict[str, Any]) -> StepResult:
    job_state, act, rid = ctx.job_state, ctx.activation, ctx.routine_id
    decision: Decision = error_handler_for(ctx.flow, ctx.routine).decide(exc, act.attempt + 1)
    info = {"slot": act.slot, "error": str(exc), "error_type": type(exc).__name__,
            "traceback": bounded_traceback(exc)}
    result = StepResult(act, ctx.ops or [], [], error=exc, txn=ctx.txn)
    if decision.action == "retry":
        job_state.set_slot_buffer(rid, act.slot, before)  # the retry merges its payload again
        job_state.record_execution(rid, "retry", {**info, "attempt": act.attempt + 1, "delay_s": decision.delay_s})
        result.action, result.delay_s = "retry", decision.delay_s
    elif decision.action == "continue":
        job_state.record_execution(rid, "error_continued", info)
        job_state.update_routine_state(rid, {"status": "error_continued", "error": str(exc)})
    elif decision.action == "skip":
        job_state.update_routine_state(rid, {"status": "skipped", "error": str(exc)})
    else:
        if act.attempt:
            info["retries_exhausted"] = act.attempt
        job_state.record_execution(rid, "error", info)
        job_state.update_routine_state(
            rid, {"status": "failed", "error": str(exc), "error_time": datetime.now().isoformat()}
        )
        if decision.action == "stop":
            result.action = "fail"
            result.reason = f"routine {rid!r} slot {act.slot!r} raised {type(exc).__name__}: {exc}"
    return result


def _broken_target(flow: Flow, job_state: JobState, act: Activation) -> StepResult:
    """An activation names a routine or slot the flow lacks: fail the job, say which."""
    where = "routine" if act.routine_id not in flow.routines else "slot"
    reason = f"flow {flow.flow_id!r} has no {where} for activation {act.routine_id}.{act.slot}"
    job_state.record_execution(act.routine_id, "error", {"slot": act.slot, "error": reason, "error_type": "FlowError"})
    record = job_state.execution_history[-1]
    ops: list[tuple[Any, ...]] = [(Op.H, record.routine_id, record.event_name, record.data, record.timestamp)]
    return StepResult(act, ops, [], action="fail", reason=reason, error=FlowError(reason))
