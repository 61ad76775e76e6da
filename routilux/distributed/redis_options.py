"""How every Routilux client reaches Redis: URL, ACL credentials and TLS, the same for store and broker.

The state store (redis-py) and the Celery broker (kombu) take the same URL, with
the ACL user and password of the settings put in it, and the same TLS files:
redis-py as ``ssl_*`` connection options, kombu as ``broker_use_ssl``.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from routilux.distributed.settings import Settings

__all__ = ["redis_url", "broker_url", "store_options", "broker_ssl", "describe_refusal"]


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
    """Celery's broker URL: ``broker_url`` as given, else the Redis URL with its credentials."""
    return settings.broker_url or redis_url(settings)


def _tls(settings: Settings) -> dict[str, Any]:
    if not settings.redis_url.startswith("rediss://"):
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if settings.redis_tls_ca:
        options["ssl_ca_certs"] = settings.redis_tls_ca
    if settings.redis_tls_cert:
        options["ssl_certfile"] = settings.redis_tls_cert
        options["ssl_keyfile"] = settings.redis_tls_key
    return options


def store_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``redis.Redis.from_url`` for the state store (TLS files, if any)."""
    return _tls(settings)


def broker_ssl(settings: Settings) -> dict[str, Any] | None:
    """Celery's ``broker_use_ssl``: the Redis TLS files for a ``rediss://`` broker, True for ``amqps://``.

    A separate ``rediss://`` broker uses the same CA and client files as the store.
    """
    url = broker_url(settings)
    if url.startswith("amqps://"):
        return True
    if not url.startswith("rediss://"):
        return None
    options = _tls(settings) or {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return options


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
