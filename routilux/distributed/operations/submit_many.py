"""DistributedRuntime.submit_many: start many jobs, a chunk at a time, each chunk in one round trip.

Every item of a chunk is checked first (its flow, entry routine, parameters,
priority, tenant, concurrency key and timeout): a bad item raises :class:`BulkSubmitError` naming its
index, and nothing of its chunk is written; the jobs of earlier chunks stand and
are listed in the error's ``submitted``. The chunk's jobs are then created with
one pipeline of submit scripts (on Redis Cluster, one call per job) and their
first activations published in one buffered batch (on Redis one pipeline; on
RabbitMQ one publish after the other on one channel), then marked dispatched in
one more round trip. If the broker does not take the batch, every job of the
chunk is withdrawn (cancelled and deleted) as :meth:`submit` withdraws its one
job, and BrokerUnavailableError says so.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, Sequence

from routilux.distributed.dispatch import broker_error
from routilux.distributed.protocol.priority import check_priority
from routilux.distributed.protocol.tenants import check_tenant
from routilux.distributed.tracing import tracing
from routilux.errors import BulkSubmitError, FlowNotPublishedError, StoreUnavailableError
from routilux.flow import Flow
from routilux.flow_control import check_job_key

if TYPE_CHECKING:
    from routilux.distributed.dispatch import Dispatcher
    from routilux.distributed.store import RedisStore

# Jobs written and published per round trip.
CHUNK_SIZE = 500
ITEM_KEYS = frozenset({"flow", "entry", "params", "priority", "tenant", "concurrency_key", "timeout"})


class NewJob(NamedTuple):
    """A job about to be created: RedisStore.create_job's arguments, its first messages, its priority and tenant."""

    create_args: tuple[Any, ...]
    messages: list[tuple[str, bytes]]
    priority: int | None
    tenant: str | None = None


class SubmitManyMixin:
    """Bulk submit (see the module docstring)."""

    store: RedisStore
    dispatcher: Dispatcher
    _check_layout: Callable[[], None]
    _resolve: Callable[[Flow | str], tuple[str, dict[str, Any]]]
    _entry_params: Callable[..., dict[str, Any]]
    _new_job: Callable[..., NewJob]

    def submit_many(self, items: Sequence[Mapping[str, Any]], chunk_size: int = CHUNK_SIZE) -> list[str]:
        """Start a job for each item; returns the job ids in the items' order.

        Each item is a map: ``flow`` (a Flow, flow id or flow hash) and ``entry`` (the
        entry routine id), optional ``params`` (the entry parameters), ``priority``
        (0 to 9, see :meth:`submit`), ``tenant``, ``concurrency_key`` and ``timeout`` (seconds),
        each as :meth:`submit` takes it.

        Raises:
            BulkSubmitError: an item is malformed or refused (unknown flow or entry routine, parameters
                that cannot be encoded, a bad priority, tenant, concurrency key or timeout); ``index`` names it. Nothing of its
                chunk was written; ``submitted`` lists the jobs of the chunks before it.
            BrokerUnavailableError: the broker did not take a chunk; its jobs were withdrawn.
        """
        self._check_layout()
        ids: list[str] = []
        flows: dict[Any, tuple[str, dict[str, Any]]] = {}
        for start in range(0, len(items), max(1, chunk_size)):
            chunk = [self._checked_item(items, k, ids, flows)
                     for k in range(start, min(len(items), start + chunk_size))]
            ids += self._create_and_send(chunk)
        return ids

    def _checked_item(self, items: Sequence[Mapping[str, Any]], index: int, submitted: list[str],
                      flows: dict[Any, tuple[str, dict[str, Any]]]) -> NewJob:
        try:
            return self._prepared(items[index], flows)
        except (ValueError, TypeError, FlowNotPublishedError) as exc:
            raise BulkSubmitError(f"item {index} was refused: {exc}; nothing of its chunk was written",
                                  index, submitted) from exc

    def _prepared(self, item: Mapping[str, Any], flows: dict[Any, tuple[str, dict[str, Any]]]) -> NewJob:
        """The item's new job, its flow resolved once per call (``flows``, by flow id, hash or Flow)."""
        if not isinstance(item, Mapping):
            raise TypeError(f"an item is a map with flow and entry, not a {type(item).__name__}")
        unknown = set(item) - ITEM_KEYS
        if unknown or "flow" not in item or not isinstance(item.get("entry"), str):
            raise ValueError(f"an item has flow, entry and optionally {', '.join(sorted(ITEM_KEYS - {'flow', 'entry'}))}"
                             f"{'; not ' + ', '.join(sorted(map(str, unknown))) if unknown else ''}")
        timeout = item.get("timeout")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0):
            raise ValueError(f"timeout must be a number of seconds, 0 or more, not {timeout!r}")
        priority = check_priority(item.get("priority"))
        tenant = check_tenant(item.get("tenant"))
        job_key = item.get("concurrency_key")
        check_job_key(job_key)
        flow = item["flow"]
        if not isinstance(flow, (Flow, str)):
            raise TypeError(f"flow is a Flow, a flow id or a flow hash, not a {type(flow).__name__}")
        key = id(flow) if isinstance(flow, Flow) else flow
        if key not in flows:
            flows[key] = self._resolve(flow)
        digest, data = flows[key]
        params = self._entry_params(flow, data, item["entry"], item.get("params"))
        job_id = str(uuid.uuid4())
        with tracing().job(job_id, data["flow_id"], item["entry"]) as trace:
            return self._new_job(job_id, digest, data, item["entry"], params, timeout, priority, trace, "", tenant,
                                 job_key or "")

    def _create_and_send(self, chunk: list[NewJob]) -> list[str]:
        """Write the chunk's jobs, publish their first activations and mark them dispatched; returns their ids."""
        if not chunk:
            return []
        scores = self.store.create_jobs([job.create_args for job in chunk])
        ids = [job.create_args[0] for job in chunk]
        messages = [message for job in chunk for message in job.messages]
        try:
            self.dispatcher.send_buffered(messages, priority={job.create_args[0]: job.priority for job in chunk
                                                              if job.priority is not None},
                                          tenant={job.create_args[0]: job.tenant for job in chunk if job.tenant})
        except Exception as exc:
            typed = broker_error(exc)
            if typed is None:
                raise
            self._withdraw(ids)
            raise type(typed)(f"{typed}; the {len(ids)} jobs of this chunk were withdrawn") from exc
        self.store.mark_many([(job.create_args[0], score, [m.split("|", 1)[1] for m, _ in job.messages])
                              for job, score in zip(chunk, scores)])
        return ids

    def _withdraw(self, ids: list[str]) -> None:
        """Cancel and delete jobs their broker did not take (what cannot be reached waits in the outbox)."""
        for job_id in ids:
            try:
                self.store.cancel(job_id, "not started: the broker did not take it")
                self.store.delete_job(job_id)
            except StoreUnavailableError:
                return
