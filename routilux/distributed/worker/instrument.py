"""Worker metrics: hooks that count into a registry, and a small HTTP endpoint that serves them.

``routilux worker --metrics-port 9100`` installs :class:`MetricsHooks` before
the pool starts. With the prefork pool every child process counts on its own
and writes a snapshot to a shared folder about once a second (off the step
path); the endpoint in the main process adds those snapshots to its own
counts at scrape time.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

from routilux.distributed import hooks
from routilux.distributed.metrics import CONTENT_TYPE, Registry

log = logging.getLogger("routilux.distributed")
FLUSH_S = 1.0


def worker_registry(collect_queue: Callable[[], dict[tuple[str, ...], float]] | None = None) -> Registry:
    """A registry with every worker metric (``routilux_`` prefix)."""
    reg = Registry()
    reg.counter("routilux_activations_total", "Activations handled, by routine and outcome", ("routine", "outcome"))
    reg.histogram("routilux_step_duration_seconds", "Time a routine's handler (one step) took", ("routine",))
    reg.histogram("routilux_claim_seconds", "Latency of the claim script")
    reg.histogram("routilux_commit_seconds", "Latency of the commit script")
    reg.counter("routilux_leases_expired_total", "Activations re-sent because their worker's lease expired")
    reg.counter("routilux_redispatches_total", "Due activations re-sent by the sweeper (outbox, retries, backstop)")
    reg.counter("routilux_lost_worker_resends_total",
                "Activations a worker that stopped without shutting down had fetched, put back on the queue")
    reg.counter("routilux_dead_letters_total", "Messages and activations sent to the dead-letter stream", ("reason",))
    if collect_queue is not None:
        reg.gauge("routilux_queue_depth", "Messages waiting in the broker queue", ("queue",), collect=collect_queue)
    return reg


class MetricsHooks(hooks.ExecutorHooks):
    """Counts what the executor and the sweeper report into a :class:`Registry`."""

    def __init__(self, registry: Registry | None = None, folder: str | None = None) -> None:
        self.folder = folder
        self._pid = os.getpid()
        self._bind(registry or worker_registry())

    def _bind(self, registry: Registry) -> None:
        self.registry = registry
        self._by_name = {m.name: m for m in registry.metrics}
        self._activations = self._by_name["routilux_activations_total"]
        self._steps = self._by_name["routilux_step_duration_seconds"]
        self._claims = self._by_name["routilux_claim_seconds"]
        self._commits = self._by_name["routilux_commit_seconds"]

    def after_claim(self, routine_id: str, answer: str, seconds: float) -> None:
        self._forked()
        self._claims.observe(seconds)  # type: ignore[attr-defined]
        if answer != "ok":
            self._activations.inc(routine_id, answer)  # type: ignore[attr-defined]

    def after_step(self, routine_id: str, outcome: str, seconds: float) -> None:
        self._steps.observe(seconds, routine_id)  # type: ignore[attr-defined]

    def after_commit(self, routine_id: str, answer: str, seconds: float) -> None:
        self._commits.observe(seconds)  # type: ignore[attr-defined]
        self._activations.inc(routine_id, answer if answer != "ok" else "committed")  # type: ignore[attr-defined]

    def on_dead_letter(self, reason: str) -> None:
        self._forked()
        self._by_name["routilux_dead_letters_total"].inc(reason)  # type: ignore[attr-defined]

    def after_sweep(self, expired: int, redispatched: int) -> None:
        self._forked()
        self._by_name["routilux_leases_expired_total"].inc(amount=expired)  # type: ignore[attr-defined]
        self._by_name["routilux_redispatches_total"].inc(amount=redispatched)  # type: ignore[attr-defined]

    def after_lost_worker(self, worker: str, messages: int, activations: int) -> None:
        self._by_name["routilux_lost_worker_resends_total"].inc(amount=activations)  # type: ignore[attr-defined]

    def _forked(self) -> None:
        """In a pool child (a fork), start from zero and write snapshots for the main process."""
        if self._pid == os.getpid() or self.folder is None:
            return
        self._pid = os.getpid()
        self._bind(worker_registry())
        threading.Thread(target=self._flush_forever, name="routilux-metrics", daemon=True).start()

    def _flush_forever(self) -> None:
        path = Path(self.folder) / f"{os.getpid()}.json"  # type: ignore[arg-type]
        while True:
            time.sleep(FLUSH_S)
            try:
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(self.registry.export()))
                tmp.replace(path)
            except OSError:
                log.debug("metrics snapshot failed", exc_info=True)

    def render(self, collect_queue: Callable[[], dict[tuple[str, ...], float]] | None = None) -> str:
        """This process's counts plus every pool child's latest snapshot, as Prometheus text."""
        merged = worker_registry(collect_queue)
        merged.absorb(self.registry.export())
        if self.folder is not None:
            for snapshot in Path(self.folder).glob("*.json"):
                try:
                    merged.absorb(json.loads(snapshot.read_text()))
                except (OSError, ValueError):
                    continue
        return merged.render()


def serve_metrics(render: Callable[[], str], host: str, port: int) -> ThreadingHTTPServer:
    """Serve ``GET /metrics`` (and ``/``) on a daemon thread; returns the server (``shutdown()`` stops it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = render().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="routilux-metrics-http", daemon=True).start()
    return server


def start_worker_metrics(port: int, host: str = "0.0.0.0", queue_depth: Callable[[], float] | None = None,
                         queue: str = "") -> tuple[MetricsHooks, ThreadingHTTPServer]:
    """Install metrics hooks for this worker process (and its pool children) and serve them on ``port``."""
    folder = tempfile.mkdtemp(prefix="routilux-metrics-")
    metrics = MetricsHooks(folder=folder)
    hooks.install(metrics)

    def collect() -> dict[tuple[str, ...], float]:
        return {(queue,): float(queue_depth())} if queue_depth is not None else {}

    server = serve_metrics(lambda: metrics.render(collect if queue_depth is not None else None), host, port)
    return metrics, server
