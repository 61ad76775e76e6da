"""Bearer-token roles: viewers read, operators also submit and steer jobs."""

from __future__ import annotations

import hmac
from typing import Callable

from fastapi import Request

from routilux.server.errors import ApiError

_RANK = {"viewer": 1, "operator": 2}


def role_of(request: Request) -> str:
    """The caller's role from ``Authorization: Bearer TOKEN`` ("operator" when no tokens are configured).

    Raises:
        ApiError 401: a token is required and missing or unknown.
    """
    return role_for(request.app.state.settings.tokens, request.headers.get("authorization", ""))


def role_for(tokens: dict[str, str], authorization: str) -> str:
    """The role ``authorization`` (an ``Authorization`` header's value) carries among ``tokens``.

    Raises:
        ApiError 401: a token is required and missing or unknown.
    """
    if not tokens:
        return "operator"
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise ApiError(401, "Unauthorized", "send Authorization: Bearer TOKEN")
    role = None
    for token, token_role in tokens.items():  # compare with every token, in constant time each
        if hmac.compare_digest(token.encode(), given.strip().encode()):
            role = token_role
    if role is None:
        raise ApiError(401, "Unauthorized", "unknown token")
    return role


def allows(have: str, role: str) -> bool:
    """Whether a caller with role ``have`` may do what needs ``role``."""
    return _RANK[have] >= _RANK[role]


def require(role: str) -> Callable[[Request], str]:
    """A FastAPI dependency admitting callers with ``role`` or a higher one."""

    def check(request: Request) -> str:
        have = role_of(request)
        if not allows(have, role):
            raise ApiError(403, "Forbidden", f"a {have} token cannot do this; it needs an {role} token")
        return have

    check.__name__ = f"require_{role}"
    return check


viewer = require("viewer")
operator = require("operator")
