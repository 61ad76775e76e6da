"""One daemon thread that fires callbacks at given times (retries, timeouts).

Nothing waits by sleeping in a worker thread: a retry or a deadline is an entry
here, and the thread that would have slept stays free for other work.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Callable


class Timers:
    """A heap of (due time, callback) served by one daemon thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> int:
        """Run ``callback`` after ``delay_s`` seconds on the timer thread; returns a handle."""
        handle = next(self._counter)
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay_s), handle))
            self._callbacks[handle] = callback
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="routilux-timers", daemon=True)
                self._thread.start()
            self._cond.notify()
        return handle

    def cancel(self, handle: int) -> None:
        """Make sure a callback does not run (no-op if it already ran); frees what it holds."""
        with self._cond:
            self._callbacks.pop(handle, None)

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                due, handle = self._heap[0]
                if handle not in self._callbacks:
                    heapq.heappop(self._heap)  # cancelled
                    continue
                wait_s = due - time.monotonic()
                if wait_s > 0:
                    self._cond.wait(wait_s)
                    continue
                heapq.heappop(self._heap)
                callback = self._callbacks.pop(handle)
            try:
                callback()
            except Exception:  # one broken callback must not stop every timer
                import logging

                logging.getLogger("routilux").exception("timer callback failed")


timers = Timers()
