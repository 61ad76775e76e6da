"""Threads that run local executions, kept for every flow of the process.

A flow used to start a thread pool of its own, so the first step of each new
Flow waited for a thread to start. Here a thread that has run out of work waits
a while for more, from any flow; each flow's engine decides how many of them its
executions use at once (:class:`Runners`). At interpreter exit, running work
finishes (as with a thread pool) and idle threads leave at once.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from typing import Callable

log = logging.getLogger(__name__)

IDLE_S = 30.0  # how long a thread with nothing to do waits for work before it ends

Task = Callable[[], None]


class _Reservoir:
    """Idle runner threads shared by every engine, started on demand."""

    def __init__(self, idle_s: float) -> None:
        self._idle_s = idle_s
        self._lock = threading.Lock()
        self._work: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._spare = 0  # threads waiting for work that no run() has claimed yet
        self._closing = False

    def run(self, task: Task) -> None:
        """Run ``task`` on an idle thread, or on a new one if none is idle."""
        with self._lock:
            if self._spare:
                self._spare -= 1
                self._work.put(task)  # under the lock: a thread counted as spare is waiting for it
                return
        threading.Thread(target=self._serve, args=(task,), name="routilux-runner",
                         daemon=_register_atexit is None).start()

    def _serve(self, task: Task | None) -> None:
        while task is not None:
            try:
                task()
            except BaseException:  # a task reports its own errors; this only keeps the thread alive
                log.exception("a local runner task raised")
            task = None  # hold nothing while idle
            with self._lock:
                if self._closing:
                    return
                self._spare += 1
            try:
                task = self._work.get(timeout=self._idle_s)
            except queue.Empty:
                with self._lock:
                    if self._spare:  # no run() is on its way to this thread: leave
                        self._spare -= 1
                        return
                task = self._work.get()  # a run() claimed a waiting thread and has put its task

    def close(self) -> None:
        """Let idle threads end now and busy ones once their work is done (interpreter exit)."""
        with self._lock:
            self._closing = True
            spare, self._spare = self._spare, 0
            for _ in range(spare):
                self._work.put(None)


_register_atexit = getattr(threading, "_register_atexit", None)  # runs before non-daemon threads are joined
_RESERVOIR = _Reservoir(IDLE_S)
if _register_atexit is not None:
    _register_atexit(_RESERVOIR.close)


class Runners:
    """One engine's share of the runner threads: at most ``size`` tasks at once, the rest in order after them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active = 0
        self._backlog: deque[Task] = deque()
        self._closed = False

    def submit(self, task: Task) -> None:
        """Run ``task`` on a runner thread.

        Raises:
            RuntimeError: :meth:`shutdown` was called.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot run more work after shutdown")
            if self._active >= self.size:
                self._backlog.append(task)
                return
            self._active += 1
        _RESERVOIR.run(lambda: self._drain(task))

    def _drain(self, task: Task | None) -> None:
        while task is not None:
            try:
                task()
            except BaseException:
                log.exception("a local runner task raised")
            with self._lock:
                task = self._backlog.popleft() if self._backlog else None
                if task is None:
                    self._active -= 1
                    if not self._active:
                        self._idle.notify_all()

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> bool:
        """Take no more work; with ``wait``, wait up to ``timeout`` s for what runs and waits to finish,
        else drop what waits. Returns True if nothing runs any more."""
        with self._lock:
            self._closed = True
            if not wait:
                self._backlog.clear()
                return not self._active
            return self._idle.wait_for(lambda: not self._active, timeout)
