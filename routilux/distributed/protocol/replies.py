"""The replies of the Lua scripts, parsed into named tuples (see each script's ``Returns`` comment).

Redis answers a script with a list of bytes; :func:`text` turns one into str.
Each ``parse`` reads the list a script returns for each of its outcomes.
"""

from __future__ import annotations

from typing import Any, NamedTuple


def text(value: Any) -> str:
    """A Redis reply as text (replies come as bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _at(raw: list[Any], i: int) -> str:
    return text(raw[i]) if len(raw) > i else ""


def _ids(raw: list[Any], i: int) -> list[str]:
    return [text(x) for x in raw[i]] if len(raw) > i else []


class SubmitReply(NamedTuple):
    """lua/submit.lua: ``ok`` (the root's outbox score), ``exists``, or ``same`` (the job its idempotency key names)."""

    OUTCOMES = frozenset(("ok", "exists", "same"))  # what the script may answer first (a test reads the script)

    outcome: str
    outbox_score: str = ""
    same_job: str = ""

    @classmethod
    def parse(cls, raw: list[Any]) -> SubmitReply:
        """Read the script's reply."""
        outcome = text(raw[0])
        if outcome == "same":
            return cls(outcome, same_job=text(raw[1]))
        return cls(outcome, _at(raw, 1))


class PostReply(NamedTuple):
    """lua/post.lua: ``ok`` (the job's status, the post's outbox score) or ``duplicate``, ``late``, ``ended``,
    ``unknown``."""

    OUTCOMES = frozenset(("ok", "duplicate", "late", "ended", "unknown"))  # what the script may answer first (a test reads the script)

    outcome: str
    status: str
    outbox_score: str

    @classmethod
    def parse(cls, raw: list[Any]) -> PostReply:
        """Read the script's reply."""
        return cls(text(raw[0]), _at(raw, 1), _at(raw, 2))


class ClaimReply(NamedTuple):
    """lua/claim.lua: ``ok`` (the lease and what the step needs) or why not.

    ``detail`` is the job status of ``dropped`` and the last error of ``dead``.
    """

    OUTCOMES = frozenset(("ok", "applied", "unknown", "parked", "dropped", "busy", "wait", "dead"))  # what the script may answer first (a test reads the script)

    outcome: str          # ok | applied | unknown | parked | dropped | busy | wait | dead
    token: str = ""
    body: bytes = b""
    buffer: bytes = b""   # the slot's buffer (msgpack) when merges are serialized, else b""
    flow_id: str = ""
    current_routine_id: str = ""
    tries: int = 0
    detail: str = ""

    @classmethod
    def parse(cls, raw: list[Any]) -> ClaimReply:
        """Read the script's reply."""
        outcome = text(raw[0])
        if outcome != "ok":
            return cls(outcome, detail=_at(raw, 1))
        return cls(outcome, text(raw[1]), raw[2], raw[3], text(raw[4]), text(raw[5]), int(raw[6]))


class CommitReply(NamedTuple):
    """lua/commit.lua: ``ok`` and what to send next, or why nothing was applied."""

    OUTCOMES = frozenset(("ok", "duplicate", "stale", "dropped", "conflict", "parked"))  # what the script may answer first (a test reads the script)

    outcome: str          # ok | duplicate | stale | dropped | conflict | parked
    status: str = ""      # the job's status after it (ok, dropped, parked)
    waiter: str = ""      # the next activation waiting for the slot lock released (ok, dropped, parked)
    outbox_score: str = ""
    dispatch: tuple[str, ...] = ()   # child ids to send now
    inline_token: str = ""           # the lease of the inline child, leased to this worker

    @classmethod
    def parse(cls, raw: list[Any]) -> CommitReply:
        """Read the script's reply."""
        return cls(text(raw[0]), _at(raw, 1), _at(raw, 2), _at(raw, 3), tuple(_ids(raw, 4)), _at(raw, 5))


class StatusReply(NamedTuple):
    """lua/pause.lua (``ok`` | ``not-running``) and lua/cancel.lua (``ok`` | ``unknown`` | ``final``)."""

    OUTCOMES = frozenset(("ok", "not-running", "unknown", "final"))  # what the script may answer first (a test reads the script)

    outcome: str
    status: str = ""      # the job's status when refused

    @classmethod
    def parse(cls, raw: list[Any]) -> StatusReply:
        """Read the script's reply."""
        return cls(text(raw[0]), _at(raw, 1))


class ReleaseReply(NamedTuple):
    """lua/resume.lua and lua/replay.lua: ``ok`` and what to send, or why not.

    resume refuses with ``not-paused`` (``status``); replay with ``gone``,
    ``unknown`` or ``refused`` (the reason in ``status``).
    """

    OUTCOMES = frozenset(("ok", "not-paused", "gone", "unknown", "refused"))  # what the script may answer first (a test reads the script)

    outcome: str
    status: str = ""
    outbox_score: str = ""
    dispatch: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: list[Any]) -> ReleaseReply:
        """Read the script's reply."""
        return cls(text(raw[0]), _at(raw, 1), _at(raw, 2), tuple(_ids(raw, 3)))


class SweepReply(NamedTuple):
    """lua/expire.lua and lua/redue.lua: ``dispatch`` (with the stored body to send) or why not."""

    OUTCOMES = frozenset(("dispatch", "live", "gone", "parked", "not-due"))  # what the script may answer first (a test reads the script)

    outcome: str          # dispatch | live | gone | parked | not-due
    body: bytes | None = None

    @classmethod
    def parse(cls, raw: list[Any]) -> SweepReply:
        """Read the script's reply."""
        outcome = text(raw[0])
        return cls(outcome, raw[1] if outcome == "dispatch" and len(raw) > 1 else None)


# The reply each script answers with, by script name (scripts not named here answer a plain number or text).
REPLIES: dict[str, type] = {
    "submit": SubmitReply, "post": PostReply, "claim": ClaimReply, "commit": CommitReply,
    "pause": StatusReply, "cancel": StatusReply, "resume": ReleaseReply, "replay": ReleaseReply,
    "expire": SweepReply, "redue": SweepReply,
}
