"""Admission of limited activations on a worker: take their concurrency slots and rate tokens before the claim.

An activation of a routine with no limit is never looked at here beyond two
dict lookups (its routine's config): it costs no Redis command. A limited one
runs lua/admit.lua once per limit just before its claim. If a limit says wait,
the message is dropped (acked) and the activation stays parked in the limit's
waiting set: a commit that frees a slot (or the sweeper, when a holder's lease
lapses) hands it the slot and sends it again; a rate waiter is sent by a timer
of this process when its token is due, or by the sweeper if this process dies.
The job's queue backstop stays armed meanwhile, so a waiter whose record is lost
(a Redis crash) is sent again and parks anew: no busy loop, nothing lost.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from routilux.activation import INTERNAL_SLOTS, Activation
from routilux.distributed.protocol.constants import RATE_HOLD_MS, RATE_LEAD_MS
from routilux.distributed.protocol.lane import routes
from routilux.flow_control import CONCURRENCY, RATE, Limit, LimitError, limits_of

if TYPE_CHECKING:
    from routilux.distributed.dispatch import Dispatcher
    from routilux.distributed.store import RedisStore
    from routilux.flow import Flow

log = logging.getLogger("routilux.distributed")
_TIMER_SLACK_S = 0.002
_HOLD_TRIES = 4
_ENDED = ("completed", "failed", "cancelled")


def job_limit_name(key: str) -> str:
    """The limit name of a job concurrency key (``submit(concurrency_key=key)``)."""
    return f"job:{key}"


@dataclass
class Admitted:
    """The slots one admitted activation holds: (limit name, slots), and the ones this admission took."""

    holder: str
    slots: list[tuple[str, int]] = field(default_factory=list)
    fresh: set[str] = field(default_factory=set)


def is_limited(flow: Flow, act: Activation) -> bool:
    """True if ``act`` runs a handler of a routine with a concurrency or rate limit (timers and wait timeouts run none)."""
    routine = flow.routines.get(act.routine_id)
    return (routine is not None and act.slot not in INTERNAL_SLOTS
            and bool(routine.get_config(CONCURRENCY) or routine.get_config(RATE)))


class Admission:
    """Admits limited activations against the limits in Redis and sends the waiters a freed slot promotes."""

    def __init__(self, store: RedisStore, dispatcher: Dispatcher) -> None:
        self.store = store
        self.dispatcher = dispatcher

    def enter(self, flow: Flow, act: Activation) -> Admitted | str | None:
        """None (no limit), the slots taken (``Admitted``), or what happened instead: ``waiting`` or ``rejected``."""
        if not is_limited(flow, act):
            return None
        holder = f"{act.job_id}|{act.activation_id}"
        try:
            named = [(lim, lim.name(flow.flow_id, act.routine_id, act.payload))
                     for lim in limits_of(flow.routines[act.routine_id].config())]
        except LimitError as exc:
            self.store.reject(act.job_id, act.activation_id, str(exc))
            return "rejected"
        admitted = Admitted(holder)
        for lim, name in named:
            answer = self._admit(name, holder, lim)
            if answer.outcome != "ok":
                self.leave(admitted, fresh_only=True)
                self._note_wait(lim, name, holder, answer.start_ms)
                return "waiting"
            if lim.kind == "concurrency":
                admitted.slots.append((name, int(lim.amount)))
                if answer.fresh:
                    admitted.fresh.add(name)
        return admitted

    def enter_job(self, act: Activation, key: str) -> bool:
        """True if ``act``'s job holds (or now takes) a slot of its concurrency key; False: parked until one frees."""
        answer = self.store.admit_job(job_limit_name(key), act.job_id, f"{act.job_id}|{act.activation_id}")
        if answer.outcome != "ok":
            log.debug("job %s waits for a slot of concurrency key %r", act.job_id, key)
        return answer.outcome == "ok"

    def leave_job_if_ended(self, job_id: str, key: str, status: str) -> None:
        """Free the job's slot of its concurrency key if the commit ended the job (the sweeper does it otherwise)."""
        if status not in _ENDED:
            return
        try:
            self.send(self.store.free_slot(job_limit_name(key), job_id, -1))
        except Exception:  # the sweeper frees a finished job's slot
            log.warning("could not free the slot of job %s", job_id, exc_info=True)

    def _admit(self, name: str, holder: str, lim: Limit) -> Any:
        """lua/admit.lua, holding a rate waiter due within RATE_HOLD_MS (a short sleep, then again) rather
        than parking it: it starts on its token's time, not a dispatch later."""
        for _ in range(_HOLD_TRIES):
            answer = self.store.admit(name, holder, lim.kind, lim.amount, lim.burst)
            wait_s = answer.start_ms / 1000 - time.time() if answer.outcome == "wait" and lim.kind == "rate" else None
            if wait_s is None or wait_s > RATE_HOLD_MS / 1000:
                return answer
            time.sleep(max(0.0, wait_s))
        self.store.park_rate_waiter(name, holder, answer.start_ms)  # pushed back again and again: park it
        return answer

    def leave(self, admitted: Admitted | None, fresh_only: bool = False) -> None:
        """Free the slots an activation held (only those its admission took, if ``fresh_only``: a claim that
        found another worker running it) and send the waiters promoted to them."""
        if admitted is None:
            return
        for name, amount in admitted.slots:
            if fresh_only and name not in admitted.fresh:
                continue
            try:
                self.send(self.store.free_slot(name, admitted.holder, amount))
            except Exception:  # its lease lapses; the sweeper frees it then
                log.warning("could not free slot %s of %s", name, admitted.holder, exc_info=True)

    def send(self, holders: list[str]) -> int:
        """Send the stored bodies of these "job|activation" holders again, each in the priority band and
        tenant list its envelope names; returns how many went out."""
        by_job: dict[str, list[str]] = {}
        for holder in holders:
            job_id, act_id = holder.split("|", 1)
            by_job.setdefault(job_id, []).append(act_id)
        messages = [m for job_id, ids in by_job.items() for m in self.store.bodies(job_id, ids)]
        if not messages:
            return 0
        found = routes(messages, self.store.settings.keyring, self.store.limits)
        return self.dispatcher.send(messages, priority=found.priority, tenant=found.tenant)

    def sweep(self) -> int:
        """Free lapsed slots and send promoted and due rate waiters of every limit; returns how many were sent."""
        sent = 0
        for name, (kind, amount, _) in self.store.limit_specs().items():
            if name.startswith("job:"):  # a job holds its slot while it lives: renew those, free the ended
                for job_id in self.store.renew_jobs(name):
                    sent += self.send(self.store.free_slot(name, job_id, -1))
                sent += self.send(self.store.free_slot(name, "", -1))
            elif kind == "concurrency":
                sent += self.send(self.store.free_slot(name, "", int(amount)))
            else:
                due = [h for h in self.store.due_rate_waiters(name) if self.store.release_rate_waiter(name, h)]
                sent += self.send(due)
        return sent

    def _note_wait(self, lim: Limit, name: str, holder: str, start_ms: int) -> None:
        """A rate waiter is sent by a timer of this process when its token is due (the sweeper covers a crash)."""
        log.debug("%s waits for %s limit %s", holder, lim.kind, name)
        if lim.kind != "rate" or not start_ms:
            return
        delay = max(0.0, (start_ms - RATE_LEAD_MS) / 1000 - time.time()) + _TIMER_SLACK_S
        timer = threading.Timer(delay, self._release_rate, (name, holder))
        timer.daemon = True
        timer.start()

    def _release_rate(self, name: str, holder: str) -> Any:
        try:
            if self.store.release_rate_waiter(name, holder):
                self.send([holder])
        except Exception:  # the sweeper sends it
            log.debug("could not release rate waiter %s of %s", holder, name, exc_info=True)
