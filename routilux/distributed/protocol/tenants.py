"""Tenants: the workers' share of each band between the tenants whose work waits in it.

A job may name a tenant (``submit(..., tenant="acme")``): it is kept in the job's
meta and in the envelope of each of its activations (``tn``), so children,
retries, posts, resumes, forks and re-sends keep it (see lane.py). On the Redis
broker each tenant's activations wait in a list of their own inside their
priority band, and a worker's channel reads a band's lists in weighted fair order (see
:class:`routilux.distributed.worker.transport.Channel`): jobs without a tenant
are one more tenant, the plain list, so they travel exactly as before.

A tenant's weight (1 by default) is kept in the broker's Redis, where every
worker's channel reads it again every :data:`REFRESH_S`.
"""

from __future__ import annotations

import re
from typing import Any

from routilux.errors import InvalidTenantError

# Header of a message naming its job's tenant (absent: no tenant).
TENANT_HEADER = "routilux_tenant"
DEFAULT_WEIGHT = 1
MAX_WEIGHT = 1000
# A tenant name: what an account or customer id is made of, never the broker's key separators.
_NAME = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")
# Broker-side keys (the broker's key prefix applies): the tenants seen per queue, and every tenant's weight.
TENANTS_KEY = "_routilux.tenants."
WEIGHTS_KEY = "_routilux.tenant_weights"
# How often a worker's channel reads the tenants and their weights again (s).
REFRESH_S = 0.25


def check_tenant(value: Any) -> str | None:
    """``value`` as a tenant name (None: no tenant).

    Raises:
        InvalidTenantError: not 1 to 64 letters, digits or ``_ . : @ -``.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidTenantError(f"a tenant is 1 to 64 letters, digits or '_.:@-', not {value!r:.80}")
    return value


def check_weight(value: Any) -> int:
    """``value`` as a tenant weight.

    Raises:
        InvalidTenantError: not a whole number from 1 to :data:`MAX_WEIGHT`.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WEIGHT:
        raise InvalidTenantError(f"a tenant weight is a whole number from 1 to {MAX_WEIGHT}, not {value!r}")
    return value


def tenant_list(band_list: str, tenant: str) -> str:
    """The Redis list of ``tenant``'s messages in the band whose plain list is ``band_list``."""
    return f"{band_list}\x06\x16t:{tenant}"


def of_envelope(envelope: dict[str, Any]) -> str | None:
    """The tenant an activation envelope names (None: none, or a value that is not one)."""
    value = envelope.get("tn")
    return value if isinstance(value, str) and _NAME.match(value) else None


class FairOrder:
    """Weighted fair queueing by virtual time: the order a channel reads its tenants' lists in.

    Each read from a tenant's list moves that tenant's virtual time on by
    1/weight; lists are read lowest virtual time first. A tenant that had nothing
    waiting starts again from the virtual time of the last read, so an idle
    tenant banks no credit, and a new tenant is read first at once.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.finish: dict[str, float] = {}

    def order(self, tenants: list[str]) -> list[str]:
        """``tenants`` in the order their lists should be read."""
        return sorted(tenants, key=lambda t: (max(self.finish.get(t, 0.0), self.now), t))

    def served(self, tenant: str, weight: int) -> None:
        """Note a message read from ``tenant``'s list."""
        start = max(self.finish.get(tenant, 0.0), self.now)
        self.now = start
        self.finish[tenant] = start + 1.0 / max(1, weight)
