"""One running handler as the heartbeat sees it: a thread to interrupt, or a coroutine to cancel.

A sync handler on a pool thread gets SoftTimeLimitExceeded raised in its thread
(see limits.py). An ``async def`` handler runs on the process's handler loop
(routilux.aio) while the step's thread waits for it, so its limits act on its
task instead:

- soft: the future the coroutine is awaiting right now (``asyncio.sleep``, a
  socket read) fails with SoftTimeLimitExceeded, which the handler can catch as
  a sync handler can. Awaiting something that cannot take an error (another
  task), the task is cancelled and the step fails with SoftTimeLimitExceeded.
- hard: the task is cancelled; the step fails with HardTimeLimitExceeded, its
  thread is free at once, and the activation was already handed back (its late
  commit is refused by its fencing token), as for any pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Coroutine

from routilux.aio import LoopThread
from routilux.distributed.worker.limits import raise_in_thread
from routilux.errors import HardTimeLimitExceeded, SoftTimeLimitExceeded

_SOFT_PASSES = 3  # loop turns the soft limit waits for a runnable coroutine to reach an await


class HandlerCall:
    """The handler of one step: :meth:`awaiter` runs its coroutine; :meth:`soft` and :meth:`hard` stop it."""

    def __init__(self, loop: LoopThread, thread_id: int | None, soft_s: float = 0.0) -> None:
        """``thread_id``: the thread to raise the soft limit in if the handler is sync (None: not from here)."""
        self.loop = loop
        self.thread_id = thread_id
        self.soft_s = soft_s
        self.task: asyncio.Task[Any] | None = None
        self.awaiting = False
        self.stopped_by: str | None = None  # "soft" or "hard", when a limit cancelled the task
        self._early: list[Any] = []  # limits that passed before the task existed, applied as it starts

    def awaiter(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """The step's :data:`~routilux.aio.Awaiter`: run the handler's coroutine on the loop and wait."""
        self.awaiting = True
        future = self.loop.submit(coro, on_task=self._started)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            if self.stopped_by == "hard":
                raise HardTimeLimitExceeded("the handler was cancelled at its hard time limit") from None
            if self.stopped_by == "soft":
                raise SoftTimeLimitExceeded(self._soft_message()) from None
            raise

    def _started(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        for apply in self._early:
            self.loop.loop.call_soon(apply)

    def soft(self) -> None:
        """The soft limit passed: raise it in the coroutine, or in the handler's thread."""
        if self.awaiting:
            self.loop.loop.call_soon_threadsafe(self._soft_on_loop)
        elif self.thread_id is not None:
            raise_in_thread(self.thread_id)

    def hard(self) -> None:
        """The hard limit passed (the activation is handed back already): cancel the coroutine."""
        if self.awaiting:
            self.stopped_by = "hard"
            self.loop.loop.call_soon_threadsafe(self._cancel_on_loop)

    def _soft_message(self) -> str:
        return f"handler ran past its soft time limit of {self.soft_s} s"

    def _soft_on_loop(self, passes: int = 0) -> None:
        task = self.task
        if task is None:
            self._early.append(self._soft_on_loop)
            return
        if task.done():
            return
        waiter = getattr(task, "_fut_waiter", None)
        if waiter is None and passes < _SOFT_PASSES:
            # Ready to run (not started yet, or between two awaits): catch it at its next await.
            self.loop.loop.call_soon(self._soft_on_loop, passes + 1)
        elif waiter is not None and not waiter.done() and not isinstance(waiter, asyncio.Task):
            # What Task.cancel() does to the awaited future, with an error the handler can catch.
            waiter.set_exception(SoftTimeLimitExceeded(self._soft_message()))
        else:
            self.stopped_by = "soft"
            task.cancel()

    def _cancel_on_loop(self) -> None:
        if self.task is None:
            self._early.append(self._cancel_on_loop)
        else:
            self.task.cancel()
