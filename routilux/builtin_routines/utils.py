"""Utility routines: TimeProvider and DataFlattener."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from routilux.routine import Routine

__all__ = ["TimeProvider", "DataFlattener", "flatten"]

# Fixed tables instead of the ``locale`` module: setlocale is process-global
# and not thread-safe, and handlers of many executions run side by side.
_WEEKDAYS = {
    "zh": ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
_LOCALE_FORMATS = {"zh": "%Y年%m月%d日 %H:%M:%S", "en": "%B %d, %Y %I:%M:%S %p"}
TIME_FORMATS = ("iso", "timestamp", "formatted", "custom")
CIRCULAR_MARKER = "[circular reference]"


def format_localized(moment: datetime, locale: str, include_weekday: bool) -> str:
    """Format ``moment`` for a locale ("zh_CN" style; unknown languages fall back to English)."""
    lang = (locale or "en").split("_")[0].split("-")[0].lower()
    lang = lang if lang in _LOCALE_FORMATS else "en"
    # Month names come from strftime, which is English under the default C locale
    text = moment.strftime(_LOCALE_FORMATS[lang])
    if include_weekday:
        text = f"{text} {_WEEKDAYS[lang][moment.weekday()]}"
    return text


class TimeProvider(Routine):
    """Emit the current local time in several formats whenever slot ``request`` receives anything.

    Event ``output`` carries ``time_string`` (in the configured ``format``:
    "iso", "timestamp", "formatted" or "custom"), ``timestamp`` (Unix seconds,
    float), ``datetime`` (ISO 8601 with UTC offset) and ``formatted`` (the
    time in ``custom_format``). Config: ``format`` ("iso"), ``custom_format``
    ("%Y-%m-%d %H:%M:%S"), ``include_weekday`` (True, for "formatted") and
    ``locale`` ("zh_CN"; "en_US" and others give English).
    """

    def __init__(self) -> None:
        """Define the ``request`` slot, the ``output`` event and the default config."""
        super().__init__()
        self.request_slot = self.define_slot("request", handler=self._handle_request, merge_strategy="override")
        # Upstream docs call ``trigger_slot.receive({})``; the slot is named "request" on
        # purpose (a "trigger" slot would make it look like an entry routine).
        self.trigger_slot = self.request_slot
        self.output_event = self.define_event("output", ["time_string", "timestamp", "datetime", "formatted"])
        self.set_config(format="iso", custom_format="%Y-%m-%d %H:%M:%S", include_weekday=True, locale="zh_CN")

    @staticmethod
    def _now() -> datetime:
        """Return the current time, timezone-aware in the local zone (a seam for tests)."""
        return datetime.now(timezone.utc).astimezone()

    def _handle_request(self, data: Any = None, **kwargs: Any) -> None:
        """Compute the current time and emit ``output``; the request's content is ignored."""
        fmt = self.get_config("format", "iso")
        if fmt not in TIME_FORMATS:
            raise ValueError(f"TimeProvider format must be one of {TIME_FORMATS}, not {fmt!r}")
        now = self._now()
        custom = now.strftime(str(self.get_config("custom_format", "%Y-%m-%d %H:%M:%S")))
        choices = {
            "iso": now.isoformat(),
            "timestamp": str(now.timestamp()),
            "formatted": format_localized(
                now, str(self.get_config("locale", "zh_CN")), bool(self.get_config("include_weekday", True))
            ),
            "custom": custom,
        }
        self.emit(
            "output", time_string=choices[fmt], timestamp=now.timestamp(), datetime=now.isoformat(), formatted=custom
        )


def flatten(data: Any, separator: str = ".", index_lists: bool = True, max_depth: int = 100) -> tuple[dict[str, Any], int]:
    """Flatten nested dicts (and lists by index, if ``index_lists``) into one dict; return (dict, depth).

    A top-level list is always flattened by index so the result is a dict; a
    scalar becomes ``{"value": scalar}`` with depth 0. Structures deeper than
    ``max_depth`` are kept as values, and a cycle becomes ``[circular reference]``.
    """
    if not isinstance(data, (dict, list, tuple)):
        return {"value": data}, 0
    out: dict[str, Any] = {}
    depth = _flatten_into(out, "", data, separator, index_lists, max_depth, 1, {id(data)})
    return out, depth


def _children(value: Any) -> list[tuple[str, Any]]:
    """Return (key, child) pairs of a dict or sequence, keys as strings."""
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    return [(str(i), v) for i, v in enumerate(value)]


def _flatten_into(
    out: dict[str, Any], prefix: str, value: Any, sep: str, index_lists: bool, max_depth: int, level: int, seen: set[int]
) -> int:
    """Write the leaves of ``value`` into ``out`` under ``prefix``; return the deepest level reached."""
    deepest = level
    for key, child in _children(value):
        name = f"{prefix}{sep}{key}" if prefix else key
        nested = isinstance(child, dict) or (isinstance(child, (list, tuple)) and index_lists)
        if nested and id(child) in seen:
            out[name] = CIRCULAR_MARKER
        elif nested and child and level < max_depth:
            seen.add(id(child))
            deepest = max(deepest, _flatten_into(out, name, child, sep, index_lists, max_depth, level + 1, seen))
            seen.discard(id(child))  # the same object under two keys is sharing, not a cycle
        else:
            out[name] = child
    return deepest


class DataFlattener(Routine):
    """Flatten nested data into a flat dict with joined keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``).

    Slot ``input`` takes ``data``; event ``output`` carries
    ``flattened_data``, ``original_type`` and ``depth`` (nesting levels
    flattened; 0 for a scalar). Config: ``separator`` ("."),
    ``preserve_lists`` (True, as upstream: list items keep their positions as
    keys, ``{"items": [1]}`` -> ``{"items.0": 1}``; False: lists stay list values)
    and ``max_depth`` (100).
    """

    def __init__(self) -> None:
        """Define the ``input`` slot, the ``output`` event and the default config."""
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self._handle_input, merge_strategy="override")
        self.output_event = self.define_event("output", ["flattened_data", "original_type", "depth"])
        self.set_config(separator=".", preserve_lists=True, max_depth=100)

    def _handle_input(self, data: Any = None, **kwargs: Any) -> None:
        """Flatten the received data and emit ``output``."""
        data = self._extract_input_data(data, **kwargs)
        flat, depth = flatten(
            data,
            str(self.get_config("separator", ".")),
            bool(self.get_config("preserve_lists", True)),
            int(self.get_config("max_depth", 100)),
        )
        self.emit("output", flattened_data=flat, original_type=type(data).__name__, depth=depth)
