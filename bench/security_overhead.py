"""What signing and the size/shape limits cost per activation body, side by side with the plain decoder.

    python bench/security_overhead.py [--rounds 20000]

Baseline: decoding an activation body with msgpack and Routilux's ext hooks and
no limits (what workers did before). Measured in the same run: the limited
decoder (length caps plus the depth walk), signature check plus limited decode,
and sealing (encode plus HMAC) against plain encoding. Reported as ratios to
their baselines; absolute microseconds are for orientation only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import timeit
import uuid
from decimal import Decimal
from typing import Any, Callable

import msgpack

from routilux import codec
from routilux.activation import Activation
from routilux.bounds import DEFAULT_LIMITS
from routilux.distributed.protocol.envelope import open_body, seal, to_envelope
from routilux.distributed.protocol.signing import Keyring


def _envelope(items: int) -> dict[str, Any]:
    payload = {"order": {"id": str(uuid.uuid4()), "lines": [{"sku": f"s{k}", "qty": k, "price": Decimal("9.99")}
                                                             for k in range(items)]},
               "at": dt.datetime(2026, 1, 1, 12, 0)}
    act = Activation("job-1", "act-1", "price", "input", payload, source=("source", "out"))
    return to_envelope(act, "f" * 64, {"parent": "act-0", "routine": "source", "delta": [["sd", "n", 1]]})


def _unlimited(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=codec._ext_hook, raw=False, strict_map_key=False, timestamp=3)


def _time(func: Callable[[], Any], rounds: int) -> float:
    """Microseconds per call: the best of 7 batches (the least disturbed by other load)."""
    return min(timeit.repeat(func, number=max(1, rounds // 7), repeat=7)) / max(1, rounds // 7) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20000)
    args = parser.parse_args()
    keys = Keyring.parse("k1:" + "ab" * 32)
    print(f"{'body':>14} {'bytes':>6} {'plain us':>9} {'limited':>8} {'signed+limited':>15} {'seal/pack':>10}")
    for items in (1, 20, 200):
        envelope = _envelope(items)
        plain = codec.packb(envelope)
        sealed = seal(envelope, keys)
        base = _time(lambda: _unlimited(plain), args.rounds)
        limited = _time(lambda: codec.unpackb(plain, DEFAULT_LIMITS), args.rounds)
        opened = _time(lambda: open_body(sealed, keys, DEFAULT_LIMITS), args.rounds)
        pack = _time(lambda: codec.packb(envelope), args.rounds)
        sealing = _time(lambda: seal(envelope, keys), args.rounds)
        print(f"{items:>8} lines {len(plain):>6} {base:>9.1f} {limited / base:>7.2f}x {opened / base:>14.2f}x"
              f" {sealing / pack:>9.2f}x")


if __name__ == "__main__":
    main()
