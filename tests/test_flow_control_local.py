"""The local engine enforces the same concurrency and rate limits in-process, across its executions."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from routilux import Flow, Routine
from routilux.flow_control import LimitError, parse_rate


class Fan(Routine):
    """Emits ``n`` items, item k for customer ``k % customers``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["i", "customer_id"])

    def go(self, n: int = 3, customers: int = 1, **_: Any) -> None:
        for k in range(n):
            self.emit("out", i=k, customer_id=f"c{k % customers}")


class Gauge:
    """Runs in flight per customer, and the most seen at once; start times."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.high: dict[str, int] = {}
        self.starts: list[float] = []


GAUGES: dict[str, Gauge] = {}


class Api(Routine):
    """Sleeps ``sleep_s`` while counted in the gauge named by config ``gauge``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.set_config(gauge="", sleep_s=0.0)

    def go(self, i: int = 0, customer_id: str = "", **_: Any) -> None:
        g = GAUGES[self.get_config("gauge")]
        with g.lock:
            g.starts.append(time.monotonic())
            g.now[customer_id] = g.now.get(customer_id, 0) + 1
            g.high[customer_id] = max(g.high.get(customer_id, 0), g.now[customer_id])
        time.sleep(self.get_config("sleep_s"))
        with g.lock:
            g.now[customer_id] -= 1
        self.get_execution_context().job_state.append_to_shared_log({"i": i})


def api_flow(name: str, sleep_s: float, strategy: str = "concurrent", **limits: Any) -> Flow:
    GAUGES[name] = Gauge()
    flow = Flow(flow_id=name, execution_strategy=strategy, max_workers=8)
    api = Api()
    api.set_config(gauge=name, sleep_s=sleep_s)
    if "max_running" in limits:
        api.set_concurrency_limit(limits["max_running"], key=limits.get("key"))
    if "rate" in limits:
        api.set_rate_limit(limits["rate"])
    flow.add_routine(Fan(), "fan")
    flow.add_routine(api, "api")
    flow.connect("fan", "out", "api", "input")
    return flow


def test_at_most_two_calls_per_customer_run_at_once_in_one_execution():
    flow = api_flow("local-two", 0.05, max_running=2, key="customer_id")
    state = flow.execute("fan", {"n": 16, "customers": 2}, timeout=30)
    assert state.status == "completed", state.error
    assert sorted(e["i"] for e in state.shared_log) == list(range(16))
    assert GAUGES["local-two"].high == {"c0": 2, "c1": 2}


def test_the_limit_holds_across_executions_of_the_process_and_sequential_ones_wait_their_turn():
    flow = api_flow("local-across", 0.05, strategy="sequential", max_running=1)
    states = [flow.start("fan", {"n": 4, "customers": 1}) for _ in range(3)]
    for state in states:
        assert state.wait(timeout=30)
        assert state.status == "completed", state.error
        assert sorted(e["i"] for e in state.shared_log) == list(range(4))
    assert GAUGES["local-across"].high == {"c0": 1}


def test_a_key_expression_splits_the_limit_by_its_value():
    flow = api_flow("local-expr", 0.05, max_running=1, key="data['customer_id'][-1]")
    state = flow.execute("fan", {"n": 8, "customers": 2}, timeout=30)
    assert state.status == "completed", state.error
    assert GAUGES["local-expr"].high == {"c0": 1, "c1": 1}


def test_a_missing_key_field_fails_the_job_with_the_reason():
    flow = api_flow("local-missing", 0.0, max_running=1, key="tenant")
    state = flow.execute("fan", {"n": 2}, timeout=30)
    assert state.status == "failed"
    assert "tenant" in state.error


def test_a_rate_limit_spaces_starts_in_process():
    flow = api_flow("local-rate", 0.0, rate="40/s")
    state = flow.execute("fan", {"n": 41}, timeout=30)
    assert state.status == "completed", state.error
    starts = GAUGES["local-rate"].starts
    assert 36.0 <= (len(starts) - 1) / (starts[-1] - starts[0]) <= 44.0


@pytest.mark.parametrize("bad", ["10", "ten/s", "0/s", "5/d", 5])
def test_a_malformed_rate_is_refused_with_a_typed_error(bad):
    with pytest.raises(LimitError):
        Api().set_rate_limit(bad)


def test_rates_read_per_second_minute_and_hour_and_bad_limits_are_refused():
    assert (parse_rate("10/s"), parse_rate("600/m"), parse_rate("36/h")) == (10.0, 10.0, 0.01)
    with pytest.raises(LimitError):
        Api().set_concurrency_limit(0)
    with pytest.raises(LimitError):
        Api().set_concurrency_limit(2, key="__import__('os')")
