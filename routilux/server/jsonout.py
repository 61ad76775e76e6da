"""JSON responses for any JobState content: datetimes, bytes, Decimals and tuples included."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import uuid
from decimal import Decimal
from typing import Any

from starlette.responses import Response


def plain(value: Any) -> Any:
    """``json.dumps`` fallback: ISO text for times, base64 for bytes, text for the rest."""
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    return repr(value)


def dumps(data: Any) -> str:
    """Compact JSON text of ``data``."""
    return json.dumps(data, default=plain, separators=(",", ":"), ensure_ascii=False)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response that never fails to encode."""
    return Response(dumps(data), status_code=status, headers=headers, media_type="application/json")
