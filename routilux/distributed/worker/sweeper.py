"""The sweeper: re-dispatches what nobody is running. Any worker may sweep, one at a time.

It finds activations whose lease expired (their worker died), retries whose
timer is due, outbox entries that were never dispatched, and queued messages
past the redispatch backstop, and sends them again, as stored (it never signs
anything itself). A duplicate is harmless: the claim refuses an activation that
is applied or leased. It checks each stored body as a worker would first
(signature, limits, shape): one that fails (a producer without the keys, a body
altered in Redis) goes to the dead-letter stream and its job fails, instead of
being sent forever.

It frees concurrency slots whose holder's lease lapsed (its worker died) and
sends the waiters they go to, and rate waiters whose token is due (see
admission.py). It settles sub-flows (routilux/distributed/subflows.py): reports
ended child jobs to their parents and cancels the open children of parents that
ended. It also fails jobs that ran past their deadline (claim and commit check the
deadline too, so nothing of such a job starts or commits late even between
sweeps), and drops expired jobs from the jobs index.

When Redis restarted (its run id changed), a crash may have lost queued
messages and claims that the AOF had not synced: every activation waiting only
on the queue backstop is sent again at once, so recovery takes a sweep, not
``redispatch_s``. When a worker's liveness record lapses without a clean
shutdown, the messages it had received but not claimed are in no lease: the
ones it fetched and had not acknowledged go back to the queue, and nothing else.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from routilux.distributed.dispatch import broker_error
from routilux.distributed.protocol.envelope import from_envelope, open_body
from routilux.distributed.hooks import current as current_hooks
from routilux.distributed.protocol.lane import Routes
from routilux.distributed.store import SWEEP_BATCH
from routilux.distributed.subflows import ChildJobs
from routilux.distributed.worker.admission import Admission
from routilux.distributed.worker.background import BackgroundLoop
from routilux.distributed.worker.fetched import restore_fetched
from routilux.errors import DecodeError

if TYPE_CHECKING:
    from routilux.distributed.dispatch import Dispatcher
    from routilux.distributed.store import RedisStore

log = logging.getLogger("routilux.distributed")


class Sweeper(BackgroundLoop):
    """Runs :meth:`sweep_once` every ``sweep_interval_s`` on a daemon thread."""

    thread_name = "routilux-sweeper"

    def __init__(self, store: RedisStore, dispatcher: Dispatcher, owner: str) -> None:
        super().__init__()
        self.store = store
        self.dispatcher = dispatcher
        self.admission = Admission(store, dispatcher)
        self.owner = owner
        self.hooks = current_hooks()
        self.keyring = store.settings.keyring
        self._warned_no_info = False
        self.children = ChildJobs(store, dispatcher)

    def _serve(self) -> None:
        interval = self.store.settings.sweep_interval_s
        wait_s = interval
        while not self._stop.wait(wait_s):
            woke_for_due, wait_s = wait_s < interval, interval
            try:
                if self.store.take_sweeper_lock(self.owner):
                    self.sweep_once()
                elif woke_for_due:  # another sweeps this interval: a timer due now must not wait for it
                    self.send_due()
                # Wake for the next retry timer or lease expiry, not a whole interval later.
                nxt = self.store.next_deadline_s()
                if nxt is not None:
                    wait_s = min(interval, max(0.01, nxt))
            except Exception:  # Redis away, say: try again next interval
                log.warning("sweep failed", exc_info=True)

    def sweep_once(self) -> int:
        """Re-dispatch everything expired or due now; returns how many were sent."""
        self.recover_from_restart()
        self.recover_from_lost_workers()
        sent = 0
        full = True
        while full:
            leases, due = self.store.expired()
            full = len(leases) == SWEEP_BATCH or len(due) == SWEEP_BATCH
            messages = []
            for member in leases:
                body = self.store.expire(member)
                if body is not None:
                    log.warning("lease of %s expired; sending it again", member)
                    messages.append((member, body))
            expired = len(messages)
            messages += [(m, b) for m, b in zip(due, map(self.store.requeue_due, due)) if b is not None]
            verified = self._send_verified(messages)
            if verified:
                sent += verified
                self.hooks.after_sweep(expired, verified - expired)
        sent += self.admission.sweep()  # slots whose holder's lease lapsed, rate waiters whose token is due
        self.end_overdue_jobs()
        self.children.sweep()
        while self.store.trim_jobs_index() == SWEEP_BATCH:
            pass
        return sent

    def send_due(self) -> int:
        """Send the activations due now (timers, retries, outbox) and nothing else; returns how many.

        Safe beside the sweeper: lua/redue.lua hands each due activation to one caller.
        """
        _, due = self.store.expired()
        return self._send_verified([(m, b) for m, b in zip(due, map(self.store.requeue_due, due)) if b is not None])

    def _send_verified(self, messages: list[tuple[str, bytes]]) -> int:
        """Send the stored activations a worker would accept, each in its job's priority band and tenant's
        queue; dead-letter the others (see :meth:`_verified`). Returns how many were sent."""
        found = Routes()
        messages = [(m, b) for m, b in messages if self._verified(m, b, found)]
        return self.dispatcher.send(messages, priority=found.priority, tenant=found.tenant) if messages else 0

    def recover_from_restart(self) -> None:
        """If Redis restarted since the last sweep, send again what its crash may have lost.

        The new run id is recorded only once that is done, so a sweep that fails
        halfway is finished by the next one.
        """
        current, previous = self.store.redis_run()
        if current is None:
            if not self._warned_no_info:
                log.warning("this Redis user may not run INFO: after a Redis restart, lost messages wait for "
                            "ROUTILUX_REDISPATCH_S (grant it +info to recover within a sweep)")
                self._warned_no_info = True
            return
        if current == previous:
            return
        if previous is not None:
            log.warning("Redis restarted: sending again %d activations whose messages or claims it may have lost",
                        self.store.rescue_dispatched())
        self.store.saw_redis_run(current)

    def recover_from_lost_workers(self) -> None:
        """A worker that died may have held messages it had not claimed: put back exactly those.

        Its claimed ones also come back when their leases expire. On the Redis broker
        each worker records what it fetched and has not acknowledged (see
        :mod:`~routilux.distributed.worker.fetched`), and those messages go back to
        the queue; RabbitMQ requeues them by itself when the worker's connection closes.
        """
        for name in self.store.lost_workers():
            try:
                messages, activations = self._restore(name)
            except Exception as exc:
                if broker_error(exc) is None:
                    raise
                log.warning("could not put back what worker %s held (%s); trying again next sweep", name, exc)
                continue
            self.hooks.after_lost_worker(name, messages, activations)
            self.store.drop_lost_workers([name])

    def _restore(self, worker: str) -> tuple[int, int]:
        """Put back what the lost ``worker`` held; returns (messages, activations) sent again."""
        if self.store.settings.broker_is_amqp:
            log.warning("worker %s stopped without shutting down: 0 messages (0 activations) sent again; RabbitMQ "
                        "requeues what it held when its connection closes", worker)
            return 0, 0
        messages, activations = restore_fetched(self.dispatcher.app, self.store.keys.fetched(worker))
        log.warning("worker %s stopped without shutting down: %d messages (%d activations) it had fetched and not "
                    "acknowledged went back to the queue", worker, messages, activations)
        return messages, activations

    def end_overdue_jobs(self) -> None:
        """Fail every running job past its deadline."""
        full = True
        while full:
            overdue = self.store.timed_out_jobs()
            full = len(overdue) == SWEEP_BATCH
            for job_id in overdue:
                if self.store.time_out(job_id) == "timed-out":
                    log.warning("job %s ran past its deadline; it failed", job_id)
                    self.children.job_ended(job_id)

    def _verified(self, member: str, body: bytes, found: Routes) -> bool:
        """True if ``body`` may be sent (its job's priority and tenant go in ``found``); one no worker would
        accept is dead-lettered instead.

        A worker refuses such a message without touching its job (it cannot trust
        it), so sending it again would loop until the backstop gives up: never.
        """
        try:
            envelope = open_body(body, self.keyring, self.store.limits)
            from_envelope(envelope)
            found.note(member, envelope)
            return True
        except DecodeError as exc:  # unsigned, badly signed, malformed or over the limits
            log.error("dead-lettering stored activation %s: %s", member, exc)
            job_id, act_id = member.split("|", 1)
            self.store.reject(job_id, act_id, f"stored activation refused: {exc}")
            self.hooks.on_dead_letter("rejected")
            return False
