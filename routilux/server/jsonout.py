"""JSON responses for any JobState content: datetimes, bytes, Decimals and tuples included.

Only standard JSON goes out: a non-finite float (``NaN``, ``Infinity``), which a handler may
store, is sent as the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
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


def finite(value: Any) -> Any:
    """``value`` with every non-finite float in it replaced by its name as a string."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [finite(v) for v in value]
    return value


def dumps(data: Any) -> str:
    """Compact, standard JSON text of ``data``."""
    try:
        return _dumps(data)
    except ValueError:  # a NaN or an infinity somewhere (rare): spell them out
        return _dumps(finite(data))


def _dumps(data: Any) -> str:
    return json.dumps(data, default=lambda v: finite(plain(v)), separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response that never fails to encode."""
    return Response(dumps(data), status_code=status, headers=headers, media_type="application/json")
