"""A small cluster for the reliability scenarios: a Redis with AOF, worker hosts in network namespaces.

Redis runs in the root namespace, bound to loopback (for the test's producer)
and to the root side of each host's veth (for that host's workers), so every
byte between a worker and Redis crosses that host's own link, where the test
can cut it, slow it or drop packets. Close it (the ``cluster`` fixture does,
also when a test fails) and every process, namespace and veth is gone.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from conftest import RedisServer, WorkerProcess
from waiting import wait_until
from netns import Host, Network
from routilux import JobState
from routilux.distributed import DistributedRuntime, Settings


class Cluster:
    """``hosts`` worker hosts and one Redis, torn down by :meth:`close`."""

    def __init__(self, folder: Path, hosts: int = 2, lease_s: float = 2.0, **settings: Any) -> None:
        self.folder = folder
        self.workers: list[WorkerProcess] = []
        self.runtime: DistributedRuntime | None = None
        self.network = Network(hosts)
        self.redis = RedisServer(folder / "redis", appendonly=True, bind=tuple(self.network.gateways))
        try:
            self.redis.start()
            tag = uuid.uuid4().hex[:8]
            self.settings = Settings(redis_url=self.redis.url, key_prefix=f"rl{tag}", queue=f"rl{tag}",
                                     lease_s=lease_s, outbox_grace_s=0.5, **settings)
            self.runtime = DistributedRuntime(settings=self.settings)
        except BaseException:
            self.close()
            raise

    @property
    def hosts(self) -> list[Host]:
        return self.network.hosts

    def start_worker(self, index: int, pool: str = "prefork", concurrency: int = 2) -> WorkerProcess:
        """Start a worker daemon on host ``index``; it reaches Redis over that host's link only."""
        host = self.hosts[index]
        url = f"redis://{host.gateway}:{self.redis.port}/0"
        worker = WorkerProcess(self.settings.with_(redis_url=url), self.folder / f"host{index}", ("basic_flows", "reliability_flows"),
                               pool, concurrency, f"host{index}-{uuid.uuid4().hex[:6]}@test", prefix=host.prefix)
        self.workers.append(worker)
        return worker

    def wait_workers(self, count: int) -> None:
        """Wait until ``count`` workers have written their liveness records."""
        assert self.runtime is not None
        wait_until(lambda: len(self.runtime.workers()) >= count, timeout=60)

    def close(self) -> None:
        """Stop every worker (resuming frozen ones first), Redis, and remove the network."""
        for worker in self.workers:
            try:
                os.killpg(worker.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            worker.close()
        if self.runtime is not None:
            self.runtime.close()
        self.redis.stop(kill=True)
        self.network.close()


def assert_exact(state: JobState, n: int) -> None:
    """A work_flow job ended with every item's effect exactly once: results, shared log, outputs and history."""
    assert state.status == "completed", state.error
    assert sorted(e["i"] for e in state.shared_log if "i" in e) == list(range(n))
    assert sorted(e["got"]["i"] for e in state.shared_log if "got" in e) == list(range(n))
    assert sorted(o["data"]["i"] for o in state.output_log) == list(range(n))
    history = Counter((r.routine_id, r.event_name) for r in state.execution_history)
    assert history == {("source", "start"): 1, ("source", "out"): n, ("work", "out"): n}, history
    assert sorted(r.data["i"] for r in state.execution_history if r.routine_id == "work") == list(range(n))
