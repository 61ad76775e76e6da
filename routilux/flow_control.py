"""Concurrency and rate limits of a routine: what they are, and which limit an activation falls under.

A routine's limits live in its config (``concurrency_limit``, ``rate_limit``), so
they travel with the published flow and every worker enforces the same ones. A
limit may be split by a key: an input field's name (``"customer_id"``) or an
expression of the bounded evaluator over the activation's input (``data``), such
as ``"data['customer']['id']"``; each value of the key then has a limit of its own.
Both engines ask this module the same questions; how they enforce the answer is
theirs (a Redis script fleet-wide, a lock in-process).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from routilux.errors import ExpressionError, LimitError

__all__ = ["Limit", "LimitError", "check_job_key", "concurrency_config", "key_value", "limits_of", "parse_rate",
           "rate_config"]

CONCURRENCY = "concurrency_limit"
RATE = "rate_limit"
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")
_PER = {"s": 1.0, "m": 60.0, "h": 3600.0}
# How long a key's text may be in a limit's name.
MAX_KEY_CHARS = 200


@dataclass(frozen=True)
class Limit:
    """One limit of a routine: ``kind`` is ``concurrency`` (``amount`` running at once) or ``rate``
    (``amount`` per second, up to ``burst`` at once)."""

    kind: str
    amount: float
    key: str | None = None
    burst: int = 1
    text: str = ""

    def name(self, flow_id: str, routine_id: str, payload: dict[str, Any]) -> str:
        """The name of the limit an activation with ``payload`` falls under (one per key value)."""
        base = f"{self.kind}:{flow_id}/{routine_id}"
        return base if self.key is None else f"{base}[{key_value(self.key, payload)}]"


def parse_rate(rate: str) -> float:
    """``"10/s"``, ``"600/m"`` or ``"100/h"`` as a number per second.

    Raises:
        LimitError: not of that form, or not positive.
    """
    match = _RATE.match(rate) if isinstance(rate, str) else None
    if match is None:
        raise LimitError(f"a rate limit reads like '10/s', '600/m' or '100/h', not {rate!r}")
    per_s = float(match.group(1)) / _PER[match.group(2)]
    if per_s <= 0:
        raise LimitError(f"a rate limit must be positive, not {rate!r}")
    return per_s


def check_key(key: str | None) -> None:
    """Refuse a key that is neither a field name nor an expression the bounded evaluator accepts."""
    if key is None:
        return
    if not isinstance(key, str) or not key.strip():
        raise LimitError(f"a limit's key is a field name or an expression, not {key!r}")
    if not key.isidentifier():
        from routilux.builtin_routines._expressions import compile_condition

        try:
            compile_condition(key)
        except ExpressionError as exc:
            raise LimitError(f"a limit's key {key!r} is refused: {exc}") from exc


def check_job_key(key: str | None) -> None:
    """Refuse a job concurrency key that is not None or a non-empty text of at most MAX_KEY_CHARS."""
    if key is not None and (not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_CHARS):
        raise LimitError(f"a concurrency key is a non-empty text of at most {MAX_KEY_CHARS} characters, not {key!r}")


def key_value(key: str, payload: dict[str, Any]) -> str:
    """The text of ``key`` for one activation's input: the field's value, or the expression's.

    Raises:
        LimitError: the field is missing, or the expression fails on this input.
    """
    if key.isidentifier():
        if key not in payload:
            raise LimitError(f"the limit's key field {key!r} is not in the activation's input")
        value = payload[key]
    else:
        from routilux.builtin_routines._expressions import evaluate_condition

        try:
            value = evaluate_condition(key, payload, {}, {})
        except Exception as exc:
            raise LimitError(f"the limit's key {key!r} failed on this input: {type(exc).__name__}: {exc}") from exc
    return str(value)[:MAX_KEY_CHARS]


def limits_of(config: dict[str, Any]) -> tuple[Limit, ...]:
    """The limits a routine's config sets (concurrency first), or () for none."""
    found = []
    conc = config.get(CONCURRENCY)
    if conc:
        found.append(Limit("concurrency", int(conc["max"]), conc.get("key"), text=str(conc["max"])))
    rate = config.get(RATE)
    if rate:
        found.append(Limit("rate", parse_rate(rate["rate"]), rate.get("key"), int(rate.get("burst") or 1),
                           rate["rate"]))
    return tuple(found)


def concurrency_config(max_running: int, key: str | None) -> dict[str, Any]:
    """The config value of ``set_concurrency_limit``; raises LimitError if malformed."""
    if isinstance(max_running, bool) or not isinstance(max_running, int) or max_running < 1:
        raise LimitError(f"max_running must be a positive int, not {max_running!r}")
    check_key(key)
    return {"max": max_running, "key": key}


def rate_config(rate: str, key: str | None, burst: int) -> dict[str, Any]:
    """The config value of ``set_rate_limit``; raises LimitError if malformed."""
    parse_rate(rate)
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise LimitError(f"burst must be a positive int, not {burst!r}")
    check_key(key)
    return {"rate": rate, "key": key, "burst": burst}
