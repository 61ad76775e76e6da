"""Fair share between tenants on the Redis broker: each tenant's list in a band, read in weighted fair order.

A message naming a tenant (header :data:`~routilux.distributed.protocol.tenants.TENANT_HEADER`)
is pushed on its tenant's list inside its priority band instead of the band's plain
list, and the tenant is added to the queue's tenant set. A consuming channel
re-reads the tenant sets and weights every ``REFRESH_S`` and, for each BRPOP,
lays out each band's lists in the order of :class:`FairOrder` (the plain list,
work of no tenant, counts as the tenant ``""``); BRPOP takes from the first list
that has work, so a band's tenants are served in the ratio of their weights
while they all have work, and a tenant with new work is read next. Bands keep
their strict order: every list of the high band comes before the plain band's.
"""

from __future__ import annotations

from queue import Empty
from time import monotonic
from typing import Any

from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from routilux.distributed.protocol.tenants import (DEFAULT_WEIGHT, REFRESH_S, TENANT_HEADER, TENANTS_KEY,
                                                   WEIGHTS_KEY, FairOrder, tenant_list)

# A publisher adds a tenant to its queue's set again after this long (s), not on every message.
REGISTER_EVERY_S = 10.0
NO_TENANT = ""


class Tenanted:
    """kombu Redis channel methods that put and read messages by tenant (see the module docstring)."""

    sep: str
    _put_tenant: str | None = None

    def _q_for_pri(self, queue: str, pri: int) -> str:
        band_list = super()._q_for_pri(queue, pri)  # type: ignore[misc]
        return tenant_list(band_list, self._put_tenant) if self._put_tenant else band_list

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        tenant = _tenant_of(message)
        if tenant:
            self._register(queue, tenant)
        self._put_tenant = tenant
        try:
            super()._put(queue, message, **kwargs)  # type: ignore[misc]
        finally:
            self._put_tenant = None

    def _do_restore_message(self, payload: Any, exchange: str, routing_key: str, pipe: Any,
                            leftmost: bool = False) -> None:
        self._put_tenant = _tenant_of(payload)
        try:
            super()._do_restore_message(payload, exchange, routing_key, pipe, leftmost)  # type: ignore[misc]
        finally:
            self._put_tenant = None

    def _register(self, queue: str, tenant: str) -> None:
        registered: dict[tuple[str, str], float] = self.__dict__.setdefault("_tenants_registered", {})
        now = monotonic()
        if now - registered.get((queue, tenant), -REGISTER_EVERY_S) >= REGISTER_EVERY_S:
            with self.conn_or_acquire() as client:  # type: ignore[attr-defined]
                client.sadd(TENANTS_KEY + queue, tenant)
            registered[(queue, tenant)] = now

    def _brpop_start(self, timeout: float | None = None) -> None:
        if timeout is None:
            timeout = self.brpop_timeout  # type: ignore[attr-defined]
        queues = self._queue_cycle.consume(len(self.active_queues))  # type: ignore[attr-defined]
        if not queues:
            return
        keys = self._read_order(queues)
        client = self.client  # type: ignore[attr-defined]
        self._in_poll = client.connection
        self._brpop_sent_at = monotonic()
        command_args = ["BRPOP", *keys, timeout or 0]
        if self.global_keyprefix:  # type: ignore[attr-defined]
            command_args = client._prefix_args(command_args)
        client.connection.send_command(*command_args)

    def _read_order(self, queues: list[str]) -> list[str]:
        """Every list to read, band by band, each band's tenants in fair order; remembers whose each list is."""
        tenants, _ = self._tenants()
        order = self._fair().order([NO_TENANT, *sorted({t for q in queues for t in tenants.get(q, ())})])
        owners: dict[str, tuple[str, str]] = {}
        for pri in self.priority_steps:  # type: ignore[attr-defined]
            for tenant in order:
                for queue in queues:
                    if tenant == NO_TENANT or tenant in tenants.get(queue, ()):
                        band_list = super()._q_for_pri(queue, pri)  # type: ignore[misc]
                        owners[tenant_list(band_list, tenant) if tenant else band_list] = (queue, tenant)
        self._tenant_owners = owners
        return list(owners)

    def _fair(self) -> FairOrder:
        return self.__dict__.setdefault("_tenant_fair_order", FairOrder())

    def _tenants(self) -> tuple[dict[str, set[str]], dict[str, int]]:
        """The tenants of each consumed queue and their weights, read again every ``REFRESH_S``."""
        read_at, tenants, weights = self.__dict__.get("_tenants_read", (-REFRESH_S, {}, {}))
        if monotonic() - read_at >= REFRESH_S:
            queues = list(self.active_queues)  # type: ignore[attr-defined]
            with self.conn_or_acquire() as client:  # type: ignore[attr-defined]
                pipe = client.pipeline()
                for queue in queues:
                    pipe.smembers(TENANTS_KEY + queue)
                prefix = self.global_keyprefix or ""  # type: ignore[attr-defined]
                pipe.hgetall(prefix + WEIGHTS_KEY)  # kombu prefixes HSET, not HGETALL
                *sets, raw = pipe.execute()
            tenants = {q: {bytes_to_str(t) for t in members} for q, members in zip(queues, sets)}
            weights = {bytes_to_str(k): int(v) for k, v in raw.items() if bytes_to_str(v).isdigit()}
            self._tenants_read = (monotonic(), tenants, weights)
        return tenants, weights

    def _brpop_read(self, **options: Any) -> Any:
        client = self.client  # type: ignore[attr-defined]
        try:
            try:
                dest__item = client.parse_response(client.connection, "BRPOP", **options)
            except self.connection_errors:  # type: ignore[attr-defined]
                client.connection.disconnect()
                raise
            if not dest__item:
                raise Empty()
            dest, item = bytes_to_str(dest__item[0]), dest__item[1]
            owners = self.__dict__.get("_tenant_owners", {})
            queue, tenant = owners.get(dest, (dest.rsplit(self.sep, 1)[0], NO_TENANT))
            self._fair().served(tenant, self._tenants()[1].get(tenant, DEFAULT_WEIGHT))
            self._queue_cycle.rotate(queue)  # type: ignore[attr-defined]
            self.connection._deliver(loads(bytes_to_str(item)), queue)  # type: ignore[attr-defined]
            return True
        finally:
            self._in_poll = None
            flush = getattr(self, "_flush_brpop_reauth", None)
            if flush is not None:
                flush()


def _tenant_of(message: Any) -> str | None:
    headers = message.get("headers") if isinstance(message, dict) else None
    tenant = headers.get(TENANT_HEADER) if isinstance(headers, dict) else None
    return tenant if isinstance(tenant, str) and tenant else None
