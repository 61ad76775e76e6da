"""``/health/live``, ``/health/ready`` (Redis reachable) and ``/metrics``."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from routilux.distributed.metrics import CONTENT_TYPE, Registry
from routilux.server import auth
from routilux.server.errors import error_response
from routilux.server.jsonout import json_response

router = APIRouter(tags=["health"])


@router.get("/health/live", summary="The server process answers")
def live() -> Response:
    """Always ``{"status": "ok"}`` while the process serves requests."""
    return json_response({"status": "ok"})


@router.get("/health/ready", summary="Redis is reachable")
def ready(request: Request) -> Response:
    """200 when Redis answers a PING, else 503."""
    try:
        request.app.state.runtime.ping()
    except Exception as exc:
        return error_response(503, "StoreUnavailableError", f"Redis is unreachable: {exc}")
    return json_response({"status": "ready"})


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
