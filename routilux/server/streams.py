"""Bounds on the console's event streams: how many are open, per token and in total, and their threads.

Each open job stream holds a thread and a Redis connection in a blocking XREAD; the bounds keep a
crowd of viewers from taking every connection of the pool the API's requests need too.
"""

from __future__ import annotations

import collections
from typing import Any, AsyncIterator, Callable

import anyio
from fastapi import Request
from starlette.responses import StreamingResponse

from routilux.server.errors import ApiError
from routilux.server.settings import ServerConfigError, ServerSettings

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# Redis connections the rest of the server may hold beside the streams': the default thread pool's
# 40 API requests, the readiness probe's threads, the global stream's reader, and a margin.
OTHER_CONNECTIONS = 40 + 2 + 1 + 5


def check_capacity(runtime: Any, settings: ServerSettings) -> None:
    """Refuse a runtime whose Redis pool cannot hold every admitted stream beside the API's requests.

    Raises:
        ServerConfigError: ``redis_max_connections`` is below ``max_streams`` plus the API's share.
    """
    needed = settings.max_streams + OTHER_CONNECTIONS
    have = runtime.settings.redis_max_connections
    if have < needed:
        raise ServerConfigError(f"ROUTILUX_REDIS_MAX_CONNECTIONS={have} is too few for ROUTILUX_SERVER_MAX_STREAMS="
                                f"{settings.max_streams}: raise it to {needed} or more, or allow fewer streams")


class StreamSlots:
    """Open event streams, counted in total and per token; one over either bound is refused with 429."""

    def __init__(self, settings: ServerSettings) -> None:
        self.total, self.per_token = settings.max_streams, settings.max_streams_per_token
        self.open: collections.Counter[str] = collections.Counter()

    def take(self, holder: str) -> Callable[[], None]:
        """Count a stream of ``holder`` (a token); returns what gives its slot back (once).

        Raises:
            ApiError 429: the server or this token already has as many streams open as allowed.
        """
        if sum(self.open.values()) >= self.total:
            raise ApiError(429, "TooManyStreams", f"the server has {self.total} event streams open; try again later")
        if self.open[holder] >= self.per_token:
            raise ApiError(429, "TooManyStreams", f"this token has {self.per_token} event streams open; close one first")
        self.open[holder] += 1
        released = []

        def release() -> None:
            if not released:
                released.append(True)
                self.open[holder] -= 1
                if not self.open[holder]:
                    del self.open[holder]

        return release


class BoundedStream(StreamingResponse):
    """A streaming response that gives its stream slot back when it ends, however it ends."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None]) -> None:
        super().__init__(content, media_type="text/event-stream", headers=SSE_HEADERS)
        self.release = release

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()


def open_stream(request: Request, content: AsyncIterator[str]) -> BoundedStream:
    """``content`` as an SSE response, if this caller and the server are below their stream bounds (else 429)."""
    slots: StreamSlots = request.app.state.stream_slots
    holder = request.headers.get("authorization", "").partition(" ")[2].strip()  # the token; none: one bound
    return BoundedStream(content, slots.take(holder))


def stream_limiter(app: Any) -> anyio.CapacityLimiter:
    """The thread limiter of this app's event streams (made on first use, inside the event loop).

    Each open job stream keeps a thread (and a Redis connection) busy in a blocking XREAD; they get
    their own limiter, so many viewers never starve the API's requests of the default threads.
    """
    limiter = getattr(app.state, "stream_limiter", None)
    if limiter is None:
        limiter = app.state.stream_limiter = anyio.CapacityLimiter(app.state.settings.max_streams)
    return limiter
