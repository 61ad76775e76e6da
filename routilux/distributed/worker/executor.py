"""Runs one activation on a worker: claim, run the step, commit, dispatch children.

The handler runs at least once; its effect on the JobState is committed exactly
once (the commit refuses a second commit of an activation id and a stale
fencing token). Problems with the message or the worker's code never crash the
worker: a malformed, oversized, unsigned or badly signed message goes to the
dead-letter stream (a worker with signing keys checks the signature before it
decodes anything), and an activation this worker cannot run (a routine class it
did not import) is handed back for another worker, until it reaches the
dead-letter stream with the reason. The body stored in Redis is checked the same
way after the claim; a stored body that fails is dead-lettered and its job fails.
"""

from __future__ import annotations

import inspect
import logging
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from routilux import codec
from routilux.aio import shared_loop
from routilux.activation import Activation
from routilux.distributed.batch import batch_bodies, run_batch, run_batch_pooled
from routilux.distributed.delta import commit_args
from routilux.distributed.dispatch import Dispatcher
from routilux.distributed.protocol.args import CommitArgs
from routilux.distributed.protocol.envelope import from_envelope, job_key_of, open_body
from routilux.distributed.protocol.priority import of_envelope
from routilux.distributed.protocol.tenants import of_envelope as tenant_of
from routilux.distributed.protocol.replies import CommitReply
from routilux.distributed.flows import FlowCache
from routilux.distributed.subflows import ChildJobs
from routilux.distributed.worker.admission import Admission, Admitted, is_limited
from routilux.distributed.worker.handler_call import HandlerCall
from routilux.distributed.worker.heartbeat import Heartbeat
from routilux.distributed.hooks import current as current_hooks
from routilux.distributed.protocol.keys import slot_field
from routilux.distributed.worker.limits import MainThreadTimers, TimeLimits, in_pool_child
from routilux.distributed.worker.dispatch_marks import DispatchMarks
from routilux.distributed.worker.remote_state import RemoteJobState
from routilux.distributed.store import RedisStore
from routilux.distributed.constants import (COMMIT_RETRY_FIRST_S, COMMIT_RETRY_MAX_S, DEAD_LETTER_RAW_BYTES,
                                              EARLY_RETRY_SLACK_S, UNRUNNABLE_BOUNCE_S)
from routilux.distributed.tracing import carrier_of, tracing
from routilux.errors import DecodeError, MalformedMessageError, StoreUnavailableError
from routilux.context import current_child_jobs
from routilux.flow import Flow
from routilux.job_state import TERMINAL
from routilux.ops import Op
from routilux.bounds import DEFAULT_LIMITS, Limits
from routilux.step import MAX_CONFLICT_RERUNS, StepResult, bounded_traceback, rerun_delay_s, run_conflicted, run_step
from routilux.txn import StepTxn

log = logging.getLogger("routilux.distributed")

_COMMIT_TRIES = 8
# A worker runs an activation's first override-merge child itself, up to Settings.inline_steps
# and this much time, instead of sending it through the queue (a chain then costs one commit per step).
INLINE_BUDGET_S = 1.0


