"""A real worker fed a batch of garbage, mutated, oversized and forged messages: it never crashes, keeps serving."""

from __future__ import annotations

import json
import random

import pytest
import redis
from kombu import Connection, Exchange, Producer, Queue
from kombu import exceptions as kombu_errors
from kombu.serialization import dumps, loads

import security_routines
from waiting import wait_until
from routilux.activation import Activation, root_id
from routilux.distributed import DistributedRuntime, Settings
from routilux.distributed.protocol.envelope import seal, to_envelope
from routilux.distributed.flows import flow_hash, publishable
from routilux.distributed.serializer import CONTENT_TYPE
from routilux.distributed.protocol.signing import Keyring
from routilux.errors import EncodeError, SignatureError

pytestmark = pytest.mark.distributed

KEYS = "k1:0123456789abcdef0123456789abcdef"
HEADERS = {"task": "routilux.activate", "lang": "py"}


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(out)) if out else 0
        choice = rng.random()
        if choice < 0.4 and out:
            out[at] ^= 1 << rng.randrange(8)
        elif choice < 0.6:
            out[at:at] = rng.randbytes(rng.randint(1, 8))
        elif choice < 0.8 and out:
            del out[at:at + rng.randint(1, 8)]
        else:
            del out[at:]
    return bytes(out)


def _publish_raw(settings: Settings, bodies: list[tuple[bytes, str]]) -> None:
    options = {"global_keyprefix": f"{settings.key_prefix}:broker:"}
    with Connection(settings.redis_url, transport_options=options) as conn:
        queue = Queue(settings.queue, Exchange(settings.queue), routing_key=settings.queue)
        producer = Producer(conn)
        for k, (body, content_type) in enumerate(bodies):
            producer.publish(body, exchange=queue.exchange, routing_key=settings.queue, declare=[queue],
                             content_type=content_type, content_encoding="binary", headers={**HEADERS, "id": f"g{k}"})


def _bombs() -> list[tuple[bytes, str]]:
    """Messages built to exhaust memory or the stack if decoded naively."""
    return [
        (b"\x91" * 200_000 + b"\xc0", CONTENT_TYPE),             # 200k nested arrays
        (b"\xdd\xff\xff\xff\xff" + b"\x00" * 8, CONTENT_TYPE),   # an array header claiming 4 billion items
        (b"\xc6\x7f\xff\xff\xff" + b"\x00" * 8, CONTENT_TYPE),   # a 2 GiB binary header
        (b"\x92" + b"\xc4\x00" * 2 + b"\xcf" + b"\xff" * 8, CONTENT_TYPE),
        (b"\x80" * 300_000, CONTENT_TYPE),                     # more bytes than the message limit
        (b"\x80\x04K\x01.", "application/x-python-serialize"),  # a pickle
        (json.dumps([[1], {}, {}]).encode(), "application/json"),
    ]


def test_a_worker_fed_hostile_messages_never_crashes_runs_no_handler_and_keeps_serving(settings, spawn_worker,
                                                                                      tmp_path):
    keyed = settings.with_(signing_keys=KEYS, max_message_bytes=128 * 1024)
    worker = spawn_worker(imports=("basic_flows", "security_routines"), pool="threads", concurrency=2, settings_=keyed)
    rng = random.Random(20261130)
    trace = tmp_path / "trace"
    keyring = Keyring.parse(KEYS)
    with DistributedRuntime(settings=keyed) as runtime:
        flow = security_routines.witness_flow(trace)
        job_id = runtime.submit(flow, "witness", {"n": 2})
        assert runtime.wait(job_id, timeout=60).status == "completed"
        # A real signed body of that (finished) job, and Celery's real frame around it.
        real = seal(to_envelope(Activation(job_id, root_id(job_id), "witness", "trigger", {"n": 2}),
                                runtime.publish(flow)), keyring)
        frame = runtime.app.amqp.as_task_v2("x", "routilux.activate", args=[real]).body
        _, _, frame_bytes = dumps(frame, serializer="routilux-msgpack")

        garbage = [(rng.randbytes(rng.randint(0, 300)), CONTENT_TYPE) for _ in range(40)]
        frames = [(_mutate(rng, bytes(frame_bytes)), CONTENT_TYPE) for _ in range(40)]
        _publish_raw(keyed, garbage + frames + _bombs())
        forged = [_mutate(rng, real) for _ in range(40)]
        for body in forged:  # well-formed Celery tasks whose activation body is damaged
            runtime.app.send_task("routilux.activate", args=[body], queue=keyed.queue)
        # Garbage below Celery's own framing, straight onto the queue's Redis list.
        raw = redis.Redis.from_url(keyed.redis_url)
        queue_key = f"{keyed.key_prefix}:broker:{keyed.queue}"
        frames_raw = (b"not json", b"\xff\xfe", b"{}", b'{"body": 1}', b"[]")
        for item in frames_raw:
            raw.lpush(queue_key, item)
        sent = len(garbage) + len(frames) + len(_bombs()) + len(forged) + len(frames_raw)

        surely_refused = sum(1 for body in forged if _refused(keyring, body))
        surely_refused += sum(1 for body, _ in garbage + frames if _undecodable(body))
        letters = wait_until(lambda: len(runtime.dead_letters(1000)) >= surely_refused and runtime.dead_letters(1000),
                             timeout=60)
        # The worker is alive and serving: a signed job submitted after the batch completes.
        after = runtime.submit(flow, "witness", {"n": 1})
        assert runtime.wait(after, timeout=60).status == "completed"
        letters = runtime.dead_letters(1000)
    assert worker.proc.poll() is None, "the worker process died"
    # Every message is dead-lettered, except the rare mutation that leaves a valid frame around the real body
    # (a finished activation: the claim skips it) and JSON frames kombu itself drops with a warning.
    assert surely_refused >= 100 and surely_refused <= len(letters) <= sent
    assert sum("malformed broker frame" in letter["reason"] for letter in letters) >= 3
    assert any("over the limit" in letter["reason"] for letter in letters)
    assert any("python-serialize" in letter["reason"] for letter in letters)
    assert len(security_routines.runs(trace)) == 2  # only the two legitimate jobs ran a handler


