"""Routines and flows the distributed tests run, on in-process and subprocess workers alike.

Workers import this module by name (``--import basic_flows``); producers build the
flows with the factories below.
"""

from __future__ import annotations

import os
import time
from typing import Any

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine


class Source(Routine):
    """Emits ``n`` items (each {"i": k}) on ``out``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["i"])

    def go(self, n: int = 3, **_: Any) -> None:
        for k in range(n):
            self.emit("out", i=k)


class Double(Routine):
    """Emits twice its input, optionally after a pause (config ``sleep_s``)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("out", ["i"])
        self.set_config(sleep_s=0.0)

    def go(self, i: int = 0, **_: Any) -> None:
        if self.get_config("sleep_s"):
            time.sleep(self.get_config("sleep_s"))
        self.emit("out", i=i * 2)


class Record(Routine):
    """Appends what it receives to the shared log and the output log."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, **data: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.append_to_shared_log({"got": data, "pid": os.getpid()})
        self.send_output("item", **data)


class Total(Routine):
    """Append-merge aggregator: when ``expected`` items arrived, stores their sum once."""

    def __init__(self) -> None:
        super().__init__()
        self.input = self.define_slot("input", handler=self.go, merge_strategy="append")
        self.define_event("done", ["total", "count"])
        self.set_config(expected=3)

    def go(self, i: list[int] | None = None, **_: Any) -> None:
        items = i or []
        if len(items) >= self.get_config("expected"):
            ctx = self.get_execution_context()
            assert ctx is not None
            fired = (ctx.job_state.get_shared_data("fired") or 0) + 1
            ctx.job_state.update_shared_data("fired", fired)
            ctx.job_state.update_shared_data("total", sum(items))
            ctx.job_state.update_routine_state(ctx.routine_id, {"status": "aggregated", "count": len(items)})
            self.emit("done", total=sum(items), count=len(items))
            self.input._data = {}


class Flaky(Routine):
    """Fails its first ``fail_times`` attempts per job (counted in the JobState), then passes data on."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("out", ["i"])
        self.set_config(fail_times=1)

    def go(self, i: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        key = f"attempts-{ctx.routine_id}-{i}"
        attempts = (ctx.job_state.get_shared_data(key) or 0) + 1
        ctx.job_state.update_shared_data(key, attempts)
        if attempts <= self.get_config("fail_times"):
            raise RuntimeError(f"transient failure {attempts}")
        self.emit("out", i=i)


class Defer(Routine):
    """Keeps a deferred event and pauses its own job; the event goes out on resume."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("later", ["i"])

    def go(self, i: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        self.emit_deferred_event("later", i=i + 100)
        ctx.flow.pause(ctx.job_state, reason="waiting for approval")


# (job_id, i) of every Slow handler call in this process, when it started and when it returned:
# in-process workers run handlers here, so a test sees which handlers ran at all, not only which
# effects were committed.
SLOW_STARTS: list[tuple[str, int]] = []
SLOW_ENDS: list[tuple[str, int]] = []


class Slow(Routine):
    """Sleeps ``sleep_s`` then emits its input (for crash and pause tests); notes each call in SLOW_STARTS."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("out", ["i"])
        self.set_config(sleep_s=0.5)

    def go(self, i: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        SLOW_STARTS.append((ctx.job_state.job_id, i))
        try:
            time.sleep(self.get_config("sleep_s"))
        finally:
            SLOW_ENDS.append((ctx.job_state.job_id, i))
        self.emit("out", i=i)


class Unencodable(Routine):
    """Emits a value msgpack cannot carry."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["value"])

    def go(self, **_: Any) -> None:
        self.emit("out", value=object())


def chain_flow(flow_id: str = "chain", n_double: int = 2) -> Flow:
    """source -> double x n -> record."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(Source(), "source")
    prev = "source"
    for k in range(n_double):
        flow.add_routine(Double(), f"double{k}")
        flow.connect(prev, "out", f"double{k}", "input")
        prev = f"double{k}"
    flow.add_routine(Record(), "record")
    flow.connect(prev, "out", "record", "input")
    return flow


def fan_in_flow(flow_id: str = "fanin", expected: int = 3, sleep_s: float = 0.0) -> Flow:
    """source -> double (parallel) -> total (append aggregator) -> record."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(Source(), "source")
    double = Double()
    double.set_config(sleep_s=sleep_s)
    flow.add_routine(double, "double")
    total = Total()
    total.set_config(expected=expected)
    flow.add_routine(total, "total")
    flow.add_routine(Record(), "record")
    flow.connect("source", "out", "double", "input")
    flow.connect("double", "out", "total", "input")
    flow.connect("total", "done", "record", "input")
    return flow


def retry_flow(flow_id: str = "retry", fail_times: int = 2, critical: bool = False, max_retries: int = 3) -> Flow:
    """source -> flaky (RETRY) -> record."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(Source(), "source")
    flaky = Flaky()
    flaky.set_config(fail_times=fail_times)
    flaky.set_error_handler(
        ErrorHandler(ErrorStrategy.RETRY, max_retries=max_retries, retry_delay=0.05, retry_backoff=2.0,
                     is_critical=critical)
    )
    flow.add_routine(flaky, "flaky")
    flow.add_routine(Record(), "record")
    flow.connect("source", "out", "flaky", "input")
    flow.connect("flaky", "out", "record", "input")
    return flow


def strategy_flow(strategy: str, flow_id: str | None = None, healthy_branch: bool = True) -> Flow:
    """source -> flaky (always fails, given strategy) -> record; plus a healthy branch to record."""
    flow = Flow(flow_id=flow_id or f"strategy-{strategy}")
    flow.add_routine(Source(), "source")
    flaky = Flaky()
    flaky.set_config(fail_times=99)
    if strategy != "default":
        flaky.set_error_handler(ErrorHandler(strategy, max_retries=2, retry_delay=0.02))
    flow.add_routine(flaky, "flaky")
    flow.add_routine(Record(), "record")
    flow.connect("source", "out", "flaky", "input")
    flow.connect("flaky", "out", "record", "input")
    if healthy_branch:
        flow.add_routine(Double(), "double")
        flow.connect("source", "out", "double", "input")
        flow.connect("double", "out", "record", "input")
    return flow


def deferred_flow(flow_id: str = "deferred") -> Flow:
    """source -> defer (pauses the job, keeps an event) -> record on resume."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(Source(), "source")
    flow.add_routine(Defer(), "defer")
    flow.add_routine(Record(), "record")
    flow.connect("source", "out", "defer", "input")
    flow.connect("defer", "later", "record", "input")
    return flow


def slow_flow(flow_id: str = "slow", sleep_s: float = 0.5) -> Flow:
    """source -> slow (parallel) -> record."""
    flow = Flow(flow_id=flow_id, execution_strategy="concurrent", max_workers=4)
    flow.add_routine(Source(), "source")
    slow = Slow()
    slow.set_config(sleep_s=sleep_s)
    flow.add_routine(slow, "slow")
    flow.add_routine(Record(), "record")
    flow.connect("source", "out", "slow", "input")
    flow.connect("slow", "out", "record", "input")
    return flow


class SlowRecord(Routine):
    """A fan-out's leaf: sleeps ``sleep_s`` (config; 0: not at all), then appends {"i": i, "pid": ...} to the shared log."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.set_config(sleep_s=0.0)

    def go(self, i: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        if self.get_config("sleep_s"):
            time.sleep(self.get_config("sleep_s"))
        ctx.job_state.append_to_shared_log({"i": i, "pid": os.getpid()})


def fan_out_flow(flow_id: str = "fanout", sleep_s: float = 0.0) -> Flow:
    """source -> record (a SlowRecord): a job with ``{"n": N}`` is one source step and N record steps."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(Source(), "source")
    record = SlowRecord()
    record.set_config(sleep_s=sleep_s)
    flow.add_routine(record, "record")
    flow.connect("source", "out", "record", "input")
    return flow


class Echo(Routine):
    """Appends the parameters it was triggered with to the shared log, as the producer sent them."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)

    def go(self, **params: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.append_to_shared_log(params)
