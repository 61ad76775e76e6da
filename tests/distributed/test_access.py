"""Redis ACL users and TLS, for the broker and the state store alike, against a TLS-only redis-server."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import basic_flows
import security_routines
from conftest import HERE, ROOT, settings_env
from routilux.distributed import DistributedRuntime, Settings
from routilux.distributed.redis_options import redis_url
from routilux.errors import StoreAccessDeniedError
from tlsredis import PASSWORD, TlsRedis

pytestmark = pytest.mark.distributed

PREFIX = "sec"


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    server = TlsRedis(tmp_path_factory.mktemp("tls-redis"), PREFIX)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tls_settings(tls_redis: TlsRedis) -> Settings:
    """The limited ACL user over TLS with a client certificate; user and password given as settings."""
    c = tls_redis.certs
    url = f"rediss://127.0.0.1:{tls_redis.port}/0"
    return Settings(redis_url=url, redis_username="routilux", redis_password=PASSWORD, key_prefix=PREFIX,
                    queue=f"q{uuid.uuid4().hex[:8]}", lease_s=3.0, outbox_grace_s=1.0,
                    redis_tls_ca=str(c / "ca.crt"), redis_tls_cert=str(c / "client.crt"),
                    redis_tls_key=str(c / "client.key"))


def test_a_worker_runs_a_job_over_tls_as_a_limited_acl_user(tls_settings, spawn_worker, tmp_path):
    spawn_worker(imports=("basic_flows", "security_routines"), settings_=tls_settings)
    trace = tmp_path / "trace"
    with DistributedRuntime(settings=tls_settings) as runtime:
        state = runtime.wait(runtime.submit(security_routines.witness_flow(trace), "witness", {"n": 3}), timeout=60)
        assert state.status == "completed"
        assert state.shared_data == {"got0": 0, "got1": 1, "got2": 2}
        chain = runtime.wait(runtime.submit(basic_flows.chain_flow(), "source", {"n": 2}), timeout=30)
        assert sorted(e["got"]["i"] for e in chain.shared_log) == [0, 4]
    assert len(security_routines.runs(trace)) == 1


def test_the_settings_user_and_password_replace_those_of_the_url() -> None:
    settings = Settings(redis_url="rediss://old:pw@redis.example:6380/2", redis_username="svc",
                        redis_password="p@ss:/word")
    assert redis_url(settings) == "rediss://svc:p%40ss%3A%2Fword@redis.example:6380/2"
    assert "p@ss" not in repr(settings)
    with pytest.raises(ValueError, match="rediss://"):
        Settings(redis_tls_ca="/etc/ca.crt")


@pytest.mark.parametrize("change, message", [
    ({"redis_password": "not-the-password"}, "Redis refused the credentials"),
    ({"redis_tls_cert": "", "redis_tls_key": ""}, "TLS with Redis failed"),
    ({"redis_tls_ca": "rogue"}, "CERTIFICATE_VERIFY_FAILED"),
    ({"key_prefix": "elsewhere"}, "lacks a permission"),
])
def test_a_client_redis_refuses_gets_a_typed_error_that_says_why(tls_settings, tls_redis, change, message):
    if change.get("redis_tls_ca") == "rogue":
        change = {"redis_tls_ca": str(tls_redis.certs / "rogue-ca.crt")}
    with DistributedRuntime(settings=tls_settings.with_(**change)) as runtime:
        with pytest.raises(StoreAccessDeniedError, match=message):
            runtime.publish(basic_flows.chain_flow())
        with pytest.raises(StoreAccessDeniedError):
            runtime.jobs()


def test_the_limited_user_cannot_run_dangerous_commands(tls_settings):
    with DistributedRuntime(settings=tls_settings) as runtime:
        with pytest.raises(Exception, match="NOPERM|no permissions"):
            runtime.store.redis.flushall()


def test_a_worker_with_a_wrong_password_exits_at_once_with_the_reason(tls_settings, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTILUX_")}
    env.update(settings_env(tls_settings.with_(redis_password="not-the-password")))
    env.update({"PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]), "ROUTILUX_REDIS_URL": tls_settings.redis_url,
                "ROUTILUX_KEY_PREFIX": PREFIX})
    done = subprocess.run([sys.executable, "-m", "worker", "--import", "basic_flows", "--pool", "solo"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Redis refused the credentials" in done.stderr


def test_a_limited_user_that_may_not_run_info_still_sweeps(tls_settings):
    from routilux.distributed.worker.sweeper import Sweeper

    with DistributedRuntime(settings=tls_settings) as runtime:
        with pytest.raises(Exception, match="NOPERM|no permissions"):
            runtime.store.redis.info("server")
        assert Sweeper(runtime.store, runtime.dispatcher, "limited").sweep_once() == 0


def test_a_worker_whose_user_may_not_read_the_redis_config_starts_without_the_stream_node_hint(tls_settings, caplog):
    from routilux.distributed.worker.boot import check_store_access

    caplog.set_level(logging.INFO, logger="routilux.distributed")
    with DistributedRuntime(settings=tls_settings) as runtime:
        with pytest.raises(Exception, match="NOPERM|no permissions"):
            runtime.store.redis.config_get("stream-node-max-bytes")
        assert runtime.store.stream_node_max_bytes() is None
    check_store_access(tls_settings)
    assert not [r for r in caplog.records if "stream-node-max-bytes" in r.getMessage()]
