"""What a broker frame must look like before kombu or Celery may handle it.

A frame kombu or Celery cannot handle raises deep in their code: on the Redis
transport a missing ``delivery_tag`` raises ``KeyError``, which kombu counts as a
lost connection (the consumer is rebuilt); a Celery header it cannot parse
(``"timelimit": "x"``) raises after the message was reserved, so it is never
acknowledged and holds a prefetch slot for good. These checks name the problem
first, so the consumer dead-letters and acknowledges such a frame instead.
"""

from __future__ import annotations

import math
from typing import Any

from kombu.transport.virtual import Channel as VirtualChannel

MAX_FRAME_BYTES = 64 * 1024  # what a dead letter keeps of a frame it could not use
_TEXT_FIELDS = ("content-type", "content-encoding")


def frame_problem(frame: Any) -> str | None:
    """Why kombu's Redis transport cannot make a message of ``frame`` (its parsed JSON), or None if it can."""
    if not isinstance(frame, dict):
        return f"a frame must be a JSON object, not {type(frame).__name__}"
    props = frame.get("properties")
    if not isinstance(props, dict):
        return "the frame has no properties"
    tag, info = props.get("delivery_tag"), props.get("delivery_info")
    if not isinstance(tag, str) or not tag:
        return "the frame has no delivery_tag"
    if not isinstance(info, dict) or not all(isinstance(info.get(k), str) for k in ("exchange", "routing_key")):
        return "the frame has no delivery_info with an exchange and a routing_key"
    if not isinstance(frame.get("headers") or {}, dict):
        return "the frame's headers are not a map"
    if any(not isinstance(frame.get(name) or "", str) for name in _TEXT_FIELDS):
        return "the frame's content-type or content-encoding is not text"
    return _body_problem(frame.get("body"), props.get("body_encoding"))


def _body_problem(body: Any, encoding: Any) -> str | None:
    if body is None or body == "":
        return None
    if not isinstance(body, str):
        return "the frame's body is not text"
    if encoding is None:
        return None
    if encoding not in VirtualChannel.codecs:
        return f"unknown body_encoding {str(encoding)[:40]!r}"
    try:
        VirtualChannel.codecs[encoding].decode(body)
    except (ValueError, TypeError) as exc:
        return f"the frame's body is not valid {encoding}: {exc}"
    return None


def task_problem(headers: Any) -> str | None:
    """Why Celery could take a message with ``headers`` but never run or acknowledge it, or None.

    Routilux sends Celery protocol 2 messages with no ETA and no expiry: an ETA
    message would wait in the worker's memory, unacknowledged, until its time
    comes; an expired one would be dropped unrecorded.
    """
    if not isinstance(headers, dict) or not isinstance(headers.get("task"), str):
        return "not a Celery task message: no task header"
    if not isinstance(headers.get("id"), str):
        return "not a Celery task message: no id header"
    if headers.get("eta") is not None or headers.get("expires") is not None:
        return "a task with an ETA or an expiry (Routilux sends neither)"
    limits = headers.get("timelimit")
    if limits is not None and not (isinstance(limits, (list, tuple)) and len(limits) == 2
                                   and all(_is_seconds(x) for x in limits)):
        return f"header timelimit must be [soft, hard] seconds, not {str(limits)[:40]!r}"
    return None


def _is_seconds(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def safe_text(text: str, limit: int = 1000) -> str:
    """``text`` cut to ``limit`` characters, with anything UTF-8 cannot hold (lone surrogates) escaped."""
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")
