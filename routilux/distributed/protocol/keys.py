"""Every Redis key name Routilux uses, built here and nowhere else.

Keys are laid out for Redis Cluster, and the same layout serves a single Redis:

* Every job belongs to one of ``buckets`` buckets (CRC-32 of its id). Its keys
  and its bucket's indexes (due, leases, deadlines, expiries, jobs, dead
  letters, status events) carry the bucket's hash tag ``{N}``, so each script,
  which touches one job and its bucket's indexes, works inside one hash slot.
* Sweepers and listings walk every bucket. With one bucket (the default on a
  single Redis or Sentinel) that is one key per index, as before buckets.
* Flows share the tag ``{flows}``, worker records ``{workers}`` and schedules
  ``{schedules}``: each group is written together in one transaction or script.
* An idempotency key's record is in the key's bucket, and the job made for it is
  given an id in the same bucket, so the submit script holds both.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

FIELD_SEP = "\x1f"
# A dead letter's id names its bucket's stream when there are several: "<stream id>@<bucket>".
DEAD_ID_SEP = "@"


def slot_field(routine_id: str, slot: str) -> str:
    """Hash field naming one slot of a job (its buffer, its lock, its waiters)."""
    return f"{routine_id}{FIELD_SEP}{slot}"


def split_slot_field(field: str) -> tuple[str, str]:
    """Return (routine id, slot) of a :func:`slot_field`."""
    routine_id, slot = field.split(FIELD_SEP, 1)
    return routine_id, slot


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix, with jobs spread over ``buckets`` hash tags."""

    prefix: str = "routilux"
    buckets: int = 1

    def __post_init__(self) -> None:
        if self.buckets < 1:
            raise ValueError("buckets must be at least 1")

    # -- buckets ---------------------------------------------------------
    def bucket_of(self, job_id: str) -> int:
        """The bucket a job's keys and index entries live in (also used for idempotency keys)."""
        return zlib.crc32(job_id.encode("utf-8")) % self.buckets if self.buckets > 1 else 0

    @property
    def all_buckets(self) -> range:
        """Every bucket, for sweepers and listings."""
        return range(self.buckets)

    def _bucket(self, bucket: int, name: str) -> str:
        return f"{self.prefix}:{name}:{{{bucket}}}"

    def due(self, bucket: int) -> str:
        """ZSET of "job|activation" to (re)dispatch at its score (outbox, queue backstop, retry timers)."""
        return self._bucket(bucket, "due")

    def leases(self, bucket: int) -> str:
        """ZSET of "job|activation" being run, scored by lease expiry."""
        return self._bucket(bucket, "leases")

    def deadlines(self, bucket: int) -> str:
        """ZSET of running job ids scored by their deadline (ms); the sweeper times them out."""
        return self._bucket(bucket, "deadlines")

    def expiries(self, bucket: int) -> str:
        """ZSET of ended job ids scored by when their keys expire; the sweeper trims ``jobs`` by it."""
        return self._bucket(bucket, "expiries")

    def jobs(self, bucket: int) -> str:
        """ZSET of job ids by creation time."""
        return self._bucket(bucket, "jobs")

    def dead(self, bucket: int) -> str:
        """Stream of dead letters: activations given up on, and (bucket 0) malformed messages."""
        return self._bucket(bucket, "dead")

    def events(self, bucket: int) -> str:
        """Capped stream of the bucket's jobs' status changes (written by the scripts that change them)."""
        return self._bucket(bucket, "events")

    def dead_id(self, bucket: int, entry_id: str) -> str:
        """The id users see for a dead-letter entry: the stream id, with its bucket when there are several."""
        return entry_id if self.buckets == 1 else f"{entry_id}{DEAD_ID_SEP}{bucket}"

    def split_dead_id(self, dead_id: str) -> tuple[int, str] | None:
        """(bucket, stream id) of a dead-letter id, or None if it cannot be one."""
        entry_id, sep, bucket = dead_id.partition(DEAD_ID_SEP)
        if not sep:
            return (0, entry_id) if self.buckets == 1 else None
        if not bucket.isdigit() or int(bucket) >= self.buckets:
            return None
        return int(bucket), entry_id

    # -- global ----------------------------------------------------------
    def flow(self, flow_hash: str) -> str:
        """Published flow structure (msgpack), by content hash; immutable."""
        return f"{self.prefix}:{{flows}}:flow:{flow_hash}"

    def flow_latest(self, flow_id: str) -> str:
        """The content hash most recently published for a flow id."""
        return f"{self.prefix}:{{flows}}:flowid:{flow_id}"

    def flow_versions(self, flow_id: str) -> str:
        """ZSET of the content hashes published for a flow id, by first publication time (ms)."""
        return f"{self.prefix}:{{flows}}:flowversions:{flow_id}"

    @property
    def flow_ids_pattern(self) -> str:
        """Pattern matching every flow id's latest-hash key."""
        return f"{self.prefix}:{{flows}}:flowid:*"

    @property
    def layout(self) -> str:
        """The bucket count this prefix's data was laid out with (set by the first process, checked by the rest)."""
        return f"{self.prefix}:layout"

    @property
    def redis_run(self) -> str:
        """The run ids of the Redis server(s) the sweeper last saw (others: a Redis restarted)."""
        return f"{self.prefix}:redisrun"

    def running(self, worker: str, pid: int) -> str:
        """What one worker process runs now (expires unless renewed)."""
        return f"{self.prefix}:{{workers}}:running:{worker}:{pid}"

    @property
    def running_pattern(self) -> str:
        """Pattern matching every worker process's running record."""
        return f"{self.prefix}:{{workers}}:running:*"

    @property
    def subflow_parents(self) -> str:
        """SET of job ids that started child jobs not yet all settled (the sweeper checks them)."""
        return f"{self.prefix}:subflow:parents"

    @property
    def sweeper_lock(self) -> str:
        """Short lock so one worker sweeps at a time."""
        return f"{self.prefix}:sweeper"

    def worker(self, name: str) -> str:
        """A worker's liveness record (expires unless renewed)."""
        return f"{self.prefix}:{{workers}}:worker:{name}"

    def worker_counts(self, name: str) -> str:
        """HASH of a worker's activations run so far ("processed") and those whose handler raised ("failed")."""
        return f"{self.prefix}:{{workers}}:counts:{name}"

    @property
    def workers_known(self) -> str:
        """SET of workers that wrote a liveness record and have not shut down cleanly."""
        return f"{self.prefix}:{{workers}}:known"

    @property
    def workers_pattern(self) -> str:
        """Pattern matching every worker liveness record."""
        return f"{self.prefix}:{{workers}}:worker:*"

    def fetched(self, worker: str) -> str:
        """SET of the delivery tags a worker fetched from the Redis broker and has not acknowledged.

        Named relative to :attr:`broker_prefix`: it lives among the broker's keys, and kombu's client adds the prefix.
        """
        return f"routilux-fetched:{worker}"

    @property
    def broker_prefix(self) -> str:
        """Prefix kombu puts on the broker's own keys."""
        return f"{self.prefix}:broker:"

    # -- idempotent submits and schedules --------------------------------
    def idempotency(self, key: str) -> str:
        """STRING: the id of the job a submit with idempotency key ``key`` made.

        It lives in the key's bucket, and the job is given an id in the same bucket,
        so one script sees both (see lua/submit.lua); it expires or goes with the job.
        """
        return f"{self.prefix}:idem:{{{self.bucket_of(key)}}}:{key}"

    def schedule(self, schedule_id: str) -> str:
        """HASH of one schedule: its spec (msgpack), next fire time, state and counts."""
        return f"{self.prefix}:{{schedules}}:schedule:{schedule_id}"

    def schedule_ticks(self, schedule_id: str) -> str:
        """Capped LIST of a schedule's latest ticks (msgpack: tick time, job id or why none was started)."""
        return f"{self.prefix}:{{schedules}}:ticks:{schedule_id}"

    @property
    def schedules_due(self) -> str:
        """ZSET of active schedule ids scored by their next fire time (Redis ms)."""
        return f"{self.prefix}:{{schedules}}:due"

    @property
    def schedule_ids(self) -> str:
        """SET of every schedule id (paused ones included)."""
        return f"{self.prefix}:{{schedules}}:ids"

    @property
    def schedule_lock(self) -> str:
        """Short lock so one worker fires due schedules at a time (firing is idempotent anyway)."""
        return f"{self.prefix}:{{schedules}}:firing"

    # -- flow control (concurrency and rate limits) -----------------------
    def limit(self, part: str, name: str) -> str:
        """One key of a limit: ``held`` (ZSET holder -> lease expiry), ``waiting`` (ZSET waiter -> arrival,
        or for a rate, the time it may start), ``bucket`` (HASH tokens, ts), ``jobwaiters`` (HASH job id ->
        its waiters, for a job's concurrency key). All share the tag ``{limits}``."""
        return f"{self.prefix}:{{limits}}:{part}:{name}"

    def limits_index(self) -> str:
        """HASH limit name -> its spec (kind, amount, burst), for the sweeper and listings."""
        return f"{self.prefix}:{{limits}}:index"

    # -- one job ---------------------------------------------------------
    def job(self, job_id: str, part: str) -> str:
        """A part of one job's state: meta, rs, sd, sl, out, de, sb, log, acts, lease, tries, parked, ..."""
        return f"{self.prefix}:job:{{{self.bucket_of(job_id)}}}:{job_id}:{part}"

    def slot_wait(self, job_id: str, slot_key: str) -> str:
        """Activations waiting for a slot whose merges must run one at a time.

        The scripts build the same name from the meta key (``wait_lists`` in
        lua/_common.lua) to delete a finished job's lists: keep the two in step.
        """
        return self.job(job_id, f"wait:{slot_key}")

    def job_parts(self, job_id: str) -> list[str]:
        """Every fixed key of one job, in the order the scripts take them (see lua/_common.lua)."""
        return [self.job(job_id, p) for p in JOB_PARTS]

    def script_keys(self, job_id: str, slot_key: str = "") -> list[str]:
        """KEYS of a job script (see lua/_common.lua): the job's parts, then its bucket's indexes (INDEX_PARTS)."""
        b = self.bucket_of(job_id)
        return [*self.job_parts(job_id), self.due(b), self.leases(b), self.dead(b), self.jobs(b),
                self.slot_wait(job_id, slot_key or "-"), self.deadlines(b), self.expiries(b), self.events(b)]


# The order of per-job KEYS passed to every job script (the scripts' K_* constants are generated from it).
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
# Then the bucket's indexes, in the order :meth:`Keys.script_keys` passes them.
INDEX_PARTS = (
    "due",        # 20 ZSET "job|activation" -> when to (re)dispatch
    "leases",     # 21 ZSET "job|activation" -> lease expiry
    "dead",       # 22 STREAM of dead letters
    "jobs",       # 23 ZSET job id -> creation time
    "wait",       # 24 LIST the slot-wait list of the slot a script was given ("-": none)
    "deadlines",  # 25 ZSET job id -> deadline
    "expiries",   # 26 ZSET job id -> when its keys expire
    "events",     # 27 STREAM the bucket's status changes
)
# Every KEYS entry of a job script, in order: K_<PART> in Lua is its index here, from 1.
SCRIPT_KEY_PARTS = JOB_PARTS + INDEX_PARTS
