"""The scheduler: workers fire due schedule ticks themselves; no separate beat process to keep alive.

Each worker runs a small loop that sleeps until the earliest next tick (on Redis's
clock, looking again at least every ``sweep_interval_s`` for new schedules). The
worker that takes a short lock fires every due tick, oldest first. A tick's job is
submitted with an idempotency key made of (schedule id, tick time), and only then is
the schedule moved on (lua/advance_schedule.lua, which moves it only from that
tick). So a worker killed between the two, a lock that lapsed, or a Redis restarted
on its AOF makes the next firer find the same job: one job per tick, no tick lost.

Ticks start their jobs through the producer side (:class:`DistributedRuntime`), which
imports this package to build its Celery app; so the worker does not import it back:
the package ``routilux.distributed`` hands it over with :func:`use_producer` when it
is imported (before any worker starts).

The lock only saves duplicate work. Should it lapse while its holder still fires
(a pause longer than SCHEDULE_LOCK_MS), two workers may handle one tick: it still
makes at most one job, but with ``overlap="skip"`` one may record the tick as
skipped while the other starts its job.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Callable, ContextManager, Protocol

from routilux.distributed.constants import SCHEDULE_LOCK_MS, SCHEDULE_LOCK_RETRY_S, SCHEDULE_TICKS_PER_PASS
from routilux.distributed.hooks import current as current_hooks
from routilux.distributed.schedule_spec import ScheduleSpec, tick_key
from routilux.distributed.settings import Settings
from routilux.distributed.store import RedisStore, ScheduleStore
from routilux.distributed.worker.background import BackgroundLoop
from routilux.errors import (EncodeError, FlowNotPublishedError, FlowValidationError, JobNotFoundError,
                             ScheduleNotFoundError)

log = logging.getLogger("routilux.distributed")
MIN_WAIT_S = 0.005  # never spin on a schedule that is due but cannot be moved on (paused a moment ago)
UNRUNNABLE = (FlowNotPublishedError, FlowValidationError, EncodeError)  # a tick that can never start its job


class Producer(Protocol):
    """What firing a tick needs of :class:`~routilux.distributed.runtime.DistributedRuntime`."""

    store: RedisStore

    def submit(self, flow: str, entry_routine_id: str, entry_params: dict[str, Any] | None = None, *,
               idempotency_key: str | None = None, priority: int | None = None, tenant: str | None = None,
               concurrency_key: str | None = None) -> str: ...

    def job_status(self, job_id: str) -> str: ...

    def cancel(self, job_id: str, reason: str = "") -> None: ...


ProducerFactory = Callable[..., ContextManager[Producer]]  # called as factory(settings=...)
_producer_factory: ProducerFactory | None = None


def use_producer(factory: ProducerFactory) -> None:
    """Start the jobs of schedule ticks with producers ``factory(settings=...)`` makes (DistributedRuntime)."""
    global _producer_factory
    _producer_factory = factory


def due_ticks(spec: ScheduleSpec, first_ms: int, now_ms: int, cap: int = SCHEDULE_TICKS_PER_PASS) -> list[int]:
    """The schedule's ticks from ``first_ms`` up to ``now_ms`` (at most ``cap``)."""
    ticks: list[int] = []
    tick: int | None = first_ms
    while tick is not None and tick <= now_ms and len(ticks) < cap:
        ticks.append(tick)
        tick = spec.next_after(tick)
    return ticks


def tick_record(tick_ms: int, decision: str, **more: Any) -> dict[str, Any]:
    """What a schedule's tick list keeps of a handled tick."""
    return {"tick_ms": tick_ms, "decision": decision, **more}


