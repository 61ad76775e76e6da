"""``/health/live``, ``/health/ready`` (Redis reachable) and ``/metrics``.

The probes never queue behind API work: ``live`` answers from the event loop without touching
Redis, and ``ready``'s PING runs on threads of its own with a deadline, so a hung Redis or a
busy thread pool makes it answer 503 in time rather than hang.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from routilux.distributed.metrics import CONTENT_TYPE, Registry
from routilux.server import auth
from routilux.server.errors import ApiError, error_response
from routilux.server.jsonout import json_response

router = APIRouter(tags=["health"])
log = logging.getLogger("routilux.server")
READY_TIMEOUT_S = 3.0  # a PING slower than this counts as "not ready"
READY_THREADS = 2      # PINGs of a hung Redis hold these, never the API's threads


@router.get("/health/live", summary="The server process answers")
async def live() -> Response:
    """Always ``{"status": "ok"}`` while the process serves requests."""
    return json_response({"status": "ok"})


@router.get("/health/ready", summary="Redis is reachable")
async def ready(request: Request) -> Response:
    """200 when Redis answers a PING within 3 s, else 503 (naming the server only to a caller with a token)."""
    problem = "no answer in time"
    with anyio.move_on_after(READY_TIMEOUT_S):
        try:
            await anyio.to_thread.run_sync(request.app.state.runtime.ping, limiter=_ready_limiter(request.app),
                                           abandon_on_cancel=True)
            return json_response({"status": "ready"})
        except Exception as exc:
            problem = str(exc)
    log.warning("not ready: Redis did not answer a PING: %s", problem)
    detail = f": {problem}" if _has_token(request) else ""
    return error_response(503, "StoreUnavailableError", f"Redis is unreachable{detail}")


def _ready_limiter(app: Any) -> anyio.CapacityLimiter:
    limiter = getattr(app.state, "ready_limiter", None)
    if limiter is None:  # made on first use, inside the event loop
        limiter = app.state.ready_limiter = anyio.CapacityLimiter(READY_THREADS)
    return limiter


def _has_token(request: Request) -> bool:
    """Whether the caller sent a valid token (always, without tokens: the caller is on loopback)."""
    try:
        auth.role_of(request)
    except ApiError:
        return False
    return True


@router.get("/metrics", summary="Prometheus metrics", dependencies=[Depends(auth.viewer)])
async def metrics(request: Request) -> Response:
    """Text exposition: HTTP requests, SSE clients, jobs by status, dead letters, queue depth, live workers."""
    text = await run_in_threadpool(request.app.state.metrics.render)
    return Response(text, media_type=CONTENT_TYPE)


class ServerMetrics:
    """The server's registry: request counts and latency, plus gauges read from Redis at scrape time."""

    def __init__(self, runtime: Any) -> None:
        reg = self.registry = Registry()
        self.requests = reg.counter("routilux_http_requests_total", "HTTP requests answered", ("route", "status"))
        self.latency = reg.histogram("routilux_http_request_seconds", "Time to answer an HTTP request", ("route",))
        self.sse = reg.gauge("routilux_sse_clients", "Event streams open now")
        self.sse_open = 0
        self._lock = threading.Lock()
        self.sse.set(0)
        reg.gauge("routilux_jobs", "Known jobs by status", ("status",),
                  collect=lambda: {(k,): float(v) for k, v in runtime.jobs_by_status().items()})
        reg.gauge("routilux_dead_letters", "Entries in the dead-letter stream",
                  collect=lambda: {(): float(runtime.dead_letter_count())})
        reg.gauge("routilux_queue_depth", "Messages waiting in the broker queue", ("queue",),
                  collect=lambda: {(runtime.settings.queue,): float(runtime.queue_depth())})
        reg.gauge("routilux_workers", "Live workers", collect=lambda: {(): float(len(runtime.workers()))})

    def stream_opened(self) -> None:
        """An event stream started."""
        self._streams(1)

    def stream_closed(self) -> None:
        """An event stream ended."""
        self._streams(-1)

    def _streams(self, delta: int) -> None:
        with self._lock:
            self.sse_open += delta
            self.sse.set(self.sse_open)

    def observe(self, route: str, status: int, started: float) -> None:
        """Count one answered request."""
        self.requests.inc(route, str(status))
        self.latency.observe(time.perf_counter() - started, route)

    def render(self) -> str:
        """The Prometheus text."""
        return self.registry.render()
