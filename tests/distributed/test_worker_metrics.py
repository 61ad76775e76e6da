"""Worker metrics: the executor's hooks count into Prometheus text served on the worker's metrics port."""

from __future__ import annotations

import httpx
import pytest

import basic_flows
from conftest import free_port
from waiting import wait_until
from routilux.distributed import hooks
from routilux.distributed.worker.instrument import start_worker_metrics
from routilux.distributed.metrics import Registry

pytestmark = pytest.mark.distributed


def test_an_in_process_worker_counts_activations_steps_claims_and_commits(runtime, start_workers):
    port = free_port()
    _, server = start_worker_metrics(port, host="127.0.0.1", queue_depth=lambda: 0, queue="q")
    try:
        start_workers()
        runtime.publish(basic_flows.chain_flow("chain-metrics"))
        runtime.wait(runtime.submit("chain-metrics", "source", {"n": 2}), timeout=30)
        # The last step's commit is counted just after the commit that ends the job.
        text = wait_until(lambda: (t := httpx.get(f"http://127.0.0.1:{port}/metrics").text)
                          and "routilux_commit_seconds_count 7" in t and t, timeout=5)
    finally:
        hooks.install(hooks.ExecutorHooks())
        server.shutdown()
    assert 'routilux_activations_total{routine="double0",outcome="committed"} 2' in text
    assert 'routilux_step_duration_seconds_count{routine="record"} 2' in text
    # Children run inline are claimed inside their parent's commit: fewer claims than commits.
    assert 'routilux_commit_seconds_count 7' in text and "routilux_claim_seconds_count " in text
    assert 'routilux_queue_depth{queue="q"} 0' in text
    assert "# TYPE routilux_step_duration_seconds histogram" in text


def test_a_prefork_worker_daemon_serves_the_counts_of_its_pool_processes(runtime, spawn_worker, monkeypatch):
    port = free_port()
    monkeypatch.setenv("ROUTILUX_METRICS_PORT", str(port))
    spawn_worker(pool="prefork", concurrency=2)
    runtime.publish(basic_flows.chain_flow("chain-prefork"))
    for _ in range(3):
        runtime.wait(runtime.submit("chain-prefork", "source", {"n": 2}), timeout=60)

    def committed() -> bool:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            return False
        return 'routilux_activations_total{routine="record",outcome="committed"} 6' in text

    assert wait_until(committed, timeout=20)


def test_the_text_exposition_follows_the_prometheus_format():
    reg = Registry()
    runs = reg.counter("routilux_x_total", "Things", ("routine",))
    runs.inc('a"b')
    lat = reg.histogram("routilux_y_seconds", "Latency", buckets=(0.1, 1.0))
    lat.observe(0.05)
    lat.observe(5.0)
    reg.gauge("routilux_z", "Computed", collect=lambda: {(): 3.0})
    text = reg.render()
    assert 'routilux_x_total{routine="a\\"b"} 1' in text
    assert 'routilux_y_seconds_bucket{le="0.1"} 1' in text and 'routilux_y_seconds_bucket{le="+Inf"} 2' in text
    assert "routilux_y_seconds_count 2" in text and "routilux_y_seconds_sum 5.05" in text
    assert "routilux_z 3" in text
    other = Registry()
    other.counter("routilux_x_total", "Things", ("routine",))
    other.histogram("routilux_y_seconds", "Latency", buckets=(0.1, 1.0))
    other.absorb(reg.export())
    other.absorb(reg.export())
    assert 'routilux_x_total{routine="a\\"b"} 2' in other.render()
