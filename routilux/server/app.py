"""The console's ASGI app: API under ``/api``, the web UI at ``/``, docs at ``/docs``, health and metrics."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routilux.server import events, flows, health, jobs, operations, schedules, session, streams
from routilux.server.errors import install_error_handlers
from routilux.server.guard import Guard
from routilux.server.settings import ServerSettings

STATIC = resources.files("routilux.server") / "static"


class CountRequests:
    """ASGI middleware: count each answered request by route template and status."""

    def __init__(self, app: ASGIApp, metrics: health.ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static") else "other")
            self.metrics.observe(path, status[0], started)


def create_app(runtime: Any, settings: ServerSettings | None = None) -> FastAPI:
    """The console app over a :class:`~routilux.distributed.DistributedRuntime`.

    The caller owns the runtime (and closes it); the app only uses it.
    """
    settings = settings or ServerSettings()
    streams.check_capacity(runtime, settings)
    broadcast = events.Broadcast(runtime)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        broadcast.stopped.set()

    # /docs is our own reference page, served from here: no script from a CDN runs on the console's origin.
    app = FastAPI(title="Routilux console", version="0.10.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Flows, jobs, workers and dead letters of a Routilux distributed deployment.")
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.metrics = health.ServerMetrics(runtime)
    app.state.broadcast = broadcast
    app.state.stream_slots = streams.StreamSlots(settings)
    install_error_handlers(app)
    for module in (jobs, flows, operations, events, health, schedules, session):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return FileResponse(str(STATIC / "docs.html"), headers={"Cache-Control": "no-cache"})

    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type",
                                                                                    "Last-Event-ID"])
    app.add_middleware(Guard, settings=settings)  # nothing runs, nothing is read, before it admits the request
    app.add_middleware(CountRequests, metrics=app.state.metrics)  # outermost: refusals are counted too
    return app
