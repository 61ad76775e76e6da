"""Size and shape limits on encoded data: total bytes, nesting depth, string length, items.

Everything the distributed engine decodes from Redis or the broker is decoded
under a :class:`Limits`, so a hostile or broken message is a clear error instead
of a crash or an unbounded allocation. Values a handler writes or emits are
checked against the same limits before they are committed (with
:data:`WRAPPING_DEPTH` levels of headroom for the envelope around them), so the
engine never stores data it would later refuse to read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = ["Limits", "DEFAULT_LIMITS", "WRAPPING_DEPTH", "nested_deeper_than", "shape_problem"]

MIB = 1024 * 1024
# Levels of Routilux's own structure (envelope, cause, delta, op) around a user value.
WRAPPING_DEPTH = 8
# msgpack's decoder stops at 1024 levels; Python's recursion limit is about 1000.
MAX_DEPTH_LIMIT = 512


@dataclass(frozen=True)
class Limits:
    """Bounds on one encoded blob.

    Attributes:
        max_bytes: size of the whole encoded blob.
        max_depth: nesting of maps, arrays and tuples (the top level counts as 1).
        max_str_bytes: length in bytes of one string, binary or ext payload.
        max_items: entries of one array or map.
    """

    max_bytes: int = 8 * MIB
    max_depth: int = 128
    max_str_bytes: int = 8 * MIB
    max_items: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_depth", "max_str_bytes", "max_items"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not WRAPPING_DEPTH < self.max_depth <= MAX_DEPTH_LIMIT:
            raise ValueError(f"max_depth must be above {WRAPPING_DEPTH} and at most {MAX_DEPTH_LIMIT}")

    def for_values(self) -> Limits:
        """The limits for one value a handler writes or emits (room left for the envelope)."""
        return replace(self, max_depth=self.max_depth - WRAPPING_DEPTH)


DEFAULT_LIMITS = Limits()

_CONTAINERS = (dict, list, tuple)
_STRINGS = (str, bytes, bytearray, memoryview)
_EXACT_CONTAINERS = frozenset(_CONTAINERS)


def nested_deeper_than(obj: Any, max_depth: int) -> bool:
    """True if maps, arrays and tuples in decoded data ``obj`` nest more than ``max_depth`` levels.

    For data fresh from the decoder (exact built-in types only); it visits
    containers alone and stops at the first one too deep, so it costs a
    fraction of decoding. Recursion is bounded by ``max_depth`` (at most
    :data:`MAX_DEPTH_LIMIT`).
    """
    return type(obj) in _EXACT_CONTAINERS and _deeper(obj, max_depth)


def _deeper(node: Any, budget: int) -> bool:
    if budget == 0:
        return True
    budget -= 1
    containers = _EXACT_CONTAINERS
    if type(node) is dict:
        for key, value in node.items():
            if type(value) in containers and _deeper(value, budget):
                return True
            if type(key) is tuple and _deeper(key, budget):
                return True
        return False
    for value in node:
        if type(value) in containers and _deeper(value, budget):
            return True
    return False


def shape_problem(obj: Any, limits: Limits) -> str | None:
    """Say how ``obj`` breaks the depth, item or string limits, or return None if it does not.

    Used before encoding (values may be subclasses of the built-in types). One
    pass per nesting level, so arbitrarily deep data cannot exhaust the stack;
    a container that contains itself is reported as too deep.
    """
    max_depth, max_items, max_str = limits.max_depth, limits.max_items, limits.max_str_bytes
    level = [obj]
    depth = 0
    while level:
        depth += 1
        deeper: list[Any] = []
        for node in level:
            if isinstance(node, _CONTAINERS):
                if depth > max_depth:
                    return f"it is nested more than {max_depth} levels deep"
                if len(node) > max_items:
                    return f"a {type(node).__name__} has {len(node)} items, over the limit of {max_items}"
                deeper += [x for kv in node.items() for x in kv] if isinstance(node, dict) else node
            elif isinstance(node, _STRINGS) and len(node) > max_str // 4:
                problem = _string_problem(node, max_str)
                if problem:
                    return problem
        level = [x for x in deeper if isinstance(x, _CONTAINERS) or isinstance(x, _STRINGS)]
    return None


def _string_problem(value: Any, max_len: int) -> str | None:
    """Say how a string or bytes value is over ``max_len`` bytes, or None."""
    size = len(value)
    # A str's UTF-8 form is at most 4 bytes per character: only encode the long ones.
    if isinstance(value, str) and size <= max_len:
        size = len(value.encode("utf-8", "surrogatepass"))
    if size > max_len:
        kind = "string" if isinstance(value, str) else "binary value"
        return f"a {kind} of {size} bytes is over the limit of {max_len}"
    return None
