"""Bad input gets a clear, typed error and loses nothing."""

from __future__ import annotations

import pytest
from kombu import Connection, Exchange, Producer, Queue

import basic_flows
from conftest import both_brokers
from waiting import wait_until
from routilux import ErrorHandler, ErrorStrategy, Flow
from routilux.distributed import DistributedRuntime, Settings
from routilux.distributed.worker.app import activation_queues
from routilux.distributed.serializer import CONTENT_TYPE
from routilux.errors import EncodeError, StoreUnavailableError

pytestmark = pytest.mark.distributed


def _publish_raw(settings: Settings, body: bytes, content_type: str, headers: dict | None = None) -> None:
    """Put a raw message on the activation queue, as a foreign or broken producer would."""
    if settings.broker_is_amqp:
        conn = Connection(settings.broker_url)
        queue = activation_queues(settings)[0]
    else:
        conn = Connection(settings.redis_url, transport_options={"global_keyprefix": f"{settings.key_prefix}:broker:"})
        queue = Queue(settings.queue, Exchange(settings.queue), routing_key=settings.queue)
    with conn:
        producer = Producer(conn)
        producer.publish(body, exchange=queue.exchange, routing_key=settings.queue, declare=[queue],
                         content_type=content_type, content_encoding="binary", headers=headers or {})


def test_a_malformed_activation_goes_to_the_dead_letter_stream_and_the_worker_keeps_going(runtime, start_workers):
    start_workers()
    runtime.app.send_task("routilux.activate", args=[{"not": "an activation"}], queue=runtime.settings.queue)
    letters = wait_until(lambda: runtime.dead_letters(), timeout=15)
    assert "activation envelope" in letters[0]["reason"]
    state = runtime.wait(runtime.submit(basic_flows.chain_flow(), "source", {"n": 1}), timeout=30)
    assert state.status == "completed"


@both_brokers
def test_an_undecodable_message_is_dead_lettered_not_dropped(runtime, start_workers, settings):
    start_workers()
    _publish_raw(settings, b"\xc1\xc1 not msgpack", CONTENT_TYPE,
                 headers={"task": "routilux.activate", "id": "x1", "lang": "py"})
    letters = wait_until(lambda: runtime.dead_letters(), timeout=15)
    assert "undecodable" in letters[0]["reason"]
    assert letters[0]["body"] == b"\xc1\xc1 not msgpack"
    assert runtime.wait(runtime.submit(basic_flows.chain_flow(), "source", {"n": 1}), timeout=30).status == "completed"


@both_brokers
def test_a_pickle_message_is_refused_unread_and_dead_lettered(runtime, start_workers, settings):
    start_workers()
    _publish_raw(settings, b"\x80\x04K\x01.", "application/x-python-serialize",
                 headers={"task": "routilux.activate", "id": "x2", "lang": "py"})
    letters = wait_until(lambda: runtime.dead_letters(), timeout=15)
    assert "python-serialize" in letters[0]["reason"]


def test_an_unknown_task_name_is_dead_lettered(runtime, start_workers):
    start_workers()
    runtime.app.send_task("someone.elses.task", args=[1], queue=runtime.settings.queue)
    letters = wait_until(lambda: runtime.dead_letters(), timeout=15)
    assert "unknown task" in letters[0]["reason"]


def test_a_payload_that_cannot_be_encoded_fails_the_emit_and_follows_the_error_strategy(runtime, start_workers):
    start_workers()
    flow = Flow(flow_id="unencodable")
    flow.add_routine(basic_flows.Unencodable(), "bad")
    flow.add_routine(basic_flows.Record(), "record")
    flow.connect("bad", "out", "record", "input")
    state = runtime.wait(runtime.submit(flow, "bad"), timeout=30)
    assert state.status == "failed"
    error = [r for r in state.execution_history if r.event_name == "error"][0]
    assert error.data["error_type"] == "EncodeError"
    assert "cannot encode" in error.data["error"]

    flow.routines["bad"].set_error_handler(ErrorHandler(ErrorStrategy.CONTINUE))
    state = runtime.wait(runtime.submit(flow, "bad"), timeout=30)
    assert state.status == "completed"
    assert state.routine_states["bad"]["status"] == "error_continued"


def test_entry_params_that_cannot_be_encoded_are_refused_at_submit(runtime):
    with pytest.raises(EncodeError):
        runtime.submit(basic_flows.chain_flow(), "source", {"n": object()})
    assert runtime.jobs() == []


def test_a_redis_that_went_away_is_a_typed_error():
    from conftest import free_port

    runtime = DistributedRuntime(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailableError):
        runtime.get_job("anything")
    with pytest.raises(StoreUnavailableError):
        runtime.publish(basic_flows.chain_flow())


def test_a_store_outage_inside_a_handler_is_not_mistaken_for_the_handlers_error():
    from routilux.activation import Activation
    from routilux.job_state import JobState
    from routilux.step import run_step

    class Reader(basic_flows.Record):
        def go(self, **data):
            raise StoreUnavailableError("Redis is unreachable")

    flow = Flow(flow_id="outage")
    flow.add_routine(Reader(), "reader")
    act = Activation("job", "a1", "reader", "input", {"i": 1})
    with pytest.raises(StoreUnavailableError):
        run_step(flow, JobState("outage"), act, reraise=(StoreUnavailableError,))
    assert run_step(flow, JobState("outage"), act).action == "fail"  # the local engine: an ordinary error
