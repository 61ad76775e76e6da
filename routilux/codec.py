"""Msgpack encoding of plain data, with exact round trips for a few rich types.

Routilux moves payloads, job state and task messages between processes as
msgpack. Plain msgpack loses some Python types, so they travel as msgpack
*ext types* with the codes below; nothing is ever pickled, so decoding bytes
from the network can only ever produce data, never run code.

===========  ====  =====================================================
type         code  payload
===========  ====  =====================================================
datetime        1  ``isoformat()`` text (keeps microseconds and offset)
date            2  ``isoformat()`` text
UUID            3  the 16 raw bytes
Decimal         4  ``str()`` text (keeps exponent, sign, NaN, Infinity)
tuple           5  the items, msgpack-encoded as an array
int > 64 bit    6  two's-complement big-endian bytes
===========  ====  =====================================================

``bytes`` are native msgpack ``bin``; lists stay lists and tuples stay tuples;
maps may have any encodable, hashable keys (ints, tuples, ...). Subclasses of
the supported types (``OrderedDict``, ``IntEnum``, named tuples) are encoded as
their base type. A tz-aware datetime comes back with a fixed-offset tzinfo
equal to its original offset (a ``ZoneInfo`` name is not kept).

:func:`canonical_packb` gives deterministic bytes (map keys sorted at every
level) for content hashing; :func:`content_hash` is their SHA-256.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import threading
import uuid
from decimal import Decimal
from typing import Any, Callable, Iterator

import msgpack

from routilux.errors import DecodeError, EncodeError, LimitExceededError
from routilux.bounds import DEFAULT_LIMITS, Limits, nested_deeper_than, shape_problem

__all__ = [
    "EXT_DATETIME",
    "EXT_DATE",
    "EXT_UUID",
    "EXT_DECIMAL",
    "EXT_TUPLE",
    "EXT_BIGINT",
    "packb",
    "unpackb",
    "canonical_packb",
    "content_hash",
]

EXT_DATETIME = 1
EXT_DATE = 2
EXT_UUID = 3
EXT_DECIMAL = 4
EXT_TUPLE = 5
EXT_BIGINT = 6

_EXT_NAMES = {
    EXT_DATETIME: "datetime",
    EXT_DATE: "date",
    EXT_UUID: "UUID",
    EXT_DECIMAL: "Decimal",
    EXT_TUPLE: "tuple",
    EXT_BIGINT: "int",
}

# msgpack's native integer range; outside it ints go through EXT_BIGINT.
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1

# Each tuple level re-enters the C packer/unpacker through a Python hook, so
# deep tuple nesting would exhaust the C stack (a segfault, not an exception)
# before Python's recursion limit trips. Refuse it explicitly, on both sides.
MAX_TUPLE_NESTING = 100

_SUPPORTED = (
    "None, bool, int, float, str, bytes, list, tuple, dict, datetime, date, UUID, Decimal"
)

_ExtType = msgpack.ExtType


class _Unencodable(TypeError):
    """Raised inside the packer's ``default`` hook; turned into EncodeError with a path."""


class _TuplesTooDeep(ValueError):
    """Raised when tuples nest deeper than MAX_TUPLE_NESTING."""


# Per-thread count of tuple levels currently being packed / unpacked.
_depth = threading.local()


# --------------------------------------------------------------------------- encoding


def _default(obj: Any) -> Any:
    """Turn a value msgpack has no native form for into an ext type or a base type."""
    # Exact-type checks first: these are the common cases on the hot path.
    cls = type(obj)
    if cls is tuple:
        return _ExtType(EXT_TUPLE, _pack_items(obj))
    if cls is _dt.datetime:
        return _ExtType(EXT_DATETIME, obj.isoformat().encode("ascii"))
    if cls is _dt.date:
        return _ExtType(EXT_DATE, obj.isoformat().encode("ascii"))
    if cls is uuid.UUID:
        return _ExtType(EXT_UUID, obj.bytes)
    if cls is Decimal:
        return _ExtType(EXT_DECIMAL, str(obj).encode("ascii"))
    if cls is int:
        # Only reached when the int overflowed msgpack's 64-bit range.
        return _ExtType(EXT_BIGINT, _int_to_bytes(obj))
    # strict_types=True (needed to see tuples here) also sends subclasses of
    # native types to this hook; encode them as their base type.
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, list):
        return list(obj)
    if isinstance(obj, tuple):
        return _ExtType(EXT_TUPLE, _pack_items(obj))
    if isinstance(obj, int):
        value = int(obj)
        return value if _INT_MIN <= value <= _INT_MAX else _ExtType(EXT_BIGINT, _int_to_bytes(value))
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, bytes):
        return bytes(obj)
    if isinstance(obj, _dt.datetime):  # before date: datetime subclasses date
        return _ExtType(EXT_DATETIME, obj.isoformat().encode("ascii"))
    if isinstance(obj, _dt.date):
        return _ExtType(EXT_DATE, obj.isoformat().encode("ascii"))
    if isinstance(obj, uuid.UUID):
        return _ExtType(EXT_UUID, obj.bytes)
    if isinstance(obj, Decimal):
        return _ExtType(EXT_DECIMAL, str(obj).encode("ascii"))
    raise _Unencodable(obj)


