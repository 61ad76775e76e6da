"""Worker "hosts" with a real network between them: Linux network namespaces joined by veth pairs.

Each host is a namespace with one veth pair to the root namespace, on a /30 of
10.213.X.0/24 that no interface of this machine uses yet; the root side's
address (``host.gateway``) is where the test's Redis listens for that host.
Faults are real packet-level faults on that link: ``cut`` drops every packet
(a silent partition: no resets), ``impair`` adds loss and latency (``tc netem``
where the kernel has it, else an iptables ``statistic`` drop plus an NFQUEUE
delayer, see nfq_delay.py). Only addresses inside namespaces made here are ever
used, and ``Network.close`` removes every namespace, veth and process it made.
Needs root, iproute2 and iptables (scripts/test installs them).
"""

from __future__ import annotations

import fcntl
import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
IPTABLES = "iptables-legacy"
LOCK = "/tmp/routilux-test-netns.lock"  # NFQUEUE as an xt target: kernels without nft's queue expression have it


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command; raise with its stderr if it fails and ``check``."""
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return done


def _free_subnet() -> int:
    """A third octet X such that no interface here has an address in 10.213.X.0/24."""
    used = sh("ip", "-o", "-4", "addr", "show").stdout
    free = [x for x in range(256) if f"10.213.{x}." not in used]
    return random.choice(free)


class Host:
    """One namespace and its veth pair to the root namespace."""

    def __init__(self, tag: str, index: int, subnet: int) -> None:
        self.ns = f"rlx-{tag}-{index}"
        self.outer, self.inner = f"rlx{tag}r{index}", f"rlx{tag}n{index}"
        self.gateway = f"10.213.{subnet}.{4 * index + 1}"
        self.address = f"10.213.{subnet}.{4 * index + 2}"
        self._delayer: subprocess.Popen[str] | None = None
        try:
            sh("ip", "netns", "add", self.ns)
            sh("ip", "link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
            sh("ip", "link", "set", self.inner, "netns", self.ns)
            sh("ip", "addr", "add", f"{self.gateway}/30", "dev", self.outer)
            sh("ip", "link", "set", self.outer, "up")
            sh("ip", "-n", self.ns, "addr", "add", f"{self.address}/30", "dev", self.inner)
            sh("ip", "-n", self.ns, "link", "set", self.inner, "up")
            sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    @property
    def prefix(self) -> list[str]:
        """Command prefix that runs a program inside this host."""
        return ["ip", "netns", "exec", self.ns]

    def _iptables(self, *rule: str, check: bool = True) -> None:
        sh(*self.prefix, IPTABLES, "-w", *rule, check=check)

    def cut(self) -> None:
        """Drop every packet on this host's link, both ways (established connections hang, as in a partition)."""
        self._iptables("-I", "INPUT", "-i", self.inner, "-j", "DROP")
        self._iptables("-I", "OUTPUT", "-o", self.inner, "-j", "DROP")

    def heal(self) -> None:
        """Undo :meth:`cut`."""
        self._iptables("-D", "INPUT", "-i", self.inner, "-j", "DROP")
        self._iptables("-D", "OUTPUT", "-o", self.inner, "-j", "DROP")

    def impair(self, loss_pct: float, delay_ms: float) -> str:
        """Lose ``loss_pct`` % of packets and delay each by ``delay_ms``, in each direction; returns the means."""
        netem = ["netem", "delay", f"{delay_ms}ms", "loss", f"{loss_pct}%"]
        if sh("tc", "-n", self.ns, "qdisc", "add", "dev", self.inner, "root", *netem, check=False).returncode == 0:
            sh("tc", "qdisc", "add", "dev", self.outer, "root", *netem)
            return "netem"
        self._delayer = subprocess.Popen(
            [*self.prefix, sys.executable, str(HERE / "nfq_delay.py"), "--queue", "0", "--delay-ms", str(delay_ms)],
            stdout=subprocess.PIPE, text=True,
        )
        assert self._delayer.stdout is not None and self._delayer.stdout.readline().strip() == "ready"
        probability = str(loss_pct / 100)
        for chain, way in (("INPUT", "-i"), ("OUTPUT", "-o")):
            self._iptables("-A", chain, way, self.inner, "-m", "statistic", "--mode", "random",
                           "--probability", probability, "-j", "DROP")
            self._iptables("-A", chain, way, self.inner, "-j", "NFQUEUE", "--queue-num", "0", "--queue-bypass")
        return "iptables+nfqueue"

    def impaired_packets(self) -> tuple[int, int]:
        """(packets dropped, packets delayed) on this host's link so far, both ways, by :meth:`impair`."""
        if self._delayer is None:  # netem: its own counters, one qdisc per end
            dropped = sent = 0
            for ns, dev in ((self.ns, self.inner), (None, self.outer)):
                out = sh("tc", *(["-n", ns] if ns else []), "-s", "qdisc", "show", "dev", dev).stdout.split()
                sent += int(out[out.index("Sent") + 3])
                dropped += int(out[out.index("(dropped") + 1].rstrip(","))
            return dropped, sent
        dropped = delayed = 0
        for chain in ("INPUT", "OUTPUT"):
            rows = sh(*self.prefix, IPTABLES, "-w", "-L", chain, "-v", "-x", "-n").stdout.splitlines()[2:]
            for row in rows:
                packets, _, target = row.split()[:3]
                if target == "DROP":
                    dropped += int(packets)
                elif target == "NFQUEUE":
                    delayed += int(packets)
        return dropped, delayed

    def close(self) -> None:
        """Kill whatever still runs in the namespace, then remove it and its veth pair."""
        if self._delayer is not None:
            self._delayer.kill()
            self._delayer.wait(timeout=10)
        for pid in sh("ip", "netns", "pids", self.ns, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)  # only processes this test started run in its namespace
            except ProcessLookupError:
                pass
        sh("ip", "netns", "del", self.ns, check=False)
        sh("ip", "link", "del", self.outer, check=False)


class Network:
    """``count`` hosts made for one test; :meth:`close` removes all of them."""

    def __init__(self, count: int) -> None:
        if os.geteuid() != 0:
            raise RuntimeError("worker hosts in network namespaces need root (ip netns, veth, iptables)")
        self.hosts: list[Host] = []
        tag = uuid.uuid4().hex[:6]
        # Test runs in parallel on one machine must not pick the same subnet: choose and claim it under a lock.
        with open(LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                subnet = _free_subnet()
                for index in range(count):
                    self.hosts.append(Host(tag, index, subnet))
            except BaseException:
                self.close()
                raise

    @property
    def gateways(self) -> list[str]:
        """The root-side address of every host (bind Redis to these)."""
        return [h.gateway for h in self.hosts]

    def close(self) -> None:
        """Remove every namespace and veth of this network (safe to call twice)."""
        for host in self.hosts:
            host.close()
        self.hosts = []
