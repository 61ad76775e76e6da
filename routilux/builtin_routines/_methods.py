"""The methods a condition expression may call: non-mutating ones of str, mappings, sequences and sets.

Each is taken from the builtin type, never looked up on the object, and the
ones that can build large strings (join, replace, padding) check the size of
their result first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable, Iterable

from routilux.builtin_routines import _guards as g
from routilux.builtin_routines._guards import check_size, sized
from routilux.errors import UnsafeExpressionError


def _join(sep: str, items: Iterable[Any]) -> str:
    parts = list(items)
    check_size(sum(len(p) for p in parts if isinstance(p, str)) + len(sep) * len(parts), "str.join()")
    return sep.join(parts)


def _replace(text: str, old: str, new: str, count: int = -1) -> str:
    hits = len(text) + 1 if not old else text.count(old)
    if count >= 0:
        hits = min(hits, count)
    check_size(len(text) + hits * (len(new) - len(old)), "str.replace()")
    return text.replace(old, new, count)


def _padding(name: str) -> Callable[..., str]:
    method = getattr(str, name)

    def pad(text: str, width: int, *fill: str) -> str:
        check_size(width, f"str.{name}()")
        return method(text, width, *fill)

    return pad


_STR_PLAIN = (
    "lower upper strip lstrip rstrip startswith endswith split rsplit splitlines find rfind index rindex "
    "count isdigit isalpha isalnum isspace islower isupper isnumeric isdecimal istitle title capitalize "
    "casefold swapcase partition rpartition removeprefix removesuffix"
).split()
STR_METHODS: dict[str, Callable[..., Any]] = {name: getattr(str, name) for name in _STR_PLAIN}
STR_METHODS.update({"join": _join, "replace": _replace, **{n: _padding(n) for n in ("zfill", "center", "ljust", "rjust")}})
MAPPING_METHODS = ("get", "keys", "values", "items")
SEQUENCE_METHODS = ("index", "count")
SET_METHODS = ("union", "intersection", "difference", "symmetric_difference", "issubset", "issuperset", "isdisjoint")
METHOD_NAMES = frozenset(STR_METHODS) | set(MAPPING_METHODS) | set(SEQUENCE_METHODS) | set(SET_METHODS)


def _set_method(name: str, obj: Any) -> Callable[..., Any]:
    method = getattr(set if isinstance(obj, set) else frozenset, name)

    def call(*others: Any) -> Any:
        if name in ("union", "symmetric_difference"):
            check_size(len(obj) + sum(len(o) if sized(o) else g.MAX_SIZE + 1 for o in others), f"set.{name}()")
        return method(obj, *others)

    return call


def method_of(obj: Any, name: str) -> Callable[..., Any]:
    """Return the whitelisted method ``name`` bound to ``obj``; refuse any other.

    The method is taken from the builtin type, never from ``obj`` itself, so a
    subclass in the data cannot substitute its own code.
    """
    if isinstance(obj, str) and name in STR_METHODS:
        return lambda *args: STR_METHODS[name](obj, *args)
    if isinstance(obj, dict) and name in MAPPING_METHODS:
        return getattr(dict, name).__get__(obj)
    if isinstance(obj, Mapping) and name in MAPPING_METHODS:
        return getattr(Mapping, name).__get__(obj)
    if isinstance(obj, (list, tuple)) and name in SEQUENCE_METHODS:
        return getattr(list if isinstance(obj, list) else tuple, name).__get__(obj)
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)) and name in SEQUENCE_METHODS:
        return getattr(Sequence, name).__get__(obj)
    if isinstance(obj, (set, frozenset)) and name in SET_METHODS:
        return _set_method(name, obj)
    raise UnsafeExpressionError(f"method {name!r} of {type(obj).__name__} is not allowed in a condition")


def check_subscriptable(obj: Any) -> None:
    """Refuse ``obj[...]`` unless ``obj`` is a mapping or a sequence."""
    if not isinstance(obj, (Mapping, Sequence)):
        raise UnsafeExpressionError(f"indexing a {type(obj).__name__} is not allowed in a condition")
