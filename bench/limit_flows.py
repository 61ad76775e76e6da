"""Routines of bench/flow_limits.py (workers import ``bench.limit_flows``): a fan-out to a call that counts itself.

``Call`` keeps, in Redis, how many of its runs overlap per key (and the most
seen at once) and appends each run's start time to a list.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from routilux import Flow, Routine

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


class Spread(Routine):
    """Emits ``n`` items, item k for key ``k % keys``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("out", ["i", "key"])

    def go(self, n: int = 1, keys: int = 1, **_: Any) -> None:
        for k in range(n):
            self.emit("out", i=k, key=f"k{k % keys}")


class Call(Routine):
    """Counts overlapping runs per key in Redis (config ``redis_url``, ``tag``, ``sleep_s``)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.set_config(redis_url="", tag="", sleep_s=0.0)

    def go(self, i: int = 0, key: str = "", **_: Any) -> None:
        r, tag = client(self.get_config("redis_url")), self.get_config("tag")
        r.rpush(f"{tag}:starts", repr(time.time()))
        r.eval(_ENTER, 2, f"{tag}:gauge:{key}", f"{tag}:max:{key}")
        time.sleep(self.get_config("sleep_s"))
        r.decr(f"{tag}:gauge:{key}")


def call_flow(redis_url: str, tag: str, sleep_s: float, max_running: int = 0, rate: str = "") -> Flow:
    """spread -> call, with a concurrency limit per key and/or a rate limit (none if 0 / "")."""
    flow = Flow(flow_id=f"bench-limits-{tag}")
    call = Call()
    call.set_config(redis_url=redis_url, tag=tag, sleep_s=sleep_s)
    if max_running:
        call.set_concurrency_limit(max_running, key="key")
    if rate:
        call.set_rate_limit(rate)
    flow.add_routine(Spread(), "spread")
    flow.add_routine(call, "call")
    flow.connect("spread", "out", "call", "input")
    return flow
