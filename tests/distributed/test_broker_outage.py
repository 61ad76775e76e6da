"""A broker that is down or refuses the producer: typed errors, and nothing half-started or lost."""

from __future__ import annotations

import logging

import pytest

import basic_flows
from conftest import free_port
from waiting import wait_until
from routilux.distributed import DistributedRuntime
from routilux.errors import BrokerAccessDeniedError, BrokerUnavailableError

pytestmark = pytest.mark.distributed


@pytest.fixture
def broker() -> str:
    """Every test here runs its workers on RabbitMQ."""
    return "rabbitmq"


def nothing_listens() -> dict[str, str]:
    port = free_port()
    return {"amqp": f"amqp://guest:guest@127.0.0.1:{port}//", "redis": f"redis://127.0.0.1:{port}/0"}


@pytest.mark.parametrize("scheme", ["amqp", "redis"])
def test_a_submit_while_the_broker_is_down_raises_broker_unavailable_and_leaves_no_job(settings, scheme):
    with DistributedRuntime(settings=settings.with_(broker_url=nothing_listens()[scheme])) as producer:
        with pytest.raises(BrokerUnavailableError, match="could not be reached.*withdrawn") as raised:
            producer.submit(basic_flows.chain_flow(), "source", {"n": 1})
        assert not isinstance(raised.value, BrokerAccessDeniedError)
        assert producer.jobs() == []


@pytest.mark.parametrize("change", ["password", "vhost"])
def test_a_submit_the_broker_refuses_raises_broker_access_denied_and_leaves_no_job(settings, change):
    url = settings.broker_url
    wrong = url.replace("guest:guest", "guest:wrong") if change == "password" else url.rstrip("/") + "/no-such-vhost"
    assert wrong != url
    with DistributedRuntime(settings=settings.with_(broker_url=wrong)) as producer:
        with pytest.raises(BrokerAccessDeniedError, match="refused this client"):
            producer.submit(basic_flows.chain_flow(), "source", {"n": 1})
        assert producer.jobs() == []


def test_a_resume_while_the_broker_is_down_returns_and_a_workers_sweeper_sends_the_rest(
        settings, runtime, start_workers, caplog):
    start_workers()
    job_id = runtime.submit(basic_flows.deferred_flow(), "source", {"n": 1})
    wait_until(lambda: runtime.get_job(job_id).status == "paused", timeout=15)
    with DistributedRuntime(settings=settings.with_(broker_url=nothing_listens()["amqp"])) as cut_off:
        with caplog.at_level(logging.WARNING, logger="routilux.distributed"):
            cut_off.resume(job_id)
        assert cut_off.get_job(job_id).status == "running"
    assert "wait in the outbox" in caplog.text
    state = runtime.wait(job_id, timeout=30)
    assert state.status == "completed"
    assert [e["got"]["i"] for e in state.shared_log] == [100]


def test_the_console_answers_a_submit_the_broker_does_not_take_with_503_and_no_job(settings):
    from console_helpers import run_console

    with DistributedRuntime(settings=settings.with_(broker_url=nothing_listens()["amqp"])) as cut_off:
        cut_off.publish(basic_flows.chain_flow("chain-outage"))
        for console in run_console(cut_off):
            answer = console.http.post("/api/jobs", json={"flow": "chain-outage", "entry": "source", "params": {"n": 1}})
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["type"] == "BrokerUnavailableError"
            assert console.http.get("/api/jobs").json()["jobs"] == []
