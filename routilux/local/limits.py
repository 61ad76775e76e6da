"""Concurrency and rate limits in this process: the local engine's side of :mod:`routilux.flow_control`.

The limits hold across every execution of this process (as the distributed
engine's hold across the fleet). An activation over a concurrency limit is
parked in the limit's waiting line and handed the slot when a holder leaves
(its execution's ``wake`` queues it again); one over a rate limit reserves the
next token and comes back by a timer when it is due (paid: it is not charged
again). Nothing polls.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from routilux.flow_control import CONCURRENCY, RATE, Limit, limits_of

if TYPE_CHECKING:
    from routilux.activation import Activation
    from routilux.flow import Flow

Holder = tuple[str, str]  # (job id, activation id)


@dataclass
class _Gate:
    """One limit's state: slots held and the waiting line, or a token bucket and the paid reservations."""

    held: set[Holder] = field(default_factory=set)
    waiting: deque[tuple[Holder, Callable[[], Any]]] = field(default_factory=deque)
    tokens: float | None = None
    stamp: float = 0.0
    paid: set[Holder] = field(default_factory=set)


class LocalLimits:
    """Every limit of this process, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gates: dict[str, _Gate] = {}

    def enter(self, flow: Flow, act: Activation, wake: Callable[[], Any]) -> list[str] | float | None:
        """Admit ``act``: the concurrency limits it now holds (``[]`` for none), the seconds until its rate
        token is due (call again then), or None: parked until a slot frees (``wake()`` is called, slot held).

        Raises:
            LimitError: the limit's key cannot be computed for this input.
        """
        routine = flow.routines.get(act.routine_id)
        if routine is None or not (routine.get_config(CONCURRENCY) or routine.get_config(RATE)):
            return []
        holder = (act.job_id, act.activation_id)
        named = [(lim, lim.name(flow.flow_id, act.routine_id, act.payload)) for lim in limits_of(routine.config())]
        woken: list[Callable[[], Any]] = []
        try:
            with self._lock:
                return self._enter(named, holder, wake, woken)
        finally:
            for other in woken:
                other()

    def _enter(self, named: list[tuple[Limit, str]], holder: Holder, wake: Callable[[], Any],
               woken: list[Callable[[], Any]]) -> list[str] | float | None:
        rates = [self._gates.setdefault(name, _Gate()) for lim, name in named if lim.kind == "rate"]
        for gate, (lim, _) in zip(rates, [n for n in named if n[0].kind == "rate"]):
            delay = self._take_token(gate, holder, lim.amount, lim.burst)
            if delay > 0:
                return delay
        held: list[str] = []
        for lim, name in named:
            if lim.kind != "concurrency":
                continue
            gate = self._gates.setdefault(name, _Gate())
            if holder not in gate.held and len(gate.held) >= lim.amount:
                woken += self._release(held, holder)
                gate.waiting.append((holder, wake))
                for rate in rates:  # its tokens are paid: the slot's wake-up does not charge it again
                    rate.paid.add(holder)
                return None
            gate.held.add(holder)
            held.append(name)
        return held

    def leave(self, names: list[str], act: Activation) -> None:
        """Free the slots an activation held; each goes to the first waiter, which is woken."""
        if not names:
            return
        with self._lock:
            woken = self._release(names, (act.job_id, act.activation_id))
        for wake in woken:
            wake()

    def drop(self, act: Activation) -> None:
        """Free whatever slot an activation that will not run holds (a woken waiter of a job that ended)."""
        holder = (act.job_id, act.activation_id)
        with self._lock:
            names = [name for name, gate in self._gates.items() if holder in gate.held]
            for gate in self._gates.values():
                gate.paid.discard(holder)
        self.leave(names, act)

    def _release(self, names: list[str], holder: Holder) -> list[Callable[[], Any]]:
        woken = []
        for name in names:
            gate = self._gates[name]
            gate.held.discard(holder)
            if gate.waiting:
                nxt, wake = gate.waiting.popleft()
                gate.held.add(nxt)
                woken.append(wake)
        return woken

    @staticmethod
    def _take_token(gate: _Gate, holder: Holder, per_s: float, burst: int) -> float:
        """0 if ``holder`` may start now (a token taken, or paid before), else the seconds until its token."""
        now = time.monotonic()
        if holder in gate.paid:
            gate.paid.discard(holder)
            return 0.0
        tokens = burst if gate.tokens is None else min(burst, gate.tokens + (now - gate.stamp) * per_s)
        gate.tokens, gate.stamp = tokens - 1, now
        if gate.tokens >= 0:
            return 0.0
        gate.paid.add(holder)
        return -gate.tokens / per_s

    def view(self) -> list[dict[str, Any]]:
        """Each limit's holders and waiting work in this process (for tests and diagnostics)."""
        with self._lock:
            return [{"name": name, "holders": sorted(g.held), "waiting": [h for h, _ in g.waiting]}
                    for name, g in sorted(self._gates.items())]


local_limits = LocalLimits()
