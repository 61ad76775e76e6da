"""The console's front door: checks every request passes before any route runs or any body is read.

* Security headers on every response (CSP without inline scripts, nosniff, no framing, no referrer).
* Without tokens (loopback mode): the ``Host`` must be a loopback name or the bound host (no DNS
  rebinding), a browser's ``Origin`` must be this server or a configured CORS origin, and every
  write must be ``Content-Type: application/json`` (a cross-site form or ``text/plain`` POST is a
  "simple" request no preflight stops).
* With tokens: ``/api`` and ``/metrics`` need a known token, and writes an operator's, before the body.
* A write's body is capped (413) by ``Content-Length`` and by counting what arrives, and must be
  standard JSON: ``NaN`` and ``Infinity`` are refused (422).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routilux.server import auth
from routilux.server.errors import ApiError, error_response
from routilux.server.settings import ServerSettings, is_loopback

READS = frozenset({"GET", "HEAD", "OPTIONS"})
PROTECTED = ("/api", "/metrics")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin"}


class Guard:
    """ASGI middleware applying the checks above; the outermost layer of the console app."""

    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = with_security_headers(send)
        try:
            receive = await self.admit(scope, receive)
        except ApiError as exc:
            # Close the connection: the server then never drains (reads) a refused body to reuse it.
            headers = {"Connection": "close", **({"WWW-Authenticate": "Bearer"} if exc.status == 401 else {})}
            await error_response(exc.status, exc.type, exc.message, headers)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def admit(self, scope: Scope, receive: Receive) -> Receive:
        """Check the request; returns what the app reads the body from (the body, already read, for a write)."""
        headers = Headers(scope=scope)
        method = scope["method"]
        if not self.settings.tokens:
            check_local_caller(headers, self.settings, method)
        elif method != "OPTIONS" and scope["path"].startswith(PROTECTED):
            role = auth.role_for(self.settings.tokens, headers.get("authorization", ""))
            if method not in READS and not auth.allows(role, "operator"):
                raise ApiError(403, "Forbidden", f"a {role} token cannot do this; it needs an operator token")
        if method in READS:
            return receive
        body = await read_capped(headers, receive, self.settings.max_body_bytes)
        check_strict_json(headers, body)
        return replay(body, receive)


def with_security_headers(send: Send) -> Send:
    """``send`` adding the security headers to the response's start (unless the route set its own)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS.items():
                if name not in headers:
                    headers[name] = value
        await send(message)

    return sending


def check_local_caller(headers: Headers, settings: ServerSettings, method: str) -> None:
    """Loopback mode: refuse a foreign Host or Origin, and a write that is not JSON.

    Raises:
        ApiError 421, 403, 415.
    """
    host = headers.get("host", "")
    if not _is_local_host(host, settings):
        raise ApiError(421, "MisdirectedRequest", "this console answers only to a loopback Host "
                                                  "(set ROUTILUX_SERVER_TOKENS to serve other names)")
    origin = headers.get("origin")
    if origin is not None and origin not in settings.cors_origins and urlsplit(origin).netloc != host:
        raise ApiError(403, "ForeignOrigin", "requests from other origins are refused")
    if method not in READS and _media_type(headers) != "application/json":
        raise ApiError(415, "UnsupportedMediaType", "writes must be sent as Content-Type: application/json")


def _is_local_host(host: str, settings: ServerSettings) -> bool:
    name = urlsplit(f"//{host}").hostname if host else None
    try:
        return bool(name) and (is_loopback(name) or name == settings.host.lower())
    except ValueError:  # a malformed port or bracket
        return False


def _media_type(headers: Headers) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


async def read_capped(headers: Headers, receive: Receive, cap: int) -> bytes:
    """The request body, refused as soon as it is known to exceed ``cap`` bytes.

    Raises:
        ApiError 413: Content-Length, or the bytes that arrived, exceed ``cap``; 400: a bad Content-Length.
    """
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "BadRequest", "Content-Length is not a number")
        if int(declared) > cap:
            raise _too_large(cap)
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:  # chunked, or more than it declared: stop reading here
            raise _too_large(cap)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _too_large(cap: int) -> ApiError:
    return ApiError(413, "PayloadTooLarge", f"request bodies are limited to {cap} bytes")


def check_strict_json(headers: Headers, body: bytes) -> None:
    """Refuse ``NaN``, ``Infinity`` and ``-Infinity`` in a JSON body (malformed JSON is left to the route's 422).

    Raises:
        ApiError 422.
    """
    if not body or not _media_type(headers).endswith("json"):
        return
    try:
        json.loads(body, parse_constant=_refuse_constant)
    except ApiError:
        raise
    except ValueError:
        return


def _refuse_constant(name: str) -> Any:
    raise ApiError(422, "ValidationError", f"{name} is not standard JSON: send numbers, null or strings")


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands over ``body`` once, then waits on the client (for its disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receiving() -> Message:
        return pending.pop() if pending else await receive()

    return receiving
