"""The Routilux console: an HTTP API, a live web UI and Prometheus metrics over a distributed deployment.

>>> from routilux.distributed import DistributedRuntime
>>> from routilux.server import create_app, serve
>>> app = create_app(DistributedRuntime("redis://127.0.0.1:6379/0"))   # doctest: +SKIP
>>> serve(ServerSettings.from_env())                                       # doctest: +SKIP

Needs the ``server`` extra (fastapi, uvicorn). ``routilux server`` runs it.
"""

from __future__ import annotations

from routilux.server.app import create_app
from routilux.server.run import serve
from routilux.server.settings import ServerConfigError, ServerSettings

__all__ = ["ServerConfigError", "ServerSettings", "create_app", "serve"]
