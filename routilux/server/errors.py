"""Errors as JSON ``{"error": {"type", "message"}}`` with the right status, never a traceback."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from routilux.errors import (
    AmbiguousIdError,
    BrokerUnavailableError,
    BulkSubmitError,
    DistributedError,
    EncodeError,
    FlowError,
    FlowNotPublishedError,
    FlowValidationError,
    IdempotencyKeyError,
    InvalidPriorityError,
    InvalidTenantError,
    JobFilterError,
    JobNotFoundError,
    JobNotRunningError,
    LimitError,
    RoutiluxError,
    ScheduleError,
    SerializationError,
    StoreUnavailableError,
)
from routilux.server.jsonout import json_response

log = logging.getLogger("routilux.server")


class ApiError(Exception):
    """An error the API answers with ``status`` and ``{"error": {"type", "message"}}``."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message


def status_of(exc: Exception) -> int:
    """The HTTP status a Routilux error maps to."""
    not_found: tuple[type[Exception], ...] = (JobNotFoundError, FlowNotPublishedError)
    try:
        from routilux.errors import NotFoundError  # type: ignore[attr-defined]

        not_found += (NotFoundError,)
    except ImportError:
        pass
    if isinstance(exc, not_found):
        return 404
    if isinstance(exc, AmbiguousIdError):
        return 400  # the caller must give more of the id
    if isinstance(exc, (StoreUnavailableError, BrokerUnavailableError)):
        return 503
    if isinstance(exc, (FlowValidationError, EncodeError, SerializationError, JobFilterError, IdempotencyKeyError,
                        ScheduleError, InvalidPriorityError, InvalidTenantError, LimitError,
                        BulkSubmitError)):
        return 422
    if isinstance(exc, (FlowError, JobNotRunningError)):
        return 409  # the job is not in a state that allows it (pause a finished job, post to one, ...)
    if isinstance(exc, DistributedError):
        return 409
    return 400


def error_response(status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The JSON error body every failure uses."""
    return json_response({"error": {"type": type_, "message": message}}, status, headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map every failure to its status and the error JSON shape."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.type, exc.message, headers)

    @app.exception_handler(RoutiluxError)
    async def routilux_error(_: Request, exc: RoutiluxError) -> Response:
        return error_response(status_of(exc), type(exc).__name__, str(exc))

    @app.exception_handler(redis.exceptions.ConnectionError)
    @app.exception_handler(redis.exceptions.TimeoutError)
    async def redis_down(_: Request, exc: Exception) -> Response:
        return error_response(503, "StoreUnavailableError", f"Redis is unreachable: {exc}")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        return error_response(422, "ValidationError", _describe(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        names = {404: "NotFound", 405: "MethodNotAllowed"}
        return error_response(exc.status_code, names.get(exc.status_code, "HTTPError"), str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return error_response(500, "InternalError", "an unexpected error happened; the server log has the details")


def _describe(errors: Any) -> str:
    parts = []
    for err in errors:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or json.dumps(errors, default=str)
