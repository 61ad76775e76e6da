"""How every Routilux client reaches Redis: URL, ACL credentials and TLS, the same for store and broker.

The state store (redis-py) and the Celery broker (kombu) take the same URL, with
the ACL user and password of the settings put in it, and the same TLS files:
redis-py as ``ssl_*`` connection options, kombu as ``broker_use_ssl``.

A ``sentinel://[user:password@]host:port;host:port/db`` URL names Redis Sentinel:
the store asks the sentinels for the current master of ``redis_sentinel_master``
(redis-py reconnects to the new one after a failover), and the broker uses
kombu's Sentinel transport with the same sentinels.

A ``redis+cluster://[user:password@]host:port,host:port`` URL (``rediss+cluster://``
with TLS) names Redis Cluster: the store finds every node from those it is
given. Celery cannot use a cluster as its broker: it needs ``broker_url``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from routilux.distributed.settings import Settings

__all__ = ["redis_url", "broker_url", "store_options", "broker_ssl", "describe_refusal", "connect",
           "SentinelURL", "is_sentinel", "parse_sentinel_url", "kombu_sentinel_url", "sentinel_transport_options",
           "ClusterURL", "is_cluster", "parse_cluster_url", "is_tls"]


@dataclass(frozen=True)
class SentinelURL:
    """A parsed ``sentinel://`` URL: the sentinels, the database and the master's credentials."""

    sentinels: tuple[tuple[str, int], ...]
    db: int
    username: str
    password: str


@dataclass(frozen=True)
class ClusterURL:
    """A parsed ``redis+cluster://`` URL: some of the cluster's nodes, credentials, TLS or not."""

    nodes: tuple[tuple[str, int], ...]
    username: str
    password: str
    tls: bool


CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def is_cluster(url: str) -> bool:
    """True for a ``redis+cluster://`` or ``rediss+cluster://`` URL."""
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def is_tls(url: str) -> bool:
    """True for a Redis URL that uses TLS (``rediss://``, ``rediss+cluster://``)."""
    return url.split("://", 1)[0].lower() in ("rediss", "rediss+cluster")


def parse_cluster_url(url: str) -> ClusterURL:
    """Parse ``redis+cluster://[user:pass@]h1:p1,h2:p2`` (port default 6379; any path is ignored)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in CLUSTER_SCHEMES:
        raise ValueError(f"not a redis+cluster:// URL: {url!r}")
    auth, at, hosts = rest.rpartition("@")
    username, _, password = auth.partition(":") if at else ("", "", "")
    nodes: list[tuple[str, int]] = []
    for part in hosts.split("/", 1)[0].split(","):
        part = part.strip()
        if not part:
            continue
        parts = urlsplit(f"redis://{part}")
        if not parts.hostname:
            raise ValueError(f"a cluster node without a host in {url!r}")
        nodes.append((parts.hostname, parts.port or 6379))
    if not nodes:
        raise ValueError(f"no cluster nodes in {url!r}")
    return ClusterURL(tuple(nodes), unquote(username), unquote(password), scheme.lower() == "rediss+cluster")


def is_sentinel(url: str) -> bool:
    """True for a ``sentinel://`` URL."""
    return url.lower().startswith("sentinel://")


def parse_sentinel_url(url: str) -> SentinelURL:
    """Parse ``sentinel://[user:pass@]h1:p1;h2:p2/db`` (each host may repeat ``sentinel://``; port default 26379)."""
    if not is_sentinel(url):
        raise ValueError(f"not a sentinel:// URL: {url!r}")
    sentinels: list[tuple[str, int]] = []
    db, username, password = 0, "", ""
    for part in url.split(";"):
        part = part.strip()
        if not part:
            continue
        parts = urlsplit(part if "://" in part else f"sentinel://{part}")
        if not parts.hostname:
            raise ValueError(f"a sentinel without a host in {url!r}")
        sentinels.append((parts.hostname, parts.port or 26379))
        if parts.path.strip("/"):
            db = int(parts.path.strip("/"))
        username = username or unquote(parts.username or "")
        password = password or unquote(parts.password or "")
    if not sentinels:
        raise ValueError(f"no sentinels in {url!r}")
    return SentinelURL(tuple(sentinels), db, username, password)


def _sentinel_kwargs(settings: Settings) -> dict[str, Any] | None:
    auth = {k: v for k, v in (("username", settings.redis_sentinel_username),
                               ("password", settings.redis_sentinel_password)) if v}
    return {**auth, "socket_timeout": 2.0, "socket_connect_timeout": 2.0}


def kombu_sentinel_url(settings: Settings, url: str) -> str:
    """The URL kombu's Sentinel transport wants: ``sentinel://user:pass@h1:p1/db;sentinel://h2:p2/db``."""
    parsed = parse_sentinel_url(url)
    user = settings.redis_username or parsed.username
    password = settings.redis_password or parsed.password
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if (user or password) else ""
    urls = [f"sentinel://{auth if i == 0 else ''}{host}:{port}/{parsed.db}"
            for i, (host, port) in enumerate(parsed.sentinels)]
    return ";".join(urls)


