"""Run the console with uvicorn."""

from __future__ import annotations

from typing import Any

from routilux.server.settings import ServerSettings


def serve(settings: ServerSettings, runtime: Any = None, log_level: str = "info") -> None:
    """Serve the console until interrupted (checks the bind address first).

    Raises:
        ServerConfigError: a non-loopback address without tokens.
    """
    import uvicorn

    from routilux.distributed import DistributedRuntime
    from routilux.server.app import create_app

    settings.check_bind()
    own = runtime is None
    runtime = runtime or DistributedRuntime()
    try:
        app = create_app(runtime, settings)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level,
                    timeout_graceful_shutdown=3)
    finally:
        if own:
            runtime.close()
