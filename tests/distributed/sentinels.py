"""A Redis master, a replica and three sentinels, started on free ports in a temp dir (all stopped by pid)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import redis

from conftest import free_port, kill_all, wait_for_ping

MASTER_NAME = "routilux-test"


class SentinelGroup:
    """A replicated Redis behind three sentinels that fail it over one second after the master goes quiet."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.master_port = self._redis("master")
        self.replica_port = self._redis("replica", "--replicaof", "127.0.0.1", str(self.master_port))
        self.sentinel_ports = [self._sentinel(i) for i in range(3)]
        self._wait_for_replication()

    @property
    def url(self) -> str:
        """The ``sentinel://`` URL of the three sentinels, database 0."""
        return "sentinel://" + ";".join(f"127.0.0.1:{p}" for p in self.sentinel_ports) + "/0"

    def _start(self, name: str, port: int, args: list[str]) -> int:
        with open(self.folder / f"{name}.log", "ab") as log:
            self.procs[port] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_for_ping(port, 10)
        return port

    def _redis(self, name: str, *extra: str) -> int:
        port = free_port()
        folder = self.folder / name
        folder.mkdir()
        return self._start(name, port, ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir",
                                        str(folder), "--save", "", "--appendonly", "no", *extra])

    def _sentinel(self, index: int) -> int:
        port = free_port()
        conf = self.folder / f"sentinel{index}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.folder}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
            f"sentinel failover-timeout {MASTER_NAME} 5000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        return self._start(f"sentinel{index}", port, ["redis-server", str(conf), "--sentinel"])

    def _wait_for_replication(self, timeout_s: float = 20) -> None:
        """Until the replica is in sync and every sentinel knows it (a failover needs both)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = redis.Redis(port=self.replica_port).info("replication")
            known = [redis.Redis(port=p).sentinel_slaves(MASTER_NAME) for p in self.sentinel_ports]
            if info.get("master_link_status") == "up" and all(known):
                return
            time.sleep(0.1)
        raise AssertionError("the replica or the sentinels did not come up")

    def master(self) -> tuple[str, int]:
        """The master the sentinels name now."""
        host, port = redis.Redis(port=self.sentinel_ports[0]).sentinel_get_master_addr_by_name(MASTER_NAME)
        return host, int(port)

    def kill_master(self) -> int:
        """SIGKILL the current master; returns its port."""
        _, port = self.master()
        proc = self.procs.pop(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        return port

    def close(self) -> None:
        """Stop every process of the group."""
        kill_all(self.procs)
