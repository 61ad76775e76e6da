"""``routilux server``: the console (HTTP API, web UI, metrics) over the distributed engine."""

from __future__ import annotations

import argparse
import os
from typing import Any

from routilux.cli.engine import runtime_from
from routilux.cli.exits import UsageError
from routilux.cli.options import add_command
from routilux.cli.process import configure_logging, import_modules


def register(sub: Any) -> None:
    """Add the ``server`` command."""
    parser = add_command(sub, "server", cmd_server, "serve the console: API under /api, web UI at /, /docs, /metrics")
    parser.add_argument("--host", help="address to listen on (env ROUTILUX_SERVER_HOST; default 127.0.0.1); "
                                       "anything but loopback needs ROUTILUX_SERVER_TOKENS")
    parser.add_argument("--port", type=int, help="port (env ROUTILUX_SERVER_PORT; default 8080)")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="module to import first, e.g. one defining routine classes (repeatable)")
    parser.add_argument("--loglevel", default=os.environ.get("ROUTILUX_LOGLEVEL", "INFO"),
                        help="DEBUG, INFO, WARNING or ERROR (env ROUTILUX_LOGLEVEL)")


def cmd_server(args: argparse.Namespace) -> int:
    """Serve the console until interrupted."""
    try:
        from routilux.server import ServerConfigError, ServerSettings, serve
    except ImportError as exc:
        raise UsageError(f"the console is not installed ({exc}); install it with: pip install 'routilux[server]'") from exc
    configure_logging(args.loglevel)
    import_modules(args.imports)
    try:
        settings = ServerSettings.from_env(host=args.host, port=args.port)
        settings.check_bind()
    except (ServerConfigError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    with runtime_from(args) as runtime:
        try:
            serve(settings, runtime, log_level=args.loglevel.lower())
        except ServerConfigError as exc:  # e.g. a Redis pool too small for the stream bound
            raise UsageError(str(exc)) from exc
    return 0
