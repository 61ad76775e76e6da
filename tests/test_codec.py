"""Tests for routilux.codec: exact msgpack round trips, canonical bytes, clear errors."""

from __future__ import annotations

import collections
import datetime as dt
import enum
import hashlib
import math
import pickle
import random
import struct
import uuid
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routilux import codec
from routilux.errors import DecodeError, EncodeError, SerializationError

# --------------------------------------------------------------------------- helpers


def assert_same(expected: Any, actual: Any, path: str = "value") -> None:
    """Assert two values are identical in type and content, not just ``==``.

    ``==`` is too lenient here: it equates 1 and True, (1,) and [1],
    Decimal('1.0') and Decimal('1.00'), and aware datetimes in different offsets.
    """
    assert type(actual) is type(expected), f"{path}: {type(actual)} != {type(expected)}"
    if isinstance(expected, dict):
        assert len(actual) == len(expected), path
        for (ek, ev), (ak, av) in zip(expected.items(), actual.items()):
            assert_same(ek, ak, f"{path} key")
            assert_same(ev, av, f"{path}[{ek!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), path
        for index, (e, a) in enumerate(zip(expected, actual)):
            assert_same(e, a, f"{path}[{index}]")
    elif isinstance(expected, float):
        # Bit patterns, so NaN equals NaN and -0.0 differs from 0.0.
        assert struct.pack("<d", actual) == struct.pack("<d", expected), path
    elif isinstance(expected, Decimal):
        assert str(actual) == str(expected), path
    elif isinstance(expected, dt.datetime):
        assert actual.replace(tzinfo=None) == expected.replace(tzinfo=None), path
        assert actual.utcoffset() == expected.utcoffset(), path
    else:
        assert actual == expected, path


def round_trip(value: Any) -> Any:
    """Encode then decode."""
    return codec.unpackb(codec.packb(value))


class Foo:
    """A custom class the codec knows nothing about."""


# --------------------------------------------------------------------------- strategies

offsets = st.timedeltas(
    min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)
)
timezones = st.builds(dt.timezone, offsets)
datetimes = st.one_of(st.datetimes(), st.datetimes(timezones=timezones))
hashable_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=20),
    st.binary(max_size=20),
    datetimes,
    st.dates(),
    st.uuids(),
    st.decimals(allow_nan=False),
)
leaves = st.one_of(hashable_leaves, st.floats(), st.decimals())
hashables = st.recursive(
    hashable_leaves, lambda inner: st.lists(inner, max_size=3).map(tuple), max_leaves=6
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(tuple),
        st.dictionaries(hashables, inner, max_size=5),
    ),
    max_leaves=30,
)


# --------------------------------------------------------------------------- round trips


@settings(max_examples=300)
@given(values)
def test_nested_values_of_every_supported_type_round_trip_exactly(value: Any) -> None:
    assert_same(value, round_trip(value))


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -1,
        2**64 - 1,
        -(2**63),
        1.5,
        float("inf"),
        float("nan"),
        -0.0,
        "",
        "héllo ✓",
        b"",
        b"\x00\xff",
        dt.datetime(2024, 2, 29, 23, 59, 59, 999999),
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
        dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(seconds=-1, microseconds=3))),
        dt.date(1, 1, 1),
        dt.date(9999, 12, 31),
        uuid.UUID(int=0),
        uuid.UUID("9d65799a-3349-4eb6-acc9-908bddc1d486"),
        Decimal("-1.500E+3"),
        Decimal("0.00"),
        Decimal("-0"),
        Decimal("NaN"),
        Decimal("-Infinity"),
        (),
        [],
        {},
    ],
    ids=repr,
)
def test_each_supported_value_round_trips_exactly(value: Any) -> None:
    assert_same(value, round_trip(value))


def test_tuples_come_back_as_tuples() -> None:
    value = (1, (2, 3), [4, (5,)], {"t": (6, 7)})
    result = round_trip(value)
    assert_same(value, result)
    assert isinstance(result, tuple)
    assert isinstance(result[1], tuple)
    assert isinstance(result[2][1], tuple)