def _undecodable(body: bytes) -> bool:
    try:
        loads(body, CONTENT_TYPE, "binary", accept=[CONTENT_TYPE])
        return False
    except kombu_errors.DecodeError:
        return True


def _refused(keyring: Keyring, body: bytes) -> bool:
    try:
        keyring.open(body)
        return False
    except SignatureError:
        return True


@pytest.mark.parametrize("condition", [
    "().__class__.__bases__[0].__subclasses__()",
    "__import__('os').system('touch /tmp/routilux-pwned')",
    "9**9**9**9 > 0",
    "'a' * 10**9",
    "[x for x in range(10**5) for y in range(10**5)]",
])
def test_hostile_conditions_in_a_published_flow_never_run_and_the_worker_keeps_serving(settings, start_workers,
                                                                                       condition):
    # The client refuses such a condition when it is configured; a hostile producer writes the flow itself.
    settings = settings.with_(max_attempts=1)
    start_workers(settings_=settings)
    with DistributedRuntime(settings=settings) as runtime:
        data = publishable(security_routines.router_flow("data['v'] == 1"))
        data["routines"]["router"]["_config"]["routes"] = [["hit", condition]]
        digest = flow_hash(data)
        runtime.store.put_flow(digest, "hostile", data)
        state = runtime.wait(runtime.submit(digest, "feed", {"data": {"v": 1}}), timeout=60)
        assert state.status == "failed"
        assert "condition" in state.error
        assert state.shared_log == []  # no route fired
        benign = runtime.wait(runtime.submit(security_routines.router_flow("data['v'] == 1"), "feed", {"data": {"v": 1}}),
                              timeout=30)
    assert benign.status == "completed"
    assert [(e["route"], e["data"]) for e in benign.shared_log] == [("hit", {"v": 1})]


@pytest.mark.parametrize("params, message", [
    ({"size": 100_000}, "over the limit of 65536"),
    ({"depth": 60}, "nested more than 56 levels"),
])
def test_a_value_over_the_limits_fails_its_step_with_an_encode_error(settings, start_workers, params, message):
    small = settings.with_(max_message_bytes=64 * 1024, max_depth=64)
    start_workers(settings_=small)
    with DistributedRuntime(settings=small) as runtime:
        state = runtime.wait(runtime.submit(security_routines.writer_flow(), "writer", params), timeout=30)
        assert state.status == "failed"
        error = [r.data for r in state.execution_history if r.event_name == "error"][0]
        assert error["error_type"] == "EncodeError" and message in error["error"]
        assert "value" not in state.shared_data
        fine = runtime.wait(runtime.submit(security_routines.writer_flow(), "writer", {"size": 1000, "depth": 50}), timeout=30)
        assert fine.status == "completed"
        with pytest.raises(EncodeError, match="over the limit"):
            runtime.submit(security_routines.writer_flow(), "writer", {"size": 1, "pad": "y" * 70_000})


@pytest.mark.parametrize("via", ["claim", "sweeper"])
def test_a_stored_activation_altered_in_redis_fails_its_job_instead_of_running_or_looping(settings, start_workers,
                                                                                           tmp_path, via):
    fast = settings.with_(redispatch_s=1.0)
    trace = tmp_path / "trace"
    with DistributedRuntime(settings=fast) as runtime:
        job_id = runtime.submit(security_routines.witness_flow(trace), "witness", {"n": 1})  # no worker yet
        raw = redis.Redis.from_url(fast.redis_url)
        acts = runtime.store.keys.job(job_id, "acts")
        (act_id,) = raw.hkeys(acts)
        raw.hset(acts, act_id, b"\x81\xa1v\xc1 altered")
        if via == "sweeper":  # the queued message is lost: only the sweeper can find the activation
            raw.delete(f"{fast.key_prefix}:broker:{fast.queue}")
        start_workers(settings_=fast)
        state = runtime.wait(job_id, timeout=30)
    assert state.status == "failed"
    assert "stored activation refused" in state.error
    assert security_routines.runs(trace) == []
