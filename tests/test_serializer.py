"""Tests for the routilux-msgpack kombu serializer (routilux.distributed.serializer)."""

from __future__ import annotations

import datetime as dt
import pickle
import uuid
from decimal import Decimal
from typing import Any

import kombu
import pytest
from kombu.exceptions import ContentDisallowed
from kombu.exceptions import DecodeError as KombuDecodeError
from kombu.exceptions import EncodeError as KombuEncodeError
from kombu.serialization import dumps, loads, prepare_accept_content, registry

from routilux.distributed.serializer import CONTENT_TYPE, SERIALIZER_NAME, register_serializer
from routilux.errors import DecodeError, EncodeError

# Set by _Exploit when unpickled: proves whether a pickle was ever loaded.
_EXPLOITED: list[str] = []


class _Exploit:
    """A pickle payload that records that it ran when it is unpickled."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _EXPLOITED.append, ("pickle was loaded",)


@pytest.fixture(autouse=True)
def _registered() -> None:
    register_serializer()
    _EXPLOITED.clear()


def _accept() -> set[str]:
    """The accept set Celery builds from ``accept_content=[SERIALIZER_NAME]``."""
    return prepare_accept_content([SERIALIZER_NAME])


def _task_body() -> tuple[Any, ...]:
    """A Celery protocol-2 style body, (args, kwargs, embed), with rich values."""
    job_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    activation = {
        "job_id": job_id,
        "routine": "parser",
        "slot": "input",
        "data": {
            "when": dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "day": dt.date(2024, 5, 6),
            "naive": dt.datetime(2024, 5, 6, 7, 8, 9),
            "price": Decimal("19.990"),
            "blob": b"\x00\x01\xff",
            "pair": (1, "two"),
            "items": [1, 2, 3],
            "by_id": {1: "one", 2: ("two", 2)},
        },
    }
    return ((activation,), {"attempt": 1}, {"callbacks": None, "errbacks": None, "chain": None})


def test_registering_the_serializer_twice_is_harmless() -> None:
    register_serializer()
    register_serializer()
    assert registry.name_to_type[SERIALIZER_NAME] == CONTENT_TYPE
    assert registry.type_to_name[CONTENT_TYPE] == SERIALIZER_NAME


def test_the_serializer_is_announced_as_binary_routilux_msgpack() -> None:
    content_type, content_encoding, payload = dumps({"a": 1}, serializer=SERIALIZER_NAME)
    assert content_type == CONTENT_TYPE == "application/x-routilux-msgpack"
    assert content_encoding == "binary"
    assert isinstance(payload, bytes)


def test_a_task_body_with_rich_values_round_trips_through_kombu() -> None:
    body = _task_body()
    content_type, content_encoding, payload = dumps(body, serializer=SERIALIZER_NAME)
    result = loads(payload, content_type, content_encoding, accept=_accept())
    assert result == body
    data = result[0][0]["data"]
    assert isinstance(result, tuple) and isinstance(result[0], tuple)
    assert isinstance(data["pair"], tuple) and isinstance(data["items"], list)
    assert isinstance(data["price"], Decimal) and str(data["price"]) == "19.990"
    assert data["when"].utcoffset() == dt.timedelta(hours=2)
    assert data["naive"].tzinfo is None
    assert type(data["day"]) is dt.date
    assert isinstance(result[0][0]["job_id"], uuid.UUID)
    assert data["blob"] == b"\x00\x01\xff"
    assert data["by_id"] == {1: "one", 2: ("two", 2)}


def test_a_pickle_message_is_refused_when_only_routilux_msgpack_is_accepted() -> None:
    content_type, content_encoding, payload = dumps(_Exploit(), serializer="pickle")
    assert content_type == "application/x-python-serialize"
    with pytest.raises(ContentDisallowed):
        loads(payload, content_type, content_encoding, accept=_accept())
    assert _EXPLOITED == []


def test_a_pickle_sent_under_our_content_type_is_not_unpickled() -> None:
    payload = pickle.dumps(_Exploit())
    with pytest.raises(KombuDecodeError) as info:
        loads(payload, CONTENT_TYPE, "binary", accept=_accept())
    assert isinstance(info.value.__cause__ or info.value.args[0], DecodeError)
    assert _EXPLOITED == []


def test_json_is_refused_too_when_only_routilux_msgpack_is_accepted() -> None:
    content_type, content_encoding, payload = dumps({"a": 1}, serializer="json")
    with pytest.raises(ContentDisallowed):
        loads(payload, content_type, content_encoding, accept=_accept())


def test_garbage_bytes_surface_as_a_kombu_decode_error() -> None:
    with pytest.raises(KombuDecodeError, match="invalid msgpack data"):
        loads(b"\xc1\xc1", CONTENT_TYPE, "binary", accept=_accept())


def test_an_unencodable_body_surfaces_as_a_kombu_encode_error_with_its_path() -> None:
    with pytest.raises(KombuEncodeError, match=r"type 'object' at value\[1\]\['x'\]") as info:
        dumps(({}, {"x": object()}), serializer=SERIALIZER_NAME)
    assert isinstance(info.value.args[0], EncodeError)


def test_a_consumer_accepting_only_routilux_msgpack_decodes_ours_and_refuses_pickle() -> None:
    with kombu.Connection("memory://") as connection:
        queue = connection.SimpleQueue("routilux-serializer-test", serializer=SERIALIZER_NAME)
        try:
            queue.consumer.accept = _accept()
            queue.put(_task_body())
            queue.put(_Exploit(), serializer="pickle")

            ours = queue.get(timeout=1)
            assert ours.content_type == CONTENT_TYPE
            assert ours.decode() == _task_body()
            ours.ack()

            # The consumer decodes on receipt, so the refusal comes from get().
            with pytest.raises(ContentDisallowed):
                queue.get(timeout=1)
        finally:
            queue.close()
    assert _EXPLOITED == []
