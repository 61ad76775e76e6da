"""Hooks the executor and the sweeper call around each stage, with no-op defaults.

Instrumentation (metrics, tracing) subclasses :class:`ExecutorHooks` and is
installed once per process with :func:`install`; the engine itself never checks
a flag. Each call gets the routine id, what happened and how long it took.
"""

from __future__ import annotations


class ExecutorHooks:
    """Override what you need; every method is called on the worker's hot path, so keep them cheap."""

    def after_claim(self, routine_id: str, answer: str, seconds: float) -> None:
        """A claim returned ``answer`` ("ok", "applied", "leased", "parked", "dead", ...)."""

    def after_step(self, routine_id: str, outcome: str, seconds: float) -> None:
        """A handler ran; ``outcome`` is "ok", "retry" or "fail"."""

    def after_commit(self, routine_id: str, answer: str, seconds: float) -> None:
        """A commit returned ``answer`` ("ok", "duplicate", "stale", "dropped")."""

    def on_dead_letter(self, reason: str) -> None:
        """Something went to the dead-letter stream ("malformed", "unrunnable", "attempts", "rejected")."""

    def after_sweep(self, expired: int, redispatched: int) -> None:
        """A sweep re-sent ``expired`` activations whose lease ran out and ``redispatched`` due ones."""

    def after_lost_worker(self, worker: str, messages: int, activations: int) -> None:
        """``worker`` stopped without shutting down; the ``messages`` it held (``activations`` in all) were re-sent."""

    def after_tick_job(self, schedule_id: str, tick_ms: int, job_id: str) -> None:
        """A schedule tick's job exists; the schedule is moved on to its next tick right after this."""


_current = ExecutorHooks()


def install(hooks: ExecutorHooks) -> None:
    """Use ``hooks`` for executors and sweepers created from now on in this process (and its forks)."""
    global _current
    _current = hooks


def current() -> ExecutorHooks:
    """The hooks installed in this process (no-ops unless :func:`install` was called)."""
    return _current