def check_encodable(value: Any, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise EncodeError if ``value`` cannot travel through the store, or would be over ``limits`` there."""
    codec.packb(value, limits=limits.for_values())


def _log_handler_error(act: Activation, result: StepResult) -> None:
    """Log a handler's error with its stack trace: ERROR when it fails the job, else WARNING (retried, tolerated)."""
    level = logging.ERROR if result.action == "fail" else logging.WARNING
    what = {"fail": "the job fails", "retry": "retried"}.get(result.action or "", "its error strategy goes on")
    exc = result.error
    log.log(level, "routine %r slot %r of job %s raised %s: %s (attempt %d; %s)", act.routine_id, act.slot,
            act.job_id, type(exc).__name__, exc, act.attempt + 1, what,
            exc_info=(type(exc), exc, exc.__traceback__))


class Executor:
    """Everything a worker process needs to run activations."""

    def __init__(self, store: RedisStore, dispatcher: Dispatcher, make_engine: Any = None) -> None:
        self.store = store
        self.settings = store.settings
        self.dispatcher = dispatcher
        self.flows = FlowCache(store.flow_data, self.settings.flow_cache_size, make_engine)
        self.heartbeat = Heartbeat(store, self.settings.heartbeat_s, self._past_hard_limit)
        self.timers = MainThreadTimers()
        self.handler_loop = shared_loop  # runs every coroutine handler of this process
        # An asyncio worker runs every activation on these threads: up to ``concurrency`` at once,
        # the bodies of one batch message among them (their awaits overlap on the handler loop).
        self.activation_threads = ThreadPoolExecutor(self.settings.concurrency, "routilux-activation") \
            if self.settings.pool == "asyncio" else None
        self.dispatch_marks = DispatchMarks(store)
        self.admission = Admission(store, dispatcher)
        self.default_worker = socket.gethostname()
        self.hooks = current_hooks()
        self.tracing = tracing()
        self.keyring = self.settings.keyring
        self.limits = self.settings.limits
        self._check = lambda value: check_encodable(value, self.limits)
        self.children = ChildJobs(store, dispatcher)

    def run(self, message: Any, worker: str | None = None) -> str:
        """Run one activation message; returns what happened (for logs and tests).

        ``worker`` is the node name of the Celery worker running it (one host's
        processes share it), used to tell workers that cannot run an activation apart.
        """
        if self.activation_threads is not None:
            return self.activation_threads.submit(self._run_one, message, worker).result()
        return self._run_one(message, worker)

    def _run_one(self, message: Any, worker: str | None) -> str:
        try:
            envelope = open_body(message, self.keyring, self.limits)
            act, flow_hash = from_envelope(envelope)
        except MalformedMessageError as exc:
            return self._malformed(message, exc)
        try:
            flow = self.flows.get(flow_hash)
        except StoreUnavailableError:
            raise  # the sweeper re-sends it once Redis is back
        except Exception as exc:  # a missing class, or a routine constructor that fails on this host
            log.error("cannot run %s of job %s here: %s", act.activation_id, act.job_id, exc, exc_info=exc)
            delay_s = min(UNRUNNABLE_BOUNCE_S, self.settings.lease_s)
            answer = self.store.bounce(act.job_id, act.activation_id, str(exc), delay_s, worker or self.default_worker,
                                       bounded_traceback(exc))
            if answer == "dead":
                self.hooks.on_dead_letter("unrunnable")
            return f"bounced:{answer}"
        return self._claim_and_run(flow, flow_hash, act, worker or self.default_worker, carrier_of(envelope),
                                   job_key_of(envelope), of_envelope(envelope), tenant_of(envelope))

    def run_batch(self, message: Any, worker: str | None = None) -> str:
        """Run a batch message's bodies one by one, each as :meth:`run` does; returns the outcomes counted.

        A body that is malformed, unsigned or over the limits is dead-lettered alone;
        a message that is not a list of bodies is dead-lettered whole. Bodies not
        started within the batch's time budget are handed back to the queue.
        """
        try:
            bodies = batch_bodies(message)
        except MalformedMessageError as exc:
            return self._malformed(message, exc)
        run = lambda body: self._run_one(body, worker)  # noqa: E731
        hand_back = lambda rest: self.dispatcher.hand_back(rest, *self._lane_of(rest[0]))  # noqa: E731
        if self.activation_threads is not None:
            outcomes = run_batch_pooled(run, bodies, hand_back, self.activation_threads)
        else:
            outcomes = run_batch(run, bodies, hand_back)
        return " ".join(f"{outcome}:{count}" for outcome, count in outcomes.items())

    def _lane_of(self, body: Any) -> tuple[int | None, str | None]:
        """The priority and tenant a body carries (bodies of one batch share their job's); None if unreadable."""
        try:
            envelope = open_body(body, self.keyring, self.limits)
        except MalformedMessageError:
            return None, None
        return of_envelope(envelope), tenant_of(envelope)

    def _malformed(self, message: Any, exc: MalformedMessageError) -> str:
        log.error("dead-lettering a malformed message: %s", exc)
        self.store.dead_letter_message(str(exc), _raw(message))
        self.hooks.on_dead_letter("malformed")
        return "malformed"

    def _claim_and_run(self, flow: Flow, flow_hash: str, act: Activation, worker: str,
                       trace: dict[str, str] | None = None, job_key: str = "", priority: int | None = None,
                       tenant: str | None = None) -> str:
        """Claim and run an activation, then the children its commits lease to this worker (each its own span).

        ``job_key``: the job's concurrency key, if it was submitted with one (the job then takes its slot
        at its first claim, and frees it with the commit that ends it); ``priority`` and ``tenant`` go on
        with every message the job's commits send.
        """
        with self.tracing.activation(act.job_id, act.activation_id, act.routine_id, act.slot, act.attempt, trace):
            if job_key and not self.admission.enter_job(act, job_key):
                self.tracing.note(claim="waiting")
                return "waiting"
            admitted = self.admission.enter(flow, act)  # None, without a Redis command, for a routine with no limit
            if isinstance(admitted, str):
                self.tracing.note(claim=admitted)
                return admitted
            leased = self._claim(flow, act)
            if isinstance(leased, str):
                self.admission.leave(admitted, fresh_only=True)
                return leased
            stored, token, lock, buffers, flow_id, current = leased
            deadline = time.monotonic() + INLINE_BUDGET_S
            inline_until = deadline if self.settings.inline_steps >= 1 else 0.0
            try:
                answer, inline = self._step(flow, flow_hash, stored, token, lock, buffers, flow_id, current,
                                            inline_until, worker, trace, admitted, job_key, priority, tenant)
            finally:
                self.admission.leave(admitted)
        steps = 1
        while True:
            inline_token = answer.inline_token if answer.outcome == "ok" else ""
            if inline is None or not inline_token:
                if job_key:
                    self.admission.leave_job_if_ended(act.job_id, job_key, answer.status)
                return answer.outcome
            # The commit leased one child to this worker: run it now, skipping the queue.
            steps += 1
            inline_until = deadline if steps <= self.settings.inline_steps else 0.0
            with self.tracing.activation(act.job_id, inline.activation_id, inline.routine_id, inline.slot,
                                         inline.attempt, trace):
                answer, inline = self._step(flow, flow_hash, inline, inline_token, "", {}, flow_id, current,
                                            inline_until, worker, trace, None, job_key, priority, tenant)

    def _claim(self, flow: Flow, act: Activation) -> str | tuple[Activation, str, str, dict[str, Any], str, str | None]:
        """Lease an activation: (stored activation, token, slot lock, buffers, flow id, current routine),
        or what the claim answered instead."""
        lock = _lock_key(flow, act)
        started = time.perf_counter()
        with self.tracing.stage("claim"):
            claim = self.store.claim(act.job_id, act.activation_id, lock, self._limits(flow, act).hard_s)
        self.hooks.after_claim(act.routine_id, claim.outcome, time.perf_counter() - started)
        if claim.outcome != "ok":
            self.tracing.note(claim=claim.outcome)
            if claim.outcome == "dead":
                self.hooks.on_dead_letter("attempts")
                log.error("activation %s of job %s went to the dead-letter stream", act.activation_id, act.job_id)
            return claim.outcome
        self.tracing.note(attempt=claim.tries)
        token, body, buffer = claim.token, claim.body, claim.buffer
        flow_id, current = claim.flow_id, claim.current_routine_id or None
        try:
            stored, _ = from_envelope(open_body(body, self.keyring, self.limits))
            buffers = {stored.routine_id: {stored.slot: self.store.decode(buffer)}} if buffer else {}
        except DecodeError as exc:  # a malformed or unsigned body, or a buffer over the limits
            log.error("dead-lettering stored activation %s of job %s: %s", act.activation_id, act.job_id, exc)
            self.store.reject(act.job_id, act.activation_id, f"stored activation refused: {exc}")
            self.hooks.on_dead_letter("rejected")
            return "rejected"
        return stored, token, lock, buffers, flow_id, current

    def _step(self, flow: Flow, flow_hash: str, act: Activation, token: str, lock: str,
              buffers: dict[str, dict[str, Any]], flow_id: str, current: str | None,
              inline_until: float, worker: str, trace: dict[str, str] | None = None,
              admitted: Admitted | None = None, job_key: str = "", priority: int | None = None,
              tenant: str | None = None) -> tuple[CommitReply, Activation | None]:
        """Run and commit one leased activation; re-run it while its commit is refused for stale reads.

        A child may be run inline if the step ends before ``inline_until`` (monotonic time).
        Returns the commit's answer and the child it leased to this worker, if any.
        """
        reruns = 0
        while True:
            started = time.perf_counter()
            view = RemoteJobState(self.store, act.job_id, flow_id, current, buffers)
            txn = StepTxn()
            with self.tracing.stage("handler"):
                if reruns > MAX_CONFLICT_RERUNS:
                    result = run_conflicted(flow, view, act, MAX_CONFLICT_RERUNS, txn)
                else:
                    result = self._run_leased(flow, view, act, token, txn, worker, admitted)
                if result.error is not None:
                    self.tracing.raised(result.error)
            inline = _inline_candidate(flow, result) if time.monotonic() < inline_until else None
            with self.tracing.stage("commit"):
                answer, _ = self._commit(result, flow_hash, token, lock, inline, started, trace, job_key, priority,
                                         tenant)
                self.tracing.note(outcome=result.action or "ok", commit=answer.outcome)
            if answer.outcome != "conflict":
                self.heartbeat.count(worker, result.error is not None)
                if answer.outcome in ("ok", "dropped") and answer.status in TERMINAL:
                    self._job_ended(act.job_id)
                return answer, inline
            reruns += 1
            log.debug("activation %s of job %s read stale data; re-run %d", act.activation_id, act.job_id, reruns)
            delay = rerun_delay_s(reruns)
            if delay:
                time.sleep(delay)

    def _job_ended(self, job_id: str) -> None:
        """Report an ended job to its parent job and cancel its open children (the sweeper does it otherwise)."""
        try:
            self.children.job_ended(job_id)
        except StoreUnavailableError as exc:
            log.warning("job %s ended, but its sub-flow links wait for the sweeper: %s", job_id, exc)

    def _run_leased(self, flow: Flow, view: RemoteJobState, act: Activation, token: str, txn: StepTxn,
                    worker: str, admitted: Admitted | None = None) -> StepResult:
        limits = self._limits(flow, act)
        on_main = self.timers.usable()
        call = HandlerCall(self.handler_loop, None if on_main else threading.get_ident(), limits.soft_s)
        self.heartbeat.track(act.job_id, act.activation_id, token, limits, call, act.routine_id, act.slot, worker)
        if admitted is not None and admitted.slots:
            self.heartbeat.hold_slots(act.job_id, act.activation_id, [name for name, _ in admitted.slots])
        if on_main:
            # A coroutine runs on the loop's thread: SIGALRM would stop the wait for it, not the coroutine.
            self.timers.arm(TimeLimits(0.0, limits.hard_s) if _is_async(flow, act) else limits,
                            kill_on_hard=in_pool_child())
        started = time.perf_counter()
        host = current_child_jobs.set(self.children)
        try:
            result = run_step(flow, view, act, self._check, reraise=(StoreUnavailableError,), txn=txn,
                              awaiter=call.awaiter)
        finally:
            current_child_jobs.reset(host)
            if on_main:
                self.timers.disarm()
            self.heartbeat.untrack(act.job_id, act.activation_id)
        self.hooks.after_step(act.routine_id, result.action or "ok", time.perf_counter() - started)
        if result.error is not None:
            _log_handler_error(act, result)
        return result

    def _limits(self, flow: Flow, act: Activation) -> TimeLimits:
        s = self.settings
        return TimeLimits.of(flow.routines.get(act.routine_id), s.soft_time_limit_s, s.hard_time_limit_s)

    def _past_hard_limit(self, job_id: str, act_id: str, token: str, hard_s: float) -> None:
        """Hand an activation past its hard time limit back, as a failed attempt; a pool child also dies."""
        try:
            self.store.abandon(job_id, act_id, token, f"ran past its hard time limit of {hard_s} s")
        finally:
            if in_pool_child():
                os.kill(os.getpid(), signal.SIGKILL)  # Celery's pool starts a fresh child

    def _commit(
        self, result: StepResult, flow_hash: str, token: str, lock: str, inline: Activation | None = None,
        step_started: float | None = None, trace: dict[str, str] | None = None, job_key: str = "",
        priority: int | None = None, tenant: str | None = None,
    ) -> tuple[CommitReply, dict[str, bytes]]:
        act = result.activation
        grace_ms = self.dispatcher.grace_ms(self.settings.outbox_grace_s, len(result.children))
        lease_ms = int(self.settings.lease_s * 1000)
        step_ms = int((time.perf_counter() - step_started) * 1000) if step_started is not None else 0
        args, children = commit_args(
            result, token, flow_hash, lock, grace_ms, inline.activation_id if inline else "", lease_ms, self.keyring,
            step_ms, trace, job_key, priority, tenant,
        )
        started = time.perf_counter()
        answer = self._commit_with_retries(args)
        self.hooks.after_commit(act.routine_id, answer.outcome, time.perf_counter() - started)
        if answer.outcome == "ok":
            ids, score = answer.dispatch, answer.outbox_score
            # Marked as each message goes out: a long fan-out must not outlive the outbox grace unmarked.
            self.dispatcher.send(((f"{act.job_id}|{i}", children[i]) for i in ids),
                                 sent=lambda job_id, sent_ids: self.dispatch_marks.add(job_id, score, sent_ids),
                                 priority=priority, tenant=tenant)
            if result.action == "retry" and result.delay_s < self.settings.sweep_interval_s:
                self._retry_soon(f"{act.job_id}|{act.activation_id}", result.delay_s, priority, tenant)
            for op in result.held:  # timers are held in Redis; this only saves waiting for the next sweep
                if op[0] == Op.TM and op[2] < self.settings.sweep_interval_s:
                    self._retry_soon(f"{act.job_id}|{op[1]}", op[2], priority, tenant)  # due that long after the commit
        if answer.waiter:
            self._send_waiter(act.job_id, answer.waiter, priority, tenant)
        return answer, children

    def _commit_with_retries(self, args: CommitArgs) -> CommitReply:
        """Commit, riding out a short Redis outage (past it, the lease expires and the step runs again)."""
        delay = COMMIT_RETRY_FIRST_S
        for _ in range(_COMMIT_TRIES - 1):
            try:
                return self.store.commit(args)
            except StoreUnavailableError:
                log.warning("Redis unavailable while committing %s; retrying in %.2fs", args.act, delay)
                time.sleep(delay)
                delay = min(delay * 2, COMMIT_RETRY_MAX_S)
        return self.store.commit(args)

    def _retry_soon(self, member: str, delay_s: float, priority: int | None = None,
                    tenant: str | None = None) -> None:
        """Send a short retry when its Redis timer is due, instead of at the next sweep.

        The timer only saves latency: the retry is in Redis, and the sweeper sends
        it even if this process dies first.
        """

        def fire() -> None:
            try:
                body = self.store.requeue_due(member)
                if body is not None:
                    self.dispatcher.send([(member, body)], priority=priority, tenant=tenant)
            except Exception:  # the sweeper will send it
                log.debug("early retry dispatch failed", exc_info=True)

        timer = threading.Timer(delay_s + EARLY_RETRY_SLACK_S, fire)
        timer.daemon = True
        timer.start()

    def _send_waiter(self, job_id: str, act_id: str, priority: int | None = None, tenant: str | None = None) -> None:
        self.dispatcher.send(self.store.bodies(job_id, [act_id]), priority=priority, tenant=tenant)


def _inline_candidate(flow: Flow, result: StepResult) -> Activation | None:
    """The child this worker may run next itself: the first one whose slot needs no lock and that has no
    concurrency or rate limit (those are admitted before their claim)."""
    if result.action is not None:
        return None
    for child in result.children:
        if not _lock_key(flow, child) and not is_limited(flow, child):
            return child
    return None


def _is_async(flow: Flow, act: Activation) -> bool:
    """True if the activation's handler is an ``async def``."""
    routine = flow.routines.get(act.routine_id)
    slot = routine.get_slot(act.slot) if routine is not None else None
    return slot is not None and inspect.iscoroutinefunction(slot.handler)


def _lock_key(flow: Flow, act: Activation) -> str:
    """Slots whose merge depends on earlier data run one activation at a time per job."""
    routine = flow.routines.get(act.routine_id)
    slot = routine.get_slot(act.slot) if routine is not None else None
    if slot is None or slot.merge_strategy == "override":
        return ""
    return slot_field(act.routine_id, act.slot)


def _raw(message: Any) -> bytes:
    if isinstance(message, (bytes, bytearray)):
        return bytes(message)
    try:
        return codec.packb(message)
    except Exception:
        return repr(message)[:DEAD_LETTER_RAW_BYTES].encode("utf-8", "replace")
