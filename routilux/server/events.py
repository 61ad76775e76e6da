"""Server-Sent Events: one job's history and status changes live, and every job's status changes.

A job's stream is read with ``DistributedRuntime.read_events`` (XREAD BLOCK from a
cursor, so nothing polls the job hash); ``Last-Event-ID`` (or ``?cursor=``)
resumes after the last event the client saw. The global stream has one reader
thread per server, fanned out to every subscriber.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from typing import Any, AsyncIterator

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from routilux.errors import RoutiluxError
from routilux.job_state import TERMINAL
from routilux.server import auth
from routilux.server.jobs import EVENT_ID, check_event_id
from routilux.server.jsonout import dumps
from routilux.server.streams import BoundedStream, open_stream, stream_limiter

router = APIRouter(prefix="/api", tags=["events"], dependencies=[Depends(auth.viewer)])
log = logging.getLogger("routilux.server")
# A keep-alive comment goes out after this long without events; it also stays below redis-py's
# default 5 s socket timeout, which a longer blocking XREAD would run into.
BLOCK_S = 4.0


def frame(event: Any) -> str:
    """One event as an SSE frame (``id``, ``event`` = its kind, ``data`` = its JSON)."""
    return f"id: {event.id}\nevent: {event.kind}\ndata: {dumps(event.to_dict())}\n\n"


def _is_end(event: Any) -> bool:
    return event.kind == "status" and event.status in TERMINAL


async def follow_job(request: Request, job_id: str, cursor: str, steps: bool = False) -> AsyncIterator[str]:
    """Yield SSE frames of a job's events after ``cursor`` until its terminal status has been sent
    (with ``steps``, one "step" event per committed activation too)."""
    rt = request.app.state.runtime
    metrics = request.app.state.metrics
    metrics.stream_opened()
    try:
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            read = functools.partial(rt.read_events, job_id, cursor, 500, BLOCK_S, steps)
            batch = await anyio.to_thread.run_sync(read, limiter=stream_limiter(request.app))
            for event in batch:
                cursor = event.id
                yield frame(event)
                if _is_end(event):
                    return
            if not batch:
                rest = await run_in_threadpool(rt.events_after_end, job_id, cursor, steps)
                if rest is not None:  # the job has ended: what came after the cursor (maybe nothing), then stop
                    for event in rest:
                        yield frame(event)
                    return
                yield ": keep-alive\n\n"
    except RoutiluxError as exc:  # Redis went away, the job was deleted...: say so; the client resumes later
        yield f"event: failure\ndata: {dumps({'error': {'type': type(exc).__name__, 'message': str(exc)}})}\n\n"
    finally:
        metrics.stream_closed()


@router.get("/jobs/{job_id}/events", summary="A job's events, live (Server-Sent Events)")
async def job_events(
    request: Request,
    job_id: str,
    last_event_id: str | None = Header(None, pattern=EVENT_ID),
    cursor: str | None = Query(None, pattern=EVENT_ID),
    steps: bool = Query(False, description="also one 'step' event per committed activation (with its duration_ms)"),
) -> BoundedStream:
    """Every history record, status change and error as it is committed, ending after the terminal status.

    Resume with ``Last-Event-ID`` (or ``?cursor=``): only events after it are sent. With ``steps=true``
    each committed activation is a "step" event too: routine, slot, outcome and ``duration_ms``.
    """
    start = check_event_id(last_event_id or cursor or "0")
    # 404 before the stream starts; a unique prefix of the id is followed as the full id
    job_id = await run_in_threadpool(request.app.state.runtime.resolve_job_id, job_id)
    return open_stream(request, follow_job(request, job_id, start, steps))


class Broadcast:
    """One thread reads every job's status changes and hands them to each subscriber's queue."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]]] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.stopped = threading.Event()

    def subscribe(self) -> asyncio.Queue[Any]:
        """A queue that receives every status event from now on."""
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=10000)
        with self._lock:
            self._subscribers.add((asyncio.get_running_loop(), queue))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._read, name="routilux-events", daemon=True)
                self._thread.start()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Any]) -> None:
        """Stop delivering to ``queue``."""
        with self._lock:
            self._subscribers = {s for s in self._subscribers if s[1] is not queue}

    def _read(self) -> None:
        while not self.stopped.is_set():
            try:
                for event in self.runtime.all_events(cursor="$", block_s=BLOCK_S):
                    with self._lock:
                        targets = list(self._subscribers)
                    for loop, queue in targets:
                        loop.call_soon_threadsafe(_offer, queue, event)
                    if self.stopped.is_set():
                        return
            except Exception:  # Redis away: try again shortly
                log.warning("reading the global event stream failed", exc_info=True)
                self.stopped.wait(1.0)


def _offer(queue: asyncio.Queue[Any], event: Any) -> None:
    if not queue.full():  # a subscriber too slow to keep up loses events rather than memory
        queue.put_nowait(event)


@router.get("/events", summary="Every job's status changes, live (Server-Sent Events)")
async def all_events(request: Request) -> BoundedStream:
    """Status changes of all jobs from now on; never ends by itself."""
    broadcast: Broadcast = request.app.state.broadcast

    async def stream() -> AsyncIterator[str]:
        queue = broadcast.subscribe()
        request.app.state.metrics.stream_opened()
        try:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), BLOCK_S)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield frame(event)
        finally:
            request.app.state.metrics.stream_closed()
            broadcast.unsubscribe(queue)

    return open_stream(request, stream())
