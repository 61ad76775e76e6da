"""Per-activation time limits on a worker: the soft limit raises in the handler, the hard limit stops it.

Where each limit comes from: the routine's config keys ``soft_time_limit_s`` and
``hard_time_limit_s`` (``Routine.set_time_limits``), else ``Settings``; 0 is no limit.

How they are enforced, by pool:

- soft, handler on the main thread (prefork children, the solo pool): a SIGALRM
  timer whose handler raises SoftTimeLimitExceeded; it also interrupts a blocking
  call such as ``time.sleep`` or a socket read.
- soft, handler on another thread (the threads pool): the heartbeat thread raises
  SoftTimeLimitExceeded in the handler's thread, delivered at its next Python
  bytecode, so a handler blocked in one long C call sees it only when that returns.
- hard, every pool: the heartbeat stops renewing the lease and hands the
  activation back (a failed attempt: it runs again, or goes to the dead-letter
  stream after ``max_attempts``); a late commit of the abandoned attempt is
  refused by its fencing token.
- hard, prefork children: the child is also killed, and Celery's pool replaces
  it: by the heartbeat thread (SIGKILL) when it can run, and by a CPU-time timer
  whose default action ends the process when a handler spins in C code holding
  the GIL (no Python thread runs then). A threads or solo worker cannot kill a
  handler without killing every other handler of the process: the stuck thread
  keeps its pool slot until the handler returns.
"""

from __future__ import annotations

import ctypes
import signal
import threading
from dataclasses import dataclass
from typing import Any

from routilux.errors import SoftTimeLimitExceeded

_pool_child = False


def mark_pool_child(**_: Any) -> None:
    """Celery's ``worker_process_init`` receiver: note whether this process is a prefork pool child.

    The solo pool sends the signal too, from the worker's main process: that one must never be killed.
    """
    global _pool_child
    from billiard.process import current_process

    _pool_child = current_process().name != "MainProcess"


def in_pool_child() -> bool:
    """True in a prefork pool child (killing it loses no other handler)."""
    return _pool_child


@dataclass(frozen=True)
class TimeLimits:
    """Seconds (0: none) one activation may run before the soft and the hard limit."""

    soft_s: float = 0.0
    hard_s: float = 0.0

    @classmethod
    def of(cls, routine: Any, default_soft_s: float, default_hard_s: float) -> TimeLimits:
        """The limits of ``routine`` (its config keys), falling back to the defaults."""
        config = routine.config() if routine is not None else {}
        soft = config.get("soft_time_limit_s")
        hard = config.get("hard_time_limit_s")
        return cls(float(default_soft_s if soft is None else soft), float(default_hard_s if hard is None else hard))


def raise_in_thread(thread_id: int) -> bool:
    """Raise SoftTimeLimitExceeded in another thread at its next bytecode; False if it is gone."""
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(SoftTimeLimitExceeded))
    if done > 1:  # never expected: undo rather than hit several threads
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
    return done == 1


class MainThreadTimers:
    """Soft (SIGALRM) and hard (CPU-time) timers for a handler on the main thread."""

    def __init__(self) -> None:
        self._armed = False
        self._soft_s = 0.0

    @staticmethod
    def usable() -> bool:
        """Signals can only be handled, and timers only armed safely, from the main thread."""
        return threading.current_thread() is threading.main_thread()

    def arm(self, limits: TimeLimits, kill_on_hard: bool) -> None:
        """Start the timers of one activation."""
        self._armed, self._soft_s = True, limits.soft_s
        if limits.soft_s > 0:
            signal.signal(signal.SIGALRM, self._on_alarm)
            signal.setitimer(signal.ITIMER_REAL, limits.soft_s)
        if kill_on_hard and limits.hard_s > 0:
            # Default action of SIGPROF ends the process, with no Python code involved.
            signal.signal(signal.SIGPROF, signal.SIG_DFL)
            signal.setitimer(signal.ITIMER_PROF, limits.hard_s)

    def disarm(self) -> None:
        """Stop the timers (the handler returned)."""
        self._armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if self._armed:
            self._armed = False
            raise SoftTimeLimitExceeded(f"handler ran past its soft time limit of {self._soft_s} s")
