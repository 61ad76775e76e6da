"""Routines and flows of the flow-control tests (workers import ``limit_flows``).

``CallApi`` measures its own concurrency with a shared counter in Redis: each
run INCRs a gauge per customer, keeps the highest value seen, sleeps, then
DECRs; a run that dies mid-way leaves its INCR behind, which the tests count.
It also appends the start time of each run to a Redis list, for rate tests.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from routilux import Flow, Routine

# KEYS[1] the gauge, KEYS[2] the highest value seen: INCR the gauge, raise the high mark.
_ENTER = """
local n = redis.call('INCR', KEYS[1])
if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end
return n
"""
_clients: dict[str, redis.Redis] = {}


def client(url: str) -> redis.Redis:
    """One Redis client per URL per process."""
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url)
    return _clients[url]


class Fanout(Routine):
    """Emits ``n`` items, item k for customer ``k % customers``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["i", "customer_id"])

    def go(self, n: int = 3, customers: int = 1, **_: Any) -> None:
        for k in range(n):
            self.emit("out", i=k, customer_id=f"c{k % customers}")


class CallApi(Routine):
    """Counts how many of its runs overlap, per customer, in Redis (config ``redis_url``, ``tag``, ``sleep_s``)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.set_config(redis_url="", tag="", sleep_s=0.0)

    def go(self, i: int = 0, customer_id: str = "", **_: Any) -> None:
        r = client(self.get_config("redis_url"))
        tag = self.get_config("tag")
        r.rpush(f"{tag}:starts", repr(time.time()))
        r.eval(_ENTER, 2, f"{tag}:gauge:{customer_id}", f"{tag}:max:{customer_id}")
        time.sleep(self.get_config("sleep_s"))
        r.decr(f"{tag}:gauge:{customer_id}")
        self.get_execution_context().job_state.append_to_shared_log({"i": i, "customer_id": customer_id})


def api_flow(redis_url: str, tag: str, sleep_s: float = 0.2, max_running: int | None = 2,
             key: str | None = "customer_id", rate: str | None = None, flow_id: str | None = None) -> Flow:
    """fan -> api, the api routine limited to ``max_running`` per ``key`` and/or to ``rate``."""
    flow = Flow(flow_id=flow_id or f"limits-{tag}", execution_strategy="concurrent", max_workers=8)
    fan, api = Fanout(), CallApi()
    api.set_config(redis_url=redis_url, tag=tag, sleep_s=sleep_s)
    if max_running:
        api.set_concurrency_limit(max_running, key=key)
    if rate:
        api.set_rate_limit(rate)
    flow.add_routine(fan, "fan")
    flow.add_routine(api, "api")
    flow.connect("fan", "out", "api", "input")
    return flow


def high_marks(redis_url: str, tag: str) -> dict[str, int]:
    """Customer -> the most runs of CallApi seen at once."""
    r = client(redis_url)
    prefix = f"{tag}:max:"
    return {k.decode()[len(prefix):]: int(r.get(k)) for k in r.scan_iter(f"{prefix}*")}


def starts(redis_url: str, tag: str) -> list[float]:
    """When each run of CallApi started (Unix time), in order."""
    return sorted(float(x) for x in client(redis_url).lrange(f"{tag}:starts", 0, -1))
