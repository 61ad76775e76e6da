"""What every part of the store shares: the connection, key names, scripts, and Redis errors as ours."""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, TypeVar

import redis

from routilux import codec
from routilux.distributed.protocol.args import ScriptArgs
from routilux.distributed.protocol.constants import CONNECT_TIMEOUT_S, HEALTH_CHECK_S
from routilux.distributed.protocol.keys import Keys
from routilux.distributed.protocol.scripts import Scripts
from routilux.distributed.redis_options import connect, describe_refusal, is_cluster
from routilux.distributed.settings import Settings
from routilux.errors import KeyLayoutError, StoreAccessDeniedError, StoreUnavailableError

F = TypeVar("F", bound=Callable[..., Any])
# Redis Cluster's ways of saying "not now": down, slots moving or uncovered, redirections exhausted, or
# a MOVED/ASK to a transaction sent to a node that no longer owns the slot (after a failover: the cluster
# client learns the new owner from the MOVED of its next command for that slot, such as a claim or commit).
_CLUSTER_UNAVAILABLE = (redis.exceptions.ClusterError, redis.exceptions.TryAgainError,
                        redis.exceptions.SlotNotCoveredError, redis.exceptions.AskError)
log = logging.getLogger("routilux.distributed")

def guarded(func: F) -> F:
    """Turn Redis connection failures into StoreUnavailableError (StoreAccessDeniedError when refused).

    On Redis Cluster, a cluster that is down (a master lost, its slots not yet
    failed over) or still moving slots counts as unavailable too.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                redis.exceptions.NoPermissionError, redis.exceptions.AuthenticationError) as exc:
            refusal = describe_refusal(exc)
            if refusal is not None:
                raise StoreAccessDeniedError(refusal) from exc
            raise StoreUnavailableError(f"Redis is unreachable: {exc}") from exc
        except _CLUSTER_UNAVAILABLE as exc:
            raise StoreUnavailableError(f"the Redis Cluster is unavailable: {type(exc).__name__}: {exc}") from exc
        except redis.exceptions.ResponseError as exc:
            if str(exc).startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
                raise StoreAccessDeniedError(f"Redis refused this client: {exc}") from exc
            raise

    return wrapper  # type: ignore[return-value]


class StoreBase:
    """The connection, key names and scripts every part of the store uses."""

    def __init__(self, settings: Settings, client: redis.Redis | None = None) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix, settings.key_buckets)
        self.redis = client or connect(settings, socket_keepalive=True, health_check_interval=HEALTH_CHECK_S,
                                       socket_connect_timeout=CONNECT_TIMEOUT_S,
                                       max_connections=settings.redis_max_connections)
        # Redis Cluster: scripts cannot be pipelined, and multi-key reads stay within one slot.
        self.cluster = is_cluster(settings.redis_url)
        self.scripts = Scripts(self.redis)
        self.limits = settings.limits

    def decode(self, raw: bytes) -> Any:
        """Decode a blob read from Redis under the settings' size and shape limits."""
        return codec.unpackb(raw, self.limits)

    def job_keys(self, job_id: str, slot_key: str = "") -> list[str]:
        """KEYS for a job script (see lua/_common.lua)."""
        return self.keys.script_keys(job_id, slot_key)

    def atomic(self, key: str) -> Any:
        """A MULTI/EXEC pipeline for keys in ``key``'s hash slot (on Redis Cluster: on the node that owns it).

        On a cluster it is the owning node's own client: redis-py's cluster
        transactions skip reply parsing for some commands (XRANGE, SMEMBERS).
        """
        if not self.cluster:
            return self.redis.pipeline(transaction=True)
        return self.redis.get_node_from_key(key).redis_connection.pipeline(transaction=True)

    def each_bucket(self, read: Callable[[Any, int], Any]) -> list[Any]:
        """Run ``read(pipe, bucket)`` for every bucket in one pipeline; the replies, in order."""
        pipe = self.redis.pipeline(transaction=False)
        for bucket in self.keys.all_buckets:
            read(pipe, bucket)
        return pipe.execute()

    @property
    def _grace_ms(self) -> int:
        return int(self.settings.outbox_grace_s * 1000)

    @property
    def _backstop_ms(self) -> int:
        return int(self.settings.redispatch_s * 1000)

    def run(self, job_id: str, args: ScriptArgs, slot_key: str = "") -> Any:
        """Run a job script with its typed arguments; the raw reply."""
        return self.scripts.run(self.job_keys(job_id, slot_key), args)

    def run_replicated(self, job_id: str, args: ScriptArgs, slot_key: str = "", extra_keys: tuple[str, ...] = ()) -> Any:
        """Run a writing job script; with ``commit_wait_replicas``, WAIT for replicas on the same connection.

        ``extra_keys`` follow the job's KEYS (in its hash slot: an idempotency key's record for lua/submit.lua).
        """
        keys = [*self.job_keys(job_id, slot_key), *extra_keys]
        wanted = self.settings.commit_wait_replicas
        if not wanted:
            return self.scripts.run(keys, args)
        # On Redis Cluster the WAIT must reach the node that ran the script: the key's node.
        client = self.redis.get_node_from_key(keys[0]).redis_connection if self.cluster else self.redis
        pipe = client.pipeline(transaction=False)
        self.scripts.run(keys, args, client=pipe)
        pipe.wait(wanted, max(1, int(self.settings.commit_wait_timeout_s * 1000)))
        res, acked = pipe.execute()
        if int(acked) < wanted:
            log.warning("a write reached %s of %s replicas within %s s; a failover now could lose it",
                        acked, wanted, self.settings.commit_wait_timeout_s)
        return res

    @guarded
    def now_ms(self) -> int:
        """Redis's clock, in ms (the clock every script uses)."""
        now_s, now_us = self.redis.time()
        return now_s * 1000 + now_us // 1000

    @guarded
    def check_layout(self) -> None:
        """Record this deployment's key-bucket count in Redis, or refuse a process set to another one.

        Every process sharing a key prefix must spread jobs over the same buckets:
        one with another count would look for a job's keys under other names.

        Raises:
            KeyLayoutError: Redis already holds data laid out in a different number of buckets.
        """
        key, mine = self.keys.layout, self.keys.buckets
        if self.redis.set(key, mine, nx=True):
            return
        stored = self.redis.get(key)
        if stored is not None and int(stored) != mine:
            raise KeyLayoutError(
                f"the data under key prefix {self.keys.prefix!r} is laid out in {int(stored)} key buckets but this "
                f"process uses {mine}: set ROUTILUX_KEY_BUCKETS={int(stored)} on every producer and worker "
                "(the count is fixed for the life of the data)")

    def stream_node_max_bytes(self) -> int | None:
        """Redis's ``stream-node-max-bytes`` (0: no limit), or None when it cannot be read (CONFIG refused)."""
        try:
            reply = self.redis.config_get("stream-node-max-bytes")
        except redis.exceptions.RedisError:
            return None
        value = next(iter(reply.values()), None) if isinstance(reply, dict) else None
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    @guarded
    def ping(self) -> None:
        """Check that Redis answers and accepts this client (raises StoreAccessDeniedError if not)."""
        self.redis.ping()

    def close(self) -> None:
        """Release the connection pool."""
        self.redis.close()