def test_lists_come_back_as_lists() -> None:
    value = [1, [2, 3], ([4],)]
    result = round_trip(value)
    assert_same(value, result)
    assert isinstance(result[2][0], list)


def test_bytes_are_native_msgpack_bin() -> None:
    encoded = codec.packb(b"abc")
    assert encoded == b"\xc4\x03abc"
    assert msgpack.unpackb(encoded) == b"abc"


def test_plain_data_is_standard_msgpack_that_any_reader_can_decode() -> None:
    value = {"a": [1, 2.5, "x", None, True, b"y"], "b": {"c": -3}}
    assert msgpack.unpackb(codec.packb(value)) == value


def test_int_keyed_maps_decode() -> None:
    value = {1: "one", -2: "minus two", 2**40: "big"}
    assert_same(value, round_trip(value))


def test_maps_with_mixed_and_tuple_keys_decode() -> None:
    value = {1: "a", "1": "b", (1, "x"): "c", None: "d", b"k": "e", dt.date(2024, 1, 1): "f"}
    assert_same(value, round_trip(value))


def test_tz_aware_datetime_keeps_its_offset() -> None:
    tz = dt.timezone(dt.timedelta(hours=-7))
    value = dt.datetime(2024, 6, 1, 8, 30, 15, 123456, tzinfo=tz)
    result = round_trip(value)
    assert result.utcoffset() == dt.timedelta(hours=-7)
    assert (result.hour, result.microsecond) == (8, 123456)


def test_zoneinfo_datetime_comes_back_with_the_same_fixed_offset() -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        tz = zoneinfo.ZoneInfo("Europe/Paris")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no tz database on this machine")
    value = dt.datetime(2024, 7, 1, 12, tzinfo=tz)
    result = round_trip(value)
    assert result == value
    assert result.utcoffset() == dt.timedelta(hours=2)


def test_naive_datetime_stays_naive() -> None:
    assert round_trip(dt.datetime(2024, 1, 2, 3, 4, 5)).tzinfo is None


def test_date_does_not_become_a_datetime() -> None:
    assert type(round_trip(dt.date(2024, 1, 2))) is dt.date


def test_integers_beyond_64_bits_round_trip() -> None:
    for value in (2**64, -(2**63) - 1, 10**100, -(10**100)):
        assert_same(value, round_trip(value))


def test_subclasses_encode_as_their_base_type() -> None:
    class Color(enum.IntEnum):
        RED = 1

    Point = collections.namedtuple("Point", "x y")
    value = {
        "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
        "default": collections.defaultdict(list, {"k": [1]}),
        "enum": Color.RED,
        "point": Point(1, 2),
    }
    assert_same(
        {"ordered": {"b": 1, "a": 2}, "default": {"k": [1]}, "enum": 1, "point": (1, 2)},
        round_trip(value),
    )


def test_bytearray_and_memoryview_come_back_as_bytes() -> None:
    assert round_trip([bytearray(b"ab"), memoryview(b"cd")]) == [b"ab", b"cd"]


def test_unpackb_accepts_any_bytes_like_object() -> None:
    encoded = codec.packb({"a": (1, 2)})
    assert codec.unpackb(bytearray(encoded)) == {"a": (1, 2)}
    assert codec.unpackb(memoryview(encoded)) == {"a": (1, 2)}


def test_a_foreign_msgpack_timestamp_decodes_as_a_utc_datetime() -> None:
    encoded = msgpack.packb(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), datetime=True)
    assert codec.unpackb(encoded) == dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


# --------------------------------------------------------------------------- canonical form


