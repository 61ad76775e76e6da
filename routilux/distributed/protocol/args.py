"""The arguments of every Lua script, built by name.

Each script's ARGV is one named tuple here: ``ARGV`` names its fixed arguments
in the order the script reads them (the header of ``lua/<script>.lua`` reads
them into locals of these names; a test checks the two agree), and
:func:`to_argv` lays them out, then the variable section (``tail()``), if the
script has one, which it reads from its ``TAIL`` index on.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import chain
from operator import attrgetter
from typing import Any, Callable, ClassVar, NamedTuple, Protocol

Blob = bytes | str  # a msgpack blob, or "" for none


class ScriptArgs(Protocol):
    """The ARGV of one script: fixed arguments by name (``ARGV``), then an optional variable section."""

    ARGV: ClassVar[tuple[str, ...]]
    SCRIPT: ClassVar[str]


@lru_cache(maxsize=None)
def _fixed(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    if len(cls.ARGV) == 1:
        name = cls.ARGV[0]
        return lambda args: (getattr(args, name),)
    return attrgetter(*cls.ARGV)


def to_argv(args: ScriptArgs) -> list[Any]:
    """A script's ARGV, in order: the fixed arguments, then its ``tail()`` if it has one."""
    tail = getattr(args, "tail", None)
    fixed = _fixed(type(args))(args)
    return [*fixed, *tail()] if tail is not None else list(fixed)


def _flat(*sections: tuple[tuple[Any, ...], ...]) -> list[Any]:
    """The tuples of each section, one after the other, as one flat list."""
    return list(chain.from_iterable(chain(*sections)))


class SubmitArgs(NamedTuple):
    """Create a job and its root activation (lua/submit.lua)."""

    SCRIPT = "submit"
    ARGV = ("job", "flow_id", "flow_hash", "entry", "root", "body", "history", "grace_ms", "created",
            "ttl_ok", "ttl_fail", "timeout_ms", "timeout_s", "idem_key", "priority", "tenant", "job_key", "trace")
    job: str
    flow_id: str
    flow_hash: str
    entry: str            # the entry routine id
    root: str             # the root activation id
    body: bytes           # its envelope (signed, if keys are set)
    history: Blob
    grace_ms: int         # outbox grace
    created: str          # created_at, ISO text
    ttl_ok: int           # completed-job retention ms (0: forever)
    ttl_fail: int         # failed-job retention ms (0: forever)
    timeout_ms: int       # job deadline from now (0: none)
    timeout_s: str        # the same in seconds, as text, for the reason
    idem_key: str = ""    # idempotency key ("" for none); its record (keys.Keys.idempotency) follows the job's KEYS
    priority: int | str = ""  # 0..9 ("" at the default: not stored)
    tenant: str = ""          # the job's tenant ("" for none)
    job_key: str = ""         # the job's concurrency key ("" for none)
    trace: str = ""           # the job's trace context, as lane.trace_text gives it ("" for none)


class ClaimArgs(NamedTuple):
    """Take the lease of an activation (lua/claim.lua)."""

    SCRIPT = "claim"
    ARGV = ("job", "act", "lease_ms", "max_attempts", "slot_key", "backstop_ms", "hard_ms", "hard_s")
    job: str
    act: str
    lease_ms: int
    max_attempts: int
    slot_key: str         # "" unless merges into its slot must run one at a time
    backstop_ms: int      # queue backstop of a waiter
    hard_ms: int          # hard time limit (0: none)
    hard_s: str           # the same in seconds, as text ("" for none)


