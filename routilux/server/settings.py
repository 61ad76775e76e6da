"""Settings of the console server: where it listens, who may do what, and which origins may call it."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from routilux.errors import RoutiluxError

ROLES = ("viewer", "operator")


class ServerConfigError(RoutiluxError, ValueError):
    """The server's settings are unsafe or malformed (e.g. a public address without tokens)."""


def parse_tokens(text: str) -> dict[str, str]:
    """``"viewer:T1,operator:T2"`` -> ``{"T1": "viewer", "T2": "operator"}``.

    Raises:
        ServerConfigError: an entry is not ``role:token`` with a known role.
    """
    tokens: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        role, sep, token = item.partition(":")
        if not sep or role.strip() not in ROLES or not token.strip():
            raise ServerConfigError(f"token entry {item.split(':')[0]!r}... is not ROLE:TOKEN with ROLE in {ROLES}")
        tokens[token.strip()] = role.strip()
    return tokens


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _whole_number(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ServerConfigError(f"ROUTILUX_SERVER_{name.upper()} must be a whole number, not {raw!r}") from None


@dataclass(frozen=True)
class ServerSettings:
    """How the console listens and whom it serves.

    Attributes:
        host, port: where to listen (``ROUTILUX_SERVER_HOST``, ``ROUTILUX_SERVER_PORT``).
        tokens: bearer token -> role ("viewer" reads; "operator" also submits and steers);
            from ``ROUTILUX_SERVER_TOKENS="viewer:T1,operator:T2"``. Empty: no auth, loopback only.
        cors_origins: origins allowed to call the API from a browser (``ROUTILUX_SERVER_CORS``); none by default.
        max_streams: event streams open at once, all clients together (``ROUTILUX_SERVER_MAX_STREAMS``);
            one more is answered 429. Each job stream holds a thread and a Redis connection while open.
        max_streams_per_token: event streams one token may hold open (``ROUTILUX_SERVER_MAX_STREAMS_PER_TOKEN``);
            without tokens, all (loopback) clients share this bound.
        max_body_bytes: largest request body (``ROUTILUX_SERVER_MAX_BODY_BYTES``); a larger one is answered
            413 before it is read.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    tokens: dict[str, str] = field(default_factory=dict)
    cors_origins: tuple[str, ...] = ()
    max_streams: int = 200
    max_streams_per_token: int = 32
    max_body_bytes: int = 1024 * 1024

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> ServerSettings:
        """Read ``ROUTILUX_SERVER_*``; keyword arguments that are not None win."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {
            "host": env.get("ROUTILUX_SERVER_HOST", cls.host),
            "port": int(env.get("ROUTILUX_SERVER_PORT", cls.port)),
            "tokens": parse_tokens(env.get("ROUTILUX_SERVER_TOKENS", "")),
            "cors_origins": tuple(o.strip() for o in env.get("ROUTILUX_SERVER_CORS", "").split(",") if o.strip()),
        }
        for name in ("max_streams", "max_streams_per_token", "max_body_bytes"):
            raw = env.get(f"ROUTILUX_SERVER_{name.upper()}")
            if raw:
                values[name] = _whole_number(name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        for name in ("max_streams", "max_streams_per_token", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ServerConfigError(f"{name} must be at least 1, not {getattr(self, name)}")

    def check_bind(self) -> None:
        """Refuse to listen beyond loopback without tokens.

        Raises:
            ServerConfigError: ``host`` is not loopback and no tokens are configured.
        """
        if not self.tokens and not is_loopback(self.host):
            raise ServerConfigError(
                f"refusing to listen on {self.host} without tokens: set ROUTILUX_SERVER_TOKENS="
                "\"viewer:TOKEN,operator:TOKEN\" or listen on 127.0.0.1"
            )
