"""A span exporter writing JSON lines (``OTEL_TRACES_EXPORTER=jsonl``, file ``ROUTILUX_OTEL_JSONL_PATH``).

Imported only when tracing is configured with it; needs opentelemetry-sdk.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class JsonLinesExporter(SpanExporter):
    """Appends one JSON object per finished span to ``path`` (several processes may share the file)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write the spans, one line each, in one append."""
        lines = "".join(json.dumps(span_dict(span)) + "\n" for span in spans)
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(lines)
        return SpanExportResult.SUCCESS


def span_dict(span: ReadableSpan) -> dict[str, Any]:
    """name, trace_id, span_id, parent_id (hex), start_ns, end_ns, pid, status (OK/ERROR/UNSET) and attributes
    of a finished span."""
    ctx, parent = span.get_span_context(), span.parent
    return {"name": span.name, "trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}",
            "parent_id": f"{parent.span_id:016x}" if parent is not None else None,
            "start_ns": span.start_time, "end_ns": span.end_time, "pid": os.getpid(),
            "status": span.status.status_code.name,
            "attributes": dict(span.attributes or {})}
