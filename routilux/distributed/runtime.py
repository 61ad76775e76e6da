"""DistributedRuntime: the producer's API to publish flows and submit, watch and steer jobs."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from routilux import codec
from routilux.activation import Activation, deferred_activations, root_id
from routilux.distributed.worker.admission import job_limit_name
from routilux.distributed.worker.app import create_app
from routilux.distributed.operations.bulk import BulkMixin
from routilux.distributed.dispatch import Dispatcher, broker_error
from routilux.distributed.protocol.envelope import seal, to_envelope
from routilux.distributed.flows import entry_params as entry_params_of
from routilux.distributed.flows import flow_hash, publishable, routes
from routilux.distributed.operations.assemble import job_state_from_parts
from routilux.distributed.operations.dead_letters import DeadLettersMixin
from routilux.distributed.operations.events import EventsMixin
from routilux.distributed.operations.flowstats import FlowStatsMixin
from routilux.distributed.operations.limits import LimitsMixin
from routilux.distributed.operations.listings import OverviewMixin
from routilux.distributed.operations.posts import PostsMixin
from routilux.distributed.operations.schedules import SchedulesMixin
from routilux.distributed.operations.search import SearchMixin
from routilux.distributed.operations.stats import StatsMixin
from routilux.distributed.operations.store import OpsStore
from routilux.distributed.operations.time_travel import TimeTravelMixin
from routilux.distributed.operations.submit_many import NewJob, SubmitManyMixin
from routilux.distributed.protocol.lane import Lane, trace_text
from routilux.distributed.protocol.priority import DEFAULT_PRIORITY, carried, check_priority
from routilux.distributed.protocol.tenants import WEIGHTS_KEY, check_tenant, check_weight
from routilux.distributed.settings import Settings
from routilux.distributed.protocol.signing import Keyring
from routilux.distributed.store import RedisStore, SameJob
from routilux.distributed.submitted import Submitted, check_idempotency_key
from routilux.distributed.constants import WAIT_OUTAGE_PAUSE_S, WAIT_POLL_S
from routilux.distributed.subflows import ChildJobs
from routilux.distributed.tracing import tracing
from routilux.errors import (
    ExecutionTimeout,
    FlowError,
    FlowValidationError,
    InvalidTenantError,
    JobNotFoundError,
    StoreUnavailableError,
    WorkerNotFoundError,
)
from routilux.flow import Flow
from routilux.flow_control import check_job_key, concurrency_config
from routilux.slot import check_entry_params
from routilux.job_state import TERMINAL, JobState


class DistributedRuntime(EventsMixin, OverviewMixin, SearchMixin, BulkMixin, FlowStatsMixin, DeadLettersMixin,
                         TimeTravelMixin, StatsMixin, SchedulesMixin, LimitsMixin, PostsMixin, SubmitManyMixin):
    """Publish flows, submit jobs and steer them, from any host.

    The operations that front-ends share (events, listings, searches, bulk actions,
    flow statistics, dead letters, workers, time travel, counts, schedules) come from the mixins
    in ``operations/``. Front-ends call these methods, never the store.

    Args:
        redis_url: the Redis that workers use (default: ``ROUTILUX_REDIS_URL``).
        settings: full settings instead (``redis_url`` then overrides its URL).
    """

    def __init__(self, redis_url: str | None = None, settings: Settings | None = None) -> None:
        settings = settings or Settings.from_env()
        if redis_url:
            settings = settings.with_(redis_url=redis_url)
        self.settings = settings
        self.store = RedisStore(settings)
        self.ops = OpsStore(self.store)
        self.app = create_app(settings)
        self.dispatcher = Dispatcher(self.app, settings)
        self.keyring = settings.keyring
        self.children = ChildJobs(self.store, self.dispatcher)
        self._layout_checked = False

    def _check_layout(self) -> None:
        """Before this runtime's first new job: its key-bucket count must be the data's (KeyLayoutError if not)."""
        if not self._layout_checked:
            self.store.check_layout()
            self._layout_checked = True

    # -- flows -----------------------------------------------------------
    def publish(self, flow: Flow) -> str:
        """Store the flow's structure under its content hash (idempotent); returns the hash.

        Raises:
            FlowValidationError, SerializationError: the flow cannot be published.
        """
        data = publishable(flow)
        digest = flow_hash(data)
        self.store.put_flow(digest, flow.flow_id, data)
        return digest

    def _resolve(self, flow: Flow | str) -> tuple[str, dict[str, Any]]:
        if isinstance(flow, Flow):
            digest = self.publish(flow)
        elif len(flow) == 64 and all(c in "0123456789abcdef" for c in flow):
            digest = flow
        else:
            digest = self.resolve_flow_hash(flow)
        return digest, self.store.flow_data(digest)

    # -- jobs ------------------------------------------------------------
    def submit(
        self,
        flow: Flow | str,
        entry_routine_id: str,
        entry_params: dict[str, Any] | None = None,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        concurrency_key: str | None = None,
        priority: int | None = None,
        tenant: str | None = None,
    ) -> str:
        """Start a job of ``flow`` (a Flow, a flow id or a flow hash) at its entry routine; returns the job id.

        With ``concurrency_key``, the job holds one of the key's slots from its first
        claim to its end; at most the number set by :meth:`set_concurrency_limit` hold
        one at once (the others wait, parked, in submission order). A key with no
        limit set limits nothing. Every activation of the job carries the key (posts,
        resumes, forks and :meth:`retry` too), so none runs while the job holds no slot.

        The job fails (``timeout`` history record, reason in its error) if it runs
        longer than ``timeout`` seconds, or the flow's ``execution_timeout`` when
        ``timeout`` is None; 0 or a flow without a timeout: no deadline. Time spent
        paused does not count (resume grants the whole timeout again).

        ``priority`` (0 to 9, higher first; None: the default, 5) orders the job's
        activations against other jobs' when workers are saturated; every activation
        of the job keeps it (children, retries, posts, resumes, re-sends, forks, and its
        sub-flows' child jobs; see lane.py).

        ``tenant`` names whose job it is: on the Redis broker, the workers share each
        priority band between the tenants with work waiting in it in the ratio of
        their weights (:meth:`set_tenant_weight`; 1 by default, and jobs without a
        tenant count as one more tenant), so one tenant's backlog does not hold up
        another's new job. Every activation of the job keeps it, as the priority.

        With an ``idempotency_key``, a submit whose key names a job still stored
        (not yet deleted, pruned or expired by retention) makes nothing and returns
        that job's id, whatever its flow and parameters: one script decides, so
        producers racing with the same key get one job. See :meth:`submit_once`.

        Raises:
            InvalidPriorityError: ``priority`` is not a whole number from 0 to 9.
            InvalidTenantError: ``tenant`` is not 1 to 64 letters, digits or ``_ . : @ -``.
            FlowValidationError: no such entry routine, or it has no "trigger" slot.
            EntryParamsError: a parameter the entry handler does not take (when this process knows its
                signature: a Flow was given, or the routine's class is imported here, and it has no ``**kwargs``).
            EncodeError: the entry parameters cannot be encoded.
            LimitError: ``concurrency_key`` is not a non-empty text.
            BrokerUnavailableError: the broker did not take the job's first activation
                (BrokerAccessDeniedError: it refused this client); the job was withdrawn,
                so submitting again starts it once.
            KeyLayoutError: ``ROUTILUX_KEY_BUCKETS`` differs from the data's bucket count.
            IdempotencyKeyError: the key is empty or longer than 256 characters.
        """
        check_job_key(concurrency_key)
        return self._start(flow, entry_routine_id, entry_params, timeout, idempotency_key=idempotency_key,
                           priority=check_priority(priority), tenant=check_tenant(tenant),
                           job_key=concurrency_key or "").job_id

    def submit_once(self, flow: Flow | str, entry_routine_id: str, entry_params: dict[str, Any] | None = None,
                    *, idempotency_key: str, timeout: float | None = None, priority: int | None = None,
                    tenant: str | None = None, concurrency_key: str | None = None) -> Submitted:
        """:meth:`submit` with an idempotency key, saying whether this call made the job.

        Returns:
            ``Submitted(job_id, created)``: ``created`` is False when the key already
            named a stored job (whose id it is; that job was left as it was).
        """
        check_job_key(concurrency_key)
        return self._start(flow, entry_routine_id, entry_params, timeout, idempotency_key=idempotency_key,
                           priority=check_priority(priority), tenant=check_tenant(tenant),
                           job_key=concurrency_key or "")

    def set_concurrency_limit(self, concurrency_key: str, max_running: int) -> None:
        """Let at most ``max_running`` jobs submitted with ``concurrency_key`` run at once, fleet-wide.

        Raises:
            LimitError: an empty key, or ``max_running`` not a positive int.
        """
        check_job_key(concurrency_key)
        concurrency_config(max_running, None)
        self.store.set_job_limit(job_limit_name(concurrency_key), max_running)

    def _start(self, flow: Flow | str, entry_routine_id: str, entry_params: dict[str, Any] | None,
               timeout: float | None, retried_from: str | None = None, idempotency_key: str | None = None,
               priority: int = DEFAULT_PRIORITY, tenant: str | None = None, job_key: str = "") -> Submitted:
        """:meth:`submit`; a retry's new job is linked both ways to ``retried_from`` before it is dispatched."""
        key = check_idempotency_key(idempotency_key)
        self._check_layout()
        digest, data = self._resolve(flow)
        params = self._entry_params(flow, data, entry_routine_id, entry_params)
        job_id = self.store.job_id_for_key(key) if key else str(uuid.uuid4())
        with tracing().job(job_id, data["flow_id"], entry_routine_id) as trace:
            job = self._new_job(job_id, digest, data, entry_routine_id, params, timeout, priority, trace, key, tenant,
                                job_key)
            try:
                score = self.store.create_job(*job.create_args)
            except SameJob as same:
                return Submitted(same.job_id, False)
            if retried_from:
                self.ops.link_retry(retried_from, job_id)
            self._send_new_job(job_id, job.messages, score, job.priority, job.tenant)
        return Submitted(job_id, True)

    def _entry_params(self, flow: Flow | str, data: dict[str, Any], entry_routine_id: str,
                      entry_params: dict[str, Any] | None) -> dict[str, Any]:
        """A copy of ``entry_params`` once the entry routine and the parameters are known to be fit to start a
        job of ``flow`` (published as ``data``).

        Raises:
            FlowValidationError: no such entry routine, or it has no "trigger" slot.
            EntryParamsError: a parameter the entry handler does not take (see :meth:`submit`).
            EncodeError: the parameters cannot be encoded, or are over the limits.
        """
        routine = data["routines"].get(entry_routine_id)
        if routine is None:
            raise FlowValidationError(f"Entry routine '{entry_routine_id}' not found in flow {data['flow_id']!r}")
        if "trigger" not in (routine.get("_slots") or {}):
            raise FlowValidationError(f"Entry routine '{entry_routine_id}' has no 'trigger' slot")
        params = dict(entry_params or {})
        check_entry_params(entry_routine_id, entry_params_of(flow, entry_routine_id, routine), params)
        codec.packb(params, root="entry_params", limits=self.settings.limits.for_values())
        return params

    def _new_job(self, job_id: str, digest: str, data: dict[str, Any], entry: str, params: dict[str, Any],
                 timeout: float | None, priority: int, trace: dict[str, str] | None,
                 idempotency_key: str = "", tenant: str | None = None, job_key: str = "") -> NewJob:
        """The writes and the first message of a new job (nothing is written yet)."""
        root = Activation(job_id, root_id(job_id), entry, "trigger", params)
        body = seal(to_envelope(root, digest, trace=trace, job_key=job_key, priority=priority, tenant=tenant),
                    self.keyring)
        history = codec.packb([[entry, "start", params, datetime.now()]])
        deadline_s = timeout if timeout is not None else data.get("execution_timeout")
        return NewJob((job_id, data["flow_id"], digest, entry, root.activation_id, body, history,
                       datetime.now().isoformat(), deadline_s, idempotency_key, carried(priority), tenant, job_key,
                       trace_text(trace)),
                      [(f"{job_id}|{root.activation_id}", body)], carried(priority), tenant)

    def _send_new_job(self, job_id: str, messages: list[tuple[str, bytes]], score: str,
                      priority: int | None = None, tenant: str | None = None) -> None:
        """Send a new job's first activations; if the broker does not take them, withdraw the job and raise.

        Raises:
            BrokerUnavailableError: the broker could not be reached (BrokerAccessDeniedError: it refused this
                client). The job was cancelled and deleted, so submitting again starts it once.
        """
        try:
            self.dispatcher.send(messages, sent=lambda job, ids: self.store.mark_dispatched(job, score, ids),
                                 priority=priority, tenant=tenant)
        except Exception as exc:
            typed = broker_error(exc)
            if typed is None:
                raise
            try:
                self.store.cancel(job_id, f"not started: {typed}")
                self.store.delete_job(job_id)
            except StoreUnavailableError:
                raise type(typed)(f"{typed}; job {job_id} could not be withdrawn either (Redis did not answer), "
                                  "so a worker may still run it once both answer") from exc
            raise type(typed)(f"{typed}; job {job_id} was withdrawn, nothing of it ran") from exc

    def set_tenant_weight(self, tenant: str, weight: int) -> None:
        """Give ``tenant`` a share of the workers in proportion to ``weight`` (1 to 1000; 1 by default).

        Workers read the weights again within a quarter of a second. Only the Redis broker
        shares work by tenant (see ``submit(..., tenant=)``).

        Raises:
            InvalidTenantError: not a tenant name, or not a whole number from 1 to 1000.
            FlowError: the broker is RabbitMQ, where work is not shared by tenant.
        """
        name = check_tenant(tenant)
        if name is None:
            raise InvalidTenantError("set_tenant_weight needs a tenant name, not None")
        weight = check_weight(weight)
        if self.settings.broker_is_amqp:
            raise FlowError("tenant weights need the Redis broker: on RabbitMQ each band is one queue, first in, "
                            "first out, whatever the tenant")
        with self.dispatcher.app.connection_for_write() as conn:
            conn.default_channel.client.hset(WEIGHTS_KEY, name, weight)

    def job_status(self, job_id: str) -> str:
        """Return a job's status (raises JobNotFoundError for an unknown job)."""
        return self.store.status(job_id)

    def get_job(self, job_id: str) -> JobState:
        """Return a snapshot of a job's JobState (raises JobNotFoundError)."""
        return job_state_from_parts(job_id, self.store.read_job(job_id), self.settings.limits)

    def wait(self, job_id: str, timeout: float | None = 60.0) -> JobState:
        """Block until the job is completed, failed or cancelled; returns its JobState.

        A Redis that goes away meanwhile (a restart, a failover) is waited out: the
        workers carry on once it is back.

        Raises:
            ExecutionTimeout (a TimeoutError): the job did not end in time.
            StoreUnavailableError: Redis was still unreachable when the time ran out.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        outage: StoreUnavailableError | None = None
        while True:
            remaining = WAIT_POLL_S if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                if outage is not None:
                    raise outage
                raise ExecutionTimeout(f"job {job_id} did not end within {timeout} s ({self._progress(job_id)})")
            try:
                if self.store.status(job_id) in TERMINAL:
                    return self.get_job(job_id)
                self.store.wait_settled(job_id, min(remaining, WAIT_POLL_S))
                outage = None
            except StoreUnavailableError as exc:
                outage = exc
                time.sleep(min(WAIT_OUTAGE_PAUSE_S, remaining))

    def _progress(self, job_id: str) -> str:
        """Where a job stands, for the message of a wait that ran out: status, activations done, open waits."""
        try:
            summary = self.job_summary(job_id)
        except JobNotFoundError:
            return "deleted meanwhile"
        done, known = summary["activations"]["done"], summary["activations"]["known"]
        text = f"status {summary['status']}, {done} of {known} activations done"
        posts = [f"{w['routine']}.{w['slot']}" for w in summary["waiting"]]
        return text + (f", waiting for a post to {', '.join(posts)}" if posts else "")

    def pause(self, job_id: str, reason: str = "", checkpoint: Any = None) -> None:
        """Pause a running job: nothing more runs until :meth:`resume`."""
        answer = self.store.pause(job_id, reason, checkpoint)
        if answer.outcome != "ok":
            raise FlowError(f"job {job_id} is {answer.status}; only a running job can be paused")

    def resume(self, job_id: str, timeout: float | None = None) -> None:
        """Continue a paused job on whichever workers are up.

        Its deadline starts again: ``timeout`` seconds from now, or the timeout it was submitted with.
        The job is running again once this returns; activations the broker does not take
        now wait in the outbox, and a worker's sweeper sends them once it does (logged).
        """
        meta = self.store.meta(job_id)
        if meta.get("status") != "paused":
            raise FlowError(f"job {job_id} is {meta.get('status')}; only a paused job can be resumed")
        data = self.store.flow_data(meta["flow_hash"])
        deferred = self.store.read_list(job_id, "de")
        pauses = len(self.store.read_list(job_id, "pp"))
        lane = Lane.of_meta(meta)
        children, history = self._deferred_children(job_id, meta["flow_hash"], data, deferred, pauses, lane)
        answer = self.store.resume(
            job_id, len(deferred), codec.packb(history) if history else b"", list(children.items()), timeout,
        )
        if answer.outcome != "ok":
            raise FlowError(f"job {job_id} is {answer.status}; only a paused job can be resumed")
        ids = answer.dispatch
        messages = [(f"{job_id}|{i}", children[i]) for i in ids if i in children]
        messages += self.store.bodies(job_id, [i for i in ids if i not in children])
        score = answer.outbox_score
        self.dispatcher.send_or_leave(messages, sent=lambda job, sent_ids: self.store.mark_dispatched(job, score, sent_ids),
                                      what=f"the activations of resumed job {job_id}", **lane.route)

    def _deferred_children(
        self, job_id: str, digest: str, data: dict[str, Any], deferred: list[dict[str, Any]], pauses: int, lane: Lane,
    ) -> tuple[dict[str, bytes], list[list[Any]]]:
        """The activations of a paused job's deferred events, in the job's ``lane``, and their history records."""
        table = routes(data)
        acts = deferred_activations(job_id, pauses, deferred, lambda rid, event: table.get((rid, event), []))
        history = [[e["routine_id"], e["event_name"], dict(e.get("data") or {}), datetime.now()] for e in deferred]
        return {a.activation_id: seal(lane.envelope(a, digest), self.keyring) for a in acts}, history

    def retry(self, job_id: str) -> str:
        """Run a failed or cancelled job again as a new job: same flow version, entry routine, parameters,
        timeout, priority, tenant and concurrency key (a forked job is forked again from the same point).
        Returns the new job's id.

        The new job's summary names it in ``retried_from``; the old one lists it in ``retries``.

        Raises:
            JobNotFoundError: no such job.
            FlowError: the job is running, paused or completed, or its start is no longer in its history.
        """
        meta = self.store.meta(job_id)
        if meta.get("status") not in ("failed", "cancelled"):
            raise FlowError(f"job {job_id} is {meta.get('status')}; only a failed or cancelled job can be retried")
        if meta.get("forked_from"):
            new_id = self.fork(meta["forked_from"], meta.get("forked_at") or None)
            self.ops.link_retry(job_id, new_id)
            return new_id
        start = self.ops.job_start(job_id)
        if start is None:
            raise FlowError(f"job {job_id} no longer has its start in its history; it cannot be retried")
        timeout = float(meta["timeout_s"]) if meta.get("timeout_s") else 0
        lane = Lane.of_meta(meta)  # the new job gets a trace of its own
        return self._start(meta["flow_hash"], start[0], start[1], timeout, retried_from=job_id,
                           priority=check_priority(lane.priority), tenant=lane.tenant, job_key=lane.job_key).job_id

    def cancel(self, job_id: str, reason: str = "") -> None:
        """Cancel a job for good: nothing of it runs afterwards. Its running child jobs (sub-flows) are
        cancelled too, and a child's parent is told (its SubFlow routine emits ``failed``)."""
        answer = self.store.cancel(job_id, reason)
        if answer.outcome == "unknown":
            raise JobNotFoundError(f"no job {job_id!r} in this store")
        self.children.job_ended(job_id)

    def delete_job(self, job_id: str) -> None:
        """Forget a completed, failed or cancelled job (its state and history) to free Redis memory.

        Raises:
            FlowError: the job is still running or paused (cancel it first).
        """
        if not self.store.delete_job(job_id):
            status = self.store.status(job_id)
            raise FlowError(f"job {job_id} is {status}; only a finished job can be deleted")

    def prune(self, older_than_s: float | None = None, status: str | None = None) -> int:
        """Delete ended jobs (every key of each) that ended more than ``older_than_s`` ago; returns how many.

        For stores that predate retention, or to free memory before the TTLs do.
        ``status`` limits it to "completed", "failed" or "cancelled"; running and
        paused jobs are never pruned.

        Raises:
            ValueError: ``status`` is not an ended status, or ``older_than_s`` is negative.
        """
        if status is not None and status not in TERMINAL:
            raise ValueError(f"status must be one of {sorted(TERMINAL)}, not {status!r}")
        if older_than_s is not None and older_than_s < 0:
            raise ValueError("older_than_s must not be negative")
        cutoff = self.store.now_ms() - int((older_than_s or 0) * 1000)
        pruned = 0
        for batch in self.store.job_id_batches():
            for job_id, job_status, ended_ms in self.store.ended_jobs(batch):
                if (status is None or job_status == status) and ended_ms <= cutoff:
                    pruned += self.store.delete_job(job_id)
        return pruned

    def shutdown_worker(self, name: str) -> None:
        """Ask a live worker (its node name, as :meth:`workers` lists it) to stop warmly: it takes no new
        activations, lets the running ones commit, and exits. The request goes through Celery's remote
        control to that worker alone; this returns once it is sent.

        Raises:
            WorkerNotFoundError: no live worker has that name.
        """
        if self.store.worker_record(name) is None:
            raise WorkerNotFoundError(f"no live worker {name!r} (see the workers list for the names)")
        self.app.control.shutdown(destination=[name])

    def signing_key_usage(self) -> dict[str, int]:
        """Stored activations of unfinished jobs, counted by the key id that signed them ("" for unsigned).

        During a key rotation, a key that no longer signs may be removed once its count is 0.
        """
        usage: dict[str, int] = {}
        for body in self.store.unfinished_bodies():
            kid = Keyring.key_id(body) or ""
            usage[kid] = usage.get(kid, 0) + 1
        return usage

    def __enter__(self) -> DistributedRuntime:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Release connections."""
        self.store.close()
        self.app.close()
