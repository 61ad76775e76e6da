"""A RabbitMQ node of the test's own that speaks only TLS and requires client certificates.

It runs the rabbitmq-server installed on this machine as a second node (its own
node name, ports, data folder and Erlang cookie), so the machine's RabbitMQ on
5672 is left alone. The certificates come from :func:`tlsredis.make_certificates`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from conftest import free_port
from tlsredis import make_certificates

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # the Debian wrapper in /usr/sbin would switch user


def rabbitmq_missing() -> str | None:
    """Why no node can be started here, or None."""
    if not os.path.exists(SERVER) or not shutil.which("erl"):
        return f"{SERVER} is missing: install rabbitmq-server (scripts/test does, as root on Debian)"
    return None


class TlsRabbit:
    """rabbitmq-server with ``listeners.tcp = none`` and a TLS listener that requires a client certificate."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.certs = folder / "certs"
        self.port = free_port()
        self.node = f"rlx{uuid.uuid4().hex[:8]}@localhost"
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, host: str = "127.0.0.1") -> str:
        return f"amqps://guest:guest@{host}:{self.port}//"

    def start(self, timeout: float = 60) -> None:
        make_certificates(self.certs)
        for pem in self.certs.iterdir():
            pem.chmod(0o644)
        c = self.certs
        (self.folder / "rabbitmq.conf").write_text("\n".join([
            "listeners.tcp = none", f"listeners.ssl.default = {self.port}",
            f"ssl_options.cacertfile = {c / 'ca.crt'}", f"ssl_options.certfile = {c / 'server.crt'}",
            f"ssl_options.keyfile = {c / 'server.key'}", "ssl_options.verify = verify_peer",
            "ssl_options.fail_if_no_peer_cert = true", "loopback_users = none",
        ]) + "\n")
        (self.folder / "enabled_plugins").write_text("[].\n")
        env = {**os.environ, "HOME": str(self.folder), "RABBITMQ_NODENAME": self.node,
               "RABBITMQ_DIST_PORT": str(free_port()), "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq"),
               "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"), "RABBITMQ_LOG_BASE": str(self.folder / "log"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
               "RABBITMQ_PID_FILE": str(self.folder / "pid")}
        with open(self.folder / "rabbitmq.out", "ab") as out:
            self.proc = subprocess.Popen([SERVER], env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"RabbitMQ did not listen on {self.port}: "
                                       f"{(self.folder / 'rabbitmq.out').read_text()[-2000:]}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM the node's process group (a clean stop), SIGKILL if it lingers."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        self.proc = None
