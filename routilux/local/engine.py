"""Runs a flow's executions in this process.

Each execution has its own FIFO of activations. Runner tasks on the process's
runner threads (routilux.local.runners) pull from it and run :func:`routilux.step.run_step`: one runner per
execution in "sequential" mode (breadth-first, one handler at a time), up to
``max_workers`` in "concurrent" mode. Activations of one slot whose merge is
not "override" never run at the same time, so merges never lose each other.
In concurrent mode each step runs as a transaction (routilux.txn): it is
committed under the execution's lock only if the shared data and routine
states it read are unchanged, else it runs again. Sequential mode runs one
step at a time, so nothing can change under a step and it writes live.
Completion, pause and cancel are signalled through the JobState, never polled.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from routilux.activation import INTERNAL_SLOTS, WAIT_SLOT, Activation, deferred_activations
from routilux.context import current_child_jobs, current_job_state, current_step
from routilux.errors import FlowError, JobNotRunningError
from routilux.execution_tracker import ExecutionTracker
from routilux.job_state import FAILED_ROUTINE_STATUSES, TERMINAL, JobState, pause_point
from routilux.ops import Op
from routilux.flow_control import LimitError
from routilux.local.limits import local_limits
from routilux.local.runners import Runners
from routilux.local.subflows import LOCAL_CHILD_JOBS, cancel_children
from routilux.local.timers import timers
from routilux.step import MAX_CONFLICT_RERUNS, StepResult, rerun_delay_s, run_conflicted, run_step
from routilux.txn import StepTxn, commit_local

if TYPE_CHECKING:
    from routilux.flow import Flow

_MIN_RUNNERS = 8  # runner threads an engine may use at once, at least


class _Execution:
    """The running side of one JobState in this process."""

    def __init__(self, engine: LocalEngine, job_state: JobState, limit: int | None = None) -> None:
        self.engine = engine
        self.flow = engine.flow
        self.job_state = job_state
        self.limit = limit or engine.flow.max_workers
        self.queue: deque[Activation] = deque()
        self.lock = threading.Lock()
        self.running = 0
        self.runners = 0
        self.timers: dict[int, Activation] = {}
        self.busy_slots: set[tuple[str, str]] = set()
        self.held: dict[str, list[str]] = {}  # activation id -> the concurrency limits it holds
        self.parked = 0  # activations waiting for a concurrency slot (local_limits wakes them)
        self.waits: dict[tuple[str, str], str] = {}  # (routine, slot) -> the open wait's id
        self.timed_out: set[tuple[str, str]] = set()  # slots whose last wait timed out: a post there is late
        self.posted: set[str] = set()  # activation ids of the posts taken
        self.early: dict[str, tuple[str, str]] = {}  # posts taken while their slot had no open wait
        self.deadline: int | None = None
        self.timeout_s: float | None = None
        # Each execution has its own tracker (kept across a resume in this process);
        # flow.execution_tracker is the latest execution's.
        self.tracker = job_state.execution_tracker or ExecutionTracker(job_state.flow_id)
        job_state.execution_tracker = self.tracker
        engine.flow.execution_tracker = self.tracker

    # -- scheduling (callers hold self.lock) ------------------------------
    def add(self, activations: list[Activation]) -> None:
        """Queue activations, or hold them in the JobState while paused."""
        status = self.job_state.status
        if status == "running":
            now = time.time()
            for act in activations:
                if act.not_before > now:
                    self._retry_later(act, act.not_before - now)
                else:
                    self.queue.append(act)
            self._spawn()
        elif status == "paused":
            self.job_state.pending_tasks.extend(a.to_dict() for a in activations)

    def _spawn(self) -> None:
        # Runners busy in a handler take nothing until it returns, so work queued from outside
        # a runner (a retry timer, a resume) needs runners of its own, up to the limit.
        wanted = min(self.limit, self.running + len(self.queue))
        while self.runners < wanted:
            self.runners += 1
            self.engine.runners.submit(self._serve)

    def _retry_later(self, act: Activation, delay_s: float) -> None:
        handle = timers.call_later(delay_s, lambda: self._timer_fired(handle))
        self.timers[handle] = act

    def _timer_fired(self, handle: int) -> None:
        with self.lock:
            act = self.timers.pop(handle, None)
            if act is not None:
                act.not_before = 0.0
                self.add([act])

    def set_deadline(self, timeout_s: float | None) -> None:
        """(Re)arm the execution's timeout."""
        self.clear_deadline()
        self.timeout_s = timeout_s
        if timeout_s is not None:
            self.deadline = timers.call_later(timeout_s, self._timed_out)

    def clear_deadline(self) -> None:
        """Disarm the timeout (on pause and on the end of the execution)."""
        if self.deadline is not None:
            timers.cancel(self.deadline)
            self.deadline = None

    def _timed_out(self) -> None:
        with self.lock:
            if self.job_state.status != "running":
                return
            reason = f"execution exceeded its timeout of {self.timeout_s} s"
            self.job_state.record_execution(
                self.job_state.current_routine_id or "", "timeout", {"timeout_s": self.timeout_s, "reason": reason}
            )
            self.end("failed", reason)

    # -- the runner ------------------------------------------------------
    def _take(self) -> Activation | None:
        """Pop the next runnable activation of a concurrent execution (caller holds the lock)."""
        for _ in range(len(self.queue)):
            act = self.queue.popleft()
            key = (act.routine_id, act.slot)
            if key in self.busy_slots:
                self.queue.append(act)
                continue
            if not self._claim_timeout(act):
                continue
            slot = self.flow.routines[act.routine_id]._slots.get(act.slot) if act.routine_id in self.flow.routines else None
            if slot is not None and slot.merge_strategy != "override":
                self.busy_slots.add(key)
            return act
        return None

    def _serve(self) -> None:
        """A runner's task: the JobState is the thread's current one for the whole run (run_step leaves it be),
        and this engine starts the child jobs of SubFlow routines."""
        state_token = current_job_state.set(self.job_state)
        children_token = current_child_jobs.set(LOCAL_CHILD_JOBS)
        try:
            if self.limit == 1:
                self._run_alone()
            else:
                self._run()
        finally:
            current_child_jobs.reset(children_token)
            current_job_state.reset(state_token)

    def _run(self) -> None:
        """A runner of a concurrent execution: each step a transaction (see :meth:`_step`), whose commit
        section also takes the runner's next activation."""
        with self.lock:
            act = self._next()
        while act is not None:
            act = self._step(act)

    def _next(self) -> Activation | None:
        """The next activation this runner runs, admitted and counted as running; None when the runner
        ends (caller holds the lock)."""
        while True:
            act = self._take() if self.job_state.status == "running" and self.queue else None
            if act is None:
                self.runners -= 1
                self._settle_if_idle()
                return None
            if self._admit(act) is not None:
                self.running += 1
                return act

    def _run_alone(self) -> None:
        """The one runner of a sequential execution: nothing else runs, so each step writes live.

        One lock section per step hands in the last step's result and takes the next activation.
        """
        flow, job_state, queue, lock, tracker = self.flow, self.job_state, self.queue, self.lock, self.tracker
        wall, clock, record_run = time.time, time.perf_counter, tracker._record_run
        result: StepResult | None = None
        while True:
            with lock:
                if result is not None:
                    self.running -= 1
                    local_limits.leave(self.held.pop(result.activation.activation_id, []), result.activation)
                    if result.action is None and job_state.status == "running" and not result.held:
                        queue.extend(result.children)  # what add() does for children of a running job
                    else:
                        self._apply(result)
                    result = None
                if job_state.status != "running" or not queue:
                    self.runners -= 1
                    self._settle_if_idle()
                    return
                act = queue.popleft()
                if not self._claim_timeout(act) or self._admit(act) is None:
                    result = None
                    continue
                self.running += 1
            started, t0 = wall(), clock()
            result = run_step(flow, job_state, act, record=False)
            record_run(act.routine_id, started, clock() - t0, result.error, result.emits)

    def _admit(self, act: Activation) -> list[str] | None:
        """Take the activation's limit slots (caller holds the lock); None if it must wait (parked for a slot,
        or back by a timer when its rate token is due) or the job failed on its limit key."""
        if act.slot in INTERNAL_SLOTS:  # a timer or a wait's timeout runs no handler: no limit applies
            return []
        try:
            decision = local_limits.enter(self.flow, act, lambda: self.engine.runners.submit(lambda: self._woken(act)))
        except LimitError as exc:
            self.busy_slots.discard((act.routine_id, act.slot))
            self.end("failed", str(exc))
            return None
        if isinstance(decision, list):
            if decision:
                self.held[act.activation_id] = decision
            return decision
        self.busy_slots.discard((act.routine_id, act.slot))
        if decision is None:
            self.parked += 1
        else:
            self._retry_later(act, decision)
        return None

    def _woken(self, act: Activation) -> None:
        """A parked activation was handed a concurrency slot: queue it (or free the slot if its job stopped)."""
        with self.lock:
            self.parked -= 1
            if self.job_state.status == "running":
                self.add([act])
                return
            if self.job_state.status == "paused":
                self.job_state.pending_tasks.append(act.to_dict())
            self._settle_if_idle()
        local_limits.drop(act)

    def _step(self, act: Activation) -> Activation | None:
        """Run a step as a transaction until it commits (or its error strategy takes over), and record it.

        A step is not carried out if the job ended or paused before a re-run could start (a
        paused job holds the activation; resume runs it). Returns the runner's next activation
        (see :meth:`_next`), taken in the step's last lock section.
        """
        flow, job_state = self.flow, self.job_state
        started, t0 = time.time(), time.perf_counter()
        reruns = 0
        while True:
            txn = StepTxn()
            if reruns > MAX_CONFLICT_RERUNS:
                result = run_conflicted(flow, job_state, act, MAX_CONFLICT_RERUNS, txn)
            else:
                result = run_step(flow, job_state, act, txn=txn)
            with self.lock:
                if not self._settle_early_post(act):  # its slot's wait timed out while it ran
                    self.early.pop(act.activation_id, None)
                    self._done(act, None)
                    return self._next()
                if job_state.status in TERMINAL or commit_local(job_state, result.ops, txn):
                    self.early.pop(act.activation_id, None)
                    # Recorded before the job may settle, so its tracker is whole when a waiter wakes.
                    self.tracker._record_run(act.routine_id, started, time.perf_counter() - t0, result.error,
                                             result.emits)
                    self._done(act, result)
                    return self._next()
            reruns += 1
            delay = rerun_delay_s(reruns)
            if delay:
                time.sleep(delay)
            with self.lock:  # what was read changed: run again, unless the job stopped running meanwhile
                if job_state.status != "running":
                    if job_state.status == "paused":
                        job_state.pending_tasks.append(act.to_dict())
                    self._done(act, None)
                    return self._next()

    def _done(self, act: Activation, result: StepResult | None) -> None:
        """A step ended (caller holds the lock): free its slot, carry out its result."""
        self.running -= 1
        self.busy_slots.discard((act.routine_id, act.slot))
        local_limits.leave(self.held.pop(act.activation_id, []), act)
        if result is not None:
            self._apply(result)

    def _claim_timeout(self, act: Activation) -> bool:
        """A wait's timeout about to run closes its wait now (caller holds the lock); False if a post closed it.

        A post taken before its slot's wait opened closes that wait as it runs, or, if the wait
        timed out meanwhile, is dropped (False): one wait, one outcome.
        """
        if act.activation_id in self.early:
            runs = self._settle_early_post(act)
            if self.limit == 1 or not runs:  # a concurrent step settles it again as it commits
                self.early.pop(act.activation_id, None)
            return runs
        if act.slot != WAIT_SLOT:
            return True
        key = (act.routine_id, act.payload["slot"])
        if self.waits.get(key) != act.activation_id:
            return False
        del self.waits[key]
        self.timed_out.add(key)
        return True

    def _settle_early_post(self, act: Activation) -> bool:
        """A post taken before its slot's wait opened (caller holds the lock): it closes that wait if one
        has opened since; False if the wait timed out first (the post is dropped)."""
        key = self.early.get(act.activation_id)
        if key is None:
            return True
        if key in self.waits:
            self._drop_timer(self.waits.pop(key))
        return key not in self.timed_out

    def post(self, act: Activation) -> str:
        """Take a post (caller holds the lock): "posted", "duplicate" or "late" (see Flow.post)."""
        key = (act.routine_id, act.slot)
        if act.activation_id in self.posted:
            return "duplicate"
        if key in self.timed_out:
            return "late"
        self.posted.add(act.activation_id)
        wait_id = self.waits.pop(key, None)
        if wait_id is not None:
            self._drop_timer(wait_id)
        else:
            self.early[act.activation_id] = key
        self.job_state.record_execution(act.routine_id, "post",
                                        {"slot": act.slot, "data": act.payload, "post": act.activation_id})
        self.add([act])
        return "posted"

    def _drop_timer(self, act_id: str) -> None:
        for handle, held in list(self.timers.items()):
            if held.activation_id == act_id:
                timers.cancel(handle)
                del self.timers[handle]
        tasks = self.job_state.pending_tasks
        tasks[:] = [t for t in tasks if t.get("activation_id") != act_id]

    def _hold(self, result: StepResult) -> None:
        """Open the step's waits and arm its timers (caller holds the lock)."""
        for op in result.held:
            if op[0] == Op.WO:
                self.waits[(op[1], op[2])] = op[3]
                self.timed_out.discard((op[1], op[2]))
        self.add(result.timers)

    def _apply(self, result: StepResult) -> None:
        job_state = self.job_state
        if job_state.status in TERMINAL:
            return
        if result.action == "fail":
            self.end("failed", result.reason)
            return
        if result.held:
            self._hold(result)
        if result.action == "retry":
            act = result.activation.retried(time.time() + result.delay_s)
            if job_state.status == "paused":
                job_state.pending_tasks.append(act.to_dict())
            else:
                self._retry_later(act, result.delay_s)
        if result.children:
            self.add(result.children)
        elif self.limit > 1 and self.queue:
            self._spawn()

    def _settle_if_idle(self) -> None:
        job_state = self.job_state
        if self.running:
            return
        if job_state.status == "paused":
            job_state._settle()
        elif job_state.status == "running" and not self.queue and not self.timers and not self.parked:
            failed = any(s.get("status") in FAILED_ROUTINE_STATUSES for s in job_state.routine_states.values())
            self.end("failed" if failed else "completed", "a routine failed" if failed else None)

    def end(self, status: str, reason: str | None) -> None:
        """Finish the execution for good (caller holds the lock); later step results are dropped."""
        job_state = self.job_state
        if reason and status == "failed" and job_state.error is None:
            job_state.error = reason  # before the status: a waiter may return as soon as it sees it
        job_state._set_status(status)
        self.queue.clear()
        for handle in self.timers:
            timers.cancel(handle)
        self.timers.clear()
        self.clear_deadline()
        self.engine.forget(job_state.job_id)
        if status != "completed":
            cancel_children(job_state.job_id, f"parent job {job_state.job_id} was {status}")
        job_state._settle()


