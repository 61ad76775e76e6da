"""The state-change ops a step records: one definition for both engines, the job history and the Lua scripts.

A step's delta is a list of tuples ``(op, ...)``. The local engine applies them
to its JobState; the distributed engine sends them to the commit script (which
gets these codes as the ``OP_*`` constants of its prelude) and keeps them in the
job's stream, from which history, time travel and fork read them back.
"""

from __future__ import annotations

from enum import StrEnum

from routilux.errors import DecodeError


class Op(StrEnum):
    """A two-letter state-change code; equal to (and hashed like) its code, so plain strings compare too."""

    RS = "rs"    # (rs, routine id, state): a routine's whole state
    SD = "sd"    # (sd, key, value): set one shared-data key
    SI = "si"    # (si, key, number): add to a shared-data number, applied to the value stored at commit
    SA = "sa"    # (sa, key, item): append to a shared-data list, applied to the value stored at commit
    SL = "sl"    # (sl, entry): append to the shared log
    OUT = "o"    # (o, entry): append to the output log
    DE = "de"    # (de, entry): keep a deferred event (emitted on resume)
    SB = "sb"    # (sb, routine id, slot, buffer): a slot's buffer
    H = "h"      # (h, routine id, event, data, timestamp): an execution-history record
    TM = "tm"    # (tm, activation id, delay s): a child held until its delay passes (a timer, a wait's timeout)
    WO = "wo"    # (wo, routine id, slot, wait id, timeout s): a wait for a post to that slot opens
    WC = "wc"    # (wc, routine id, slot, wait id): that wait timed out (a post closes it in the store itself)

    __hash__ = str.__hash__  # a dict keyed by codes finds members, and the reverse

    @property
    def code(self) -> str:
        """The code as a plain str, as sent to Redis and stored in a job's stream (``str.encode`` stays bytes)."""
        return str.__str__(self)  # what str() gives too; faster than the enum's ``value``

    @classmethod
    def decode(cls, code: str | bytes) -> Op:
        """The op of a code read back from Redis.

        Raises:
            DecodeError: ``code`` names no op.
        """
        text = code.decode() if isinstance(code, bytes) else code
        try:
            return cls(text)
        except ValueError:
            raise DecodeError(f"unknown state-change op {text!r}") from None


# Ops that set a value in a versioned dict (the step's reads are checked against them).
VALUE_OPS = frozenset({Op.RS, Op.SD, Op.SI, Op.SA})
# Module names for the step's hot paths: a global is read several times faster than an enum attribute.
RS, SD, SI, SA, SL, OUT, DE, SB, H = Op.RS, Op.SD, Op.SI, Op.SA, Op.SL, Op.OUT, Op.DE, Op.SB, Op.H
