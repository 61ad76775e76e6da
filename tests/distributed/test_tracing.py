"""OpenTelemetry: a producer's span links to the job span, and a worker subprocess's activation spans (with
claim, handler and commit children) join the same trace through the envelope. The producer exports to the SDK's
in-memory exporter; the worker, configured only by OTEL_* variables, writes its spans as JSON lines to a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ops_flows
from waiting import wait_until
from routilux import codec
from routilux.distributed import tracing

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def producer_spans():
    """Route this process's Routilux spans to an in-memory exporter; yields (tracer, exporter)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield provider.get_tracer("test"), exporter
    tracing.install(None)


def read_spans(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_jobs_activations_on_a_worker_process_are_children_of_the_producers_job_span(
        runtime, spawn_worker, producer_spans, tmp_path, monkeypatch):
    spans_file = tmp_path / "spans.jsonl"
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jsonl")
    monkeypatch.setenv(tracing.JSONL_PATH_VARIABLE, str(spans_file))
    monkeypatch.setenv("OTEL_SERVICE_NAME", "orders-worker")
    worker = spawn_worker(imports=("ops_flows",), pool="prefork", concurrency=2)
    tracer, exporter = producer_spans
    with tracer.start_as_current_span("checkout"):
        job_id = runtime.submit(ops_flows.orders_flow("traced"), "order", {"customer": "ann"})
    assert runtime.wait(job_id, timeout=60).status == "completed"

    produced = {s.name: s for s in exporter.get_finished_spans()}
    checkout, job = produced["checkout"], produced["routilux.job"]
    assert job.parent.span_id == checkout.context.span_id
    assert job.attributes["routilux.job_id"] == job_id and job.attributes["routilux.flow_id"] == "traced"
    trace_id = f"{job.context.trace_id:032x}"

    # Each activation's span ends just after its commit's: wait for both kinds of both steps.
    spans = wait_until(lambda: (s := read_spans(spans_file)) and
                       sum(x["name"] == "routilux.commit" for x in s) == 2 and
                       sum(x["name"] == "routilux.activation" for x in s) == 2 and s, timeout=10)
    assert {s["trace_id"] for s in spans} == {trace_id} and {s["pid"] for s in spans} != {os.getpid()}
    activations = {s["attributes"]["routilux.routine_id"]: s for s in spans if s["name"] == "routilux.activation"}
    assert set(activations) == {"order", "ship"}
    for routine, span in activations.items():
        assert span["parent_id"] == f"{job.context.span_id:016x}"
        assert span["attributes"]["routilux.job_id"] == job_id
        assert span["attributes"]["routilux.slot"] == ("trigger" if routine == "order" else "input")
        children = [s["name"] for s in spans if s["parent_id"] == span["span_id"]]
        assert "routilux.handler" in children and "routilux.commit" in children
    order = activations["order"]
    assert order["attributes"]["routilux.attempt"] == 1
    assert "routilux.claim" in [s["name"] for s in spans if s["parent_id"] == order["span_id"]]
    worker.terminate()


def test_a_handler_that_raises_leaves_an_error_status_and_the_exception_on_its_span(
        runtime, start_workers, producer_spans):
    start_workers()  # in this process: its executor traces with the provider the fixture installed
    _, exporter = producer_spans
    job_id = runtime.submit(ops_flows.orders_flow("traced-failure"), "order", {"customer": "bob", "fail": True})
    assert runtime.wait(job_id, timeout=30).status == "failed"
    spans = wait_until(lambda: [s for s in exporter.get_finished_spans() if s.name == "routilux.commit"], timeout=10)
    handler = next(s for s in exporter.get_finished_spans() if s.name == "routilux.handler")
    assert handler.status.status_code.name == "ERROR" and "bad order for bob" in handler.status.description
    assert [e.name for e in handler.events] == ["exception"]
    assert (spans[0].attributes["routilux.outcome"], spans[0].attributes["routilux.commit"]) == ("fail", "ok")


def test_without_otel_configuration_nothing_imports_opentelemetry_and_envelopes_carry_no_context(runtime):
    # (redis-py itself imports opentelemetry when it is installed; routilux alone must not)
    code = ("import sys, routilux\n"
            "print('opentelemetry' in sys.modules)\n"
            "from routilux.distributed.tracing import tracing\n"
            "print(tracing().enabled)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert out.stdout.split() == ["False", "False"]  # routilux did not import it; tracing is off
    job_id = runtime.submit(ops_flows.orders_flow("untraced"), "order", {})
    bodies = runtime.store.redis.hgetall(runtime.store.keys.job(job_id, "acts"))
    assert all("tc" not in codec.unpackb(body) for body in bodies.values())


def test_a_tracing_misconfiguration_leaves_tracing_off_and_says_why():
    code = ("import logging\n"
            "logging.basicConfig()\n"
            "from routilux.distributed.tracing import tracing\n"
            "print(tracing().enabled)")
    for variables in ({"OTEL_TRACES_EXPORTER": "no-such-exporter"}, {"OTEL_TRACES_EXPORTER": "jsonl"}):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != tracing.JSONL_PATH_VARIABLE}
        env.update(variables, PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
                             check=True)
        assert out.stdout.split() == ["False"] and "tracing is off" in out.stderr