def _int_to_bytes(value: int) -> bytes:
    """Minimal two's-complement big-endian bytes of ``value``."""
    return value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)


def _pack_items(items: tuple) -> bytes:
    """Encode a tuple's items as a msgpack array (used as the EXT_TUPLE payload)."""
    depth = getattr(_depth, "packing", 0)
    if depth >= MAX_TUPLE_NESTING:
        raise _TuplesTooDeep(f"tuples nested more than {MAX_TUPLE_NESTING} levels deep")
    _depth.packing = depth + 1
    try:
        return msgpack.packb(list(items), default=_default, strict_types=True, use_bin_type=True)
    finally:
        _depth.packing = depth


def _pack(obj: Any) -> bytes:
    """Encode with the Routilux hooks; raw msgpack/hook errors propagate."""
    return msgpack.packb(obj, default=_default, strict_types=True, use_bin_type=True)


def packb(obj: Any, *, root: str = "value", limits: Limits | None = None) -> bytes:
    """Encode ``obj`` as msgpack bytes; raise EncodeError naming the bad value's type and path.

    With ``limits``, data that :func:`unpackb` would refuse under them (too big,
    too deep, too long a string, too many items) is refused here, with EncodeError.
    """
    if limits is not None:
        problem = shape_problem(obj, limits)
        if problem:
            raise EncodeError(f"cannot encode {root}: {problem}")
    try:
        data = _pack(obj)
    except Exception as exc:  # noqa: BLE001 - every packer failure becomes an EncodeError
        raise _encode_error(obj, root, exc) from exc
    if limits is not None and len(data) > limits.max_bytes:
        raise EncodeError(f"cannot encode {root}: {len(data)} bytes encoded is over the limit of {limits.max_bytes}")
    return data


# --------------------------------------------------------------------------- decoding


def _ext_hook(code: int, data: bytes) -> Any:
    """Rebuild the Python value of one of the Routilux ext types."""
    decoder = _EXT_DECODERS.get(code)
    if decoder is None:
        raise DecodeError(f"unknown msgpack ext type {code} (length {len(data)})")
    try:
        return decoder(data)
    except DecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed payloads surface as DecodeError
        raise DecodeError(
            f"malformed msgpack ext type {code} ({_EXT_NAMES[code]}) payload {bytes(data[:40])!r}: {exc}"
        ) from exc


def _decode_datetime(data: bytes) -> _dt.datetime:
    """Decode an EXT_DATETIME payload."""
    text = data.decode("ascii")
    # isoformat() writes "YYYY-MM-DDTHH:MM:SS[.ffffff]" then the offset, if any.
    # The offset is parsed here because fromisoformat() drops sub-second
    # offsets whose hours, minutes and seconds are all zero.
    end = 26 if text[19:20] == "." else 19
    value = _dt.datetime.fromisoformat(text[:end])
    if end == len(text):
        return value
    match = _OFFSET.fullmatch(text, end)
    if match is None:
        raise ValueError(f"bad UTC offset in {text!r}")
    sign, hours, minutes, seconds, micros = match.groups()
    offset = _dt.timedelta(
        hours=int(hours), minutes=int(minutes), seconds=int(seconds or 0), microseconds=int(micros or 0)
    )
    return value.replace(tzinfo=_dt.timezone(-offset if sign == "-" else offset))


_OFFSET = re.compile(r"([+-])(\d\d):(\d\d)(?::(\d\d)(?:\.(\d{6}))?)?")


def _decode_date(data: bytes) -> _dt.date:
    """Decode an EXT_DATE payload."""
    text = data.decode("ascii")
    # date.fromisoformat in 3.11 also accepts week dates and basic format; keep to ours.
    if len(text) != 10:
        raise ValueError(f"not a YYYY-MM-DD date: {text!r}")
    return _dt.date.fromisoformat(text)


