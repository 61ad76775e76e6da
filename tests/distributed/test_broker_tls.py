"""RabbitMQ over TLS (``amqps://``) with client certificates, against a TLS-only RabbitMQ node of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import basic_flows
from conftest import HERE, ROOT, settings_env
from waiting import wait_until, workers_up
from routilux.distributed import DistributedRuntime, Settings
from routilux.distributed.operations import stats
from routilux.distributed.worker.app import delete_amqp_queues
from tlsrabbit import TlsRabbit, rabbitmq_missing

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def tls_rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRabbit]:
    missing = rabbitmq_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    node = TlsRabbit(tmp_path_factory.mktemp("tls-rabbit"))
    node.start()
    yield node
    node.stop()


@pytest.fixture
def amqps_settings(redis_server, tls_rabbit: TlsRabbit) -> Iterator[Settings]:
    """Redis as the store; the TLS-only RabbitMQ as the broker, with the CA and this client's certificate."""
    tag = uuid.uuid4().hex[:8]
    c = tls_rabbit.certs
    made = Settings(redis_url=redis_server.url, broker_url=tls_rabbit.url(), key_prefix=f"t{tag}", queue=f"q{tag}",
                    lease_s=3.0, outbox_grace_s=1.0, broker_tls_ca=str(c / "ca.crt"),
                    broker_tls_cert=str(c / "client.crt"), broker_tls_key=str(c / "client.key"))
    yield made
    delete_amqp_queues(made, [made.queue])


def test_a_worker_runs_jobs_over_amqps_with_a_client_certificate(amqps_settings, spawn_worker):
    spawn_worker(settings_=amqps_settings)
    with DistributedRuntime(settings=amqps_settings) as runtime:
        wait_until(lambda: workers_up(runtime, 1), timeout=60)
        jobs = [runtime.submit(basic_flows.chain_flow(), "source", {"n": 2}) for _ in range(3)]
        for job_id in jobs:
            state = runtime.wait(job_id, timeout=60)
            assert state.status == "completed", state.error
            assert sorted(e["got"]["i"] for e in state.shared_log) == [0, 4]
        assert stats.queue_depth(runtime.store) == 0  # the console's queue gauge reads RabbitMQ over TLS too


def worker_exit(settings: Settings, folder: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTILUX_")}
    env.update(settings_env(settings))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE)])
    return subprocess.run([sys.executable, "-m", "worker", "--import", "basic_flows", "--pool", "solo"], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("change, message", [
    ("rogue ca", "CERTIFICATE_VERIFY_FAILED"),
    ("no client certificate", "TLS with the broker failed"),
    ("a host the certificate does not name", "IP address mismatch"),
    ("wrong password", "the broker refused this client"),
])
def test_a_worker_rabbitmq_refuses_exits_at_once_with_the_reason(amqps_settings, tls_rabbit, tmp_path, change,
                                                                 message):
    c = tls_rabbit.certs
    settings = {
        "rogue ca": amqps_settings.with_(broker_tls_ca=str(c / "rogue-ca.crt")),
        "no client certificate": amqps_settings.with_(broker_tls_cert="", broker_tls_key=""),
        "a host the certificate does not name": amqps_settings.with_(broker_url=tls_rabbit.url("127.0.0.2")),
        "wrong password": amqps_settings.with_(broker_url=tls_rabbit.url().replace("guest:guest", "guest:wrong")),
    }[change]
    done = worker_exit(settings, tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    assert message in done.stderr


def test_broker_tls_files_need_an_amqps_broker_and_a_certificate_needs_its_key() -> None:
    with pytest.raises(ValueError, match="amqps://"):
        Settings(broker_url="amqp://rabbit:5672//", broker_tls_ca="/etc/ca.crt")
    with pytest.raises(ValueError, match="go together"):
        Settings(broker_url="amqps://rabbit:5671//", broker_tls_cert="/etc/client.crt")