class LocalEngine:
    """Runs one flow's executions on runner threads of this process."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.runners = Runners(max(_MIN_RUNNERS, flow.max_workers))
        self._executions: dict[str, _Execution] = {}
        self._lock = threading.Lock()

    def _execution(self, job_state: JobState, limit: int | None = None) -> _Execution:
        with self._lock:
            ex = self._executions.get(job_state.job_id)
            if ex is None or ex.job_state is not job_state:
                ex = self._executions[job_state.job_id] = _Execution(self, job_state, limit)
                if ex.limit > self.runners.size:  # an execution asked for more workers than the engine has
                    self.runners.size = ex.limit
            return ex

    def forget(self, job_id: str) -> None:
        """Drop a finished execution."""
        with self._lock:
            self._executions.pop(job_id, None)

    def start(self, job_state: JobState, root: Activation, timeout: float | None, max_workers: int | None = None) -> None:
        """Run a new execution from its entry activation, with up to ``max_workers`` handlers at once."""
        ex = self._execution(job_state, max_workers)
        with ex.lock:
            ex.set_deadline(timeout)
            ex.add([root])

    def pause(self, job_state: JobState, reason: str, checkpoint: Any) -> None:
        """Hold every activation of the job in its JobState; wait for running handlers.

        A job that already ended is left as it is.
        """
        if job_state.status in TERMINAL:
            return
        ex = self._execution(job_state)
        with ex.lock:
            if job_state.status == "paused" or job_state.status in TERMINAL:
                return
            job_state._set_status("paused")
            ex.clear_deadline()
            pending = list(ex.queue)
            ex.queue.clear()
            for handle, act in ex.timers.items():
                timers.cancel(handle)
                pending.append(act)
            ex.timers.clear()
            job_state.pending_tasks.extend(a.to_dict() for a in pending)
            job_state.pause_points.append(
                pause_point(reason, checkpoint, job_state.current_routine_id, len(job_state.pending_tasks))
            )
            job_state.checkpoint = checkpoint
            ex._settle_if_idle()
        step = current_step.get()
        if step is None or step.job_state is not job_state:
            job_state.wait()

    def resume(self, job_state: JobState, timeout: float | None) -> None:
        """Run a paused job's held activations and deferred events."""
        if job_state.status != "paused":
            raise FlowError(f"job {job_state.job_id} is {job_state.status}; only a paused job can be resumed")
        ex = self._execution(job_state)
        with ex.lock:
            job_state._set_status("running")
            held = [Activation.from_dict(d) for d in job_state.pending_tasks]
            job_state.pending_tasks = []
            held.extend(self._deferred(job_state))
            ex.set_deadline(timeout)
            ex.add(held)
            if not ex.runners:
                ex._settle_if_idle()

    def _deferred(self, job_state: JobState) -> list[Activation]:
        """Turn the job's deferred events into activations, recording each emit."""
        deferred, job_state.deferred_events = job_state.deferred_events, []
        for entry in deferred:
            job_state.record_execution(entry["routine_id"], entry["event_name"], entry.get("data") or {})
        return deferred_activations(job_state.job_id, len(job_state.pause_points), deferred, self.flow.targets)

    def post(self, job_state: JobState, act: Activation) -> str:
        """Deliver a post to a running or paused job (see :meth:`Flow.post`).

        Raises:
            JobNotRunningError: the job has ended.
        """
        if job_state.status in TERMINAL:  # checked first: an ended execution is not made again here
            raise JobNotRunningError(f"job {job_state.job_id} is {job_state.status}; it takes no more posts")
        ex = self._execution(job_state)
        with ex.lock:
            if act.activation_id in ex.posted:
                return "duplicate"
            if job_state.status in TERMINAL:
                raise JobNotRunningError(f"job {job_state.job_id} is {job_state.status}; it takes no more posts")
            return ex.post(act)

    def cancel(self, job_state: JobState, reason: str) -> None:
        """End the job as cancelled; nothing of it runs afterwards."""
        if job_state.status in TERMINAL:
            return
        if reason:  # written live even from inside a handler: the step's own writes are dropped
            job_state._apply_op((Op.RS, "_cancellation", {"reason": reason}))
        ex = self._execution(job_state)
        with ex.lock:
            job_state.pending_tasks = []
            ex.end("cancelled", None)

    def shutdown(self, wait: bool, timeout: float | None) -> None:
        """Take no more work; with ``wait``, wait (up to ``timeout`` s) for what was started to finish."""
        self.runners.shutdown(wait, timeout)