def _decode_uuid(data: bytes) -> uuid.UUID:
    """Decode an EXT_UUID payload."""
    return uuid.UUID(bytes=bytes(data))


def _decode_decimal(data: bytes) -> Decimal:
    """Decode an EXT_DECIMAL payload."""
    return Decimal(data.decode("ascii"))


def _decode_tuple(data: bytes) -> tuple:
    """Decode an EXT_TUPLE payload."""
    depth = getattr(_depth, "unpacking", 0)
    if depth >= MAX_TUPLE_NESTING:
        raise DecodeError(f"tuples nested more than {MAX_TUPLE_NESTING} levels deep")
    _depth.unpacking = depth + 1
    try:
        items = _unpack(data, getattr(_depth, "limits", DEFAULT_LIMITS))
    finally:
        _depth.unpacking = depth
    if not isinstance(items, list):
        raise ValueError(f"tuple payload is a {type(items).__name__}, not an array")
    return tuple(items)


def _decode_bigint(data: bytes) -> int:
    """Decode an EXT_BIGINT payload."""
    if not data:
        raise ValueError("empty integer payload")
    return int.from_bytes(data, "big", signed=True)


_EXT_DECODERS: dict[int, Callable[[bytes], Any]] = {
    EXT_DATETIME: _decode_datetime,
    EXT_DATE: _decode_date,
    EXT_UUID: _decode_uuid,
    EXT_DECIMAL: _decode_decimal,
    EXT_TUPLE: _decode_tuple,
    EXT_BIGINT: _decode_bigint,
}


def _unpack(data: bytes, limits: Limits) -> Any:
    """Decode with the Routilux hooks under ``limits``; raw msgpack/hook errors propagate."""
    # msgpack allocates an array or map as soon as it reads its header: an item
    # takes at least a byte, so no header may claim more than the data holds.
    size = len(data)
    strings, items = min(limits.max_str_bytes, size), min(limits.max_items, size)
    # timestamp=3: msgpack's own Timestamp ext (-1), if a foreign producer sent
    # one, becomes a tz-aware UTC datetime rather than a msgpack.Timestamp.
    return msgpack.unpackb(
        data, ext_hook=_ext_hook, raw=False, use_list=True, strict_map_key=False, timestamp=3,
        max_str_len=strings, max_bin_len=strings, max_ext_len=strings, max_array_len=items, max_map_len=items,
    )


def unpackb(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decode msgpack bytes made by :func:`packb`; raise DecodeError for anything malformed.

    Raises:
        LimitExceededError: the data is over one of ``limits`` (size, depth,
            string length, items); nothing beyond the limit is allocated.
        DecodeError: the data is not Routilux msgpack.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(f"expected bytes to decode, got {type(data).__name__}")
    if len(data) > limits.max_bytes:
        raise LimitExceededError(f"{len(data)} bytes to decode is over the limit of {limits.max_bytes}")
    outer = getattr(_depth, "limits", None)
    _depth.limits = limits
    try:
        value = _unpack(data, limits)
    except DecodeError:
        raise
    except (RecursionError, msgpack.exceptions.StackError) as exc:
        raise LimitExceededError("msgpack data is nested too deeply to decode") from exc
    except Exception as exc:  # noqa: BLE001 - never let a raw msgpack error escape
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        kind = LimitExceededError if "exceeds max_" in str(exc) else DecodeError
        raise kind(f"invalid msgpack data ({detail})") from exc
    finally:
        _depth.limits = outer
    # Lengths and item counts were capped by the decoder; depth is checked here
    # (each level takes at least a byte, so short data cannot be too deep).
    if len(data) > limits.max_depth and nested_deeper_than(value, limits.max_depth):
        raise LimitExceededError(f"decoded data is nested more than {limits.max_depth} levels deep")
    return value


# --------------------------------------------------------------------------- canonical form


def canonical_packb(obj: Any, *, root: str = "value") -> bytes:
    """Encode ``obj`` deterministically (map keys sorted at every level) for hashing."""
    try:
        return _pack(_canonical(obj))
    except Exception as exc:  # noqa: BLE001 - every failure becomes an EncodeError
        raise _encode_error(obj, root, exc) from exc


def content_hash(obj: Any) -> str:
    """SHA-256 hex digest of :func:`canonical_packb` of ``obj``."""
    return hashlib.sha256(canonical_packb(obj)).hexdigest()


def _canonical(obj: Any) -> Any:
    """Copy ``obj`` with every dict rebuilt in sorted key order (other values as they are)."""
    if isinstance(obj, dict):
        items = [(_canonical(k), _canonical(v)) for k, v in obj.items()]
        items.sort(key=_sort_key_for(items))
        return dict(items)
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_canonical(v) for v in obj)
    return obj


