"""What a submit answers, and the rules an idempotency key must follow."""

from __future__ import annotations

from typing import NamedTuple

from routilux.errors import IdempotencyKeyError

# Longest idempotency key accepted: room for an order id or a URL-safe hash, not for a payload.
IDEMPOTENCY_KEY_MAX_CHARS = 256


class Submitted(NamedTuple):
    """The job a submit names, and whether this submit made it (False: its idempotency key already did)."""

    job_id: str
    created: bool


def check_idempotency_key(key: str | None) -> str:
    """The key as given ("" for None), or IdempotencyKeyError if it is empty, not text or too long."""
    if key is None:
        return ""
    if not isinstance(key, str) or not key or len(key) > IDEMPOTENCY_KEY_MAX_CHARS:
        raise IdempotencyKeyError(f"an idempotency key is 1 to {IDEMPOTENCY_KEY_MAX_CHARS} characters of text, "
                                  f"not {key!r:.80}")
    return key
