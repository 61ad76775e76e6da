"""A Redis Cluster of three masters, started on free ports in a temp dir (stopped by pid)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis

from conftest import free_port, kill_all, wait_for_ping


class RedisClusterGroup:
    """``redis-server --cluster-enabled yes`` masters (and replicas) joined by ``redis-cli --cluster create``."""

    def __init__(self, folder: Path, masters: int = 3, replicas: int = 0) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.ports = [self._node(i) for i in range(masters * (1 + replicas))]
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                        "--cluster-replicas", str(replicas), "--cluster-yes"], check=True, capture_output=True,
                       timeout=60)
        self._wait_until_ok()

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming two of the nodes (the client finds the third)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[:2])

    def _node(self, index: int) -> int:
        port, bus = free_port(), free_port()
        folder = self.folder / f"node{index}"
        folder.mkdir()
        with open(folder / "log.txt", "ab") as log:
            self.procs[port] = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                 "--cluster-enabled", "yes", "--cluster-port", str(bus), "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no"],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for_ping(port, 10)
        return port

    def _wait_until_ok(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(redis.Redis(port=p).cluster("info").get("cluster_state") == "ok" for p in self.procs):
                return
            time.sleep(0.1)
        raise AssertionError("the cluster did not reach cluster_state:ok")

    def masters(self) -> list[int]:
        """Ports of the nodes that are masters now."""
        return [p for p in self.procs if redis.Redis(port=p).info("replication")["role"] == "master"]

    def keys_by_node(self, pattern: str) -> dict[int, list[bytes]]:
        """Keys matching ``pattern`` on each master, by port."""
        return {p: list(redis.Redis(port=p).scan_iter(match=pattern, count=1000)) for p in self.masters()}

    def kill(self, port: int) -> None:
        """SIGKILL one node."""
        proc = self.procs.pop(port)
        proc.kill()
        proc.wait(timeout=10)

    def close(self) -> None:
        """Stop every node."""
        kill_all(self.procs)
