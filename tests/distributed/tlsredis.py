"""A redis-server that speaks only TLS, requires client certificates and ACL users, for the access tests.

Certificates are made with the openssl command line in a temp dir: a CA, a
server certificate for 127.0.0.1, a client certificate, and a second CA that
signed nothing the server trusts.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import redis

from conftest import free_port

ADMIN_PASSWORD = "admin-secret-for-the-test-only"
PASSWORD = "routilux-secret-for-the-test-only"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(folder: Path) -> None:
    """Write ca.*, server.*, client.* and rogue-ca.* (PEM) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "rogue-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=test {ca}",
                 "-keyout", f"{ca}.key", "-out", f"{ca}.crt", cwd=folder)
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=folder)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-extfile", "san.cnf", "-out", f"{name}.crt", cwd=folder)


class TlsRedis:
    """redis-server with ``--port 0 --tls-port P``, client certificates required, and two ACL users.

    ``default`` is an admin with :data:`ADMIN_PASSWORD`; ``routilux`` (:data:`PASSWORD`) may only touch
    keys under ``prefix:`` and has no dangerous commands (FLUSHALL, CONFIG, KEYS, ...).
    """

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder = folder
        self.certs = folder / "certs"
        self.port = free_port()
        self.prefix = prefix
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, user: str = "routilux", password: str = PASSWORD) -> str:
        return f"rediss://{user}:{password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        make_certificates(self.certs)
        c = self.certs
        conf = self.folder / "redis.conf"
        conf.write_text("\n".join([
            "port 0", f"tls-port {self.port}", "bind 127.0.0.1", f"dir {self.folder}", 'save ""', "appendonly no",
            f"tls-cert-file {c / 'server.crt'}", f"tls-key-file {c / 'server.key'}",
            f"tls-ca-cert-file {c / 'ca.crt'}", "tls-auth-clients yes",
            f"user default on >{ADMIN_PASSWORD} ~* &* +@all",
            f"user routilux on >{PASSWORD} ~{self.prefix}:* &* +@all -@dangerous",
        ]) + "\n")
        with open(self.folder / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(["redis-server", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        admin = self.admin()
        deadline = time.monotonic() + 10
        while True:
            try:
                admin.ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def admin(self) -> redis.Redis:
        """A client logged in as the admin user, with the client certificate."""
        c = self.certs
        return redis.Redis(host="127.0.0.1", port=self.port, password=ADMIN_PASSWORD, ssl=True,
                           ssl_ca_certs=str(c / "ca.crt"), ssl_certfile=str(c / "client.crt"),
                           ssl_keyfile=str(c / "client.key"))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
            self.proc = None
