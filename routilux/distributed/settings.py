"""Settings of the distributed engine: one frozen dataclass, read from the environment.

Every option of the worker daemon and the runtime has an environment variable,
named ``ROUTILUX_`` plus the field name in capitals; units are in the names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from routilux.distributed.batch import MAX_BODIES
from routilux.distributed.protocol.signing import Keyring
from routilux.bounds import MIB, Limits

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
BROKER_SCHEMES = ("redis", "rediss", "sentinel", *AMQP_SCHEMES)
POOLS = ("prefork", "threads", "solo", "asyncio")
"""Worker pools: Celery's three, and asyncio (Celery's threads pool, sized for coroutine handlers)."""


def broker_scheme(url: str) -> str:
    """The scheme of a broker URL (``""`` for an empty one)."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """How the distributed engine talks to Redis and runs activations.

    Attributes:
        redis_url: the Redis that keeps the state (and, by default, is the broker).
        broker_url: the Celery broker, when it is not ``redis_url``: ``amqp://`` for
            RabbitMQ, or another ``redis://`` URL. Empty: ``redis_url``.
        redis_url may also name Redis Cluster: ``redis+cluster://[user:password@]host:port,host:port``
            (``rediss+cluster://`` with TLS; some nodes, the rest are discovered);
            then broker_url is required.
        redis_url may also name Redis Sentinel:
            ``sentinel://[user:password@]host:port;host:port;.../db`` (the sentinels;
            the user and password are the Redis master's).
        redis_sentinel_master: the master name the sentinels monitor.
        redis_sentinel_username, redis_sentinel_password: credentials of the
            sentinels themselves (empty: none).
        commit_wait_replicas: after each commit and submit, wait until this many
            replicas have the write (Redis ``WAIT``, sent with the write); 0: do not
            wait. With asynchronous replication a failover can otherwise lose the
            last acknowledged writes.
        commit_wait_timeout_s: how long one such wait may take; when fewer
            replicas answered, the worker logs a warning and goes on.
        broker_queue_type: on RabbitMQ, ``quorum`` (replicated, the default) or
            ``classic`` queues for activations.
        key_prefix: prefix of every Redis key Routilux writes (state and broker).
        key_buckets: how many hash-tag buckets jobs are spread over (each bucket
            has its own indexes, one Redis Cluster slot). 0: 16 on Redis Cluster, 1
            otherwise. Every process of a deployment must use the same number.
        queue: the Celery queue activations go to.
        lease_s: how long a claimed activation is owned without a heartbeat;
            a crashed worker's activations run again on another worker after it.
        heartbeat_s: how often a running activation's lease is renewed.
        sweep_interval_s: how often workers look for expired leases, due retries
            and activations that were never dispatched.
        outbox_grace_s: how long a committed child may wait to be dispatched
            before the sweeper sends it (plus 5 ms for each message its step
            sends, so a large fan-out is not sent twice while being published).
        redispatch_s: how long a dispatched activation may wait in the queue
            before the sweeper sends it again (a backstop for lost messages).
        max_attempts: claims of one activation (crashes, missing classes) before
            it goes to the dead-letter stream.
        visibility_timeout_s: the broker's own redelivery backstop; keep it above
            the longest handler.
        imports: modules a worker imports to register routine classes.
        concurrency: worker processes or threads.
        pool: Celery pool: prefork, threads or solo; or asyncio, a threads pool sized for
            ``concurrency`` coroutine handlers awaiting at once (see worker/boot.py).
        queues: queues a worker consumes (default: ``queue``).
        flow_cache_size: published flows a worker keeps loaded.
        inline_steps: how many activations one task may run back to back: after a
            step, the worker claims its first child in the same commit and runs it
            itself instead of sending it through the queue (still leased, committed
            and recoverable like any other). 0 makes every slot invocation its own
            Celery task.
        dispatch_batch: most sibling activations of one job sent in one message
            (a fan-out's children, a resume's parked work): the worker that takes
            the message runs them one after the other, each claimed, leased and
            committed on its own, and hands back what it has not started after
            half a second so idle workers share slow work. 1 sends one
            activation per message.
        dispatch_spread: how many messages such a group is spread over before
            messages carry more than one activation: n siblings go ceil(n /
            dispatch_spread) to a message (at most dispatch_batch), so about
            this many worker processes can start on a fan-out at once.
        soft_time_limit_s: default soft time limit of one activation's handler
            (0: none): past it, SoftTimeLimitExceeded is raised inside the handler
            and the routine's error strategy decides. A routine overrides it with
            its ``soft_time_limit_s`` config key (``Routine.set_time_limits``).
        hard_time_limit_s: default hard time limit of one activation (0: none):
            past it the worker stops renewing the lease and hands the activation
            back (it counts as a failed attempt: run again, or dead-lettered after
            ``max_attempts``); a prefork pool child running it is killed and
            replaced. A routine overrides it with ``hard_time_limit_s``.
        completed_ttl_s: how long a completed job's keys stay in Redis after it
            ends (0: forever).
        failed_ttl_s: the same for failed and cancelled jobs (0: forever).
        Retention and the job deadline are fixed when the job is submitted.
        redis_username, redis_password: ACL user and password for Redis (broker
            and store); they replace any in ``redis_url``. Empty: those of the URL.
        redis_tls_ca: CA certificate file (PEM) that signs Redis's certificate,
            for a ``rediss://`` URL (empty: the system's CAs).
        redis_tls_cert, redis_tls_key: this client's certificate and key files
            (PEM), for a Redis that requires client certificates.
        broker_tls_ca, broker_tls_cert, broker_tls_key: the same for an
            ``amqps://`` broker_url (RabbitMQ over TLS). The broker's certificate
            is always verified, its host name included; a ``rediss://``
            broker_url uses the redis_tls_* files.
        signing_keys: ``"kid1:secret1,kid2:secret2"``; the first key signs every
            activation, all of them verify. Empty: activations are not signed and
            workers accept unsigned ones.
        max_message_bytes: largest encoded blob decoded from Redis or the broker
            (one activation, one shared-data value, one routine state...).
        max_depth: deepest nesting of maps, arrays and tuples decoded (values a
            handler writes or emits get 8 levels less, for the envelope around them).
        max_string_bytes: longest string, binary or ext payload decoded; 0 means
            max_message_bytes.
        max_items: most entries of one array or map decoded.
        redis_max_connections: most connections this process keeps to the state
            store at once (redis-py's pool); one more fails with "Too many
            connections". A console holds one per open job event stream.
    """

    redis_url: str = DEFAULT_REDIS_URL
    broker_url: str = field(default="", repr=False)
    redis_sentinel_master: str = "mymaster"
    redis_sentinel_username: str = ""
    redis_sentinel_password: str = field(default="", repr=False)
    commit_wait_replicas: int = 0
    commit_wait_timeout_s: float = 1.0
    broker_queue_type: str = "quorum"
    key_prefix: str = "routilux"
    key_buckets: int = 0
    queue: str = "routilux"
    lease_s: float = 30.0
    heartbeat_s: float = 0.0
    sweep_interval_s: float = 0.0
    outbox_grace_s: float = 5.0
    redispatch_s: float = 0.0
    max_attempts: int = 5
    visibility_timeout_s: float = 3600.0
    imports: tuple[str, ...] = field(default_factory=tuple)
    concurrency: int = 2
    pool: str = "prefork"
    queues: tuple[str, ...] = field(default_factory=tuple)
    flow_cache_size: int = 64
    inline_steps: int = 100
    dispatch_batch: int = 50
    dispatch_spread: int = 16
    soft_time_limit_s: float = 0.0
    hard_time_limit_s: float = 1800.0
    completed_ttl_s: float = 7 * 24 * 3600.0
    failed_ttl_s: float = 30 * 24 * 3600.0
    redis_username: str = ""
    redis_password: str = field(default="", repr=False)
    redis_tls_ca: str = ""
    redis_tls_cert: str = ""
    redis_tls_key: str = ""
    broker_tls_ca: str = ""
    broker_tls_cert: str = ""
    broker_tls_key: str = ""
    signing_keys: str = field(default="", repr=False)
    max_message_bytes: int = 8 * MIB
    max_depth: int = 128
    max_string_bytes: int = 0
    max_items: int = 1_000_000
    redis_max_connections: int = 512

    def __post_init__(self) -> None:
        if self.lease_s <= 0:
            raise ValueError("lease_s must be positive")
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {', '.join(POOLS)}, not {self.pool!r}")
        # Derived defaults keep recovery bounded by the lease.
        if not self.heartbeat_s:
            object.__setattr__(self, "heartbeat_s", self.lease_s / 3)
        if not self.sweep_interval_s:
            object.__setattr__(self, "sweep_interval_s", min(1.0, max(0.1, self.lease_s / 6)))
        if not self.redispatch_s:
            object.__setattr__(self, "redispatch_s", max(60.0, 4 * self.lease_s))
        if not self.queues:
            object.__setattr__(self, "queues", (self.queue,))
        for name in ("soft_time_limit_s", "hard_time_limit_s", "completed_ttl_s", "failed_ttl_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (none) or positive")
        if self.visibility_timeout_s <= self.lease_s:
            raise ValueError("visibility_timeout_s must be above lease_s (it is only a backstop)")
        if not 1 <= self.dispatch_batch <= MAX_BODIES or self.dispatch_spread < 1:
            raise ValueError(f"dispatch_batch must be 1 to {MAX_BODIES} and dispatch_spread at least 1")
        if self.commit_wait_replicas < 0 or self.commit_wait_timeout_s <= 0:
            raise ValueError("commit_wait_replicas must be 0 or more and commit_wait_timeout_s positive")
        if self.redis_max_connections < 1:
            raise ValueError("redis_max_connections must be at least 1")
        if self.broker_queue_type not in ("quorum", "classic"):
            raise ValueError(f"broker_queue_type must be quorum or classic, not {self.broker_queue_type!r}")
        if self.broker_url and broker_scheme(self.broker_url) not in BROKER_SCHEMES:
            raise ValueError(f"broker_url must be one of {', '.join(BROKER_SCHEMES)}:// URLs")
        if not self.max_string_bytes:
            object.__setattr__(self, "max_string_bytes", self.max_message_bytes)
        if (self.redis_tls_ca or self.redis_tls_cert or self.redis_tls_key) and not self.redis_url.startswith("rediss"):
            raise ValueError("redis_tls_ca, redis_tls_cert and redis_tls_key need a rediss:// URL")
        cluster = self.redis_url.split("://", 1)[0].lower() in ("redis+cluster", "rediss+cluster")
        if not self.key_buckets:
            object.__setattr__(self, "key_buckets", 16 if cluster else 1)
        if self.key_buckets < 1:
            raise ValueError("key_buckets must be at least 1 (0: the default)")
        if cluster and not self.broker_url:
            raise ValueError("Redis Cluster keeps the state but cannot be Celery's broker: set broker_url "
                             "(ROUTILUX_BROKER_URL) to RabbitMQ (amqp://) or a standalone redis://")
        if bool(self.redis_tls_cert) != bool(self.redis_tls_key):
            raise ValueError("redis_tls_cert and redis_tls_key go together")
        if (self.broker_tls_ca or self.broker_tls_cert or self.broker_tls_key) and broker_scheme(self.broker_url) != "amqps":
            raise ValueError("broker_tls_ca, broker_tls_cert and broker_tls_key need an amqps:// broker_url")
        if bool(self.broker_tls_cert) != bool(self.broker_tls_key):
            raise ValueError("broker_tls_cert and broker_tls_key go together")
        self.keyring  # noqa: B018 - raises ValueError for a malformed signing_keys
        self.limits  # noqa: B018 - raises ValueError for a non-positive limit

    @property
    def broker_is_amqp(self) -> bool:
        """True when Celery's broker is RabbitMQ (AMQP) rather than Redis."""
        return broker_scheme(self.broker_url) in AMQP_SCHEMES

    @property
    def keyring(self) -> Keyring:
        """The signing keys (empty when activations are not signed)."""
        return Keyring.parse(self.signing_keys)

    @property
    def limits(self) -> Limits:
        """The size and shape limits on everything decoded from Redis or the broker."""
        return Limits(self.max_message_bytes, self.max_depth, self.max_string_bytes, self.max_items)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``ROUTILUX_*`` variables, then apply ``overrides`` (None values ignored)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"ROUTILUX_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed (derived defaults recomputed)."""
        base = {f.name: getattr(self, f.name) for f in fields(self)}
        for derived in ("heartbeat_s", "sweep_interval_s", "redispatch_s"):
            if "lease_s" in changes and derived not in changes:
                base[derived] = 0.0
        if "max_message_bytes" in changes and "max_string_bytes" not in changes:
            base["max_string_bytes"] = 0
        if "redis_url" in changes and "key_buckets" not in changes:
            base["key_buckets"] = 0
        base.update(changes)
        return replace(self, **base)


def _convert(name: str, raw: str) -> Any:
    if name in ("imports", "queues"):
        return _split(raw)
    if name in ("max_attempts", "commit_wait_replicas", "concurrency", "flow_cache_size", "inline_steps",
                "key_buckets", "dispatch_batch", "dispatch_spread", "redis_max_connections") or name.startswith("max_"):
        return int(raw)
    if name.endswith("_s"):
        return float(raw)
    return raw