class CommitArgs(NamedTuple):
    """Apply one step's delta (lua/commit.lua); see :func:`routilux.distributed.delta.commit_args`."""

    SCRIPT = "commit"
    ARGV = ("job", "act", "token", "outcome", "slot_key", "grace_ms", "retry_ms", "retry_body", "reason",
            "history", "n_ops", "inline", "lease_ms", "routine", "slot", "raised", "step_ms", "n_reads")
    job: str
    act: str
    token: str            # the fencing token of this worker's claim
    outcome: str          # "ok" | "retry" | "fail"
    slot_key: str         # the slot lock this activation holds ("" for none)
    grace_ms: int         # outbox grace of the children
    retry_ms: int         # retry delay
    retry_body: Blob      # the retried activation's body
    reason: str           # failure reason
    history: Blob         # history records of the step
    inline: str           # the child this worker runs next itself ("" for none)
    lease_ms: int         # the inline child's lease
    routine: str
    slot: str
    raised: str           # "1" if the handler raised, else ""
    step_ms: int          # ms from the handler's start to this commit, as the worker measured it
    reads: tuple[tuple[str, int], ...] = ()             # (version field, version seen) per read
    ops: tuple[tuple[str, str, Blob, str], ...] = ()    # (kind, a, b, c) per op
    children: tuple[tuple[str, bytes], ...] = ()        # (id, body) per child

    @property
    def n_ops(self) -> int:
        """How many ops follow the reads."""
        return len(self.ops)

    @property
    def n_reads(self) -> int:
        """How many reads start the variable section."""
        return len(self.reads)

    def tail(self) -> list[Any]:
        """Reads, then ops, then children, flat."""
        return _flat(self.reads, self.ops, self.children)


class RenewArgs(NamedTuple):
    """Extend a lease (lua/renew.lua)."""

    SCRIPT = "renew"
    ARGV = ("job", "act", "token", "lease_ms")
    job: str
    act: str
    token: str
    lease_ms: int


class AbandonArgs(NamedTuple):
    """End a lease at once, noting why (lua/abandon.lua)."""

    SCRIPT = "abandon"
    ARGV = ("job", "act", "token", "reason")
    job: str
    act: str
    token: str
    reason: str


class BounceArgs(NamedTuple):
    """Hand an activation back for another worker (lua/bounce.lua)."""

    SCRIPT = "bounce"
    ARGV = ("job", "act", "reason", "delay_ms", "max_attempts", "worker", "trace")
    job: str
    act: str
    reason: str
    delay_ms: int
    max_attempts: int
    worker: str
    trace: str = ""  # the handler's stack trace, kept for the dead letter if this was the last attempt


class SweepArgs(NamedTuple):
    """Handle one expired lease (lua/expire.lua) or due activation (lua/redue.lua)."""

    SCRIPT = "expire"
    ARGV = ("job", "act", "backstop_ms")
    job: str
    act: str
    backstop_ms: int


class RedueArgs(SweepArgs):
    """Handle one due activation (lua/redue.lua)."""

    __slots__ = ()
    SCRIPT = "redue"


class MarkArgs(NamedTuple):
    """Move just-dispatched outbox entries to the queue backstop (lua/mark.lua)."""

    SCRIPT = "mark"
    ARGV = ("job", "outbox_score", "backstop_ms")
    job: str
    outbox_score: str     # the score the commit gave them (entries with another were changed since)
    backstop_ms: int
    act_ids: tuple[str, ...] = ()

    def tail(self) -> list[Any]:
        """The dispatched activation ids."""
        return list(self.act_ids)


class PauseArgs(NamedTuple):
    """Pause a running job (lua/pause.lua)."""

    SCRIPT = "pause"
    ARGV = ("reason", "point")
    reason: str
    point: bytes          # the pause point (msgpack)


class ResumeArgs(NamedTuple):
    """Resume a paused job (lua/resume.lua)."""

    SCRIPT = "resume"
    ARGV = ("job", "grace_ms", "n_deferred", "history", "timeout_ms", "timeout_s")
    job: str
    grace_ms: int
    n_deferred: int       # deferred events consumed (trimmed from the job's list)
    history: Blob         # history records of the deferred events
    timeout_ms: int | str  # new deadline from now ("": the job's own; 0: none)
    timeout_s: str
    children: tuple[tuple[str, bytes], ...] = ()  # (id, body) per deferred event's child

    def tail(self) -> list[Any]:
        """(id, body) per child, flat."""
        return _flat(self.children)


class CancelArgs(NamedTuple):
    """Cancel a job for good (lua/cancel.lua)."""

    SCRIPT = "cancel"
    ARGV = ("job", "reason", "state")
    job: str
    reason: str
    state: Blob           # the cancellation's routine state ("" for none)


class TimeoutArgs(NamedTuple):
    """Time out a job past its deadline (lua/timeout.lua)."""

    SCRIPT = "timeout"
    ARGV = ("job",)
    job: str


class DeleteArgs(TimeoutArgs):
    """Delete every key of an ended job (lua/delete.lua)."""

    __slots__ = ()
    SCRIPT = "delete"


