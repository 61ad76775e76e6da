"""OpenTelemetry tracing of jobs and activations (the ``otel`` extra), off and free unless configured.

A submit opens a short "routilux.job" span (a child of the producer's current
span) and puts its W3C trace context in the root activation's envelope (``tc``);
every activation of the job carries the same context, so each worker's
"routilux.activation" span, on any host, is a child of the job span, with the
stages "routilux.claim", "routilux.handler" and "routilux.commit" as its
children. Spans carry routilux.job_id, routilux.activation_id,
routilux.routine_id, routilux.slot and routilux.attempt.

Tracing is on in a process when OpenTelemetry is installed and either the
application already set a tracer provider, or ``OTEL_TRACES_EXPORTER`` names an
exporter (not "none") and ``OTEL_SDK_DISABLED`` is not "true". Routilux then
builds the SDK's provider, which reads the other standard variables
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``,
``OTEL_BSP_*``, ``OTEL_PROPAGATORS``), with the exporters of the
``opentelemetry_traces_exporter`` entry points ("console", "otlp", ...) and one
of its own: "jsonl" writes each span as a JSON line to the file
``ROUTILUX_OTEL_JSONL_PATH`` (for tests and for looking at traces without a
collector). Otherwise every call here is a shared no-op and opentelemetry is
never imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import Any, ContextManager, Iterator

log = logging.getLogger("routilux.distributed")
_NULL: ContextManager[Any] = contextlib.nullcontext()
JSONL_PATH_VARIABLE = "ROUTILUX_OTEL_JSONL_PATH"


class NoTracing:
    """What a process without tracing uses: every span is a shared no-op."""

    enabled = False

    def job(self, job_id: str, flow_id: str, entry: str) -> ContextManager[dict[str, str] | None]:
        """A producer's job span; yields the trace context to put in the root envelope (None: none)."""
        return contextlib.nullcontext(None)

    def activation(self, job_id: str, act_id: str, routine_id: str, slot: str, attempt: int,
                   carrier: dict[str, str] | None) -> ContextManager[Any]:
        """An activation's span, made current, a child of the job span named by ``carrier``."""
        return _NULL

    def stage(self, name: str) -> ContextManager[Any]:
        """A stage (claim, handler, commit) of the current activation."""
        return _NULL

    def note(self, **attributes: Any) -> None:
        """Add attributes to the current span."""

    def raised(self, error: BaseException) -> None:
        """The current span's work raised ``error`` (recorded on it, its status set to error)."""


class OtelTracing(NoTracing):
    """Spans through an OpenTelemetry tracer."""

    enabled = True

    def __init__(self, tracer: Any) -> None:
        from opentelemetry import context, propagate, trace

        self.tracer, self._trace, self._propagate, self._context = tracer, trace, propagate, context

    @contextlib.contextmanager
    def job(self, job_id: str, flow_id: str, entry: str) -> Iterator[dict[str, str] | None]:
        attributes = {"routilux.job_id": job_id, "routilux.flow_id": flow_id, "routilux.routine_id": entry}
        with self.tracer.start_as_current_span("routilux.job", kind=self._trace.SpanKind.PRODUCER,
                                               attributes=attributes):
            carrier: dict[str, str] = {}
            self._propagate.inject(carrier)
            yield carrier or None

    @contextlib.contextmanager
    def activation(self, job_id: str, act_id: str, routine_id: str, slot: str, attempt: int,
                   carrier: dict[str, str] | None) -> Iterator[Any]:
        parent = self._propagate.extract(carrier) if carrier else None
        attributes = {"routilux.job_id": job_id, "routilux.activation_id": act_id,
                      "routilux.routine_id": routine_id, "routilux.slot": slot, "routilux.attempt": attempt}
        with self.tracer.start_as_current_span("routilux.activation", context=parent,
                                               kind=self._trace.SpanKind.CONSUMER, attributes=attributes) as span:
            yield span

    def stage(self, name: str) -> ContextManager[Any]:
        return self.tracer.start_as_current_span(f"routilux.{name}")

    def note(self, **attributes: Any) -> None:
        self._trace.get_current_span().set_attributes({f"routilux.{k}": v for k, v in attributes.items()})

    def raised(self, error: BaseException) -> None:
        span = self._trace.get_current_span()
        span.record_exception(error)
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"))


_lock = threading.Lock()
_by_pid: dict[int, NoTracing] = {}


def tracing() -> NoTracing:
    """This process's tracing, decided on first use (after a fork, again: exporters' threads do not survive it)."""
    pid = os.getpid()
    found = _by_pid.get(pid)
    if found is None:
        with _lock:
            found = _by_pid.get(pid) or _decide()
            _by_pid.clear()
            _by_pid[pid] = found
    return found


def install(provider: Any | None) -> None:
    """Trace Routilux in this process with ``provider`` (an OpenTelemetry TracerProvider) instead of the global
    one, e.g. to keep its spans apart; None goes back to deciding from the environment on next use."""
    with _lock:
        _by_pid.clear()
        if provider is not None:
            _by_pid[os.getpid()] = OtelTracing(provider.get_tracer("routilux"))


def carrier_of(envelope: dict[str, Any]) -> dict[str, str] | None:
    """The trace context an activation envelope carries (None if none, or not a map of text)."""
    carrier = envelope.get("tc")
    if isinstance(carrier, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in carrier.items()):
        return carrier
    return None


def _decide() -> NoTracing:
    exporters = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    wanted = bool(exporters) and exporters != ["none"]
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return NoTracing()
    if not wanted and "opentelemetry" not in sys.modules:
        return NoTracing()  # nobody configured tracing: do not even import it
    try:
        from opentelemetry import trace
    except ImportError:
        return NoTracing()
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return OtelTracing(trace.get_tracer("routilux"))  # the application set its own provider
    if not wanted:
        return NoTracing()
    provider = _sdk_provider([n for n in exporters if n != "none"])
    if provider is None:
        return NoTracing()
    trace.set_tracer_provider(provider)
    return OtelTracing(trace.get_tracer("routilux"))


def _sdk_provider(exporters: list[str]) -> Any:
    """The SDK's tracer provider with the named exporters; None (and an error logged) if it cannot be made.

    A tracing misconfiguration must never stop a worker from running activations: it runs untraced.
    """
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        log.error("OTEL_TRACES_EXPORTER is set but opentelemetry-sdk is not installed: pip install 'routilux[otel]'")
        return None
    provider = TracerProvider()
    try:
        for name in exporters:
            if name == "jsonl":
                from routilux.distributed.otel_jsonl import JsonLinesExporter

                path = os.environ.get(JSONL_PATH_VARIABLE)
                if not path:
                    raise ValueError(f"OTEL_TRACES_EXPORTER=jsonl needs the file in {JSONL_PATH_VARIABLE}")
                provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(path)))
            else:
                provider.add_span_processor(BatchSpanProcessor(_entry_point_exporter(name)))
    except Exception as exc:  # an unknown exporter, one that fails to start, a missing setting
        log.error("tracing is off: %s", exc)
        return None
    return provider


def _entry_point_exporter(name: str) -> Any:
    from importlib.metadata import entry_points

    found = list(entry_points(group="opentelemetry_traces_exporter", name=name))
    if not found:
        raise ValueError(f"OTEL_TRACES_EXPORTER names {name!r}, which no installed package provides")
    return found[0].load()()
