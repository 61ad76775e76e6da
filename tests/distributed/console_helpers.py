"""A real console server (uvicorn on a free port, in a thread) over the test's runtime, and SSE reading."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from conftest import free_port
from routilux.server import ServerSettings, create_app

OPERATOR, VIEWER = "op-secret-token", "view-secret-token"
JSON = {"Content-Type": "application/json"}  # every write declares it, even one without a body


@dataclass
class Console:
    """A running console: its base URL, settings and an HTTP client."""

    url: str
    settings: ServerSettings
    http: httpx.Client
    server: Any

    def client(self, token: str | None = None) -> httpx.Client:
        """A client sending ``token`` as a bearer token."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def run_console(runtime: Any, tokens: dict[str, str] | None = None, **options: Any) -> Iterator[Console]:
    """Serve the console over ``runtime`` until the generator is closed (``options``: more ServerSettings)."""
    settings = ServerSettings(port=free_port(), tokens=tokens or {}, **options)
    app = create_app(runtime, settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name="console", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the console did not start"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{settings.port}"
    http = httpx.Client(base_url=url, timeout=30)
    try:
        yield Console(url, settings, http, server)
    finally:
        http.close()
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def console(runtime: Any) -> Iterator[Console]:
    """A console without tokens (loopback: everyone is an operator)."""
    yield from run_console(runtime)


@pytest.fixture
def secured_console(runtime: Any) -> Iterator[Console]:
    """A console with one viewer and one operator token."""
    yield from run_console(runtime, {OPERATOR: "operator", VIEWER: "viewer"})


def read_sse(response: httpx.Response, stop: Any = None) -> list[dict[str, Any]]:
    """Parse SSE frames from a streaming response until it ends (or ``stop(frame)`` is true)."""
    frames: list[dict[str, Any]] = []
    block: dict[str, Any] = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in block:
                block["json"] = json.loads(block["data"])
                frames.append(block)
                if stop is not None and stop(block):
                    break
            block = {}
            continue
        key, _, value = line.partition(":")
        if key:
            block[key] = value[1:] if value.startswith(" ") else value
    return frames
