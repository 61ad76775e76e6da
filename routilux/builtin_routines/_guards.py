"""The safe evaluator's limits, and the operators and builtins it may use (methods: ``_methods``).

Every operation that can make a value grow (``**``, ``*``, ``<<``, ``+``,
``str.join``, ``str.replace``, padding, ``range``) checks the size of its result
*before* computing it, so a condition never allocates or computes more than
these bounds allow. Anything not listed here is refused.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import MappingView
from typing import Any, Callable, Iterable

from routilux.errors import ExpressionLimitError, UnsafeExpressionError

MAX_SOURCE_CHARS = 2000  # length of an expression's text
MAX_NODES = 300  # syntax tree nodes in one expression
MAX_DEPTH = 40  # nesting of the syntax tree
MAX_STEPS = 20_000  # nodes evaluated plus comprehension iterations, per evaluation
MAX_WORK = 500_000  # work units (items visited, machine words, 8 characters) per evaluation
MAX_SIZE = 100_000  # items or characters of any str, list, tuple, set or dict an expression builds
MAX_INT_BITS = 4096  # bits of any integer an expression computes (about 1200 digits)
MAX_INT_DIGITS = 1300  # digits of a string int() may parse
MAX_ROUND_DIGITS = 400  # |ndigits| of round()


def too_big(what: str, size: int, limit: int) -> ExpressionLimitError:
    """The error for a result over a bound."""
    return ExpressionLimitError(f"{what} would be {size:,} over the limit of {limit:,} in a condition")


_CONTAINERS = (list, tuple, set, frozenset)


def cost(value: Any) -> int:
    """Work units to build or visit ``value`` itself (not what it contains)."""
    if isinstance(value, int):
        return 1 + abs(value).bit_length() // 64
    if isinstance(value, (str, bytes)):
        return 1 + len(value) // 8
    if isinstance(value, (list, tuple, set, frozenset, dict, MappingView)):
        return 1 + len(value)
    return 1


def weigh(value: Any, limit: int) -> int:
    """Work units to visit ``value`` and everything inside it, counting shared parts each time.

    Stops counting past ``limit`` (so weighing never costs more than the limit):
    comparing, hashing or printing a structure costs about its weight, and a
    structure built by repetition can weigh far more than its size in memory.
    """
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        total += cost(item)
        if total > limit:
            return total
        parts = (item.keys(), item.values()) if isinstance(item, dict) else (item,) if isinstance(item, _CONTAINERS) else ()
        if isinstance(item, MappingView):
            parts = (list(item),)  # a dict's keys, values or items, compared or hashed like a list
        for part in parts:
            flat = _flat_cost(part)
            if flat is None:
                stack.extend(part)
            else:
                total += flat
    return total


def _flat_cost(items: Any) -> int | None:
    """The cost of a collection of plain numbers or strings, counted at C speed; None for others."""
    kinds = set(map(type, items))
    if kinds <= {float, type(None)}:
        return 0
    if kinds <= {int, bool}:
        return sum(map(int.bit_length, items)) >> 6
    if kinds == {str}:
        return sum(map(len, items)) >> 3
    return None


def sized(value: Any) -> bool:
    return isinstance(value, (str, bytes, list, tuple, dict, set, frozenset))


def _check_int(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise too_big(f"the integer result of {what} (in bits)", bits, MAX_INT_BITS)


def check_size(size: int, what: str) -> None:
    if size > MAX_SIZE:
        raise too_big(f"the result of {what} (in items)", size, MAX_SIZE)


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def safe_pow(a: Any, b: Any) -> Any:
    """``a ** b`` for ints only when the result fits MAX_INT_BITS; floats overflow on their own."""
    if _is_int(a) and _is_int(b) and b > 0 and abs(a) > 1:
        if b > MAX_INT_BITS:  # checked first: b * bit_length must stay cheap
            raise too_big("the exponent of **", b, MAX_INT_BITS)
        _check_int((abs(a).bit_length() - 1) * b, "**")
    return a**b


def safe_mult(a: Any, b: Any) -> Any:
    """``a * b``: integers bounded in bits, repeated sequences bounded in length."""
    if _is_int(a) and _is_int(b):
        _check_int(abs(a).bit_length() + abs(b).bit_length(), "*")
    elif _is_int(b) and sized(a):
        check_size(len(a) * max(b, 0), "repeating a sequence with *")
    elif _is_int(a) and sized(b):
        check_size(len(b) * max(a, 0), "repeating a sequence with *")
    return a * b


def safe_lshift(a: Any, b: Any) -> Any:
    """``a << b`` only when the result fits MAX_INT_BITS."""
    if _is_int(a) and _is_int(b) and a and b > 0:
        if b > MAX_INT_BITS:
            raise too_big("the shift of <<", b, MAX_INT_BITS)
        _check_int(abs(a).bit_length() + b, "<<")
    return a << b


def _combining(op: Callable[[Any, Any], Any], symbol: str) -> Callable[[Any, Any], Any]:
    """An operator whose result is at most as big as both operands together (+, |, ^, &)."""

    def combine(a: Any, b: Any) -> Any:
        if sized(a) and sized(b):
            check_size(len(a) + len(b), symbol)
        return op(a, b)

    return combine


def safe_mod(a: Any, b: Any) -> Any:
    """``a % b`` for numbers; ``%`` string formatting is refused (its widths allocate at will)."""
    if isinstance(a, (str, bytes)):
        raise UnsafeExpressionError("string formatting with % is not allowed in a condition")
    return a % b


BIN_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: _combining(operator.add, "+"),
    ast.Sub: operator.sub,
    ast.Mult: safe_mult,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: safe_mod,
    ast.Pow: safe_pow,
    ast.LShift: safe_lshift,
    ast.RShift: operator.rshift,
    ast.BitOr: _combining(operator.or_, "|"),
    ast.BitXor: _combining(operator.xor, "^"),
    ast.BitAnd: _combining(operator.and_, "&"),
}
UNARY_OPS: dict[type, Callable[[Any], Any]] = {
    ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert,
}  # fmt: skip
COMPARE_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}  # fmt: skip


# -- builtins --------------------------------------------------------------------
def safe_range(*args: int) -> range:
    """``range`` of at most MAX_SIZE numbers."""
    result = range(*args)
    check_size(len(result), "range()")
    return result


def safe_int(value: Any = 0, *base: int) -> int:
    """``int()``; a string of more than MAX_INT_DIGITS characters is refused."""
    if isinstance(value, (str, bytes)) and len(value) > MAX_INT_DIGITS:
        raise too_big("the text given to int() (in characters)", len(value), MAX_INT_DIGITS)
    return int(value, *base)


def safe_round(number: Any, ndigits: int | None = None) -> Any:
    """``round()`` with ``|ndigits|`` bounded (a huge negative one means a huge power of ten)."""
    if ndigits is not None and _is_int(ndigits) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise too_big("ndigits of round()", abs(ndigits), MAX_ROUND_DIGITS)
    return round(number, ndigits)


def safe_sum(iterable: Iterable[Any], start: Any = 0) -> Any:
    """``sum()`` of numbers only (summing sequences would concatenate without bound)."""
    if not isinstance(start, (int, float)):
        raise UnsafeExpressionError("sum() takes numbers only in a condition")
    total = start
    for item in iterable:
        if not isinstance(item, (int, float)):
            raise TypeError(f"sum() in a condition adds numbers, not {type(item).__name__}")
        total = total + item
        if _is_int(total):
            _check_int(total.bit_length(), "sum()")
    return total


def _keyed(func: Callable[..., Any]) -> Callable[..., Any]:
    """``sorted``/``min``/``max`` whose ``key`` may only be one of the safe builtins."""

    def call(*args: Any, **kwargs: Any) -> Any:
        key = kwargs.get("key")
        if key is not None and not any(key is f for f in SAFE_NAMES.values()):
            raise UnsafeExpressionError(f"{func.__name__}(key=...) takes only a builtin such as len or abs")
        return func(*args, **kwargs)

    return call


# Names an expression may use; calling a name runs CALLS.get(value, value).
SAFE_NAMES: dict[str, Any] = {
    "len": len, "isinstance": isinstance, "str": str, "int": int, "float": float, "bool": bool,
    "dict": dict, "list": list, "tuple": tuple, "set": set, "frozenset": frozenset, "min": min,
    "max": max, "abs": abs, "any": any, "all": all, "sum": sum, "round": round, "sorted": sorted,
    "range": range, "enumerate": enumerate, "zip": zip, "reversed": reversed,
}  # fmt: skip
# Builtins whose cost does not grow with their arguments' contents: no weighing.
CONSTANT_TIME = frozenset({len, isinstance, bool, range, enumerate, zip, reversed})
# Builtins that compare or hash the items of what they are given.
COMPARES_ITEMS = frozenset({sorted, min, max, set, frozenset, dict})
CALLS: dict[Any, Callable[..., Any]] = {
    int: safe_int, round: safe_round, sum: safe_sum, range: safe_range,
    sorted: _keyed(sorted), min: _keyed(min), max: _keyed(max),
}  # fmt: skip