class RejectArgs(NamedTuple):
    """Dead-letter a stored activation that cannot be run (lua/reject.lua)."""

    SCRIPT = "reject"
    ARGV = ("job", "act", "reason")
    job: str
    act: str
    reason: str


class RescueArgs(NamedTuple):
    """Make an activation waiting on the queue backstop due now (lua/rescue.lua)."""

    SCRIPT = "rescue"
    ARGV = ("job", "act")
    job: str
    act: str


class ReplayArgs(NamedTuple):
    """Replay a dead letter into its job (lua/replay.lua)."""

    SCRIPT = "replay"
    ARGV = ("job", "act", "dead_id", "grace_ms")
    job: str
    act: str
    dead_id: str          # the entry's id in its bucket's stream
    grace_ms: int


class AdvanceScheduleArgs(NamedTuple):
    """Record a handled schedule tick and move the schedule to its next one (lua/advance_schedule.lua)."""

    SCRIPT = "advance_schedule"
    ARGV = ("id", "tick", "next_tick", "record", "counter", "job", "count")
    id: str               # the schedule id
    tick: int             # the tick handled (ms)
    next_tick: int        # its next tick (ms; 0: the schedule is over)
    record: bytes         # the tick record (msgpack)
    counter: str          # the count to add to: fired, missed, skipped or failed
    job: str              # the tick's job id ("" if none)
    count: int            # how many ticks the record stands for


class AdmitArgs(NamedTuple):
    """Let an activation start under one limit, or park it (lua/admit.lua)."""

    SCRIPT = "admit"
    ARGV = ("name", "holder", "waiter", "limit_type", "amount", "burst", "lease_ms", "spec")
    name: str             # the limit's name
    holder: str           # "job|activation", or a job id for a job's concurrency key
    waiter: str           # "job|activation": what waits for the slot
    limit_type: str       # "concurrency" | "rate"
    amount: float         # slots, or tokens per second (-1: the size set in the index)
    burst: int            # a rate's bucket size
    lease_ms: int         # a slot's lease (renewed with the activation's, or a job's by the sweeper)
    spec: str             # "kind amount burst", kept in the limits index ("" to leave it)


class FreeArgs(NamedTuple):
    """Free a concurrency slot and hand the freed slots to the longest waiters (lua/free.lua)."""

    SCRIPT = "free"
    ARGV = ("name", "holder", "amount", "lease_ms", "per_job")
    name: str             # the limit's name
    holder: str           # "job|activation" or a job id ("" to free only expired holders)
    amount: int           # the limit's slots (-1: the size set in the index)
    lease_ms: int         # the lease each promoted waiter gets
    per_job: str          # "1": a job's concurrency key (the slot goes to the waiter's job)


class AdoptArgs(NamedTuple):
    """A parent job takes on a child job (lua/adopt.lua)."""

    SCRIPT = "adopt"
    ARGV = ("child", "act")
    child: str            # the child's job id
    act: str              # the parent's activation that starts it


class ReleaseChildArgs(NamedTuple):
    """A child job ended and its parent has the post saying so: release it there (lua/release_child.lua)."""

    SCRIPT = "release_child"
    ARGV = ("child",)
    child: str            # the child's job id


class PostArgs(NamedTuple):
    """Post data into a job as one activation of a slot (lua/post.lua)."""

    SCRIPT = "post"
    ARGV = ("job", "act", "body", "field", "history", "grace_ms")
    job: str
    act: str              # the post's activation id (from its post id)
    body: bytes           # its envelope (signed, if keys are set)
    field: str            # the slot's field (keys.slot_field)
    history: Blob         # the post's history record
    grace_ms: int         # outbox grace


# The builder of each script's ARGV, by script name.
BUILDERS: dict[str, type] = {
    cls.SCRIPT: cls for cls in (SubmitArgs, ClaimArgs, CommitArgs, RenewArgs, AbandonArgs, BounceArgs, SweepArgs,
                                RedueArgs, MarkArgs, PauseArgs, ResumeArgs, CancelArgs, TimeoutArgs, DeleteArgs,
                                RejectArgs, RescueArgs, ReplayArgs, AdvanceScheduleArgs, AdmitArgs, FreeArgs, AdoptArgs,
                                ReleaseChildArgs, PostArgs)
}
