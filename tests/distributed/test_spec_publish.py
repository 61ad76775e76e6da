"""``routilux publish FILE``: a spec file's flow on the distributed engine, run by a real worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples import orders
from routilux import Flow
from routilux.cli import main
from routilux.errors import FlowNotPublishedError

pytestmark = pytest.mark.distributed

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "orders.yaml")


def test_publish_prints_the_content_hash_and_workers_run_the_published_spec(runtime, start_workers, settings,
                                                                             monkeypatch, capsys):
    monkeypatch.setenv("ROUTILUX_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("ROUTILUX_KEY_PREFIX", settings.key_prefix)
    capsys.readouterr()
    code = main(["publish", EXAMPLE, "--import", "examples.orders"])
    out, err = capsys.readouterr()
    assert code == 0, err
    digest = out.strip()
    assert digest == runtime.publish(Flow.load_spec(EXAMPLE))  # same content, same hash
    start_workers()
    state = runtime.wait(runtime.submit("orders", "source", {"orders": orders.SAMPLE_ORDERS}), timeout=30)
    assert state.status == "completed", state.error
    local = orders.make_flow()
    try:
        expected = local.execute("source", {"orders": orders.SAMPLE_ORDERS}, timeout=20).get_shared_data("summary")
    finally:
        local.shutdown()
    assert state.get_shared_data("summary") == expected


def test_publish_of_a_bad_spec_exits_2_and_publishes_nothing(runtime, settings, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("ROUTILUX_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("ROUTILUX_KEY_PREFIX", settings.key_prefix)
    bad = tmp_path / "bad.json"
    bad.write_text('{"flow_id": "bad", "routines": {"a": {"class": "Nope"}}}')
    capsys.readouterr()
    assert main(["publish", str(bad)]) == 2
    assert "routines.a.class: unknown routine class 'Nope'" in capsys.readouterr().err
    with pytest.raises(FlowNotPublishedError):
        runtime.submit("bad", "a")
