"""Renews the leases of the activations this process is running, and enforces their time limits.

A lease is renewed only until its activation's hard time limit: a handler that
hangs forever no longer keeps its job forever. At the hard limit the activation
is handed back (``on_hard``) and a coroutine handler is cancelled; at the soft
limit of a handler on a thread other than the main one, SoftTimeLimitExceeded is
raised in that thread, or in the coroutine (see limits.py and handler_call.py).

It also reports what this process runs (one short-lived record per worker
process, see ``RedisStore.record_running``), which ``DistributedRuntime.workers()``
shows: rewritten at most every ``REPORT_S`` when something started or ended,
and refreshed with each renewal; with it go the counts of activations run and
failed since the last report.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from routilux.distributed.worker.limits import TimeLimits
from routilux.distributed.constants import RECORD_TTL_INTERVALS, RUNNING_RECORD_MIN_TTL_S

if TYPE_CHECKING:
    from routilux.distributed.store import RedisStore
    from routilux.distributed.worker.handler_call import HandlerCall

log = logging.getLogger("routilux.distributed")

HardLimitHandler = Callable[[str, str, str, float], None]
REPORT_S = 0.5


@dataclass
class _Running:
    token: str
    soft_at: float | None = None  # monotonic time; None: nothing to raise from here
    hard_at: float | None = None
    hard_s: float = 0.0
    call: HandlerCall | None = None  # what the limits stop
    info: dict[str, Any] | None = None  # what the running report says of it
    worker: str = ""


class Heartbeat:
    """A daemon thread that renews every tracked lease each ``interval_s`` and watches time limits."""

    def __init__(self, store: RedisStore, interval_s: float, on_hard: HardLimitHandler | None = None) -> None:
        self.store = store
        self.interval_s = interval_s
        self.on_hard = on_hard
        self._running: dict[tuple[str, str], _Running] = {}
        self._reported: set[str] = set()
        self._report_due = False
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._wake_at = 0.0  # when the thread wakes next (monotonic)
        self._thread: threading.Thread | None = None
        self._counts: dict[str, list[int]] = {}  # worker -> [processed, failed] not yet added to the store

    def track(self, job_id: str, act_id: str, token: str, limits: TimeLimits | None = None,
              call: HandlerCall | None = None, routine_id: str = "", slot: str = "", worker: str = "") -> None:
        """Start renewing a lease; with ``call``, stop its handler at the soft and the hard limit.

        ``routine_id``, ``slot`` and ``worker`` (the node name) go into the running report.
        """
        now = time.monotonic()
        info = {"job_id": job_id, "activation_id": act_id, "routine_id": routine_id, "slot": slot,
                "since": time.time()}
        entry = _Running(token, info=info, worker=worker)
        entry.call = call
        if limits is not None:
            if limits.soft_s > 0 and call is not None:
                entry.soft_at = now + limits.soft_s
            if limits.hard_s > 0:
                entry.hard_at, entry.hard_s = now + limits.hard_s, limits.hard_s
        first = min((t for t in (entry.soft_at, entry.hard_at) if t is not None), default=None)
        with self._lock:
            self._running[(job_id, act_id)] = entry
            self._note_change()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="routilux-heartbeat", daemon=True)
                self._thread.start()
            if first is not None and first < self._wake_at:
                self._changed.set()  # only when this limit comes before the thread's next wake-up

    def untrack(self, job_id: str, act_id: str) -> None:
        """Stop renewing a lease (and watching its limits)."""
        with self._lock:
            self._running.pop((job_id, act_id), None)
            self._note_change()

    def count(self, worker: str, failed: bool) -> None:
        """One more activation run by ``worker`` (``failed``: its handler raised); added to the store with the
        next report, so a busy process writes its counts at most every ``REPORT_S``."""
        with self._lock:
            counts = self._counts.setdefault(worker, [0, 0])
            counts[0] += 1
            counts[1] += failed
            self._note_change()

    def _note_change(self) -> None:
        """A report is due (wake the thread once per report, not once per activation). Holds the lock."""
        if not self._report_due:
            self._report_due = True
            self._changed.set()

    def _serve(self) -> None:
        next_beat = time.monotonic() + self.interval_s
        next_report = time.monotonic()
        while True:
            with self._lock:
                report_at = next_report if self._report_due else float("inf")
                self._wake_at = min(next_beat, self._next_limit(), report_at)
            self._changed.wait(max(0.0, self._wake_at - time.monotonic()))
            self._changed.clear()
            now = time.monotonic()
            self._enforce(now)
            if now >= next_beat:
                self._beat()
                next_beat = now + self.interval_s
                self._report_due = True
            if self._report_due and now >= next_report:
                self._report()
                next_report = now + REPORT_S

    def _report(self) -> None:
        with self._lock:
            self._report_due = False
            by_worker: dict[str, list[dict[str, Any]]] = {}
            for entry in self._running.values():
                if entry.info is not None:
                    by_worker.setdefault(entry.worker, []).append(entry.info)
            counts, self._counts = self._counts, {}
        ttl_s = max(RECORD_TTL_INTERVALS * self.interval_s, RUNNING_RECORD_MIN_TTL_S)
        try:
            for worker, (processed, failed) in counts.items():
                self.store.add_worker_counts(worker, processed, failed)
                counts[worker] = [0, 0]
            for worker in self._reported - set(by_worker):
                self.store.record_running(worker, os.getpid(), [], ttl_s)
            for worker, running in by_worker.items():
                self.store.record_running(worker, os.getpid(), running, ttl_s)
            self._reported = set(by_worker)
        except Exception:  # only a report: the next one may get through, with the counts not yet added
            log.debug("could not report running activations", exc_info=True)
            with self._lock:
                for worker, (processed, failed) in counts.items():
                    kept = self._counts.setdefault(worker, [0, 0])
                    kept[0] += processed
                    kept[1] += failed

    def _next_limit(self) -> float:
        """The earliest limit of any tracked activation (caller holds the lock)."""
        times = [t for e in self._running.values() for t in (e.soft_at, e.hard_at) if t is not None]
        return min(times, default=float("inf"))

    def _enforce(self, now: float) -> None:
        with self._lock:
            items = list(self._running.items())
        for (job_id, act_id), entry in items:
            if entry.hard_at is not None and now >= entry.hard_at:
                self.untrack(job_id, act_id)
                log.error("activation %s of job %s ran past its hard time limit of %s s", act_id, job_id, entry.hard_s)
                try:
                    if self.on_hard is not None:
                        self.on_hard(job_id, act_id, entry.token, entry.hard_s)
                except Exception:  # its lease expires anyway: the sweeper hands it back then
                    log.exception("could not hand back %s/%s", job_id, act_id)
                if entry.call is not None:
                    entry.call.hard()
            elif entry.soft_at is not None and now >= entry.soft_at and entry.call is not None:
                entry.soft_at = None
                log.warning("activation %s of job %s ran past its soft time limit", act_id, job_id)
                with self._lock:  # never after untrack: the handler's thread has moved on by then
                    if self._running.get((job_id, act_id)) is entry:
                        entry.call.soft()

    def _beat(self) -> None:
        with self._lock:
            items = [(key, e.token) for key, e in self._running.items()]
        for (job_id, act_id), token in items:
            try:
                if not self.store.renew(job_id, act_id, token):
                    log.warning("lease of %s/%s was lost; its commit will be refused", job_id, act_id)
                    self.untrack(job_id, act_id)
            except Exception:  # keep beating for the others; the sweeper covers this one
                log.exception("could not renew the lease of %s/%s", job_id, act_id)
