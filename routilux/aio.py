"""Coroutine handlers: one event loop thread per process runs every ``async def`` handler.

A step calls its handler on whatever thread runs the step (a local runner, a
worker pool thread). When the handler is a coroutine function, the step hands
the coroutine to :class:`LoopThread` and blocks until it ends: the step's
transaction, its error strategy and its commit stay exactly those of a sync
handler, while the awaits of every step running at the same time overlap on the
one loop. The coroutine runs in a copy of the calling thread's context, so
``emit``, ``get_execution_context`` and the slot buffers reach its step.

A handler must not block the loop (``time.sleep``, a sync client): that stalls
every coroutine of the process. Run such code with ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import threading
from typing import Any, Callable, Coroutine

Awaiter = Callable[[Coroutine[Any, Any, Any]], Any]
"""Runs a handler's coroutine to its end from a step's thread and returns its result (or raises its error)."""


class LoopThread:
    """An asyncio event loop on a daemon thread; :meth:`run` runs a coroutine on it and waits."""

    def __init__(self, name: str = "routilux-asyncio") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, started on first use."""
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked child has no loop thread
                self._pid = os.getpid()
                ready = threading.Event()
                thread = threading.Thread(target=self._serve, args=(ready,), name=self.name, daemon=True)
                thread.start()
                ready.wait()
            assert self._loop is not None
            return self._loop

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, Any],
               on_task: Callable[[asyncio.Task[Any]], None] | None = None) -> concurrent.futures.Future[Any]:
        """Start ``coro`` on the loop, in a copy of the caller's context; its future.

        ``on_task`` is called on the loop with the coroutine's task as soon as it exists
        (to cancel it later).
        """
        loop, context = self.loop, contextvars.copy_context()
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def start() -> None:
            if not future.set_running_or_notify_cancel():
                coro.close()
                return
            task = loop.create_task(coro, context=context)
            task.add_done_callback(lambda t: _settle(future, t))
            if on_task is not None:
                on_task(task)

        loop.call_soon_threadsafe(start)
        return future

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the loop and wait for its result (its exception is raised here)."""
        if _on_loop(self._loop):
            coro.close()
            raise RuntimeError("a step ran on the handler event loop itself: it would wait for itself forever")
        return self.submit(coro).result()


def _on_loop(loop: asyncio.AbstractEventLoop | None) -> bool:
    try:
        return loop is not None and asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _settle(future: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        future.set_exception(concurrent.futures.CancelledError())
    elif task.exception() is not None:
        future.set_exception(task.exception())
    else:
        future.set_result(task.result())


shared_loop = LoopThread()
"""The process's handler loop (both engines use it unless given another awaiter)."""


def run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    """The default :data:`Awaiter`: run ``coro`` on :data:`shared_loop` and wait for it."""
    return shared_loop.run(coro)
