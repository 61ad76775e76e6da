"""Every Redis key name Routilux uses, built here and nowhere else.

Per-job keys share the hash tag ``{job_id}`` so that one job's keys live in one
slot; the scripts that touch the global indexes (due, leases, dead letters) are
why Redis Cluster is not supported.
"""

from __future__ import annotations

from dataclasses import dataclass

FIELD_SEP = "\x1f"


def slot_field(routine_id: str, slot: str) -> str:
    """Hash field naming one slot of a job (its buffer, its lock, its waiters)."""
    return f"{routine_id}{FIELD_SEP}{slot}"


def split_slot_field(field: str) -> tuple[str, str]:
    """Return (routine id, slot) of a :func:`slot_field`."""
    routine_id, slot = field.split(FIELD_SEP, 1)
    return routine_id, slot


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix."""

    prefix: str = "routilux"

    # -- global ----------------------------------------------------------
    def flow(self, flow_hash: str) -> str:
        """Published flow structure (msgpack), by content hash; immutable."""
        return f"{self.prefix}:flow:{flow_hash}"

    def flow_latest(self, flow_id: str) -> str:
        """The content hash most recently published for a flow id."""
        return f"{self.prefix}:flowid:{flow_id}"

    @property
    def jobs(self) -> str:
        """ZSET of job ids by creation time."""
        return f"{self.prefix}:jobs"

    @property
    def due(self) -> str:
        """ZSET of "job|activation" to (re)dispatch at its score (outbox, queue backstop, retry timers)."""
        return f"{self.prefix}:due"

    @property
    def deadlines(self) -> str:
        """ZSET of running job ids scored by their deadline (ms); the sweeper times them out."""
        return f"{self.prefix}:deadlines"

    @property
    def expiries(self) -> str:
        """ZSET of ended job ids scored by when their keys expire; the sweeper trims ``jobs`` by it."""
        return f"{self.prefix}:expiries"

    @property
    def leases(self) -> str:
        """ZSET of "job|activation" being run, scored by lease expiry."""
        return f"{self.prefix}:leases"

    @property
    def dead(self) -> str:
        """Stream of dead letters: activations given up on, and malformed messages."""
        return f"{self.prefix}:dead"

    @property
    def redis_run(self) -> str:
        """The run id of the Redis server the sweeper last saw (another one: Redis restarted)."""
        return f"{self.prefix}:redisrun"

    @property
    def events(self) -> str:
        """Capped stream of every job's status changes (written by the scripts that change them)."""
        return f"{self.prefix}:events"

    def flow_versions(self, flow_id: str) -> str:
        """ZSET of the content hashes published for a flow id, by first publication time (ms)."""
        return f"{self.prefix}:flowversions:{flow_id}"

    @property
    def flow_ids_pattern(self) -> str:
        """Pattern matching every flow id's latest-hash key."""
        return f"{self.prefix}:flowid:*"

    def running(self, worker: str, pid: int) -> str:
        """What one worker process runs now (expires unless renewed)."""
        return f"{self.prefix}:running:{worker}:{pid}"

    @property
    def running_pattern(self) -> str:
        """Pattern matching every worker process's running record."""
        return f"{self.prefix}:running:*"

    @property
    def sweeper_lock(self) -> str:
        """Short lock so one worker sweeps at a time."""
        return f"{self.prefix}:sweeper"

    def worker(self, name: str) -> str:
        """A worker's liveness record (expires unless renewed)."""
        return f"{self.prefix}:worker:{name}"

    @property
    def workers_known(self) -> str:
        """SET of workers that wrote a liveness record and have not shut down cleanly."""
        return f"{self.prefix}:workersknown"

    @property
    def workers_pattern(self) -> str:
        """Pattern matching every worker liveness record."""
        return f"{self.prefix}:worker:*"

    @property
    def broker_prefix(self) -> str:
        """Prefix kombu puts on the broker's own keys."""
        return f"{self.prefix}:broker:"

    # -- one job ---------------------------------------------------------
    def job(self, job_id: str, part: str) -> str:
        """A part of one job's state: meta, rs, sd, sl, out, de, sb, log, acts, lease, tries, parked, ..."""
        return f"{self.prefix}:job:{{{job_id}}}:{part}"

    def slot_wait(self, job_id: str, slot_key: str) -> str:
        """Activations waiting for a slot whose merges must run one at a time.

        The scripts build the same name from the meta key (``wait_lists`` in
        lua/_common.lua) to delete a finished job's lists: keep the two in step.
        """
        return f"{self.prefix}:job:{{{job_id}}}:wait:{slot_key}"

    def job_parts(self, job_id: str) -> list[str]:
        """Every fixed key of one job, in the order the scripts take them (see lua/README)."""
        return [self.job(job_id, p) for p in JOB_PARTS]


# The order of per-job KEYS passed to every job script.
JOB_PARTS = (
    "meta",      # 1 HASH: status, flow_id, flow_hash, pending, fence, error, ...
    "acts",      # 2 HASH activation id -> envelope (msgpack) of every unfinished activation
    "lease",     # 3 HASH activation id -> fencing token of its current claim
    "tries",     # 4 HASH activation id -> claims so far
    "applied",   # 5 SET of activation ids whose effect is committed
    "parked",    # 6 SET of activation ids held while the job is paused
    "rs",        # 7 HASH routine id -> routine state (msgpack)
    "sd",        # 8 HASH key -> shared data value (msgpack)
    "sl",        # 9 LIST shared log entries
    "out",       # 10 LIST output log entries
    "de",        # 11 LIST deferred events
    "sb",        # 12 HASH "routine\x1fslot" -> slot buffer (msgpack)
    "log",       # 13 STREAM of committed deltas (history records, lifecycle events)
    "slotlock",  # 14 HASH "routine\x1fslot" -> activation id holding it
    "failedrs",  # 15 SET of routine ids whose state says failed
    "settled",   # 16 LIST, non-empty while the job is settled (waiters BLPOP it)
    "lasterr",   # 17 HASH activation id -> last infrastructure error
    "pp",        # 18 LIST pause points (msgpack)
    "ver",       # 19 HASH version of each shared-data key and routine state ("sd:key", "rs:id"; "*sd", "*rs": any)
)