def sentinel_transport_options(settings: Settings) -> dict[str, Any]:
    """kombu transport options for a Sentinel broker: the master name and the sentinels' own credentials."""
    return {"master_name": settings.redis_sentinel_master, "sentinel_kwargs": _sentinel_kwargs(settings)}


def connect(settings: Settings, **options: Any) -> Any:
    """A redis-py client of the state store: the URL's server, or the current master behind Sentinel."""
    import redis

    if is_cluster(settings.redis_url):
        return _connect_cluster(settings, **options)
    if not is_sentinel(settings.redis_url):
        return redis.Redis.from_url(redis_url(settings), **options, **store_options(settings))
    from redis.sentinel import Sentinel

    parsed = parse_sentinel_url(settings.redis_url)
    credentials = {k: v for k, v in (("username", settings.redis_username or parsed.username),
                                      ("password", settings.redis_password or parsed.password)) if v}
    sentinel = Sentinel(list(parsed.sentinels), sentinel_kwargs=_sentinel_kwargs(settings), db=parsed.db,
                        **credentials, **options)
    return sentinel.master_for(settings.redis_sentinel_master)


def _connect_cluster(settings: Settings, **options: Any) -> Any:
    from redis.cluster import ClusterNode, RedisCluster

    parsed = parse_cluster_url(settings.redis_url)
    credentials = {k: v for k, v in (("username", settings.redis_username or parsed.username),
                                      ("password", settings.redis_password or parsed.password)) if v}
    tls = {"ssl": True, **_tls(settings)} if parsed.tls else {}
    return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
                        **credentials, **tls, **options)


def redis_url(settings: Settings) -> str:
    """The Redis URL with the settings' ACL user and password in it (they win over the URL's)."""
    if not (settings.redis_username or settings.redis_password):
        return settings.redis_url
    parts = urlsplit(settings.redis_url)
    user = settings.redis_username or (parts.username or "")
    password = settings.redis_password or (parts.password or "")
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def broker_url(settings: Settings) -> str:
    """Celery's broker URL: ``broker_url`` as given, else the Redis URL with its credentials.

    A ``sentinel://`` URL is rewritten in the form kombu's Sentinel transport reads.
    """
    url = settings.broker_url or settings.redis_url
    if is_sentinel(url):
        return kombu_sentinel_url(settings, url)
    return settings.broker_url or redis_url(settings)


def _tls_files(ca: str, cert: str, key: str, prefix: str = "") -> dict[str, Any]:
    """Certificate checks on, with these files: named as py-amqp names them, or redis-py with prefix "ssl_"."""
    options: dict[str, Any] = {f"{prefix}cert_reqs": ssl.CERT_REQUIRED}
    if ca:
        options[f"{prefix}ca_certs"] = ca
    if cert:
        options[f"{prefix}certfile"] = cert
        options[f"{prefix}keyfile"] = key
    return options


def _tls(settings: Settings) -> dict[str, Any]:
    if not is_tls(settings.redis_url):
        return {}
    return _tls_files(settings.redis_tls_ca, settings.redis_tls_cert, settings.redis_tls_key, prefix="ssl_")


def store_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``redis.Redis.from_url`` for the state store (TLS files, if any)."""
    return _tls(settings)


def broker_ssl(settings: Settings) -> dict[str, Any] | None:
    """Celery's ``broker_use_ssl`` (kombu's ``ssl``): the TLS options of an ``amqps://`` or ``rediss://`` broker.

    RabbitMQ's certificate is verified against ``broker_tls_ca`` (else the system's
    CAs) and must name the URL's host; ``broker_tls_cert``/``_key`` are this client's.
    A separate ``rediss://`` broker uses the same CA and client files as the store.
    """
    url = broker_url(settings)
    if url.startswith("amqps://"):
        # server_hostname None: kombu puts the URL's host there, so the host name is checked too.
        return {**_tls_files(settings.broker_tls_ca, settings.broker_tls_cert, settings.broker_tls_key),
                "server_hostname": None}
    if not url.startswith("rediss://"):
        return None
    options = _tls(settings) or {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return options


def amqp_connection(settings: Settings) -> Any:
    """A kombu connection to the ``amqp://``/``amqps://`` broker of ``settings``, with its TLS options."""
    from kombu import Connection

    return Connection(broker_url(settings), ssl=broker_ssl(settings) or False, connect_timeout=5)


def describe_refusal(exc: BaseException) -> str | None:
    """Explain a redis-py error that means Redis refused this client, or None if it is something else."""
    import redis

    if isinstance(exc, redis.exceptions.AuthenticationError):
        return f"Redis refused the credentials ({exc}); check ROUTILUX_REDIS_USERNAME / ROUTILUX_REDIS_PASSWORD"
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return f"the Redis ACL user lacks a permission Routilux needs ({exc})"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError) or "SSL" in type(cause).__name__:
            return f"TLS with Redis failed ({exc}); check ROUTILUX_REDIS_TLS_CA / _CERT / _KEY"
        cause = cause.__cause__ or cause.__context__
    return None