def _shuffled(value: Any, rng: random.Random) -> Any:
    """Rebuild every dict in ``value`` with its keys inserted in a random order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    if isinstance(value, tuple):
        return tuple(_shuffled(v, rng) for v in value)
    return value


def test_canonical_bytes_are_equal_for_dicts_built_in_different_key_orders() -> None:
    a = {"b": 1, "a": {"y": 2, "x": 3}, "c": [{"q": 1, "p": 2}]}
    b = {"c": [{"p": 2, "q": 1}], "a": {"x": 3, "y": 2}, "b": 1}
    assert codec.packb(a) != codec.packb(b)
    assert codec.canonical_packb(a) == codec.canonical_packb(b)
    assert codec.content_hash(a) == codec.content_hash(b)


@settings(max_examples=200)
@given(values, st.randoms(use_true_random=False))
def test_canonical_bytes_do_not_depend_on_insertion_order(value: Any, rng: random.Random) -> None:
    assert codec.canonical_packb(value) == codec.canonical_packb(_shuffled(value, rng))


def test_canonical_bytes_sort_mixed_key_types() -> None:
    a = {1: "int", "1": "str", (1, 2): "tuple", None: "none", b"1": "bytes"}
    b = dict(reversed(list(a.items())))
    assert codec.canonical_packb(a) == codec.canonical_packb(b)


def test_canonical_bytes_sort_dicts_inside_tuples_and_keys() -> None:
    a = ({"b": 1, "a": 2}, [{2: "x", 1: "y"}])
    b = ({"a": 2, "b": 1}, [{1: "y", 2: "x"}])
    assert codec.canonical_packb(a) == codec.canonical_packb(b)


@given(values)
def test_canonical_bytes_decode_to_an_equal_value(value: Any) -> None:
    result = codec.unpackb(codec.canonical_packb(value))
    assert codec.canonical_packb(result) == codec.canonical_packb(value)


def test_content_hash_is_the_sha256_of_the_canonical_bytes() -> None:
    value = {"z": 1, "a": (dt.date(2024, 1, 1), Decimal("1.10"))}
    expected = hashlib.sha256(codec.canonical_packb(value)).hexdigest()
    assert codec.content_hash(value) == expected
    assert len(expected) == 64


def test_content_hash_distinguishes_values_that_compare_equal_but_differ() -> None:
    assert codec.content_hash((1, 2)) != codec.content_hash([1, 2])
    assert codec.content_hash(Decimal("1.0")) != codec.content_hash(Decimal("1.00"))
    assert codec.content_hash(1) != codec.content_hash(True)


# --------------------------------------------------------------------------- encode errors


def test_a_custom_class_instance_is_refused_with_its_type_and_path() -> None:
    with pytest.raises(EncodeError) as info:
        codec.packb({"items": [1, 2, Foo()]}, root="payload")
    message = str(info.value)
    assert "cannot encode value of type 'Foo' at payload['items'][2]" in message


def test_a_lambda_is_refused_with_its_type_and_path() -> None:
    with pytest.raises(EncodeError, match=r"type 'function' at value\['cb'\]"):
        codec.packb({"cb": lambda: None})


def test_an_unencodable_value_inside_a_tuple_is_located() -> None:
    with pytest.raises(EncodeError, match=r"type 'set' at value\['t'\]\[1\]\[0\]"):
        codec.packb({"t": (1, ({1},))})


def test_an_unencodable_dict_key_names_the_dict_holding_it() -> None:
    with pytest.raises(EncodeError, match=r"dict key of type 'Foo' in value\['m'\]"):
        codec.packb({"m": {Foo(): 1}})


def test_an_unencodable_top_level_value_is_located_at_the_root() -> None:
    with pytest.raises(EncodeError, match=r"type 'object' at value \(supported"):
        codec.packb(object())


def test_a_structure_that_contains_itself_is_refused() -> None:
    loop: list[Any] = [1]
    loop.append({"again": loop})
    with pytest.raises(EncodeError, match=r"contains itself"):
        codec.packb(loop)


def test_a_string_with_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(EncodeError, match=r"'str'.*at value\[0\]"):
        codec.packb(["\ud800"])


def test_canonical_packb_reports_errors_the_same_way() -> None:
    with pytest.raises(EncodeError, match=r"type 'Foo' at value\['items'\]\[2\]"):
        codec.canonical_packb({"items": [1, 2, Foo()]})
    with pytest.raises(EncodeError, match=r"dict key of type 'Foo'"):
        codec.canonical_packb({1: "a", Foo(): "b"})


def test_encode_errors_are_serialization_errors_and_value_errors() -> None:
    with pytest.raises(SerializationError):
        codec.packb(Foo())
    with pytest.raises(ValueError):
        codec.packb(Foo())


def test_encode_error_never_exposes_raw_msgpack_exceptions() -> None:
    with pytest.raises(EncodeError) as info:
        codec.packb({"x": Foo()})
    assert not isinstance(info.value, TypeError)


# --------------------------------------------------------------------------- decode errors


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1",  # the one byte msgpack never uses
        b"\x92\x01",  # array of two with one item
        b"\x01\x02",  # trailing bytes after a complete value
        b"\xa2\xff\xfe",  # str that is not UTF-8
        b"\x81\x91\x01\x02",  # map keyed by an array (unhashable)
        b"",
    ],
    ids=["reserved-byte", "truncated", "trailing-bytes", "bad-utf8", "unhashable-key", "empty"],
)
def test_garbage_bytes_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError, match="invalid msgpack data"):
        codec.unpackb(data)


def test_an_unknown_ext_type_raises_decode_error() -> None:
    data = msgpack.packb(msgpack.ExtType(42, b"\x00"))
    with pytest.raises(DecodeError, match="unknown msgpack ext type 42"):
        codec.unpackb(data)


@pytest.mark.parametrize(
    ("code", "payload"),
    [
        (codec.EXT_DATETIME, b"not a datetime"),
        (codec.EXT_DATE, b"2024-13-01"),
        (codec.EXT_DATE, b"2024-01-01T00:00"),
        (codec.EXT_UUID, b"short"),
        (codec.EXT_DECIMAL, b"1.2.3"),
        (codec.EXT_TUPLE, msgpack.packb({"not": "an array"})),
        (codec.EXT_TUPLE, b"\xc1"),
        (codec.EXT_BIGINT, b""),
        (codec.EXT_DATETIME, b"\xff"),
    ],
    ids=repr,
)
def test_a_malformed_ext_payload_raises_decode_error(code: int, payload: bytes) -> None:
    data = msgpack.packb([1, msgpack.ExtType(code, payload)])
    with pytest.raises(DecodeError, match=f"malformed msgpack ext type {code}"):
        codec.unpackb(data)


def test_a_pickle_is_not_decoded() -> None:
    with pytest.raises(DecodeError):
        codec.unpackb(pickle.dumps({"a": 1}))


def test_decoding_a_str_raises_decode_error() -> None:
    with pytest.raises(DecodeError, match="expected bytes"):
        codec.unpackb("\x01")  # type: ignore[arg-type]


def test_decode_errors_are_serialization_errors() -> None:
    with pytest.raises(SerializationError):
        codec.unpackb(b"\xc1")


@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_only_decode_error(data: bytes) -> None:
    try:
        codec.unpackb(data)
    except DecodeError:
        pass


def test_deeply_nested_tuple_payloads_raise_decode_error_not_recursion_error() -> None:
    data = msgpack.packb(None)
    for _ in range(3000):
        data = msgpack.packb(msgpack.ExtType(codec.EXT_TUPLE, b"\x91" + data))  # 1-tuple of data
    with pytest.raises(DecodeError):
        codec.unpackb(data)


def test_nan_decimal_round_trips() -> None:
    result = round_trip(Decimal("NaN"))
    assert isinstance(result, Decimal) and result.is_nan()
    assert math.isnan(round_trip(float("nan")))


def _nested_tuple(levels: int) -> Any:
    """A 1-tuple inside a 1-tuple ... ``levels`` deep, around 0."""
    value: Any = 0
    for _ in range(levels):
        value = (value,)
    return value


def test_tuples_nested_up_to_the_limit_round_trip() -> None:
    value = _nested_tuple(codec.MAX_TUPLE_NESTING)
    assert round_trip(value) == value


def test_tuples_nested_past_the_limit_are_refused_instead_of_crashing() -> None:
    with pytest.raises(EncodeError, match="tuples nested more than"):
        codec.packb({"deep": _nested_tuple(codec.MAX_TUPLE_NESTING + 1)})


def test_very_deeply_nested_lists_are_refused_cleanly() -> None:
    value: Any = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(EncodeError, match="nested too deeply"):
        codec.packb(value)
