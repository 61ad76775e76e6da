"""Size and shape limits: over a limit is a LimitExceededError (or an EncodeError), never a crash."""

from __future__ import annotations

import tracemalloc
from typing import Any

import msgpack
import pytest

from routilux import codec
from routilux.errors import DecodeError, EncodeError, LimitExceededError
from routilux.bounds import DEFAULT_LIMITS, WRAPPING_DEPTH, Limits

SMALL = Limits(max_bytes=1000, max_depth=10, max_str_bytes=100, max_items=20)


def _nested(levels: int) -> Any:
    value: Any = 0
    for k in range(levels):
        value = [value] if k % 2 else {"k": value}
    return value


def test_data_over_the_size_limit_is_refused_before_it_is_decoded() -> None:
    with pytest.raises(LimitExceededError, match="1001 bytes to decode is over the limit of 1000"):
        codec.unpackb(b"\x00" * 1001, SMALL)


def test_nesting_up_to_the_depth_limit_decodes_and_deeper_is_refused() -> None:
    assert codec.unpackb(codec.packb(_nested(9)), SMALL) == _nested(9)  # 9 containers around a scalar
    with pytest.raises(LimitExceededError, match="nested more than 10 levels"):
        codec.unpackb(codec.packb(_nested(11)), SMALL)
    tuples: Any = 0
    for _ in range(11):
        tuples = (tuples,)
    with pytest.raises(LimitExceededError, match="nested more than 10 levels"):
        codec.unpackb(codec.packb(tuples), SMALL)


def test_nesting_past_msgpacks_own_stack_is_a_limit_error_not_a_crash() -> None:
    with pytest.raises(LimitExceededError):
        codec.unpackb(b"\x91" * 5000 + b"\x00")


@pytest.mark.parametrize("value, what", [
    ("x" * 101, "max_str_len"),
    (b"x" * 101, "max_bin_len"),
    (list(range(21)), "max_array_len"),
    ({str(k): k for k in range(21)}, "max_map_len"),
])
def test_strings_binaries_and_collections_over_their_limits_are_refused(value: Any, what: str) -> None:
    with pytest.raises(LimitExceededError, match=what):
        codec.unpackb(codec.packb(value), SMALL)


def test_a_header_claiming_billions_of_items_allocates_nothing() -> None:
    tracemalloc.start()
    try:
        for header in (b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff"):
            with pytest.raises(DecodeError):
                codec.unpackb(header + b"\x00" * 16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_encoding_with_limits_refuses_what_decoding_would_refuse() -> None:
    for value in (_nested(11), "x" * 101, list(range(21)), {"deep": [[[[[[[[[[[0]]]]]]]]]]]}):
        with pytest.raises(EncodeError, match="over the limit|nested more than"):
            codec.packb(value, limits=SMALL)
    with pytest.raises(EncodeError, match="bytes encoded is over the limit of 1000"):
        codec.packb(["x" * 90] * 15, limits=SMALL)
    assert codec.unpackb(codec.packb(_nested(9), limits=SMALL), SMALL) == _nested(9)


def test_a_utf8_string_is_measured_in_bytes_not_characters() -> None:
    with pytest.raises(EncodeError, match="string of 120 bytes"):
        codec.packb("é" * 60, limits=SMALL)
    with pytest.raises(LimitExceededError):
        codec.unpackb(codec.packb("é" * 60), SMALL)


def test_values_handlers_write_keep_room_for_the_envelope_around_them() -> None:
    assert DEFAULT_LIMITS.for_values().max_depth == DEFAULT_LIMITS.max_depth - WRAPPING_DEPTH
    wrapped = {"cause": {"delta": [["sd", "k", _nested(DEFAULT_LIMITS.for_values().max_depth - 1)]]}}
    assert codec.unpackb(codec.packb(wrapped)) == wrapped


def test_a_structure_that_contains_itself_is_refused_by_the_shape_check() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(EncodeError):
        codec.packb(loop, limits=SMALL)


def test_limits_must_be_positive_and_leave_room_for_the_envelope() -> None:
    with pytest.raises(ValueError):
        Limits(max_bytes=0)
    with pytest.raises(ValueError):
        Limits(max_depth=WRAPPING_DEPTH)


def test_raw_msgpack_errors_never_escape_the_limited_decoder() -> None:
    for data in (b"\xc1", b"\x92\x01", msgpack.packb({(1, 2): 3}, use_bin_type=True)[:-1], b"\x81\x90\x00"):
        with pytest.raises(DecodeError):
            codec.unpackb(data, SMALL)
