"""Fuzzing every decoder of data that comes from Redis or the broker: random bytes and mutated real messages.

Each decoder may only raise its documented, typed error. Example counts are
bounded so the suite stays fast; FUZZ_EXAMPLES scales them for a longer run.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routilux import codec
from routilux.bounds import Limits
from routilux.errors import DecodeError, MalformedMessageError

pytest.importorskip("kombu")

from kombu import exceptions as kombu_errors  # noqa: E402
from kombu.serialization import dumps, loads  # noqa: E402

from routilux.activation import Activation  # noqa: E402
from routilux.distributed.operations.assemble import job_state_from_parts  # noqa: E402
from routilux.distributed.batch import batch_bodies  # noqa: E402
from routilux.distributed.protocol.envelope import from_envelope, open_body, seal, to_envelope  # noqa: E402
from routilux.distributed.serializer import CONTENT_TYPE, SERIALIZER_NAME, register_serializer  # noqa: E402
from routilux.distributed.protocol.signing import MAGIC, Keyring  # noqa: E402

SCALE = int(os.environ.get("FUZZ_EXAMPLES", "1"))
FUZZ = settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = Keyring.parse("k1:0123456789abcdef0123456789abcdef,k0:fedcba9876543210fedcba9876543210")
SMALL = Limits(max_bytes=4096, max_depth=16, max_str_bytes=512, max_items=64)


def _envelope() -> dict[str, Any]:
    act = Activation("job-1", "act-1", "double", "input",
                     {"i": 3, "when": dt.datetime(2024, 5, 1, 12, 0), "id": uuid.UUID(int=7), "price": Decimal("1.5"),
                      "pair": (1, "a"), "blob": b"\x00\x01", "nested": {"a": [1, 2, {"b": None}]}}, attempt=1,
                     source=("source", "out"))
    return to_envelope(act, "f" * 64, {"parent": "act-0", "routine": "source", "delta": [["sd", "k", [1, 2]]]})


ENVELOPE = _envelope()
SIGNED = seal(ENVELOPE, KEYS)
UNSIGNED = codec.packb(ENVELOPE)
register_serializer()
_, _, TASK_BODY = dumps([[SIGNED], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}],
                        serializer=SERIALIZER_NAME)
PARTS_BLOBS = [codec.packb({"status": "completed", "n": 1}), codec.packb([["r", "out", {"i": 1}, dt.datetime(2024, 1, 1)]]),
               codec.packb({"timestamp": "t", "reason": "r", "checkpoint": None})]
_, _, BATCH_TASK_BODY = dumps([[[SIGNED, UNSIGNED, SIGNED]], {}, {"callbacks": None, "errbacks": None, "chain": None,
                                                                   "chord": None}], serializer=SERIALIZER_NAME)
CORPUS = [SIGNED, UNSIGNED, bytes(TASK_BODY), bytes(BATCH_TASK_BODY), *PARTS_BLOBS]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes] = CORPUS) -> bytes:
    """A real message with a few bytes flipped, inserted, deleted, or cut off."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "set"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0xff, 0xc1, 0xdc, 0xdd, 0xde, 0xdf, 0xc6, 0xdb, 0xd9, 0xc7, 0x91]))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


BYTES = st.one_of(st.binary(max_size=512), mutated(), st.binary(max_size=64).map(lambda b: MAGIC + b))


@FUZZ
@given(BYTES)
def test_the_codec_decodes_or_raises_only_decode_error(data: bytes) -> None:
    for limits in (SMALL, Limits()):
        try:
            codec.unpackb(data, limits)
        except DecodeError:
            pass


@FUZZ
@given(BYTES)
def test_an_activation_body_is_accepted_only_if_it_is_signed_or_else_raises_a_malformed_message_error(
        data: bytes) -> None:
    try:
        act, _ = from_envelope(open_body(data, KEYS, SMALL))
    except MalformedMessageError:
        return
    # Whatever got through carries a valid signature over exactly these bytes.
    assert KEYS.open(data)
    assert isinstance(act.payload, dict)


@FUZZ
@given(BYTES)
def test_a_worker_without_keys_decodes_or_refuses_with_a_malformed_message_error(data: bytes) -> None:
    try:
        from_envelope(open_body(data, Keyring(), SMALL))
    except MalformedMessageError:
        pass


@FUZZ
@given(BYTES)
def test_the_kombu_serializer_decodes_or_raises_kombus_decode_error(data: bytes) -> None:
    try:
        loads(data, CONTENT_TYPE, "binary", accept=[CONTENT_TYPE])
    except kombu_errors.DecodeError:
        pass


def read_stored_job(status: bytes, blobs: list[bytes]) -> None:
    """Assemble a job whose stored parts are ``blobs``: it reads or raises DecodeError, nothing else."""
    rs, sd, sl, out, de, pp, sb, history, act = blobs
    parts = {"meta": {b"status": status, b"flow_id": b"f"}, "rs": {b"r": rs}, "sd": {b"k": sd}, "sl": [sl],
             "out": [out], "de": [de], "pp": [pp], "sb": {b"r\x1fs": sb}, "log": [(b"1-0", {b"h": history})],
             "parked": {b"a"}, "acts": {b"a": act}}
    try:
        job_state_from_parts("job", parts, SMALL)
    except DecodeError:
        pass


@settings(FUZZ, max_examples=150 * SCALE)
@given(st.lists(mutated(PARTS_BLOBS + [UNSIGNED, SIGNED]), min_size=9, max_size=9))
def test_a_damaged_job_in_the_store_reads_as_a_decode_error(blobs: list[bytes]) -> None:
    read_stored_job(b"running", blobs)


def test_the_fuzz_corpus_is_made_of_real_messages_that_decode() -> None:
    assert from_envelope(open_body(SIGNED, KEYS))[0].payload == ENVELOPE["payload"]
    frame = loads(TASK_BODY, CONTENT_TYPE, "binary", accept=[CONTENT_TYPE])
    assert frame[0][0] == SIGNED
    batch = loads(BATCH_TASK_BODY, CONTENT_TYPE, "binary", accept=[CONTENT_TYPE])
    assert batch_bodies(batch[0][0]) == [SIGNED, UNSIGNED, SIGNED]
    for blob in PARTS_BLOBS:
        codec.unpackb(blob, SMALL)


PLAIN = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.binary(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
                     max_leaves=12)


@settings(FUZZ, max_examples=150 * SCALE)
@given(st.lists(PLAIN, min_size=9, max_size=9))
def test_well_formed_msgpack_of_the_wrong_shape_in_the_store_reads_as_a_decode_error(values: list[Any]) -> None:
    read_stored_job(b"paused", [codec.packb(v) for v in values])


@FUZZ
@given(st.one_of(mutated([bytes(BATCH_TASK_BODY)]), st.binary(max_size=256)))
def test_a_batch_message_yields_bodies_a_worker_accepts_only_if_signed_or_raises_a_malformed_message_error(
        data: bytes) -> None:
    try:
        frame = loads(data, CONTENT_TYPE, "binary", accept=[CONTENT_TYPE])
        args = frame[0] if isinstance(frame, (list, tuple)) and frame else None
        bodies = batch_bodies(args[0] if isinstance(args, (list, tuple)) and len(args) == 1 else args)
    except (kombu_errors.DecodeError, MalformedMessageError):
        return
    for body in bodies:
        try:
            from_envelope(open_body(body, KEYS, SMALL))
        except MalformedMessageError:
            continue
        assert KEYS.open(body)
