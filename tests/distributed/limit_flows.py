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


# KEYS[1] a hash of runs under way by job id, KEYS[2] the most jobs seen with runs under way at once;
# ARGV[1] the job id, ARGV[2] 1 (a run starts) or -1 (it ends).
_JOB_RUN = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2]) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
local n = redis.call('HLEN', KEYS[1])
if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end
return n
"""


class Keyed(Routine):
    """A job's work under a concurrency key: each handler run counts its job in ``<tag>:jobs`` while it
    sleeps ``s``, so the high mark ``<tag>:max:jobs`` is the most jobs of the key seen running at once.

    ``trigger`` with ``pause`` keeps a deferred event (``later``, wired to ``poke``) and pauses its job;
    ``poke`` takes posts.
    """

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_slot("poke", handler=self.poke)
        self.define_event("later", ["s"])
        self.set_config(redis_url="", tag="")

    def _run(self, s: float) -> None:
        r = client(self.get_config("redis_url"))
        tag, job_id = self.get_config("tag"), self.get_execution_context().job_state.job_id
        r.eval(_JOB_RUN, 2, f"{tag}:jobs", f"{tag}:max:jobs", job_id, 1)
        time.sleep(s)
        r.eval(_JOB_RUN, 2, f"{tag}:jobs", f"{tag}:max:jobs", job_id, -1)

    def go(self, s: float = 0.0, pause: bool = False, **_: Any) -> None:
        self._run(s)
        if pause:
            ctx = self.get_execution_context()
            self.emit_deferred_event("later", s=s)
            ctx.flow.pause(ctx.job_state, reason="hold")

    def poke(self, s: float = 0.0, **_: Any) -> None:
        self._run(s)


def keyed_flow(redis_url: str, tag: str) -> Flow:
    """One Keyed routine, ``work``, whose deferred ``later`` goes to its own ``poke``."""
    flow = Flow(flow_id=f"keyed-{tag}")
    work = Keyed()
    work.set_config(redis_url=redis_url, tag=tag)
    flow.add_routine(work, "work")
    flow.connect("work", "later", "work", "poke")
    return flow


def running(redis_url: str, tag: str) -> int:
    """How many jobs have a Keyed run under way now."""
    return int(client(redis_url).hlen(f"{tag}:jobs"))


def most_running(redis_url: str, tag: str) -> int:
    """The most jobs seen with a Keyed run under way at once."""
    return int(client(redis_url).get(f"{tag}:max:jobs") or 0)
