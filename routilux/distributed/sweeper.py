"""The sweeper: re-dispatches what nobody is running. Any worker may sweep, one at a time.

It finds activations whose lease expired (their worker died), retries whose
timer is due, outbox entries that were never dispatched, and queued messages
past the redispatch backstop, and sends them again. A duplicate is harmless:
the claim refuses an activation that is applied or leased.

It also fails jobs that ran past their deadline (claim and commit check the
deadline too, so nothing of such a job starts or commits late even between
sweeps), and drops expired jobs from the jobs index.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from routilux.distributed.hooks import current as current_hooks
from routilux.distributed.store import SWEEP_BATCH

if TYPE_CHECKING:
    from routilux.distributed.dispatch import Dispatcher
    from routilux.distributed.store import RedisStore

log = logging.getLogger("routilux.distributed")


class Sweeper:
    """Runs :meth:`sweep_once` every ``sweep_interval_s`` on a daemon thread."""

    def __init__(self, store: RedisStore, dispatcher: Dispatcher, owner: str) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.owner = owner
        self.hooks = current_hooks()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sweeping in the background."""
        self._thread = threading.Thread(target=self._serve, name="routilux-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sweeping."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _serve(self) -> None:
        interval = self.store.settings.sweep_interval_s
        wait_s = interval
        while not self._stop.wait(wait_s):
            wait_s = interval
            try:
                if self.store.take_sweeper_lock(self.owner):
                    self.sweep_once()
                # Wake for the next retry timer or lease expiry, not a whole interval later.
                nxt = self.store.next_deadline_s()
                if nxt is not None:
                    wait_s = min(interval, max(0.01, nxt))
            except Exception:  # Redis away, say: try again next interval
                log.warning("sweep failed", exc_info=True)

    def sweep_once(self) -> int:
        """Re-dispatch everything expired or due now; returns how many were sent."""
        sent = 0
        full = True
        while full:
            leases, due = self.store.expired()
            full = len(leases) == SWEEP_BATCH or len(due) == SWEEP_BATCH
            envelopes = []
            for member in leases:
                envelope = self.store.expire(member)
                if envelope is not None:
                    log.warning("lease of %s expired; sending it again", member)
                    envelopes.append(envelope)
            expired = len(envelopes)
            envelopes += [e for e in map(self.store.redue, due) if e is not None]
            if envelopes:
                sent += self.dispatcher.send(envelopes)
                self.hooks.after_sweep(expired, len(envelopes) - expired)
        self.end_overdue_jobs()
        self.store.trim_jobs_index()
        return sent

    def end_overdue_jobs(self) -> None:
        """Fail every running job past its deadline."""
        full = True
        while full:
            overdue = self.store.timed_out_jobs()
            full = len(overdue) == SWEEP_BATCH
            for job_id in overdue:
                if self.store.time_out(job_id) == "timed-out":
                    log.warning("job %s ran past its deadline; it failed", job_id)