class TickFirer:
    """Fires the due ticks of schedules through a producer runtime (one per worker process)."""

    def __init__(self, runtime: Producer) -> None:
        self.runtime = runtime
        self.schedules = ScheduleStore(runtime.store)
        self.hooks = current_hooks()

    def fire_schedule(self, schedule_id: str) -> None:
        """Handle every due tick of one schedule, as its ``catch_up`` policy says."""
        try:
            spec, state = self.schedules.read(schedule_id)
        except ScheduleNotFoundError:
            return
        if state.get("paused") == "1" or not state.get("next_ms"):
            return
        ticks = due_ticks(spec, int(state["next_ms"]), self.runtime.store.now_ms())
        outage = len(ticks) > 1  # a tick is missed when the next one is due too
        if outage and spec.catch_up != "all":
            ticks = self._miss(spec, ticks)
        for tick in ticks:
            if not self.fire_tick(spec, state, tick, caught_up=outage):
                return

    def _miss(self, spec: ScheduleSpec, ticks: list[int]) -> list[int]:
        """Several ticks due at once (workers were down): record the missed ones; returns those to fire."""
        keep = ticks[-1:] if spec.catch_up == "one" else []
        missed = ticks[:-1] if keep else ticks
        nxt = keep[0] if keep else spec.next_after(missed[-1])
        record = tick_record(missed[0], "missed", count=len(missed), last_tick_ms=missed[-1])
        if not self.schedules.advance(spec.schedule_id, missed[0], nxt, record, "missed", count=len(missed)):
            return []
        return keep

    def fire_tick(self, spec: ScheduleSpec, state: dict[str, str], tick: int, caught_up: bool = False) -> bool:
        """Start the tick's job (unless ``overlap`` skips it) and move the schedule on; False if it had moved."""
        sid, nxt = spec.schedule_id, spec.next_after(tick)
        job = self.runtime.store.job_of_key(tick_key(sid, tick))
        if job is None:
            previous = state.get("last_job") or ""
            if spec.overlap != "allow" and self._running(previous):
                if spec.overlap == "skip":
                    record = tick_record(tick, "skipped", reason=f"job {previous} was still running")
                    return self.schedules.advance(sid, tick, nxt, record, "skipped")
                self._cancel(previous, f"schedule {sid}: its next tick ({_iso(tick)}) replaced it")
            try:
                job = self.runtime.submit(spec.flow, spec.entry, spec.params, idempotency_key=tick_key(sid, tick),
                                          **spec.lane())
            except UNRUNNABLE as exc:
                log.error("schedule %s could not start its job for %s: %s", sid, _iso(tick), exc)
                return self.schedules.advance(sid, tick, nxt, tick_record(tick, "failed", error=str(exc)), "failed")
        self.hooks.after_tick_job(sid, tick, job)
        state["last_job"] = job
        record = tick_record(tick, "fired", job_id=job, caught_up=caught_up)
        return self.schedules.advance(sid, tick, nxt, record, "fired", job)

    def _running(self, job_id: str) -> bool:
        try:
            return bool(job_id) and self.runtime.job_status(job_id) in ("running", "paused")
        except JobNotFoundError:
            return False

    def _cancel(self, job_id: str, reason: str) -> None:
        try:
            self.runtime.cancel(job_id, reason)
        except JobNotFoundError:
            pass


def _iso(tick_ms: int) -> str:
    return datetime.fromtimestamp(tick_ms / 1000, timezone.utc).isoformat()


class Scheduler(BackgroundLoop):
    """Runs a :class:`TickFirer` on a daemon thread of a worker, waking for the earliest due tick.

    Stopping it finishes the tick being fired (or another worker picks it up).
    """

    thread_name = "routilux-scheduler"

    def __init__(self, settings: Settings, owner: str) -> None:
        super().__init__()
        self.settings = settings
        self.owner = owner

    def _serve(self) -> None:
        if _producer_factory is None:
            raise RuntimeError("no producer to fire schedules with: import routilux.distributed first")
        with _producer_factory(settings=self.settings) as runtime:
            firer = TickFirer(runtime)
            wait_s = 0.0
            while not self._stop.wait(wait_s):
                try:
                    wait_s = self.fire_due(firer)
                except Exception:  # Redis or the broker away, say: try again next interval
                    log.warning("firing schedules failed", exc_info=True)
                    wait_s = self.settings.sweep_interval_s

    def fire_due(self, firer: TickFirer) -> float:
        """Fire every due tick if this worker gets the lock; returns how long to sleep before looking again."""
        store, schedules = firer.runtime.store, firer.schedules
        due = schedules.due(store.now_ms())
        if due:
            if not schedules.take_lock(self.owner, SCHEDULE_LOCK_MS):
                return SCHEDULE_LOCK_RETRY_S
            try:
                for schedule_id in due:
                    firer.fire_schedule(schedule_id)
            finally:
                schedules.release_lock(self.owner)
        nxt = schedules.next_due_ms()
        if nxt is None:
            return self.settings.sweep_interval_s
        return min(self.settings.sweep_interval_s, max(MIN_WAIT_S, (nxt - store.now_ms()) / 1000))