def _sort_key_for(items: list[tuple[Any, Any]]) -> Callable[[tuple[Any, Any]], Any]:
    """Pick a total order for these keys: text order if all are str, else their encoded bytes."""
    if all(type(k) is str for k, _ in items):
        return _first
    # Encoded bytes order any mix of key types (int, str, tuple...) and are
    # themselves deterministic, since keys were already made canonical.
    return _packed_first


def _first(item: tuple[Any, Any]) -> Any:
    """Sort key: the map key itself."""
    return item[0]


def _packed_first(item: tuple[Any, Any]) -> bytes:
    """Sort key: the map key's encoded bytes."""
    return _pack(item[0])


# --------------------------------------------------------------------------- error reporting


def _encode_error(obj: Any, root: str, exc: BaseException) -> EncodeError:
    """Build an EncodeError naming what could not be encoded and where (walks ``obj``)."""
    problem = _find_problem(obj, root)
    if problem is not None:
        return EncodeError(problem)
    if isinstance(exc, _TuplesTooDeep):
        return EncodeError(f"cannot encode {root}: {exc}")
    if isinstance(exc, RecursionError) or "recursion limit" in str(exc):
        return EncodeError(f"cannot encode {root}: it is nested too deeply")
    return EncodeError(f"cannot encode {root}: {type(exc).__name__}: {exc}")


# One step of the error walk: a child value, its path suffix (``[2]``,
# ``['items']``) and whether it is a dict key rather than a value.
_Child = tuple[Any, str, bool]
_Frame = tuple[int, str, Iterator[_Child]]  # container id, its path suffix, its children


def _find_problem(obj: Any, root: str) -> str | None:
    """Describe the first part of ``obj`` the encoder rejects, or None if none is found."""
    # Iterative depth-first walk in encoding order, so arbitrarily deep data
    # cannot hit Python's recursion limit. Only path suffixes are kept on the
    # stack; the full path is joined once, for the culprit.
    active: set[int] = set()
    stack: list[_Frame] = []
    part = ""
    describe = _visit(obj, part, False, active, stack)
    while describe is None and stack:
        container_id, _, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            active.discard(container_id)
            continue
        obj, part, is_key = child
        describe = _visit(obj, part, is_key, active, stack)
    if describe is None:
        return None
    return describe(root + "".join(suffix for _, suffix, _ in stack) + part)


def _visit(
    obj: Any, part: str, is_key: bool, active: set[int], stack: list[_Frame]
) -> Callable[[str], str] | None:
    """Check one node; push containers so their children come next; on failure return a describer."""
    if isinstance(obj, (dict, list, tuple)):
        kind = type(obj).__name__
        if id(obj) in active:
            return lambda path: f"cannot encode {kind} at {path}: it contains itself"
        active.add(id(obj))
        # Items of a tuple used as a dict key get paths like "x key (1, 2)[1]".
        suffix = f"{part} key {_short_repr(obj)}" if is_key else part
        stack.append((id(obj), suffix, _children(obj)))
        return None
    reason = _leaf_problem(obj)
    if reason is None:
        return None
    what, hint = reason
    if is_key:
        return lambda path: f"cannot encode dict key {what} in {path}{hint}"
    return lambda path: f"cannot encode value {what} at {path}{hint}"


def _children(obj: dict | list | tuple) -> Iterator[_Child]:
    """Yield (child, its path suffix, is it a dict key) for each child of a container."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield key, "", True
            yield value, f"[{_short_repr(key)}]", False
    else:
        for index, value in enumerate(obj):
            yield value, f"[{index}]", False


def _leaf_problem(obj: Any) -> tuple[str, str] | None:
    """Say why a non-container value cannot be encoded (reason, hint), or None if it can."""
    if obj is None or isinstance(obj, (bool, int, float, bytes, bytearray, memoryview)):
        return None
    if isinstance(obj, (_dt.date, uuid.UUID, Decimal)):
        return None
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"of type 'str' with a character UTF-8 cannot encode ({exc.reason})", ""
        return None
    return f"of type {_type_name(obj)!r}", f" (supported: {_SUPPORTED})"


def _type_name(obj: Any) -> str:
    """The value's type name as written in code (``Foo``, ``Outer.Inner``)."""
    return type(obj).__qualname__


def _short_repr(key: Any) -> str:
    """repr() of a dict key, shortened so error messages stay readable."""
    text = repr(key)
    return text if len(text) <= 60 else text[:57] + "..."
